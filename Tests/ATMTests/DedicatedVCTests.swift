// Several VCs to one peer: a default VC that address resolution picks and a
// dedicated one that carries only the UDP port bound to it (a socket's
// reserved VC), its fragments included; and the allocation-free counters.
@testable import ATM
import Links
import Stack
import Testing
import Wire

@Suite struct DedicatedVCTests {
    static let vc100 = ATMVirtualChannel(vpi: 0, vci: 100)

    /// A's adaptor (PVCs 0/32 default UBR and 0/100 dedicated CBR to B) and
    /// B's (the same two to A), over an in-memory carrier; frames are put
    /// straight into A's adaptor and read out of B's with their VC.
    final class Rig {
        let poolA: BufferPool
        let poolB: BufferPool
        let a: ATMAdaptor<MemoryLink>
        let b: ATMAdaptor<MemoryLink>
        let batch = FrameBatch(capacity: 64)
        var now: UInt64 = 1_000_000_000

        init() throws {
            let (ca, cb) = MemoryLink.pair(mtu: 1500, a: macA, b: macB, queueLimit: 4096)
            poolA = try BufferPool(slotSize: 128 + 1518, count: 512)
            poolB = try BufferPool(slotSize: 128 + 1518, count: 512)
            var config = ATMAdaptorConfiguration()
            config.mtu = 1500
            func pvcs(_ peer: IPv4Address) -> [ATMPermanentVC] {
                [ATMPermanentVC(channel: vc32, peer: peer),
                 ATMPermanentVC(channel: DedicatedVCTests.vc100, peer: peer, contract: .cbr(pcr: 100_000), dedicated: true)]
            }
            a = try ATMAdaptor(carrier: ca, pvcs: pvcs(addrB), pool: poolA, configuration: config)
            b = try ATMAdaptor(carrier: cb, pvcs: pvcs(addrA), pool: poolB, configuration: config)
        }

        /// Queues one IPv4 packet from A (to B's default VC's MAC, as A's
        /// stack addresses it after ARP): UDP from `port` unless `fragment`
        /// says where in a datagram it is (then `udpHeader` only for offset 0).
        func send(port: UInt16, payload: Int = 100, to destination: IPv4Address = addrB,
                  fragment: (id: UInt16, offset: Int, more: Bool)? = nil) {
            var f = poolA.take()!
            let udpLength = 8 + payload
            let ipPayload = fragment.map { $0.offset == 0 ? udpLength : payload } ?? udpLength
            let ip = IPv4Repr(source: addrA, destination: destination, protocol: .udp, payloadLength: ipPayload,
                              identification: fragment?.id ?? 0, dontFragment: fragment == nil,
                              moreFragments: fragment?.more ?? false, fragmentOffset: fragment?.offset ?? 0)
            f.length = 14 + ip.bufferLength
            let bytes = f.bytes
            EthernetRepr(destination: vc32.syntheticHardwareAddress, source: macA, etherType: .ipv4).emit(into: bytes)
            ip.emit(into: bytes.slice(14 ..< f.length))
            if (fragment?.offset ?? 0) == 0 {
                UDPRepr(sourcePort: port, destinationPort: 5000, payloadLength: payload)
                    .emit(into: bytes.slice(34 ..< f.length), source: addrA, destination: destination)
            }
            batch.append(f)
            _ = try? a.transmit(batch, pool: poolA)
        }

        /// Runs both adaptors for `ms` of simulated time; the VC of every
        /// frame B hands up, in order.
        func run(ms: Int = 5) throws -> [ATMVirtualChannel] {
            var seen: [ATMVirtualChannel] = []
            for _ in 0 ..< ms * 20 {
                now += 50_000
                try a.poll(now: now)
                try b.poll(now: now)
                let n = try b.receive(into: batch, limit: batch.capacity, pool: poolB)
                for i in 0 ..< n { seen.append(b.receivedChannel(i)) }
                batch.releaseAll(to: poolB)
            }
            return seen
        }
    }

