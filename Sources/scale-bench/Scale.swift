import ArgumentParser
import Control
import Foundation
import RTUClient
import Wire

/// The scale run against a running rtud: memory idle, with every socket open
/// and after one socket's rings carried traffic; the time of each create and
/// close through the control plane; and what the open sockets do to the data
/// path (the dispatcher's CPU, a reserved RTU's release lateness, echo
/// traffic through one socket) compared with the same measures before they
/// were opened.
struct ScaleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale", abstract: "Open many sockets in a running rtud and measure what they cost.")

    @Option(help: "rtud's control socket.") var control: String
    @Option(help: "rtud's process id (for /proc).") var rtudPid: Int32
    @Option(help: "The CPU rtud's dispatcher is pinned to.") var rtCore = 1
    @Option(help: "Client processes.") var clients = 4
    @Option(help: "Sockets in all.") var sockets = 10_000
    @Option(help: "rtud's address (the sockets bind to it).") var address = "198.18.0.1"
    @Option(help: "Port of the first client's first socket.") var firstPort = 20_000
    @Option(help: "The kernel echo (scale-bench echo) in the peer namespace.") var peer = "198.18.0.2:7"
    @Option(help: "Seconds of each idle window (dispatcher CPU, a reserved RTU's lateness).") var window = 5.0
    @Option(help: "Datagrams of each echo run.") var echoCount = 20_000
    @Option(help: "Datagrams that touch one socket's rings (1472 bytes each).") var touchCount = 1_000
    @Option(help: "Where the figures go as JSON.") var json: String?

    var local: IPv4Address { IPv4Address(address) ?? IPv4Address(rawValue: 0) }

    func run() throws {
        guard IPv4Address(address) != nil else { fail("bad --address \(address)") }
        guard sockets % clients == 0 else { fail("--sockets must be a multiple of --clients") }
        guard ProcessMemory.read(pid: rtudPid) != nil else { fail("no process \(rtudPid)") }
        let dispatchers = threadsPinned(pid: rtudPid, to: rtCore)
        guard dispatchers.count == 1, let dispatcher = dispatchers.first else {
            fail("expected one rtud thread pinned to CPU \(rtCore), found \(dispatchers)")
        }
        let admin = try RTUClient(controlPath: control, client: "scale-bench")
        var r = ScaleResults()
        let perClient = sockets / clients
        func dispatcherCPU() -> Int64 { threadCPU(pid: rtudPid, tid: dispatcher) }

        sleep(seconds: 1)
        r.memory["idle"] = snapshot(children: [])

        // The traffic socket, in a process of its own, open from here to the end.
        let traffic = Child(["client", "--control", control, "--count", "1", "--address", address,
                             "--first-port", String(firstPort - 1), "--name", "scale-traffic"])
        _ = traffic.ask("create", expect: "created")
        r.windows["before"] = idleWindow(admin, name: "probe0", port: firstPort - 2, cpu: dispatcherCPU)
        r.echo["before"] = echoRuns(traffic, cpu: dispatcherCPU)
        sleep(seconds: 1)
        r.memory["before"] = snapshot(children: [traffic.pid])

        // Opening them all, one client after another, with a reserved RTU watching.
        let creation = try Probe(admin, name: "probe1", bind: SocketAddress(address: local, port: UInt16(firstPort - 3)))
        let creationCPU0 = dispatcherCPU(), creationT0 = now()
        var children: [Child] = []
        for k in 0..<clients {
            let child = Child(["client", "--control", control, "--count", String(perClient), "--address", address,
                               "--first-port", String(firstPort + k * perClient), "--name", "scale-\(k)"])
            let words = child.ask("create", expect: "created")
            r.createNs += parseList(words.count > 2 ? words[2] : nil)
            children.append(child)
        }
        r.creation = creation.finish(admin, cpu: dispatcherCPU() - creationCPU0, wall: now() - creationT0)
        sleep(seconds: 1)
        r.memory["open"] = snapshot(children: children.map(\.pid) + [traffic.pid])

        // What the control plane's listings cost with every socket open.
        var t0 = now()
        let listed = try admin.sockets().count
        r.listSocketsNs = now() - t0
        t0 = now()
        let rtuCount = try admin.rtus().count
        r.listRTUsNs = now() - t0
        r.rtuEntries = rtuCount
        r.listedSockets = listed

        r.windows["open"] = idleWindow(admin, name: "probe2", port: firstPort - 4, cpu: dispatcherCPU)
        r.echo["open"] = echoRuns(traffic, cpu: dispatcherCPU)

        // One socket's rings carry traffic: what a ring costs once used.
        sleep(seconds: 1)
        r.memory["openBeforeTouch"] = snapshot(children: children.map(\.pid) + [traffic.pid])
        let touch = children[0].ask("echo \(peer) \(touchCount) 1472 64", expect: "echoed")
        r.touchReceived = Int(touch[2]) ?? 0
        sleep(seconds: 1)
        r.memory["touched"] = snapshot(children: children.map(\.pid) + [traffic.pid])

        // All but the last client close theirs one by one; the last one exits
        // and rtud releases its sockets when its connection goes.
        for child in children.dropLast() {
            let words = child.ask("close", expect: "closed")
            r.closeNs += parseList(words.count > 2 ? words[2] : nil)
            _ = child.wait()
        }
        if let last = children.last {
            let t0 = now()
            last.send("exit")
            _ = last.wait()
            // The control thread answers once it has released them all.
            while (try? admin.status().sockets).map({ $0 > 1 }) ?? true { sleep(seconds: 0.001) }
            r.releaseOnExitNs = now() - t0
            r.releasedOnExit = perClient
        }
        r.echo["closed"] = echoRuns(traffic, cpu: dispatcherCPU)
        _ = traffic.ask("close", expect: "closed")
        _ = traffic.wait()
        sleep(seconds: 1)
        r.memory["closed"] = snapshot(children: [])

        r.sockets = sockets
        r.clients = clients
        print(r.table(perClient: perClient))
        if let json { try writeJSON(r, to: json) }
    }

    /// rtud's memory and the machine's shared memory now, with the clients' resident sets.
    func snapshot(children: [Int32]) -> MemoryPoint {
        MemoryPoint(rtud: ProcessMemory.read(pid: rtudPid) ?? ProcessMemory(), machineShmem: machineShmemKB(),
                    clients: children.compactMap { ProcessMemory.read(pid: $0) }.reduce(ProcessMemory(), +))
    }

    /// `window` seconds with nothing to do but a reserved socket's periodic
    /// output RTU (1 ms) and the port's own RTUs: the dispatcher's CPU per
    /// second and the reserved RTU's release lateness.
    func idleWindow(_ admin: RTUClient, name: String, port: Int, cpu: () -> Int64) -> WindowResult {
        guard let probe = try? Probe(admin, name: name, bind: SocketAddress(address: local, port: UInt16(port))) else { fail("cannot open the reserved probe socket") }
        let c0 = cpu(), t0 = now()
        sleep(seconds: window)
        return probe.finish(admin, cpu: cpu() - c0, wall: now() - t0)
    }

    /// 64-byte echo traffic through the traffic client's socket, three runs,
    /// and the dispatcher's CPU per datagram it cost (the run with the median rate).
    func echoRuns(_ traffic: Child, cpu: () -> Int64) -> EchoResult {
        let runs = (0..<3).map { _ -> EchoResult in
            let c0 = cpu()
            let words = traffic.ask("echo \(peer) \(echoCount) 64 128", expect: "echoed")
            let c1 = cpu()
            let received = Int(words[2]) ?? 0, ns = Int64(words[3]) ?? 1
            return EchoResult(sent: Int(words[1]) ?? 0, received: received, ns: ns,
                              dispatcherCPUPerDatagram: received > 0 ? Double(c1 - c0) / Double(received) : 0)
        }
        return runs.sorted { $0.rate < $1.rate }[1]
    }
}

