import Foundation
import Testing

/// Two namespaces joined by a veth: the in-process node (`udp-node`, AF_PACKET
/// on its end) and the Linux kernel (bench/c/udptool on the other end).
/// `close()` (always deferred) deletes both.
final class UDPTopology {
    static let nodeAddress = "198.18.0.1"
    static let kernelAddress = "198.18.0.2"
    let node: Namespace
    let peer: Namespace
    let nodeDevice: String
    let kernelDevice: String
    let nodeMAC: String
    let kernelMAC: String

    init() throws {
        let (node, peer, devices) = try Namespace.pair("rtuud-node", "rtuud-peer", vethPrefix: "rtuu",
                                                       secondAddress: "\(Self.kernelAddress)/24")
        do {
            // The kernel would leave UDP checksums for "hardware" to fill in
            // (veth passes them on partial), which an AF_PACKET reader sees as wrong.
            try peer.must(["ethtool", "-K", devices.second, "tx", "off"])
            nodeMAC = try node.mac(of: devices.first)
            kernelMAC = try peer.mac(of: devices.second)
        } catch {
            node.close()
            peer.close()
            throw error
        }
        (self.node, self.peer) = (node, peer)
        (nodeDevice, kernelDevice) = devices
    }

    func close() {
        node.close()
        peer.close()
    }

    /// Starts `udp-node ROLE …` in the node namespace and waits for its "ready" line (roles that listen).
    func startNode(_ role: [String], waitForReady: Bool = true, extra: [String] = []) throws -> Background {
        let b = try Background(["ip", "netns", "exec", node.name, Harness.builtBinary("udp-node"), "--device", nodeDevice,
                                "--address", "\(Self.nodeAddress)/24"] + extra + role)
        if waitForReady {
            guard b.waitForLine(containing: "\"ready\"", seconds: 20) else {
                throw HarnessError("udp-node did not start: \(b.finish().stderr)")
            }
        }
        return b
    }

    /// Runs udptool in the peer namespace to completion.
    func kernel(_ args: [String], timeout: Double = 60) throws -> Harness.Output {
        try peer.udptool(args, timeout: timeout)
    }

    /// Starts udptool in the peer namespace and returns at once.
    func kernelInBackground(_ args: [String]) throws -> Background {
        try peer.udptoolInBackground(args)
    }

    /// `count` datagrams of `size` bytes at `rate`/s from a kernel socket
    /// (udptool send) to a checking udp-node sink on port 5000; the sender's
    /// outcome and the sink's report.
    func kernelToNode(size: Int, count: Int, rate: Int, seconds: Int) throws -> (sent: Harness.Output, received: [String: Any]) {
        let sink = try startNode(["sink", "--port", "5000", "--count", "\(count)", "--check", "--seconds", "\(seconds)"])
        let sent = try kernel(["send", "--dst", "\(Self.nodeAddress):5000", "--size", "\(size)", "--count", "\(count)",
                               "--rate", "\(rate)"])
        return (sent, lastJSON(sink.finish().stdout))
    }

    /// `count` datagrams of `size` bytes at `rate`/s from udp-node (source)
    /// to a checking kernel socket (udptool recv) on port 6000, started once
    /// that socket is bound; both reports.
    func nodeToKernel(size: Int, count: Int, rate: Int, seconds: Int) throws -> (sent: [String: Any], received: [String: Any]) {
        let recv = try peer.udptoolReceiver(bind: "\(Self.kernelAddress):6000",
                                            ["--count", "\(count)", "--check", "--rcvbuf", "16777216", "--seconds", "\(seconds)"])
        let source = try startNode(["source", "--to", "\(Self.kernelAddress):6000", "--size", "\(size)",
                                    "--count", "\(count)", "--rate", "\(rate)"], waitForReady: false)
        let sent = lastJSON(source.finish(timeout: 60).stdout)
        return (sent, lastJSON(recv.finish(timeout: 30).stdout))
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

/// Every datagram arrived once, in sequence, with the right content.
func expectIntact(_ report: [String: Any], count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(int(report, "received") == count, "\(report)", sourceLocation: sourceLocation)
    #expect(int(report, "content_errors") == 0, "\(report)", sourceLocation: sourceLocation)
    #expect(int(report, "missing") == 0, "\(report)", sourceLocation: sourceLocation)
}

@Suite(.serialized) struct UDPKernelPeerTests {
    @Test func hundredThousandDatagramsFromTheKernelArriveIntact() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        defer { t.close() }
        let (sent, received) = try t.kernelToNode(size: 512, count: 100_000, rate: 25_000, seconds: 60)
        #expect(sent.ok, "\(sent.stderr)")
        expectIntact(received, count: 100_000)
        #expect(int(received, "bad_checksum") == 0)
    }

    @Test func hundredThousandDatagramsToTheKernelArriveIntact() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        defer { t.close() }
        let (sent, received) = try t.nodeToKernel(size: 512, count: 100_000, rate: 25_000, seconds: 60)
        #expect(int(sent, "sent") == 100_000, "\(sent)")
        expectIntact(received, count: 100_000)
    }

