import Links
@testable import Stack
import Testing
import Wire

/// The LRP "NI demux": a link-level source (an ATM VC, as its adaptor writes
/// it into the source MAC) bound to a channel takes that source's whole UDP
/// datagrams without their addresses or ports being read; the rest of its
/// traffic is classified as anyone else's.
@Suite struct LinkSourceDemuxTests {
    /// 02:41:54:VPI:VCI, the address the ATM adaptor gives VC 0/100.
    static let vc100 = EthernetAddress(0x02, 0x41, 0x54, 0, 0, 100)
    static let vc101 = EthernetAddress(0x02, 0x41, 0x54, 0, 0, 101)

    /// `frame` as if it came from link source `source`.
    static func from(_ source: EthernetAddress, _ frame: [UInt8]) -> [UInt8] {
        var f = frame
        f.withUnsafeMutableBytes { source.store(into: $0, at: 6) }
        return f
    }

    @Test func aBoundSourcesDatagramsGoToItsChannelWhateverTheirPorts() throws {
        let f = try DemuxTests.Fixture()
        let vcSocket = FrameChannel(id: 1, capacity: 16)
        let byPort = FrameChannel(id: 2, capacity: 16)
        defer { for c in [vcSocket, byPort] { c.drain(to: f.pool) } }
        try f.demux.insert(UDPEndpointKey(local: TwoHosts.addrB, localPort: 5000), channel: byPort)
        try f.demux.bindLinkSource(Self.vc100, to: vcSocket)

        f.dispatch(Self.from(Self.vc100, DemuxTests.udp(port: 5000)))   // the VC wins over the bound port
        f.dispatch(Self.from(Self.vc100, DemuxTests.udp(port: 7777)))   // any port: the socket's RTU checks
        f.dispatch(Self.from(Self.vc101, DemuxTests.udp(port: 5000)))   // another VC: by address and port
        f.dispatch(Self.from(Self.vc101, DemuxTests.udp(port: 7777)))   // nobody's: the stack
        #expect(vcSocket.count == 2)
        #expect(byPort.count == 1)
        #expect(f.stack.count == 1)
        #expect(f.demux.counters.toSocketsByVC.load(ordering: .relaxed) == 2)
        #expect(f.demux.counters.toSockets.load(ordering: .relaxed) == 3)
    }

    /// ARP, ICMP and fragments from a bound VC still reach the stack (ping
    /// and address resolution work over every PVC) and the fragment channel.
    @Test func theRestOfABoundSourcesTrafficIsClassifiedAsUsual() throws {
        let f = try DemuxTests.Fixture()
        let vcSocket = FrameChannel(id: 1, capacity: 16)
        defer { vcSocket.drain(to: f.pool) }
        try f.demux.bindLinkSource(Self.vc100, to: vcSocket)

        f.dispatch(Self.from(Self.vc100, InputValidationTests.ipv4Frame(proto: 1, payload: [8, 0, 0, 0, 0, 0, 0, 0])))
        var arp = [UInt8](repeating: 0, count: 42)
        arp.withUnsafeMutableBytes { EthernetRepr(destination: .broadcast, source: Self.vc100, etherType: .arp).emit(into: $0) }
        f.dispatch(arp)
        f.dispatch(Self.from(Self.vc100, DemuxTests.udp(flagsOffset: 0x2000)))
        f.dispatch(Self.from(Self.vc100, DemuxTests.udp(flagsOffset: 0x0010)))
        #expect(vcSocket.count == 0)
        #expect(f.stack.count == 2)
        #expect(f.fragments.count == 2)
        #expect(f.demux.counters.toSocketsByVC.load(ordering: .relaxed) == 0)
    }

    @Test func unbindingRestoresAddressAndPortClassification() throws {
        let f = try DemuxTests.Fixture(maxEndpoints: 2)
        let vcSocket = FrameChannel(id: 1, capacity: 16)
        let byPort = FrameChannel(id: 2, capacity: 16)
        defer { for c in [vcSocket, byPort] { c.drain(to: f.pool) } }
        try f.demux.bindLinkSource(Self.vc100, to: vcSocket)
        #expect(throws: Demux.InsertError.inUse) { try f.demux.bindLinkSource(Self.vc100, to: byPort) }
        try f.demux.insert(UDPEndpointKey(local: .any, localPort: 5000), channel: byPort)
        // Bindings and endpoints share the table and its limit.
        #expect(throws: Demux.InsertError.tableFull) { try f.demux.bindLinkSource(Self.vc101, to: byPort) }
        #expect(f.demux.count == 2)

        #expect(f.demux.unbindLinkSource(Self.vc100))
        #expect(!f.demux.unbindLinkSource(Self.vc100))
        f.dispatch(Self.from(Self.vc100, DemuxTests.udp(port: 5000)))
        #expect(vcSocket.count == 0 && byPort.count == 1)
        // The UDP endpoint is untouched by the binding's removal, and the binding's key is no UDP key.
        #expect(f.demux.remove(UDPEndpointKey(local: .any, localPort: 5000)))
        #expect(f.demux.count == 0)
    }
}
