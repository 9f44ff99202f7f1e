import ArgumentParser
import CShims
import Foundation
import RTUScheduler

/// The dispatcher as rtud runs it (an `RTURuntime` thread pinned to one CPU,
/// SCHED_FIFO, memory locked), holding N idle best-effort entries as rtud
/// does for N/2 unreserved sockets, with a reserved 1 ms periodic RTU: that
/// RTU's release lateness and the dispatcher's CPU, idle and with one entry
/// signalled every 100 µs from another thread (traffic on one socket). This
/// reaches the entry counts of 10,000 sockets even where the descriptor limit
/// keeps rtud itself from opening that many (five descriptors per socket).
struct RuntimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime", abstract: "RTURuntime with many idle best-effort entries: lateness and dispatcher CPU.")

    @Option(help: "Idle best-effort entries (comma-separated counts).") var entries = "0,20000"
    @Option(help: "Seconds of each measure.") var seconds = 5.0
    @Option(help: "CPU of the dispatcher.") var cpu = 1

    func run() throws {
        var lines = ["| idle entries | signalled | 1 ms RTU releases | lateness p50 | p99 | max | misses | dispatcher CPU per second | per invocation (bodies excluded) |",
                     "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for n in entries.split(separator: ",").compactMap({ Int($0) }) {
            for signalled in [false, true] {
                let m = try measure(entries: n, signalled: signalled)
                lines.append("| \(grouped(n)) | \(signalled ? "one entry every 100 µs" : "none") | \(grouped(Int(m.stats.releases))) | \(micros(m.stats.latenessP50)) | \(micros(m.stats.latenessP99)) | \(micros(m.stats.latenessMax)) | \(m.stats.deadlineMisses) | \(micros(m.cpuPerSecond)) | \(micros(m.overhead)) |")
                note("runtime: \(n) entries, signalled \(signalled) done")
            }
        }
        print(lines.joined(separator: "\n"))
    }

    final class Nothing: Upcall {
        override func run(context: inout UpcallContext) -> UpcallOutcome { .done }
    }

    func measure(entries n: Int, signalled: Bool) throws -> (stats: RTUStatsSnapshot, cpuPerSecond: Double, overhead: Double) {
        var config = SchedulerConfiguration(cpus: [cpu])
        config.slotsPerCore = n + 64
        config.warn = { note("runtime: \($0)") }
        let runtime = try RTURuntime(configuration: config)
        try runtime.start()
        defer { runtime.stop() }
        var active: RTUHandle?
        for k in 0..<n {
            let handle = try runtime.addBestEffort(name: "idle\(k)", body: Nothing(), core: 0)
            if active == nil { active = handle }
            // The command ring holds 64: let the dispatcher catch up.
            if k % 32 == 31 { runtime.waitUntilApplied() }
        }
        if active == nil { active = try runtime.addBestEffort(name: "active", body: Nothing(), core: 0) }
        let rtu = try runtime.add(RTUSpec(name: "reserved", period: 1_000_000, budget: 50_000, kind: .periodic),
                                  body: Nothing(), on: .core(0))
        runtime.waitUntilApplied()
        let before = runtime.coreStatistics(0)
        let start = now()
        let end = start + Int64(seconds * 1e9)
        if signalled {
            var next = start
            while next < end {
                active?.trigger?.signal()
                next += 100_000
                _ = rtu_sched_sleep_until(next)
            }
        } else {
            _ = rtu_sched_sleep_until(end)
        }
        let after = runtime.coreStatistics(0)
        let wall = Double(after.elapsed - before.elapsed) / 1e9
        let cpu = Double(after.dispatcherThreadCPU - before.dispatcherThreadCPU)
        let bodies = Double((after.realtimeCPU - before.realtimeCPU) + (after.bestEffortCPU - before.bestEffortCPU))
        let invocations = Double(after.invocations - before.invocations)
        guard let stats = runtime.statistics(rtu.id) else { fail("no statistics for the reserved RTU") }
        return (stats, cpu / wall, invocations > 0 ? (cpu - bodies) / invocations : 0)
    }
}