/// A reserved socket (1 ms period) whose periodic output RTU is released
/// every millisecond whatever else happens: its lateness is what a reserved
/// stream would see.
struct Probe {
    let socket: RTUSocket
    let name: String
    let openedAt = now()

    init(_ admin: RTUClient, name: String, bind: SocketAddress) throws {
        self.name = name
        socket = try admin.openSocket(bind: bind,
                                      reserve: ReservationSpec(rateBitsPerSecond: 8_000_000, messageSize: 1000,
                                                               periodNanoseconds: 1_000_000),
                                      name: name)
    }

    /// Reads the RTU's statistics (`rtuctl rtus`), then closes the socket.
    func finish(_ admin: RTUClient, cpu: Int64, wall: Int64) -> WindowResult {
        let info = (try? admin.rtus())?.first { $0.name == "\(name).out" }
        socket.close()
        return WindowResult(seconds: Double(wall) / 1e9, dispatcherCPUPerSecond: Double(cpu) / (Double(wall) / 1e9),
                            releases: info?.invocations ?? 0, latenessP50: info?.latenessP50Ns ?? 0,
                            latenessP99: info?.latenessP99Ns ?? 0, latenessMax: info?.latenessMaxNs ?? 0,
                            misses: info?.deadlineMisses ?? 0)
    }
}

