import Foundation
import Testing

/// Two namespaces joined by a veth: the in-process node (`udp-node`, AF_PACKET
/// on its end) and the Linux kernel (bench/c/udptool on the other end).
final class UDPTopology {
    static let nodeAddress = "198.18.0.1"
    static let kernelAddress = "198.18.0.2"
    let node: Namespace
    let peer: Namespace
    let nodeDevice: String
    let kernelDevice: String
    let work: String

    init() throws {
        node = try Namespace("rtuud-node")
        peer = try Namespace("rtuud-peer")
        let suffix = Harness.uniqueSuffix().prefix(6)
        nodeDevice = "rtuua\(suffix)"
        kernelDevice = "rtuub\(suffix)"
        try node.must(["ip", "link", "add", nodeDevice, "type", "veth", "peer", "name", kernelDevice, "netns", peer.name])
        try node.must(["ip", "link", "set", nodeDevice, "up"])
        try peer.must(["ip", "addr", "add", "\(Self.kernelAddress)/24", "dev", kernelDevice])
        try peer.must(["ip", "link", "set", kernelDevice, "up"])
        // The kernel would leave UDP checksums for "hardware" to fill in
        // (veth passes them on partial), which an AF_PACKET reader sees as wrong.
        try peer.must(["ethtool", "-K", kernelDevice, "tx", "off"])
        work = NSTemporaryDirectory() + "rtuud-\(Harness.uniqueSuffix())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    deinit {
        node.close()
        peer.close()
        try? FileManager.default.removeItem(atPath: work)
    }

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `udp-node` from the same build as rtud.
    static var udpNode: String {
        URL(fileURLWithPath: Harness.rtudBinary).deletingLastPathComponent().appendingPathComponent("udp-node").path
    }

    /// bench/c/udptool, built on first use.
    static let udptool: String? = {
        let out = NSTemporaryDirectory() + "rtu-udptool-\(getuid())"
        let r = try? Harness.run(["bash", "-c", ". '\(root.path)/scripts/lib-udptool.sh' && build_udptool '\(out)' && echo \"$UDPTOOL\""])
        guard let r, r.ok else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    /// Starts `udp-node ROLE …` in the node namespace and waits for its "ready" line (roles that listen).
    func startNode(_ role: [String], waitForReady: Bool = true, extra: [String] = []) throws -> Background {
        let b = try Background(["ip", "netns", "exec", node.name, Self.udpNode, "--device", nodeDevice,
                                "--address", "\(Self.nodeAddress)/24"] + extra + role)
        if waitForReady {
            guard b.waitForLine(containing: "\"ready\"", seconds: 20) else {
                throw HarnessError("udp-node did not start: \(b.finish().stderr)")
            }
        }
        return b
    }

    func kernel(_ args: [String], timeout: Double = 60) throws -> Harness.Output {
        guard let tool = Self.udptool else { throw HarnessError("bench/c/udptool did not build") }
        return try peer.exec([tool] + args, timeout: timeout)
    }

    var nodeMAC: String {
        (try? node.exec(["cat", "/sys/class/net/\(nodeDevice)/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
    }

    var kernelMAC: String {
        (try? peer.exec(["cat", "/sys/class/net/\(kernelDevice)/address"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ""
    }
}

/// A process running while the test does other things; its output is read
/// as it comes so it can never stall on a full pipe.
final class Background: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let done = DispatchGroup()

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = args
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        try process.run()
        for (pipe, isOut) in [(o, true), (e, false)] {
            done.enter()
            DispatchQueue.global().async {
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    self.lock.lock()
                    if isOut { self.out.append(chunk) } else { self.err.append(chunk) }
                    self.lock.unlock()
                }
                self.done.leave()
            }
        }
    }

    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }

    func waitForLine(containing text: String, seconds: Double) -> Bool {
        Harness.waitUntil(seconds) { stdout.contains(text) || !process.isRunning }
            && stdout.contains(text)
    }

    /// Waits for the process (killing it after `timeout` s) and returns its output.
    func finish(timeout: Double = 60) -> Harness.Output {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.interrupt(); usleep(500_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        done.wait()
        lock.lock(); defer { lock.unlock() }
        return Harness.Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                              stderr: String(decoding: err, as: UTF8.self))
    }
}

/// The last JSON object a tool printed, as a dictionary.
func lastJSON(_ text: String) -> [String: Any] {
    for line in text.split(separator: "\n").reversed() {
        if let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            return object
        }
    }
    return [:]
}

func int(_ dict: [String: Any], _ key: String) -> Int { (dict[key] as? NSNumber)?.intValue ?? -1 }

@Suite(.serialized) struct UDPKernelPeerTests {
    static let target = "\(UDPTopology.nodeAddress):5000"

    @Test func hundredThousandDatagramsFromTheKernelArriveIntact() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        let sink = try t.startNode(["sink", "--port", "5000", "--count", "100000", "--check", "--seconds", "60"])
        let sent = try t.kernel(["send", "--dst", Self.target, "--size", "512", "--count", "100000", "--rate", "25000"])
        #expect(sent.ok, "\(sent.stderr)")
        let result = lastJSON(sink.finish().stdout)
        #expect(int(result, "received") == 100_000, "\(result)")
        #expect(int(result, "content_errors") == 0)
        #expect(int(result, "missing") == 0)
        #expect(int(result, "bad_checksum") == 0)
    }

    @Test func hundredThousandDatagramsToTheKernelArriveIntact() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        guard let tool = UDPTopology.udptool else { Issue.record("udptool did not build"); return }
        let recv = try Background(["ip", "netns", "exec", t.peer.name, tool, "recv", "--bind", "\(UDPTopology.kernelAddress):6000",
                                   "--count", "100000", "--check", "--rcvbuf", "16777216", "--seconds", "60"])
        usleep(300_000)
        let source = try t.startNode(["source", "--to", "\(UDPTopology.kernelAddress):6000", "--size", "512",
                                      "--count", "100000", "--rate", "25000"], waitForReady: false)
        let sent = lastJSON(source.finish(timeout: 60).stdout)
        #expect(int(sent, "sent") == 100_000, "\(sent)")
        let result = lastJSON(recv.finish(timeout: 30).stdout)
        #expect(int(result, "received") == 100_000, "\(result)")
        #expect(int(result, "content_errors") == 0)
        #expect(int(result, "missing") == 0)
    }

