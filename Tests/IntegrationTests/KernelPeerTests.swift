import Foundation
import Testing

/// rtud against the Linux kernel in a namespace, over TAP and over AF_PACKET
/// (issue 2, item 6): ARP both ways, ping including 4000-byte pings
/// (fragmentation and reassembly both ways), and a capture tshark decodes
/// without a malformed packet or a bad checksum.
@Suite(.serialized) struct KernelPeerTests {
    static let rtudAddress = "198.18.0.1"
    static let kernelAddress = "198.18.0.2"

    static func config(driver: String, name: String, device: String? = nil, pcap: String) -> String {
        """
        [daemon]
        pcap = "\(pcap)"
        log_level = "debug"

        [[interface]]
        name = "\(name)"
        driver = "\(driver)"
        \(device.map { "device = \"\($0)\"" } ?? "")
        address = "\(rtudAddress)/24"
        mtu = 1500
        """
    }

    /// The checks shared by both drivers, with rtud up and the kernel side
    /// configured in `peer`; then rtud stops on SIGTERM and its capture is checked.
    static func exercise(_ rtud: RtudProcess, peer: Namespace, kernelDevice: String) throws {
        // rtud resolved the kernel's MAC (its --probe ARP request was answered) and got the echo reply.
        let kernelMAC = try peer.mac(of: kernelDevice)
        #expect(rtud.waitForLog("neighbour \(kernelAddress) is at \(kernelMAC)"), "rtud did not resolve the kernel:\n\(rtud.log)")
        #expect(rtud.waitForLog("probe: echo reply from \(kernelAddress)"), "no reply to rtud's probe:\n\(rtud.log)")

        // The kernel learned rtud's MAC from rtud's own ARP request; forget it
        // so that the kernel has to resolve rtud by ARP itself.
        try peer.must(["ip", "neigh", "flush", "dev", kernelDevice])
        let small = try peer.exec(["ping", "-c", "5", "-i", "0.2", "-W", "2", rtudAddress], timeout: 20)
        #expect(small.stdout.contains("5 received"), "ping: \(small.stdout)\(small.stderr)")
        let large = try peer.exec(["ping", "-c", "3", "-i", "0.3", "-s", "4000", "-W", "2", rtudAddress], timeout: 20)
        #expect(large.stdout.contains("3 received"), "4000-byte ping: \(large.stdout)\(large.stderr)")
        #expect(large.stdout.contains("4008 bytes from \(rtudAddress)"))

        // The kernel resolved rtud by ARP.
        let neigh = try peer.exec(["ip", "neigh", "show", rtudAddress]).stdout
        #expect(neigh.contains("lladdr"), "kernel has no ARP entry for rtud: \(neigh)")

        #expect(rtud.stop() == 0, "rtud did not exit cleanly on SIGTERM:\n\(rtud.log)")
        #expect(rtud.log.contains("stopped"))
        try checkCapture(rtud.path("rtud.pcap"))
    }

    static func checkCapture(_ path: String) throws {
        let all = try Capture.frames(path, filter: "frame")
        #expect(all.count >= 20, "capture too small: \(all.count) frames")
        #expect(try Capture.frames(path, filter: Capture.problems).isEmpty, "malformed or bad checksum in \(path)")
        // The large pings went fragmented both ways (two leading fragments
        // each) and tshark reassembled every one: the ICMP message shows on
        // the last fragment.
        #expect(try Capture.frames(path, filter: "ip.src == \(rtudAddress) && ip.flags.mf == 1").count >= 6)
        #expect(try Capture.frames(path, filter: "ip.src == \(kernelAddress) && ip.flags.mf == 1").count >= 6)
        #expect(try Capture.frames(path, filter: "icmp.type == 0 && ip.src == \(rtudAddress) && ip.frag_offset > 0 && icmp.checksum.status == \"Good\"").count >= 3)
        #expect(try Capture.frames(path, filter: "icmp.type == 8 && ip.src == \(kernelAddress) && ip.frag_offset > 0").count >= 3)
        #expect(try Capture.frames(path, filter: "arp.opcode == 1 && arp.src.proto_ipv4 == \(rtudAddress)").count >= 1)
        #expect(try Capture.frames(path, filter: "arp.opcode == 2 && arp.src.proto_ipv4 == \(rtudAddress)").count >= 1)
    }

    @Test func tap() throws {
        guard Harness.requireRoot("rtud over TAP") else { return }
        let ns = try Namespace("rtuit-tap")
        defer { ns.close() }
        let tap = "rtutap\(Harness.uniqueSuffix().prefix(6))"
        let rtud = try RtudProcess(namespace: ns, arguments: ["--probe", Self.kernelAddress]) { dir in
            Self.config(driver: "tap", name: tap, pcap: dir + "/rtud.pcap")
        }
        defer { rtud.cleanup() }
        #expect(rtud.waitForLog("ready"), "rtud did not start:\n\(rtud.log)")
        // rtud made the TAP; its kernel side is the peer, configured now.
        try ns.must(["ip", "addr", "add", "\(Self.kernelAddress)/24", "dev", tap])
        try Self.exercise(rtud, peer: ns, kernelDevice: tap)
    }

    @Test func afPacket() throws {
        guard Harness.requireRoot("rtud over AF_PACKET") else { return }
        // rtud's namespace holds one end of a veth (no kernel address on it);
        // the peer namespace holds the other, configured by the kernel.
        let host = try Namespace("rtuit-host")
        defer { host.close() }
        let peer = try Namespace("rtuit-peer")
        defer { peer.close() }
        let (mine, theirs) = try host.veth(to: peer, prefix: "rtuv", otherAddress: "\(Self.kernelAddress)/24")
        let rtud = try RtudProcess(namespace: host, arguments: ["--probe", Self.kernelAddress]) { dir in
            Self.config(driver: "af_packet", name: "rtu0", device: mine, pcap: dir + "/rtud.pcap")
        }
        defer { rtud.cleanup() }
        #expect(rtud.waitForLog("ready"), "rtud did not start:\n\(rtud.log)")
        try Self.exercise(rtud, peer: peer, kernelDevice: theirs)
    }
}
