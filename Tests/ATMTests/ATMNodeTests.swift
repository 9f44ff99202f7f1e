// Two nodes (their RTUs on dispatcher threads, as rtud runs them) whose
// ports are ATM adaptors over a socket-pair carrier: a reserved socket on
// its own CBR VC both ways, the refusals of a VC that cannot be had, what a
// bound VC does with a datagram for another port, and the ATM counters.
import ATM
import CShims
import Links
import Node
import NodeTestSupport
import RTUScheduler
import Stack
import Testing
import UserUDP
import Wire

@Suite(.serialized) struct ATMNodeTests {
    static let vc100 = ATMVirtualChannel(vpi: 0, vci: 100)
    static let vc101 = ATMVirtualChannel(vpi: 0, vci: 101)
    static let vc102 = ATMVirtualChannel(vpi: 0, vci: 102)

    /// Nodes a (198.18.0.1) and b (198.18.0.2): PVCs 0/32 (UBR, the default
    /// VC), 0/100 (CBR 20,000 cells/s, dedicated) and 0/102 (CBR 10 cells/s,
    /// dedicated: cells 100 ms apart) between them, MTU 9180.
    static func pair() throws -> NodePair {
        try NodePair(names: ("atma", "atmb"), configure: { $0.ringCapacity = 1 << 20 }) { carrier, address, peer, name in
            let pool = try BufferPool(slotSize: 64 + 9180 + 18, count: 2048)
            var config = ATMAdaptorConfiguration()
            config.cellsPerFrame = 8
            config.frameHold = UInt64(NodePair.configuration().atmPeriod)   // as rtud makes it
            let adaptor = try ATMAdaptor(carrier: carrier, pvcs: [
                ATMPermanentVC(channel: vc32, peer: peer),
                ATMPermanentVC(channel: vc100, peer: peer, contract: .cbr(pcr: 20_000), dedicated: true),
                ATMPermanentVC(channel: vc102, peer: peer, contract: .cbr(pcr: 10), dedicated: true),
            ], pool: pool, configuration: config)
            let ic = InterfaceConfiguration(name: name, hardwareAddress: carrier.hardwareAddress,
                                            address: IPv4Cidr(address: address, prefixLength: 24)!, mtu: 9180)
            return PortSpec(name: name, device: adaptor, pool: pool, interface: ic)
        }
    }

    /// A socket of `node` bound to `port`, connected to `peer`.
    static func socket(_ node: Node, _ local: IPv4Address, _ port: UInt16, to peer: SocketAddress? = nil,
                       reserve: UDPReservation? = nil, vc: ATMVirtualChannel? = nil) throws -> UDPSocket {
        let s = try node.openUDP(name: "s\(port)")
        try node.bind(s, to: SocketAddress(address: local, port: port))
        if let peer { try node.connect(s, to: peer) }
        if let reserve { try node.reserve(s, reserve) }
        if let vc { try node.bindVC(s, to: vc) }
        return s
    }

    /// Sends `sizes.count` datagrams of those sizes from `from` and receives
    /// them on `to`, content checked; returns how many arrived intact.
    static func exchange(_ from: UDPSocket, _ to: UDPSocket, sizes: [Int]) throws -> Int {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        let into = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { out.deallocate(); into.deallocate() }
        var intact = 0
        for (i, n) in sizes.enumerated() {
            PayloadPattern.fill(out.slice(0 ..< n), seq: UInt64(i))
            try from.send(UnsafeRawBufferPointer(out.slice(0 ..< n)), timeout: 2_000_000_000)
            guard let got = try to.receive(into: into, timeout: 5_000_000_000) else { return intact }
            if got.length == n && PayloadPattern.check(UnsafeRawBufferPointer(into.slice(0 ..< got.stored))) == UInt64(i) {
                intact += 1
            }
        }
        return intact
    }