    @Test func sixtyThousandByteDatagramsBothWays() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        let sink = try t.startNode(["sink", "--port", "5000", "--count", "200", "--check", "--seconds", "30"])
        let sent = try t.kernel(["send", "--dst", Self.target, "--size", "60000", "--count", "200", "--rate", "400"])
        #expect(sent.ok, "\(sent.stderr)")
        let inbound = lastJSON(sink.finish().stdout)
        #expect(int(inbound, "received") == 200, "\(inbound)")
        #expect(int(inbound, "content_errors") == 0)

        guard let tool = UDPTopology.udptool else { Issue.record("udptool did not build"); return }
        let recv = try Background(["ip", "netns", "exec", t.peer.name, tool, "recv", "--bind", "\(UDPTopology.kernelAddress):6000",
                                   "--count", "200", "--check", "--rcvbuf", "16777216", "--seconds", "30"])
        usleep(300_000)
        let source = try t.startNode(["source", "--to", "\(UDPTopology.kernelAddress):6000", "--size", "60000",
                                      "--count", "200", "--rate", "400"], waitForReady: false)
        _ = source.finish()
        let outbound = lastJSON(recv.finish(timeout: 30).stdout)
        #expect(int(outbound, "received") == 200, "\(outbound)")
        #expect(int(outbound, "content_errors") == 0)
    }

    @Test func aKernelSocketSeesPortUnreachable() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        let sink = try t.startNode(["sink", "--port", "5000", "--seconds", "10"])
        defer { _ = sink.finish(timeout: 1) }
        // A connected kernel socket gets ECONNREFUSED once the ICMP error arrives (RFC 1122 §4.1.3.3).
        let script = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.connect(("\(UDPTopology.nodeAddress)", 5999))
        s.send(b"anyone there?")
        try:
            s.recv(100)
            print("no error"); sys.exit(1)
        except ConnectionRefusedError:
            print("refused")
        """
        let r = try t.peer.exec(["python3", "-c", script], timeout: 10)
        #expect(r.stdout.contains("refused"), "\(r.stdout) \(r.stderr)")
    }

    @Test func aFloodToOneSocketDoesNotStopAnother() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        // Both sockets best-effort, so only LRP's separate channels keep them apart.
        let node = try t.startNode(["streams", "--stream", "5001:1000000:512", "--flood-port", "5009", "--seconds", "4"],
                                   extra: ["--no-reservations"])
        guard let tool = UDPTopology.udptool else { Issue.record("udptool did not build"); return }
        let flood = try Background(["ip", "netns", "exec", t.peer.name, tool, "flood", "--ifname", t.kernelDevice,
                                    "--src-mac", t.kernelMAC, "--dst-mac", t.nodeMAC,
                                    "--src", "\(UDPTopology.kernelAddress):7000", "--dst", "\(UDPTopology.nodeAddress):5009",
                                    "--size", "64", "--seconds", "6"])
        let paced = try t.kernel(["send", "--dst", "\(UDPTopology.nodeAddress):5001", "--size", "512", "--rate", "2000",
                                  "--count", "12000"])
        let flooded = lastJSON(flood.finish(timeout: 20).stdout)
        let result = lastJSON(node.finish(timeout: 20).stdout)
        #expect(paced.ok)
        let streams = result["streams"] as? [[String: Any]] ?? []
        let victim = streams.first { int($0, "port") == 5001 } ?? [:]
        let hog = streams.first { int($0, "port") == 5009 } ?? [:]
        // 4 s of a 2000/s stream inside the node's window; allow one interval of edge effects.
        #expect(int(victim, "received") >= 7_800, "victim \(victim); flood \(hog); sender \(flooded)")
        #expect(int(hog, "received") > int(victim, "received"), "the flood was not delivered at all: \(hog)")
        print("flood test: sender \(flooded["pps"] ?? "?") pps; flooded socket got \(hog["pps"] ?? "?")/s, dropped \(hog["channel_dropped"] ?? "?") at its channel; paced socket got \(victim["pps"] ?? "?")/s")
    }
}
