// scale-bench: what ten thousand sockets cost rtud (memory, control-plane
// operations, the dispatcher) and how one socket's shared-memory ring
// compares with an AF_UNIX socket pair. Run by scripts/bench-scale.sh;
// results in BENCHMARKS.md ("Scale and memory").
import ArgumentParser

struct ScaleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale-bench",
        abstract: "Scale and memory benchmark of rtud (issue 5, item 8).",
        subcommands: [ScaleCommand.self, RingCommand.self, DispatchCommand.self, RuntimeCommand.self, EchoCommand.self,
                      ClientCommand.self, RingPeerCommand.self])
}

ScaleBench.main()