    @Test func aBoundPortTakesItsVCAndOthersTheDefault() throws {
        let r = try Rig()
        r.send(port: 4000)
        #expect(try r.run() == [vc32])
        r.a.bindTransmit(localPort: 4000, vc: 1)
        r.send(port: 4000)
        r.send(port: 4001)
        // To another station the binding does not apply (here: no PVC at all).
        r.send(port: 4000, to: IPv4Address(198, 18, 0, 9))
        // Their PDUs interleave (CBR cells first, UBR in the slots left), so count them.
        let seen = try r.run()
        #expect(seen.filter { $0 == Self.vc100 }.count == 1 && seen.filter { $0 == vc32 }.count == 2)
        #expect(r.a.count(.txNoVC) == 0)   // 198.18.0.9 went by destination MAC: A's stack chose 0/32
        r.a.unbindTransmit(localPort: 4000)
        r.a.unbindTransmit(localPort: 4000)   // twice: no effect
        r.send(port: 4000)
        #expect(try r.run().last == vc32)
    }

    /// A datagram fragmented by the stack: its first fragment names the
    /// port; the later ones, which carry none, follow it.
    @Test func fragmentsFollowTheirFirstFragment() throws {
        let r = try Rig()
        r.a.bindTransmit(localPort: 4000, vc: 1)
        r.send(port: 4000, payload: 1472, fragment: (7, 0, true))
        r.send(port: 0, payload: 1480, fragment: (7, 1480, true))
        r.send(port: 0, payload: 8, fragment: (7, 2960, false))
        // After the last fragment a stray later fragment of the same datagram is no longer followed.
        r.send(port: 0, payload: 8, fragment: (7, 2968, false))
        // Another datagram's later fragment takes the default VC.
        r.send(port: 0, payload: 8, fragment: (8, 1480, false))
        let seen = try r.run()
        #expect(seen.filter { $0 == Self.vc100 }.count == 3 && seen.filter { $0 == vc32 }.count == 2)
    }

    @Test func onlyDedicatedVCsMayShareAPeer() throws {
        let p = IPv4Address(198, 18, 1, 9)
        #expect(throws: ATMAdmissionError.duplicatePeer(p)) {
            try ATMVCTable([ATMPermanentVC(channel: vc32, peer: p), ATMPermanentVC(channel: Self.vc100, peer: p)])
        }
        let t = try ATMVCTable([ATMPermanentVC(channel: Self.vc100, peer: p, dedicated: true),
                                ATMPermanentVC(channel: vc32, peer: p)])
        #expect(t.index(forPeer: p) == 1)   // the default, wherever it is listed
        #expect(ATMAdmissionError.duplicatePeer(p).description.contains("make this one dedicated"))
    }

    /// `count(_:)` and `counters` agree with the summed `atmCounters`.
    @Test func countersWithoutArraysAgree() throws {
        let r = try Rig()
        r.send(port: 4000)
        r.send(port: 4000, to: IPv4Address(198, 18, 0, 9))
        var junk = r.poolA.take()!
        junk.length = 60
        junk.bytes.initializeMemory(as: UInt8.self, repeating: 0)
        r.batch.append(junk)
        _ = try r.a.transmit(r.batch, pool: r.poolA)   // EtherType 0: refused
        _ = try r.run()
        for side in [r.a, r.b] {
            let all = side.atmCounters
            #expect(ATMDropReason.allCases.allSatisfy { side.count($0) == all[$0] })
            #expect(ATMEvent.allCases.allSatisfy { side.count($0) == all[$0] })
            #expect(side.counters.rxDropped == all.receiveDrops)
            #expect(side.counters.txDropped == all.totalDrops - all.receiveDrops)
        }
        #expect(r.a.count(.txNotIPv4) == 1 && r.a.counters.txDropped == 1)
        #expect(r.b.count(.rxPDUs) == 2)
    }

    /// cells/s of a UDP stream on a VC: each packet (or fragment) is one PDU.
    @Test func cellRatesOfDatagrams() {
        let llc = ATMPermanentVC(channel: vc32, peer: addrB)
        let mux = ATMPermanentVC(channel: vc32, peer: addrB, encapsulation: .vcMultiplexed(.ipv4))
        // 1000 + 8 + 20 + 8 (LLC/SNAP) + 8 (trailer) = 1044 → 22 cells.
        #expect(llc.cellsPerDatagram(payload: 1000, mtu: 9180) == 22)
        #expect(mux.cellsPerDatagram(payload: 1000, mtu: 9180) == 22)   // 1036 → 22 as well
        #expect(mux.cellsPerDatagram(payload: 1013, mtu: 9180) == 22 && llc.cellsPerDatagram(payload: 1013, mtu: 9180) == 23)
        // MTU 9180 carries 9152 bytes whole: ATM-FACTS.md's 192 cells.
        #expect(llc.cellsPerDatagram(payload: 9152, mtu: 9180) == 192)
        // At MTU 1500, 4000 bytes are fragments of 1480 + 1480 + 1048 IP payload bytes: 32 + 32 + 23 cells.
        #expect(llc.cellsPerDatagram(payload: 4000, mtu: 1500) == 87)
        #expect(llc.cellRate(messagesPerSecond: 125, payload: 1000, mtu: 9180) == 2750)
        #expect(llc.cellRate(messagesPerSecond: 0.5, payload: 1000, mtu: 9180) == 11)
    }
}

