import Foundation
import Glibc
import Testing

/// rtud's control plane end to end (issue 5, item 6): rtuctl making, listing
/// and deleting reserved sockets that applications attach to, admission
/// refusal as the administrator sees it, a killed client's release,
/// declared sockets across SIGHUP, and sd_notify with the real daemon.
@Suite(.serialized) struct ControlPlaneTests {
    /// 8192-byte messages at 40 Mbit/s every 10 ms: ⌈40e6 · 0.01 / (8 · 8192)⌉ = 7 a period.
    static let videoBatch = 7

    @Test func aNamedReservedSocketServesTheApplicationThatAttachesAndOutlivesIt() throws {
        guard Harness.requireRoot("rtuctl and an attached application") else { return }
        let t = try DaemonTopology()
        defer { t.close() }

        let created = try t.rtud.ctl(["socket", "create", "video0", "--protocol", "udp", "--bind", "\(DaemonTopology.rtudAddress):5000",
                                      "--rate", "40Mbit", "--message-size", "8192", "--period", "10ms"])
        #expect(created.ok, "\(created.stderr)")
        #expect(created.stdout.contains("created socket video0"), "\(created.stdout)")

        let video = try t.rtud.sockets()["video0"] ?? [:]
        #expect(video["local"] as? String == "\(DaemonTopology.rtudAddress):5000", "\(video)")
        #expect(video["persistent"] as? Bool == true)
        #expect(video["attached"] as? Bool == false)
        let reserve = video["reserve"] as? [String: Any] ?? [:]
        #expect(int(reserve, "rate_bps") == 40_000_000 && int(reserve, "message_size") == 8192
                && int(reserve, "period_ns") == 10_000_000, "\(reserve)")

        // The plan: reactive input and periodic (paced) output, each with the period and batch.
        let rtus = try t.rtud.rtus()
        let input = rtus["video0.in"] ?? [:], output = rtus["video0.out"] ?? [:]
        #expect(input["kind"] as? String == "reactive", "\(rtus.keys.sorted())")
        #expect(output["kind"] as? String == "periodic", "\(rtus.keys.sorted())")
        for rtu in [input, output] {
            #expect(int(rtu, "period_ns") == 10_000_000 && int(rtu, "batch") == Self.videoBatch, "\(rtu)")
            #expect(int(rtu, "budget_ns") > 0, "\(rtu)")
            #expect(rtu["owner"] as? String == "video0", "\(rtu)")
        }

        // An application attaches and gets what the kernel sends within the
        // reservation: 8192-byte datagrams (six fragments each) at 400/s.
        let count = 1_600
        let app = try t.app("recv", ["--attach", "video0", "--count", "\(count)", "--check", "--seconds", "30"],
                          realtime: true)
        #expect(try t.rtud.sockets()["video0"]?["attached"] as? Bool == true)