    /// The `LinkCounters` an ATM port reports as `link_NAME` (the adaptor's
    /// stack side) and `carrier_NAME`, the carrier adding its drop reasons.
    static let linkFields: [(String, KeyPath<LinkCounters, UInt64>)] = [
        ("rx_frames", \.rxFrames), ("rx_bytes", \.rxBytes), ("tx_frames", \.txFrames), ("tx_bytes", \.txBytes),
        ("rx_dropped", \.rxDropped), ("tx_dropped", \.txDropped),
    ]
    static let carrierOnlyFields: [(String, KeyPath<LinkCounters, UInt64>)] = [
        ("rx_no_buffer", \.rxNoBuffer), ("rx_truncated", \.rxTruncated), ("rx_kernel_dropped", \.rxKernelDropped),
        ("tx_oversize", \.txOversize), ("tx_errors", \.txErrors), ("tx_would_block", \.txWouldBlock),
    ]

    /// `name`'s value in `node`'s counters (which leave out zeros).
    static func counter(_ node: Node, _ name: String) -> UInt64 {
        node.counters().first?.1.first { $0.0 == name }?.1 ?? 0
    }

    @Test func aReservedSocketTalksOnItsVCBothWays() throws {
        let p = try Self.pair()
        let r = UDPReservation(bitsPerSecond: 4_000_000, messageSize: 1000)   // 500/s × 22 cells ≤ 20,000 cells/s
        let sa = try Self.socket(p.a, addrA, 5000, to: SocketAddress(address: addrB, port: 5000), reserve: r, vc: Self.vc100)
        let sb = try Self.socket(p.b, addrB, 5000, to: SocketAddress(address: addrA, port: 5000), reserve: r, vc: Self.vc100)
        #expect(p.a.vc(of: sa) == Self.vc100)
        // Small ones and whole 9180-byte packets (192 cells each) both ways.
        let sizes = (0 ..< 200).map { 8 + $0 * 37 % 1200 } + [Int](repeating: 9152, count: 10)
        #expect(try Self.exchange(sa, sb, sizes: sizes) == sizes.count)
        #expect(try Self.exchange(sb, sa, sizes: sizes) == sizes.count)
        // Every one was classified by its VC, none by address and port.
        #expect(Self.counter(p.b, "demux_to_sockets_by_vc") == UInt64(sizes.count))
        #expect(Self.counter(p.a, "demux_to_sockets_by_vc") == UInt64(sizes.count))
        // An unbound socket's datagrams take the default VC and the ordinary demux.
        let ua = try Self.socket(p.a, addrA, 6000, to: SocketAddress(address: addrB, port: 6000))
        let ub = try Self.socket(p.b, addrB, 6000)
        #expect(try Self.exchange(ua, ub, sizes: [100, 9152]) == 2)
        #expect(Self.counter(p.b, "demux_to_sockets_by_vc") == UInt64(sizes.count))
        p.a.stop()
        p.b.stop()
        // The ATM counters reach the port's counters: cells both ways, no drop on the way.
        for node in [p.a, p.b] {
            #expect(Self.counter(node, "atm_tx_cells") > 2 * 192 * 10)
            #expect(Self.counter(node, "atm_rx_pdus") >= UInt64(sizes.count))
            #expect(Self.counter(node, "carrier_tx_frames") > 0 && Self.counter(node, "link_rx_frames") > 0)
            #expect(!(node.counters().first?.1.contains { $0.0.hasPrefix("atm_drop_rx") } ?? true))
            // Each one is what the adaptor and its carrier counted (published as the node stopped).
            let adaptor = try #require(node.ports[0].device as? ATMAdaptor<SocketPairLink>)
            for e in ATMEvent.allCases { #expect(Self.counter(node, "atm_" + e.name) == adaptor.count(e), "atm_\(e.name)") }
            for r in ATMDropReason.allCases {
                #expect(Self.counter(node, "atm_drop_" + r.name) == adaptor.count(r), "atm_drop_\(r.name)")
            }
            for (name, field) in Self.linkFields {
                #expect(Self.counter(node, "link_" + name) == adaptor.counters[keyPath: field], "link_\(name)")
            }
            for (name, field) in Self.linkFields + Self.carrierOnlyFields {
                #expect(Self.counter(node, "carrier_" + name) == adaptor.carrier.counters[keyPath: field], "carrier_\(name)")
            }
        }
        #expect(p.a.runtime.entries().contains { $0.stats.name == "atma.atm" })
    }

    @Test func aVCThatCannotBeHadIsRefusedWithTheReason() throws {
        let p = try Self.pair()
        let unbound = try p.a.openUDP(name: "unbound")
        #expect(throws: NodeError.notBound) { try p.a.bindVC(unbound, to: Self.vc100) }
        let s = try Self.socket(p.a, addrA, 5000)
        let e1 = #expect(throws: NodeError.self) { try p.a.bindVC(s, to: Self.vc101) }
        #expect(e1?.description == "VC 0/101 is not a PVC of interface atma (its PVCs: 0/32, 0/100, 0/102); "
            + "add it as an [[interface.pvc]] (both ends) and restart rtud, or use one of those")
        // The default VC carries the peer's ARP, ICMP and unbound sockets: no socket takes it.
        let e0 = #expect(throws: NodeError.self) { try p.a.bindVC(s, to: vc32) }
        #expect(e0 == .vcIsDefault(vc32, peer: addrB))
        #expect(e0?.description == "VC 0/32 is the default VC of 198.18.0.2 (the first PVC configured for it): it carries ARP, "
            + "ICMP and every socket not bound to a VC, so no socket may take it; configure a second [[interface.pvc]] to "
            + "198.18.0.2 (both ends, then restart rtud) and bind that one")
        let demux = p.a.ports[0].demux
        let entries = demux.count
        #expect(p.a.vc(of: s) == nil)
        try p.a.bindVC(s, to: Self.vc100)
        #expect(p.a.vc(of: s) == Self.vc100 && demux.count == entries + 1)
        try p.a.bindVC(s, to: Self.vc100)   // again: no change
        #expect(p.a.vc(of: s) == Self.vc100 && demux.count == entries + 1)
        let other = try Self.socket(p.a, addrA, 5001)
        #expect(throws: NodeError.vcInUse(Self.vc100, socket: "s5000")) { try p.a.bindVC(other, to: Self.vc100) }
        // 1,000 messages/s of 22 cells: 22,000 cells/s over the PCR; the socket keeps what it had.
        let e2 = #expect(throws: NodeError.self) { try p.a.reserve(s, UDPReservation(bitsPerSecond: 8_000_000, messageSize: 1000)) }
        #expect(e2 == .vcContractExceeded(Self.vc100, needed: 22_000, allowed: 20_000, contract: "cbr pcr=20000"))
        #expect(s.reservation == nil)
        // Closing the holder frees the VC and its demux entries (other's endpoint is the one left).
        p.a.close(s)
        #expect(demux.count == entries)
        let far = try Self.socket(p.a, addrA, 5002, to: SocketAddress(address: IPv4Address(198, 18, 0, 7), port: 9))
        #expect(throws: NodeError.vcPeerMismatch(Self.vc100, vcPeer: addrB, socketPeer: IPv4Address(198, 18, 0, 7))) {
            try p.a.bindVC(far, to: Self.vc100)
        }
        try p.a.bindVC(other, to: Self.vc100)
        #expect(p.a.vc(of: other) == Self.vc100)
    }

    /// The output RTU sends up to its batch, ⌈R·T/(8·S)⌉ messages, every
    /// period (pacing bounds bytes: small messages come as many as that), so
    /// the contract is checked against batch / period, not R / (8·S); and a
    /// reservation the plan refuses is refused as such before any cell is counted.
    @Test func theContractCountsTheBatchThePeriodMaySend() throws {
        let p = try Self.pair()
        let s = try Self.socket(p.a, addrA, 5000, vc: Self.vc100)
        // 7,200,001 bit/s of 1000-byte messages every 10 ms: 900.0001 messages/s
        // (19,801 cells/s) on average, but a batch of ⌈9.00000125⌉ = 10: 1,000 × 22 cells.
        let over = UDPReservation(bitsPerSecond: 7_200_001, messageSize: 1000, period: 10_000_000)
        let e = #expect(throws: NodeError.self) { try p.a.reserve(s, over) }
        #expect(e == .vcContractExceeded(Self.vc100, needed: 22_000, allowed: 20_000, contract: "cbr pcr=20000"))
        // A batch of 9: 19,800 cells/s.
        try p.a.reserve(s, UDPReservation(bitsPerSecond: 7_200_000, messageSize: 1000, period: 10_000_000))
        #expect(s.plan?.batch == 9)
        let zero = #expect(throws: NodeError.self) { try p.a.reserve(s, UDPReservation(bitsPerSecond: 1000, messageSize: 0)) }
        #expect(zero == .reservation("invalid reservation: message size 0 is outside 1…65507 bytes"))
        #expect(s.plan?.batch == 9)
        // Binding a reserved socket counts its batch the same way.
        p.a.close(s)
        let t = try Self.socket(p.a, addrA, 5001, reserve: over)
        #expect(throws: NodeError.vcContractExceeded(Self.vc100, needed: 22_000, allowed: 20_000, contract: "cbr pcr=20000")) {
            try p.a.bindVC(t, to: Self.vc100)
        }
        #expect(p.a.vc(of: t) == nil)
    }

    /// `NAME.atm` releases itself while cells are due within its period or
    /// before `NAME.timer` runs again; cells further off are the timer's.
    /// On 0/102 (10 cells/s) three one-cell datagrams leave 100 ms apart:
    /// the timer brings each, and `NAME.atm` runs around each cell, not
    /// every 400 µs while they wait (about 500 times in 200 ms).
    @Test func cellsFarApartLeaveTheATMRTUToTheTimer() throws {
        let p = try Self.pair()
        let sa = try Self.socket(p.a, addrA, 7000, to: SocketAddress(address: addrB, port: 7000), vc: Self.vc102)
        let sb = try Self.socket(p.b, addrB, 7000, vc: Self.vc102)
        let atm = try #require(p.a.runtime.entries().first { $0.stats.name == "atma.atm" }?.id)
        func runs() -> UInt64 {
            let s = p.a.runtime.statistics(atm)
            return (s?.invocations ?? 0) + (s?.bestEffortInvocations ?? 0)
        }
        let before = runs()
        // 4 bytes: 20 (IP) + 8 (UDP) + 4 + 8 (LLC/SNAP) + 8 (AAL5 trailer) = 48, one cell.
        let payload: [UInt8] = [1, 2, 3, 4]
        for _ in 0 ..< 3 { try payload.withUnsafeBytes { try sa.send($0, timeout: 1_000_000_000) } }
        let into = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { into.deallocate() }
        for i in 0 ..< 3 {
            let got = try sb.receive(into: into, timeout: 5_000_000_000)
            #expect(got?.length == 4, "datagram \(i)")
        }
        let atmRuns = runs() - before
        #expect(atmRuns < 150, "NAME.atm ran \(atmRuns) times while three cells 100 ms apart went out")
    }

    @Test func anEthernetPortHasNoVCs() throws {
        let (la, _) = try SocketPairLink.pair(a: macA, b: macB)
        let node = try NodePair.node(la, address: addrA, name: "eth")
        try node.start()
        defer { node.stop() }
        let s = try Self.socket(node, addrA, 5000)
        #expect(throws: NodeError.notATM(interface: "eth")) { try node.bindVC(s, to: Self.vc100) }
        #expect(!node.runtime.entries().contains { $0.stats.name.hasSuffix(".atm") })
    }

    /// A bound VC is its socket's: a datagram arriving on it for another
    /// port is dropped and counted by the socket's RTU, never delivered to
    /// the socket or to the port's own socket.
    @Test func aDatagramForAnotherPortOnABoundVCIsDroppedNotDelivered() throws {
        let p = try Self.pair()
        let sa = try Self.socket(p.a, addrA, 5000, to: SocketAddress(address: addrB, port: 6000), vc: Self.vc100)
        let sb = try Self.socket(p.b, addrB, 5000, vc: Self.vc100)
        let other = try Self.socket(p.b, addrB, 6000)
        let payload: [UInt8] = Array(repeating: 0x5A, count: 64)
        for _ in 0 ..< 5 { try payload.withUnsafeBytes { try sa.send($0, timeout: 1_000_000_000) } }
        #expect(waitUntil(5) { sb.counters.droppedNotForSocket.load(ordering: .relaxed) == 5 })
        #expect(sb.counters.received.load(ordering: .relaxed) == 0)
        #expect(other.counters.received.load(ordering: .relaxed) == 0)
        #expect(Self.counter(p.b, "udp_dropped_not_for_socket") == 5)
    }
}
