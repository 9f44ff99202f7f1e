import Foundation
import Testing

/// rtud as a daemon with the Linux kernel as its peer (issue 5): rtud in one
/// namespace on its end of a veth (AF_PACKET), the kernel in another with
/// 198.18.0.2 on the far end, and the programs that talk to rtud — rtuctl,
/// rtu-udp, the C example — run in rtud's namespace against this run's own
/// control socket. `close()` (always deferred) stops rtud and deletes both
/// namespaces.
final class DaemonTopology {
    static let rtudAddress = UDPTopology.nodeAddress
    static let kernelAddress = UDPTopology.kernelAddress
    /// The namespaces and the veth, as the in-process node's tests have them.
    let net: UDPTopology
    let rtud: RtudProcess
    var host: Namespace { net.node }
    var peer: Namespace { net.peer }
    var rtudDevice: String { net.nodeDevice }

    /// Starts rtud with `config(rtudDevice)` as its file (see `config`) and
    /// waits until it is ready; `environment` replaces rtud's (nil: inherited).
    init(environment: [String: String]? = nil, config: ((String) -> String)? = nil) throws {
        let net = try UDPTopology()
        let device = net.nodeDevice
        let rtud: RtudProcess
        do {
            rtud = try RtudProcess(namespace: net.node, environment: environment) { _ in
                config?(device) ?? Self.config(device: device)
            }
        } catch {
            net.close()
            throw error
        }
        guard rtud.waitForLog("ready", seconds: 20) else {
            let log = rtud.log
            rtud.cleanup()
            net.close()
            throw HarnessError("rtud did not start:\n\(log)")
        }
        self.net = net
        self.rtud = rtud
    }

    /// rtud's configuration: one AF_PACKET interface on `device`, then `extra` (TOML tables).
    /// `udpPerMessageNs` fixes c(S) instead of letting rtud measure it at
    /// start: what admission accepts must not depend on how loaded the
    /// machine is at that moment (a debug build calibrating under CI's load
    /// once measured enough to refuse 40 Mbit/s). nil: rtud measures.
    static func config(device: String, logLevel: String = "info", udpPerMessageNs: Int? = 5_000,
                       extra: String = "") -> String {
        """
        [daemon]
        log_level = "\(logLevel)"

        [[interface]]
        name = "rtu0"
        driver = "af_packet"
        device = "\(device)"
        address = "\(rtudAddress)/24"

        \(udpPerMessageNs.map { "[calibration]\nudp_per_message_ns = \($0)\n" } ?? "")
        \(extra)
        """
    }

    func close() {
        rtud.stop()
        rtud.cleanup()
        net.close()
    }

    var controlPath: String { rtud.controlPath }

    // MARK: - Programs on rtud's side

    /// The admitted utilisation of rtud's (only) RT core, as a fraction.
    func admitted() throws -> Double {
        let status = try rtud.ctlJSON(["status"]) as? [String: Any] ?? [:]
        let cores = status["cores"] as? [[String: Any]] ?? []
        guard cores.count == 1, let admitted = cores[0]["admitted"] as? NSNumber else {
            throw HarnessError("rtuctl status: expected one core: \(status)")
        }
        return admitted.doubleValue
    }

    /// A program of this build in rtud's namespace, running while the test goes on.
    func inBackground(_ args: [String]) throws -> Background {
        try Background(["ip", "netns", "exec", host.name] + args)
    }

    /// `rtu-udp MODE ARGS` with this run's control socket, in the background;
    /// for modes that listen, returns once it said it is ready. `realtime`:
    /// SCHED_FIFO 10 (below rtud's dispatchers), for an application that
    /// must keep up with a stream whatever else the machine runs.
    func app(_ mode: String, _ args: [String], waitForReady: Bool = true, realtime: Bool = false) throws -> Background {
        let command = (realtime ? ["chrt", "-f", "10"] : []) + [Harness.builtBinary("rtu-udp"), mode, "--control", controlPath]
        let b = try inBackground(command + args)
        if waitForReady {
            guard b.waitForLine(containing: "\"ready\"", seconds: 15) else {
                let out = b.finish(timeout: 1)
                throw HarnessError("rtu-udp \(mode) did not start: \(out.stdout) \(out.stderr)")
            }
        }
        return b
    }

    // MARK: - The kernel's side

    /// `count` datagrams of `size` bytes at `rate`/s from the kernel to rtud's port `port`.
    /// The sender is pinned to CPU 0: a veth queues what a thread sends on
    /// the backlog of the CPU it is running on, so a sender that migrates
    /// mid-stream can have its datagrams delivered out of order by the
    /// kernel itself, and the tests check rtud's order.
    func kernelSends(to port: Int, size: Int, count: Int, rate: Int) throws -> Harness.Output {
        try peer.udptool(["send", "--dst", "\(Self.rtudAddress):\(port)", "--size", "\(size)", "--count", "\(count)",
                          "--rate", "\(rate)", "--cpu", "0"])
    }

    /// Where rtud dropped what it dropped: the sockets' counters and the
    /// interface's, for the message of a failed expectation.
    func drops() -> String {
        let sockets = (try? rtud.ctl(["socket", "list"]).stdout) ?? "?"
        let stats = (try? rtud.ctl(["stats"]).stdout) ?? "?"
        let lines = stats.split(separator: "\n").filter { $0.contains("drop") || $0.contains("full") }
        return "\(sockets)\n" + lines.joined(separator: "\n")
    }
}

/// rtuctl against a running rtud: in its namespace, with its control socket.
extension RtudProcess {
    /// `rtuctl ARGS --control` this run's socket (after the subcommand, where
    /// rtuctl takes it); as user nobody (uid 65534, no groups) when `asNobody`.
    func ctl(_ args: [String], asNobody: Bool = false, timeout: Double = 20) throws -> Harness.Output {
        let user = asNobody ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []
        return try namespace.exec(user + [Harness.builtBinary("rtuctl")] + args + ["--control", controlPath], timeout: timeout)
    }

    /// `rtuctl ARGS --json`, which must succeed, parsed.
    func ctlJSON(_ args: [String]) throws -> Any {
        let r = try ctl(args + ["--json"])
        guard r.ok else { throw HarnessError("rtuctl \(args.joined(separator: " ")): \(r.stderr)") }
        guard let value = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) else {
            throw HarnessError("rtuctl \(args.joined(separator: " ")) --json printed no JSON: \(r.stdout)")
        }
        return value
    }

    /// The daemon's sockets, by name.
    func sockets() throws -> [String: [String: Any]] {
        let list = try ctlJSON(["socket", "list"]) as? [[String: Any]] ?? []
        return Dictionary(list.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The daemon's RTUs, by name.
    func rtus() throws -> [String: [String: Any]] {
        let list = try ctlJSON(["rtus"]) as? [[String: Any]] ?? []
        return Dictionary(list.map { ($0["name"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
    }
}

/// What rtu-udp recv --check reports when every datagram arrived once,
/// intact; `context` (rtud's drop counters, say) goes with a failure.
func expectAllArrived(_ report: [String: Any], count: Int, context: @autoclosure () -> String = "",
                      sourceLocation: SourceLocation = #_sourceLocation) {
    let ok = int(report, "received") == count && int(report, "bad_content") == 0 && int(report, "duplicates") == 0
        && int(report, "missing") == 0
    #expect(ok, "\(report)\n\(ok ? "" : context())", sourceLocation: sourceLocation)
}