        // A second application is refused while the first holds the socket, and told why.
        let second = try t.host.exec([Harness.builtBinary("rtu-udp"), "recv", "--control", t.controlPath, "--attach", "video0",
                                      "--count", "1", "--seconds", "2"])
        #expect(!second.ok)
        #expect(second.stderr.contains("socket video0 is attached to pid") && second.stderr.contains("already attached"),
                "\(second.stderr)")

        let sent = try t.kernelSends(to: 5000, size: 8192, count: count, rate: 400)
        #expect(sent.ok, "\(sent.stderr)")
        let received = app.finish(timeout: 30)
        #expect(received.ok, "\(received.stderr)")
        expectAllArrived(lastJSON(received.stdout), count: count, context: t.drops())

        // The application is gone; the socket stays for the next one.
        let after = try t.rtud.sockets()["video0"]
        #expect(after != nil, "the named socket went with its application")
        #expect(after?["attached"] as? Bool == false, "\(after ?? [:])")
        #expect(int((after?["counters"] as? [String: Any]) ?? [:], "received") == count)

        let deleted = try t.rtud.ctl(["socket", "delete", "video0"])
        #expect(deleted.ok && deleted.stdout.contains("deleted video0"), "\(deleted.stdout)\(deleted.stderr)")
        #expect(try t.rtud.sockets()["video0"] == nil)
        let left = try t.rtud.rtus().keys.filter { $0.hasPrefix("video0.") }
        #expect(left.isEmpty, "RTUs of the deleted socket remain: \(left)")
        let again = try t.rtud.ctl(["socket", "delete", "video0"])
        #expect(again.status == 1 && again.stderr.contains("no socket named video0"), "\(again.stderr)")
    }

    @Test func aReservationTooBigForTheCoreIsRefusedAndWhatWasAdmittedKeepsWorking() throws {
        guard Harness.requireRoot("admission through rtuctl") else { return }
        // A fixed per-message cost, so admission decides the same on every
        // machine (and in debug and release builds): 900 Mbit/s of 1472-byte
        // messages every 10 ms is 765 messages, 3.8 ms of input and as much
        // of output a period — each under the period, so the plan is valid
        // and admission refuses it: the interface's 1 ms link RTU could be
        // blocked for 3.8 ms, and the two would take the core over its 85 % cap.
        let t = try DaemonTopology { device in
            DaemonTopology.config(device: device, udpPerMessageNs: 5_000)
        }
        defer { t.close() }

        let admitted = try t.rtud.ctl(["socket", "create", "video0", "--bind", "\(DaemonTopology.rtudAddress):5000",
                                       "--rate", "40Mbit", "--message-size", "8192"])
        #expect(admitted.ok, "\(admitted.stderr)")
        let before = try t.admitted()
        let rtusBefore = Set(try t.rtud.rtus().keys)

        let refused = try t.rtud.ctl(["socket", "create", "big", "--bind", "\(DaemonTopology.rtudAddress):5001",
                                      "--rate", "900Mbit", "--message-size", "1472"])
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(refused.stderr.hasPrefix("rtuctl: admission refused: "), "\(refused.stderr)")
        // The reason: the utilisation cap, or (RMDP) the 3.8 ms blocking an RTU of a shorter period.
        #expect(refused.stderr.contains("above rt_utilization_cap") || refused.stderr.contains("would miss its deadline"),
                "the refusal gives no reason: \(refused.stderr)")
        // And what would fit, on the CPU the config names (rt_cores), not the scheduler's core index.
        #expect(refused.stderr.contains(" fits on cpu ") && refused.stderr.contains("at 1472-byte messages every 10.00 ms now"),
                "the refusal says nothing of what fits: \(refused.stderr)")
        #expect(refused.stderr.components(separatedBy: "admission refused").count == 2,
                "the message repeats itself: \(refused.stderr)")

        // Nothing changed: no socket, no RTUs, the same admitted utilisation.
        #expect(try t.rtud.sockets()["big"] == nil)
        #expect(Set(try t.rtud.rtus().keys) == rtusBefore)
        #expect(try t.admitted() == before)

        // Invalid requests are stopped before they reach rtud, with what to do.
        let badRate = try t.rtud.ctl(["socket", "create", "bad", "--bind", "\(DaemonTopology.rtudAddress):5002",
                                      "--rate", "fast", "--message-size", "1000"])
        #expect(badRate.status == 64, "\(badRate.status)")
        #expect(badRate.stderr.contains("--rate fast: expected a rate like 40Mbit"), "\(badRate.stderr)")
        #expect(badRate.stderr.contains("Usage: rtuctl socket create"), "\(badRate.stderr)")
        let noSize = try t.rtud.ctl(["socket", "create", "bad", "--bind", "\(DaemonTopology.rtudAddress):5002", "--rate", "40Mbit"])
        #expect(noSize.status == 64, "\(noSize.status)")
        #expect(noSize.stderr.contains("a reservation needs both --rate and --message-size"), "\(noSize.stderr)")
        #expect(try t.rtud.sockets()["bad"] == nil)

        // The admitted socket still delivers everything sent within its reservation.
        let count = 400
        let app = try t.app("recv", ["--attach", "video0", "--count", "\(count)", "--check", "--seconds", "20"],
                          realtime: true)
        let sent = try t.kernelSends(to: 5000, size: 8192, count: count, rate: 400)
        #expect(sent.ok, "\(sent.stderr)")
        expectAllArrived(lastJSON(app.finish(timeout: 20).stdout), count: count, context: t.drops())
    }

    @Test func rtuctlWithoutADaemonSaysWhereItLooked() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rtuctl-none-\(Harness.uniqueSuffix()).sock").path
        let r = try Harness.run([Harness.builtBinary("rtuctl"), "status", "--control", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no rtud at \(path)"), "\(r.stderr)")
        #expect(r.stderr.contains("is it running?"), "\(r.stderr)")
    }

    @Test func aKilledClientReleasesItsSocketRTUsReservationAndPort() throws {
        guard Harness.requireRoot("a SIGKILLed client") else { return }
        let t = try DaemonTopology()
        defer { t.close() }
        let baseline = try t.admitted()
        let rtusBefore = Set(try t.rtud.rtus().keys)

        let bind = ["--bind", "\(DaemonTopology.rtudAddress):5000", "--rate", "40Mbit", "--message-size", "8192"]
        let victim = try t.app("recv", bind + ["--seconds", "30"])
        let sockets = try t.rtud.sockets()
        #expect(sockets.count == 1, "\(sockets.keys)")
        let name = sockets.keys.first ?? "?"
        #expect(sockets[name]?["attached"] as? Bool == true)
        #expect(try t.rtud.rtus()["\(name).out"] != nil)
        #expect(try t.admitted() > baseline)

        kill(victim.process.processIdentifier, SIGKILL)
        _ = victim.finish(timeout: 5)
        // rtud sees the control connection end and releases everything it held.
        var left: [String] = []
        let released = try Harness.waitUntil(5) {
            left = try t.rtud.sockets().keys.sorted()
            return left.isEmpty
        }
        #expect(released, "the killed client's socket is still listed: \(left)")
        #expect(Set(try t.rtud.rtus().keys) == rtusBefore)
        #expect(try t.admitted() == baseline)

        // The port and the reservation are free for the next client, which gets its traffic.
        let count = 200
        let next = try t.app("recv", bind + ["--count", "\(count)", "--check", "--seconds", "20"],
                             realtime: true)
        let sent = try t.kernelSends(to: 5000, size: 8192, count: count, rate: 400)
        #expect(sent.ok, "\(sent.stderr)")
        let drops = t.drops()
        let report = next.finish(timeout: 20)
        #expect(report.ok, "\(report.stderr)")
        expectAllArrived(lastJSON(report.stdout), count: count, context: drops)
    }

    @Test func declaredSocketsFollowTheFileOnSIGHUP() throws {
        guard Harness.requireRoot("SIGHUP reload") else { return }
        func declared(_ name: String, port: Int) -> String {
            """
            [[socket]]
            name = "\(name)"
            bind = "\(DaemonTopology.rtudAddress):\(port)"
            reserve = { rate = "10Mbit", message_size = 1000, period = "10ms" }
            """
        }
        let t = try DaemonTopology { device in DaemonTopology.config(device: device, extra: declared("alpha", port: 5000)) }
        defer { t.close() }
        #expect(t.rtud.log.contains("socket alpha: declared"), "\(t.rtud.log)")
        let start = try t.rtud.sockets()
        #expect(start["alpha"]?["persistent"] as? Bool == true, "\(start.keys)")
        #expect(try t.rtud.rtus()["alpha.out"] != nil)

        // alpha out, beta in, and a new log level.
        try DaemonTopology.config(device: t.rtudDevice, logLevel: "debug", extra: declared("beta", port: 5001))
            .write(to: t.rtud.configURL, atomically: true, encoding: .utf8)
        kill(t.rtud.process.processIdentifier, SIGHUP)
        #expect(t.rtud.waitForLog("SIGHUP: reloaded"), "\(t.rtud.log)")
        let log = t.rtud.log
        #expect(log.contains("SIGHUP: socket beta: added") && log.contains("SIGHUP: socket alpha: removed"), "\(log)")
        #expect(log.contains("SIGHUP: daemon.log_level: info -> debug"), "\(log)")
        let reloaded = try t.rtud.sockets()
        #expect(reloaded["alpha"] == nil && reloaded["beta"] != nil, "\(reloaded.keys)")
        let rtus = try t.rtud.rtus()
        #expect(rtus["alpha.out"] == nil && rtus["beta.out"] != nil, "\(rtus.keys.sorted())")

        // A file that does not parse is refused as a whole; nothing changes.
        try "[daemon]\nlog_level = = \"error\"\n".write(to: t.rtud.configURL, atomically: true, encoding: .utf8)
        kill(t.rtud.process.processIdentifier, SIGHUP)
        #expect(t.rtud.waitForLog("refused; configuration unchanged"), "\(t.rtud.log)")
        #expect(try t.rtud.sockets().keys.sorted() == ["beta"])
        #expect(t.rtud.process.isRunning)
    }

    @Test func theDaemonNotifiesReadyWatchdogAndStopping() throws {
        guard Harness.requireRoot("sd_notify from rtud") else { return }
        let manager = try NotifySocket()
        defer { manager.close() }
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = manager.path
        environment["WATCHDOG_USEC"] = "400000"
        environment["WATCHDOG_PID"] = nil
        let t = try DaemonTopology(environment: environment)
        defer { t.close() }

        let ready = manager.receive(until: { $0.contains("READY=1") }, seconds: 5)
        #expect(ready.contains { $0.text.contains("READY=1") }, "no READY=1: \(ready.map(\.text))")

        // Pings every half watchdog interval (200 ms): a window of 2 s holds
        // about ten, and no gap reaches the 400 ms after which systemd kills.
        let window = manager.receive(until: { _ in false }, seconds: 2).filter { $0.text.contains("WATCHDOG=1") }
        #expect((6...14).contains(window.count), "\(window.count) WATCHDOG=1 in 2 s")
        let gaps = zip(window.dropFirst(), window).map { $0.at - $1.at }
        #expect((gaps.max() ?? 1) < 0.4, "gaps between pings: \(gaps)")

        kill(t.rtud.process.processIdentifier, SIGTERM)
        let stopping = manager.receive(until: { $0.contains("STOPPING=1") }, seconds: 10)
        #expect(stopping.contains { $0.text.contains("STOPPING=1") }, "no STOPPING=1: \(stopping.map(\.text))")
        #expect(t.rtud.stop() == 0)
    }
}

/// The service manager's end of sd_notify: an AF_UNIX datagram socket at a
/// path (which reaches rtud in its network namespace: paths are not per namespace).
final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("rtud-notify-\(Harness.uniqueSuffix())").path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket(AF_UNIX): \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("\(path): too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            Glibc.close(descriptor)
            throw HarnessError("bind \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Datagrams (text, arrival time in seconds) until one satisfies `stop` or `seconds` pass.
    func receive(until stop: (String) -> Bool, seconds: Double) -> [(text: String, at: Double)] {
        var got: [(text: String, at: Double)] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
            guard poll(&p, 1, ms) > 0 else { continue }
            let n = recv(descriptor, &buffer, buffer.count, 0)
            guard n > 0 else { continue }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            got.append((text, Date().timeIntervalSinceReferenceDate))
            if stop(text) { break }
        }
        return got
    }

    func close() {
        Glibc.close(descriptor)
        unlink(path)
    }
}