    @Test func sixtyThousandByteDatagramsBothWays() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        defer { t.close() }
        let (sentIn, inbound) = try t.kernelToNode(size: 60_000, count: 200, rate: 400, seconds: 30)
        #expect(sentIn.ok, "\(sentIn.stderr)")
        expectIntact(inbound, count: 200)
        #expect(int(inbound, "bad_checksum") == 0)

        let (sentOut, outbound) = try t.nodeToKernel(size: 60_000, count: 200, rate: 400, seconds: 30)
        #expect(int(sentOut, "sent") == 200, "\(sentOut)")
        expectIntact(outbound, count: 200)
    }

    @Test func aKernelSocketSeesPortUnreachable() throws {
        guard Harness.requireRoot("UDP against the kernel") else { return }
        let t = try UDPTopology()
        defer { t.close() }
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
        defer { t.close() }
        // Both sockets best-effort, so only LRP's separate channels keep them
        // apart. Channels of 64 frames: the flood overfills its channel
        // whenever its upcall waits 0.2 ms, while the paced stream's lasts 32 ms.
        // The node counts over 4 s from 2 s after it starts binding: binding
        // took up to 1.5 s here, and the senders start once it is ready.
        let node = try t.startNode(["streams", "--stream", "5001:1000000:512", "--flood-port", "5009", "--seconds", "4",
                                    "--warmup", "2"],
                                   extra: ["--no-reservations", "--channel", "64"])
        // The kernel knows the node's MAC beforehand: an ARP request sent next
        // to the flood can be lost in the AF_PACKET ring the flood overfills,
        // and the kernel asks again only a second later.
        try t.peer.must(["ip", "neigh", "replace", UDPTopology.nodeAddress, "lladdr", t.nodeMAC, "dev", t.kernelDevice,
                         "nud", "permanent"])
        let flood = try t.kernelInBackground(["flood", "--ifname", t.kernelDevice, "--src-mac", t.kernelMAC, "--dst-mac", t.nodeMAC,
                                              "--src", "\(UDPTopology.kernelAddress):7000", "--dst", "\(UDPTopology.nodeAddress):5009",
                                              "--size", "64", "--seconds", "7"])
        let paced = try t.kernel(["send", "--dst", "\(UDPTopology.nodeAddress):5001", "--size", "512", "--rate", "2000",
                                  "--count", "14000"])
        let flooded = lastJSON(flood.finish(timeout: 20).stdout)
        let result = lastJSON(node.finish(timeout: 20).stdout)
        #expect(paced.ok)
        let streams = result["streams"] as? [[String: Any]] ?? []
        let victim = streams.first { int($0, "port") == 5001 } ?? [:]
        let hog = streams.first { int($0, "port") == 5009 } ?? [:]
        // Without an overflowing channel the victim's survival would show nothing.
        #expect(int(hog, "channel_dropped") > 0, "the flood never filled its channel: \(hog); sender \(flooded)")
        // 4 s of a 2000/s stream inside the node's window; allow one interval of edge effects.
        #expect(int(victim, "received") >= 7_800, "victim \(victim); flood \(hog); sender \(flooded)")
        #expect(int(hog, "received") > int(victim, "received"), "the flood was not delivered at all: \(hog)")
        print("flood test: sender \(flooded["pps"] ?? "?") pps; flooded socket got \(hog["pps"] ?? "?")/s, dropped \(hog["channel_dropped"] ?? "?") at its channel; paced socket got \(victim["pps"] ?? "?")/s")
    }
}