struct MemoryPoint: Codable {
    var rtud: ProcessMemory
    var machineShmem: Int
    var clients: ProcessMemory
}

struct WindowResult: Codable {
    var seconds: Double
    var dispatcherCPUPerSecond: Double
    var releases: UInt64
    var latenessP50: Int64
    var latenessP99: Int64
    var latenessMax: Int64
    var misses: UInt64
}

struct EchoResult: Codable {
    var sent: Int
    var received: Int
    var ns: Int64
    var dispatcherCPUPerDatagram: Double
    var rate: Double { Double(received) / (Double(ns) / 1e9) }
}

struct ScaleResults: Codable {
    var sockets = 0
    var clients = 0
    var memory: [String: MemoryPoint] = [:]
    var windows: [String: WindowResult] = [:]
    var echo: [String: EchoResult] = [:]
    var creation: WindowResult?
    var createNs: [Int64] = []
    var closeNs: [Int64] = []
    var listSocketsNs: Int64 = 0
    var listRTUsNs: Int64 = 0
    var listedSockets = 0
    var rtuEntries = 0
    var touchReceived = 0
    var releaseOnExitNs: Int64 = 0
    var releasedOnExit = 0

    func table(perClient: Int) -> String {
        var out: [String] = []
        let m = memory
        func row(_ cells: String...) { out.append("| " + cells.joined(separator: " | ") + " |") }

        out.append("### rtud memory (\(grouped(sockets)) sockets from \(clients) clients)\n")
        row("point", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Pss", "Pss_Shmem", "VmLck", "machine Shmem", "clients' RSS")
        row("---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:")
        for (key, label) in [("idle", "idle, no socket"), ("before", "1 socket (traffic socket, used)"),
                             ("open", "\(grouped(sockets + 1)) sockets, idle"),
                             ("touched", "after one more socket's rings carried traffic"),
                             ("closed", "after closing them all")] {
            guard let p = m[key] else { continue }
            let d = p.rtud
            row(label, kib(d.rss), kib(d.rssAnon), kib(d.rssFile), kib(d.rssShmem), kib(d.pss), kib(d.pssShmem),
                kib(d.locked), kib(p.machineShmem), kib(p.clients.rss))
        }
        if let before = m["before"], let open = m["open"] {
            let d = open.rtud - before.rtud
            let n = Double(sockets)
            out.append("")
            row("per idle socket", "VmRSS", "RssAnon", "RssShmem", "Pss", "machine Shmem", "clients' RSS")
            row("---", "---:", "---:", "---:", "---:", "---:", "---:")
            row("(open − 1 socket) / \(grouped(sockets))", String(format: "%.1f KiB", Double(d.rss) / n),
                String(format: "%.1f KiB", Double(d.rssAnon) / n), String(format: "%.1f KiB", Double(d.rssShmem) / n),
                String(format: "%.1f KiB", Double(d.pss) / n),
                String(format: "%.1f KiB", Double(open.machineShmem - before.machineShmem) / n),
                String(format: "%.1f KiB", Double(open.clients.rss - before.clients.rss) / n))
        }
        if let a = m["openBeforeTouch"], let b = m["touched"] {
            let d = b.rtud - a.rtud
            row("one socket's rings once used (\(touchReceived) × 1472 B echoed)", kib(d.rss), kib(d.rssAnon),
                kib(d.rssShmem), kib(d.pss), kib(b.machineShmem - a.machineShmem), kib(b.clients.rss - a.clients.rss))
        }

        out.append("\n### Control plane, per operation (client side)\n")
        row("operation", "count", "p50", "p99", "max", "mean")
        row("---", "---:", "---:", "---:", "---:", "---:")
        for (label, samples) in [("create (openSocket: create + attach + map)", createNs), ("close", closeNs)] {
            let s = Summary(samples)
            row(label, grouped(s.count), micros(s.p50), micros(s.p99), micros(s.max), micros(s.mean))
        }
        let slices = stride(from: 0, to: createNs.count, by: max(1, createNs.count / 10)).map { start in
            Summary(Array(createNs[start..<min(createNs.count, start + 100)]))
        }
        if !slices.isEmpty {
            out.append("")
            row("create, sockets already open", "p50 of the next 100", "p99 of the next 100")
            row("---", "---:", "---:")
            for (i, s) in slices.enumerated() {
                row(grouped(i * max(1, createNs.count / 10) + 1), micros(s.p50), micros(s.p99))
            }
            let last = Summary(Array(createNs.suffix(100)))
            row("last 100", micros(last.p50), micros(last.p99))
        }
        out.append("")
        out.append("A client exiting with \(grouped(releasedOnExit)) sockets open: rtud released them in \(micros(releaseOnExitNs)) (\(micros(Double(releaseOnExitNs) / Double(max(1, releasedOnExit)))) per socket), its control plane busy meanwhile.")
        out.append("")
        out.append("Listing with every socket open: `sockets()` \(grouped(listedSockets)) in \(micros(listSocketsNs)), `rtus()` \(grouped(rtuEntries)) in \(micros(listRTUsNs)).")

        out.append("\n### The data path with the sockets open\n")
        row("measure", "1 socket", "\(grouped(sockets + 1)) idle sockets", "while opening them", "1 socket again, after closing them")
        row("---", "---:", "---:", "---:", "---:")
        if let a = windows["before"], let b = windows["open"] {
            /// One measure of the idle windows; the creation window's in the third column.
            func measure(_ label: String, _ cell: (WindowResult) -> String) {
                row(label, cell(a), cell(b), creation.map(cell) ?? "", "")
            }
            measure("dispatcher CPU per second, idle") { micros($0.dispatcherCPUPerSecond) }
            measure("reserved 1 ms RTU: releases run") { grouped(Int($0.releases)) }
            measure("lateness p50") { micros($0.latenessP50) }
            measure("lateness p99") { micros($0.latenessP99) }
            measure("lateness max") { micros($0.latenessMax) }
            measure("deadline misses") { grouped(Int($0.misses)) }
        }
        if let a = echo["before"], let b = echo["open"] {
            /// One measure of the echo runs; the run after closing in the last column.
            func measure(_ label: String, _ cell: (EchoResult) -> String) {
                row(label, cell(a), cell(b), "", echo["closed"].map(cell) ?? "")
            }
            measure("64 B echo through one socket, datagrams/s (median of 3)") { grouped($0.rate) }
            measure("dispatcher CPU per echoed datagram") { micros($0.dispatcherCPUPerDatagram) }
            measure("echoed / sent") { "\($0.received) / \($0.sent)" }
        }
        return out.joined(separator: "\n")
    }
}
