// Two unchanged Ethernet `Interface`s over ATM adaptors on an in-memory
// carrier: ARP answered locally, ping, a 60,000-byte fragmented datagram and
// UDP, with the VC of every received frame reported.
@testable import ATM
import Links
import Stack
import Testing
import Wire

@Suite struct AdaptorTests {
    @Test func pingOverATM() throws {
        let h = try ATMHosts()
        var replies: [(IPv4Address, UInt16, Int)] = []
        h.a.echoReplyObserver = { src, _, seq, len, _ in replies.append((src, seq, len)) }
        for seq in 1 ... 3 {
            #expect(h.a.sendEchoRequest(to: addrB, identifier: 9, sequence: UInt16(seq), dataLength: 56, now: h.instant))
            try h.run()
        }
        #expect(replies.map(\.1) == [1, 2, 3])
        #expect(replies.allSatisfy { $0.0 == addrB && $0.2 == 56 })
        // ARP never reached the carrier: each adaptor answered its stack.
        #expect(h.a.neighbour(addrB, now: h.instant) == vc32.syntheticHardwareAddress)
        #expect(h.b.neighbour(addrA, now: h.instant) == vc32.syntheticHardwareAddress)
        #expect(h.adaptorA.atmCounters[.arpAnswered] == 1 && h.adaptorB.atmCounters[.arpAnswered] == 1)
        // Three requests of ⌈(84 + 8 + 8) / 48⌉ = 3 cells each.
        #expect(h.adaptorA.atmCounters[.txCells] == 9 && h.adaptorB.atmCounters[.rxPDUs] == 3)
        #expect(h.a.counters.totalDrops == 0 && h.b.counters.totalDrops == 0)
        #expect(h.adaptorA.atmCounters.totalDrops == 0 && h.adaptorB.atmCounters.totalDrops == 0)
        // Every frame B's stack got came from VC 0/32 (the ARP reply too).
        #expect(!h.channelsSeenByB.isEmpty && h.channelsSeenByB.allSatisfy { $0 == vc32 })
    }

    @Test(arguments: [9180, 1500])
    func sixtyThousandByteDatagram(mtu: Int) throws {
        let h = try ATMHosts(mtu: mtu)
        var replies: [Int] = []
        h.a.echoReplyObserver = { _, _, _, len, _ in replies.append(len) }
        h.a.sendEchoRequest(to: addrB, identifier: 1, sequence: 1, dataLength: 60_000, now: h.instant)
        try h.run()
        #expect(replies == [60_000])
        let fragments = (60_008 + (mtu - 20) / 8 * 8 - 1) / ((mtu - 20) / 8 * 8)
        #expect(h.b.counters[.datagramsReassembled] == 1 && h.a.counters[.datagramsReassembled] == 1)
        #expect(h.adaptorB.atmCounters[.rxPDUs] == UInt64(fragments))
        #expect(h.adaptorA.atmCounters.totalDrops == 0 && h.adaptorB.atmCounters.totalDrops == 0)
        // Nothing leaked: every buffer is back in its pool.
        #expect(h.poolA.available == h.poolA.count && h.poolB.available == h.poolB.count)
    }

    @Test(arguments: [nil, 8, 1])
    func udpBothWays(cellsPerFrame: Int?) throws {
        let h = try ATMHosts { $0.cellsPerFrame = cellsPerFrame }
        #expect(h.adaptorA.cellsPerFrame == cellsPerFrame ?? 28)
        let rb = UDPRecorder(), ra = UDPRecorder()
        h.b.transport = rb
        h.a.transport = ra
        let big = pattern(60_000, seed: 3)
        try sendUDP(h.a, to: addrB, payload: big, now: h.instant)
        try sendUDP(h.a, to: addrB, payload: pattern(1, seed: 4), now: h.instant)
        try sendUDP(h.b, to: addrA, payload: pattern(9152, seed: 5), now: h.instant)
        try h.run()
        #expect(rb.datagrams == [big, pattern(1, seed: 4)])
        #expect(ra.datagrams == [pattern(9152, seed: 5)])
    }

    @Test func nothingForUnknownPeers() throws {
        let h = try ATMHosts()
        let other = IPv4Address(198, 18, 0, 77)
        #expect(h.a.sendEchoRequest(to: other, identifier: 1, sequence: 1, dataLength: 8, now: h.instant))
        try h.run()
        // The ARP request for a station with no PVC is counted and unanswered.
        #expect(h.adaptorA.atmCounters[.arpNoPVC] >= 1)
        #expect(h.a.neighbour(other, now: h.instant) == nil)
        #expect(h.adaptorB.atmCounters[.rxCells] == 0)
        // The stack's gratuitous ARP is not needed on PVCs.
        h.a.start(now: h.instant)
        try h.run()
        #expect(h.adaptorA.atmCounters[.arpNotNeeded] == 1)
    }

    /// The frame the adaptor hands up: to the stack's MAC, from the VC's
    /// synthetic MAC, EtherType IPv4; and its VC reported by `receivedChannel`.
    @Test func receivedFrameShape() throws {
        let h = try ATMHosts()
        try h.run()
        try sendUDP(h.a, to: addrB, payload: [1, 2, 3], now: h.instant)
        // A's stack must first resolve B (locally); drive A only.
        let batch = FrameBatch(capacity: 8)
        var frames: [[UInt8]] = []
        for _ in 0 ..< 200 {
            _ = try h.adaptorA.poll(now: h.now)
            _ = try h.adaptorA.transmit(h.a.transmitQueue, pool: h.poolA)
            let n = try h.adaptorA.receive(into: batch, limit: 8, pool: h.poolA)
            for i in 0 ..< n { h.a.receive(batch[i].readable, now: h.instant) }
            batch.releaseAll(to: h.poolA)
            _ = try h.adaptorB.poll(now: h.now)
            let m = try h.adaptorB.receive(into: batch, limit: 8, pool: h.poolB)
            for i in 0 ..< m {
                #expect(h.adaptorB.receivedChannel(i) == vc32)
                frames.append(Array(batch[i].readable))
            }
            batch.releaseAll(to: h.poolB)
            h.now += 10_000
        }
        #expect(frames.count == 1)
        let f = try #require(frames.first)
        try f.withUnsafeBytes { bytes in
            let eth = try EthernetView(bytes)
            #expect(eth.destination == macB && eth.source == vc32.syntheticHardwareAddress && eth.etherType == .ipv4)
            #expect(ATMVirtualChannel(syntheticHardwareAddress: eth.source) == vc32)
            let ip = try IPv4View(eth.payload)
            #expect(ip.source == addrA && ip.destination == addrB && ip.totalLength == 31 && bytes.count == 45)
        }
    }
}
