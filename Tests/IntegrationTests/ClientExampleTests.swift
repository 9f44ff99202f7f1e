import Foundation
import Testing

/// Applications on rtud's client library exchanging real traffic with the
/// Linux kernel (issue 5, items 3 and 6): rtu-udp (the Swift example, on
/// RTUClient) receiving from it, then sending to it, and the echo examples in C (on
/// librtuclient.so, compiled here as a user would) and in Swift answering
/// the kernel's round trips.
@Suite(.serialized) struct ClientExampleTests {
    @Test func hundredThousandDatagramsEachWayBetweenTheKernelAndAnApplication() throws {
        guard Harness.requireRoot("an application exchanging UDP with the kernel") else { return }
        let t = try DaemonTopology()
        defer { t.close() }
        let count = 100_000, size = 512, rate = 25_000
        // Paced senders, and receivers that absorb a stall of a few
        // milliseconds: the kernel with a 16 MiB buffer, the application
        // (whose ring holds 256 KiB, 20 ms of this stream) at SCHED_FIFO, so
        // that other load on a shared machine cannot starve it for longer.
        // A loss here would be the receivers', not what this test is about.
        let app = try t.app("recv", ["--bind", "\(DaemonTopology.rtudAddress):5000", "--count", "\(count)", "--check",
                                     "--seconds", "60"], realtime: true)
        let kernelSent = try t.kernelSends(to: 5000, size: size, count: count, rate: rate)
        #expect(kernelSent.ok, "\(kernelSent.stderr)")
        let drops = t.drops()   // while the application, still waiting for any missing, holds its socket
        let appReport = app.finish(timeout: 30)
        #expect(appReport.ok, "\(appReport.stderr)")
        expectAllArrived(lastJSON(appReport.stdout), count: count, context: drops)

        let kernel = try t.peer.udptoolReceiver(bind: "\(DaemonTopology.kernelAddress):6000",
                                                ["--count", "\(count)", "--check", "--size", "\(size)", "--rcvbuf", "16777216",
                                                 "--seconds", "60"])
        let appSent = try t.app("send", ["--bind", "\(DaemonTopology.rtudAddress):6001", "--dst", "\(DaemonTopology.kernelAddress):6000",
                                         "--size", "\(size)", "--count", "\(count)", "--pps", "\(rate)"],
                                waitForReady: false, realtime: true).finish(timeout: 60)
        #expect(appSent.ok, "\(appSent.stderr)")
        #expect(int(lastJSON(appSent.stdout), "sent") == count, "\(appSent.stdout)")
        let kernelReport = lastJSON(kernel.finish(timeout: 30).stdout)
        expectIntact(kernelReport, count: count)
        #expect(int(kernelReport, "duplicates") == 0, "\(kernelReport)")
    }

    /// The C example, compiled against include/rtuclient.h and the
    /// librtuclient.so of this build, the way its header comment says.
    static func buildCExample() throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("rtu_echo-\(Harness.uniqueSuffix())").path
        try Harness.compileCClient(Harness.packageRoot.appendingPathComponent("examples/c/rtu_echo.c").path, to: out)
        return out
    }

    /// `udptool rtt` from the kernel against an echo application on port
    /// 7000 that stops after the warm-up and the measured round trips.
    static func roundTrips(_ t: DaemonTopology, echo: Background, count: Int, warmup: Int) throws {
        guard echo.waitForLine(containing: "\"ready\"", seconds: 15) else {
            let out = echo.finish(timeout: 1)
            throw HarnessError("the echo application did not start: \(out.stdout) \(out.stderr)")
        }
        let rtt = try t.peer.udptool(["rtt", "--dst", "\(DaemonTopology.rtudAddress):7000", "--size", "256", "--count", "\(count)",
                                "--warmup", "\(warmup)"])
        #expect(rtt.ok, "\(rtt.stderr)")
        let report = lastJSON(rtt.stdout)
        #expect(int(report, "count") == count && int(report, "lost") == 0, "\(report)")
        #expect(int(report, "content_errors") == 0 && int(report, "stale") == 0, "\(report)")
        let echoed = echo.finish(timeout: 10)
        #expect(echoed.ok, "\(echoed.stderr)")
        #expect(int(lastJSON(echoed.stdout), "echoed") == count + warmup, "\(echoed.stdout)")
        print("round trips through \(lastJSON(echoed.stdout)["socket"] ?? lastJSON(echoed.stdout)["local"] ?? "?"): p50 \(report["p50_us"] ?? "?") us, p99 \(report["p99_us"] ?? "?") us")
    }

    @Test func theCExampleEchoesTheKernelsRoundTrips() throws {
        guard Harness.requireRoot("the C example against the kernel") else { return }
        let example = try Self.buildCExample()
        defer { try? FileManager.default.removeItem(atPath: example) }
        let t = try DaemonTopology()
        defer { t.close() }
        let count = 1_000, warmup = 100
        let echo = try t.inBackground([example, "--control", t.controlPath, "--bind", "\(DaemonTopology.rtudAddress):7000",
                                       "--count", "\(count + warmup)", "--seconds", "30"])
        try Self.roundTrips(t, echo: echo, count: count, warmup: warmup)

        // Attached to a named socket, the same program answers as well.
        let created = try t.rtud.ctl(["socket", "create", "echo0", "--bind", "\(DaemonTopology.rtudAddress):7000"])
        #expect(created.ok, "\(created.stderr)")
        let attached = try t.inBackground([example, "--control", t.controlPath, "--attach", "echo0",
                                           "--count", "\(count + warmup)", "--seconds", "30"])
        try Self.roundTrips(t, echo: attached, count: count, warmup: warmup)
    }

    @Test func theSwiftExampleEchoesTheKernelsRoundTrips() throws {
        guard Harness.requireRoot("the Swift example against the kernel") else { return }
        let t = try DaemonTopology()
        defer { t.close() }
        let count = 1_000, warmup = 100
        let echo = try t.app("echo", ["--bind", "\(DaemonTopology.rtudAddress):7000", "--count", "\(count + warmup)",
                                      "--seconds", "30"], waitForReady: false)
        try Self.roundTrips(t, echo: echo, count: count, warmup: warmup)
    }
}