/// The carrier's sequence numbers when the peer's rtud restarts: it numbers
/// from 1 again, and the receiver follows (a frame 1 far behind or after a
/// silence) instead of dropping every frame as late (RFC 4385 §4.1); a late
/// or duplicated frame 1 is dropped as what it is.
@Suite struct PeerRestartTests {
    /// A frame 1 far behind (more than `restartDistance` frames) is the peer
    /// starting over: followed, counted, the PDU from before given up.
    @Test func aFrameNumberedOneFarBehindIsAPeerStartingOver() throws {
        let r = try Receiver()
        let n = ATMAdaptor<MemoryLink>.restartDistance + 10
        for seq in 1 ... n { try r.send(seq: UInt16(seq), packetCells(ipPacket(10, seed: seq))) }
        let cut = packetCells(ipPacket(200, seed: 0))
        try r.send(seq: UInt16(n + 1), Array(cut[0 ..< 2]))   // the old peer's last frame: a PDU cut short
        try r.send(seq: UInt16(n - 2), packetCells(ipPacket(10, seed: 9_999)))   // late: dropped
        try r.send(seq: 1, packetCells(ipPacket(10, seed: 10_001)))   // the peer again, from 1
        try r.send(seq: 2, packetCells(ipPacket(10, seed: 10_002)))
        // Frame 1's cells ended the cut PDU: one PDU that failed its CRC,
        // counted as cell loss (the restart lost what was under way).
        #expect(r.received == (Array(1 ... n) + [10_002]).map { ipPacket(10, seed: $0) })
        #expect(r.counters[.rxPeerRestart] == 1)
        #expect(r.counters[.rxOutOfSequence] == 1 && r.counters[.rxFramesLost] == 0)
        #expect(r.counters[.rxCellLoss] == 1 && r.counters[.rxBadCRC] == 0)
    }

    /// A frame 1 after a silence longer than the reassembly timeout is the
    /// peer starting over however few frames it sent before (rtud restarted
    /// there right after answering a ping).
    @Test func aFrameNumberedOneAfterASilenceIsAPeerStartingOver() throws {
        let r = try Receiver()
        for seq in 1 ... 3 { try r.send(seq: UInt16(seq), packetCells(ipPacket(10, seed: seq))) }
        try r.adaptor.poll(now: 50_000_000)
        try r.send(seq: 1, packetCells(ipPacket(10, seed: 4)))   // within the timeout: a late frame 1
        try r.adaptor.poll(now: 50_000_000 + r.adaptor.configuration.reassemblyTimeout + 1)
        try r.send(seq: 1, packetCells(ipPacket(10, seed: 5)))   // after it: the peer again
        try r.send(seq: 2, packetCells(ipPacket(10, seed: 6)))
        #expect(r.received == [1, 2, 3, 5, 6].map { ipPacket(10, seed: $0) })
        #expect(r.counters[.rxPeerRestart] == 1 && r.counters[.rxOutOfSequence] == 1)
    }

    /// A duplicated frame 1, arriving after frame 2 began a PDU, is a late
    /// frame: dropped as out of sequence, the PDU under way not disturbed.
    @Test func aDuplicatedFrameOneIsLateNotARestart() throws {
        let r = try Receiver()
        let first = packetCells(ipPacket(10, seed: 1))
        let split = packetCells(ipPacket(200, seed: 2))
        try r.send(seq: 1, first)
        try r.send(seq: 2, Array(split[0 ..< 2]))
        try r.send(seq: 1, first)   // the duplicate
        try r.send(seq: 3, Array(split[2...]))
        #expect(r.received == [ipPacket(10, seed: 1), ipPacket(200, seed: 2)])
        #expect(r.counters[.rxOutOfSequence] == 1)
        #expect(r.counters[.rxPeerRestart] == 0 && r.counters[.rxFramesLost] == 0 && r.counters.totalDrops == 1)
    }
}
