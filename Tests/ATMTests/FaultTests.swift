// Damaged input is rejected and counted under its own reason: corrupted,
// truncated, reordered and lost cells; every AAL5 check of ATM-FACTS.md; HEC
// correction; carrier frames out of sequence, lost, foreign or malformed.
@testable import ATM
import Links
import Testing
import Wire

@Suite struct ReassemblyCheckTests {
    func reassembler(maximumSDU: Int = 65_535) -> ATMReassembler { ATMReassembler(maximumSDU: [maximumSDU], timeout: 1_000) }

    @Test func intactPDU() {
        let r = reassembler(), s = RecordingSink()
        feed(r, cells(of: pdu(pattern(1000))), sink: s)
        #expect(s.delivered.map(\.sdu) == [pattern(1000)] && s.failures.isEmpty)
    }

    @Test func corruptedCell() {
        let r = reassembler(), s = RecordingSink()
        var c = cells(of: pdu(pattern(500)))
        c[3][17] ^= 0x40
        feed(r, c, sink: s)
        #expect(s.delivered.isEmpty && r.counters[.rxBadCRC] == 1)
    }

    @Test func truncatedPDU() {
        let r = reassembler(), s = RecordingSink()
        var c = cells(of: pdu(pattern(500)))
        c.remove(at: 4)
        feed(r, c, sink: s)
        #expect(s.delivered.isEmpty && r.counters[.rxBadCRC] == 1)
    }

    @Test func reorderedCells() {
        let r = reassembler(), s = RecordingSink()
        var c = cells(of: pdu(pattern(500)))
        c.swapAt(1, 2)
        feed(r, c, sink: s)
        #expect(s.delivered.isEmpty && r.counters[.rxBadCRC] == 1)
    }

    /// A lost last cell merges two PDUs: the merged one fails its CRC, and
    /// the PDU after it is whole again.
    @Test func lostLastCell() {
        let r = reassembler(), s = RecordingSink()
        var first = cells(of: pdu(pattern(300, seed: 1)))
        first.removeLast()
        feed(r, first, sink: s, lastIsEnd: false)
        feed(r, cells(of: pdu(pattern(200, seed: 2))), sink: s)
        feed(r, cells(of: pdu(pattern(100, seed: 3))), sink: s)
        #expect(r.counters[.rxBadCRC] == 1)
        #expect(s.delivered.map(\.sdu) == [pattern(100, seed: 3)])
    }

    /// A PDU whose last cell never comes is dropped by the timer.
    @Test func reassemblyTimeout() {
        let r = reassembler(), s = RecordingSink()
        var c = cells(of: pdu(pattern(300)))
        c.removeLast()
        feed(r, c, sink: s, now: 5_000, lastIsEnd: false)
        #expect(r.expire(now: 5_999, sink: s) == 6_000)
        #expect(r.inProgress == 1)
        #expect(r.expire(now: 6_000, sink: s) == .max)
        #expect(r.counters[.rxTimeout] == 1 && s.failures == [.rxTimeout] && r.inProgress == 0)
    }

    @Test func abortedPDU() {
        let r = reassembler(), s = RecordingSink()
        feed(r, cells(of: pdu(pattern(100), lengthField: 0)), sink: s)
        #expect(r.counters[.rxAborted] == 1 && s.delivered.isEmpty)
    }

    @Test func lengthBeyondPDU() {
        let r = reassembler(), s = RecordingSink()
        feed(r, cells(of: pdu(pattern(100), lengthField: 200)), sink: s)
        #expect(r.counters[.rxLengthExceedsPDU] == 1 && s.delivered.isEmpty)
    }

    /// 100 bytes of SDU in a 3-cell PDU would mean 36 bytes of pad; Length
    /// 40 in the same PDU means 96: more than 47.
    @Test func padTooLong() {
        let r = reassembler(), s = RecordingSink()
        feed(r, cells(of: pdu(pattern(100), lengthField: 40)), sink: s)
        #expect(r.counters[.rxPadTooLong] == 1 && s.delivered.isEmpty)
    }

    /// A PDU that grows past the VC's maximum before its last cell is
    /// dropped at once; its remaining cells are discarded; the next is fine.
    @Test func oversizePDU() {
        let r = reassembler(maximumSDU: 100), s = RecordingSink()
        feed(r, cells(of: pdu(pattern(1000))), sink: s)
        #expect(r.counters[.rxOversize] == 1 && s.failures == [.rxOversize] && r.inProgress == 0)
        feed(r, cells(of: pdu(pattern(100))), sink: s)
        #expect(s.delivered.map(\.sdu) == [pattern(100)])
    }

    @Test func sduLongerThanTarget() {
        let r = reassembler(), s = RecordingSink(payloadSize: 100)
        feed(r, cells(of: pdu(pattern(101))), sink: s)
        #expect(r.counters[.rxOversize] == 1 && s.delivered.isEmpty)
    }

    @Test func noBuffer() {
        let r = reassembler(), s = RecordingSink()
        s.refuseBuffers = true
        feed(r, cells(of: pdu(pattern(500))), sink: s)
        s.refuseBuffers = false
        feed(r, cells(of: pdu(pattern(50))), sink: s)
        #expect(r.counters[.rxNoBuffer] == 1 && s.delivered.map(\.sdu) == [pattern(50)])
    }
}

/// An adaptor on one end of a MemoryLink; the test writes carrier frames
/// on the other end.
final class Receiver {
    let wire: MemoryLink
    let adaptor: ATMAdaptor<MemoryLink>
    let pool: BufferPool
    let batch = FrameBatch(capacity: 64)
    var received: [[UInt8]] = []

    init() throws {
        let (x, y) = MemoryLink.pair(mtu: 1500, a: macA, b: macB)
        wire = x
        pool = try BufferPool(slotSize: 9_400, count: 256)
        adaptor = try ATMAdaptor(carrier: y, pvcs: [ATMPermanentVC(channel: vc32, peer: addrA)], pool: pool)
    }

    /// A carrier frame of cells (header word, 48-byte payload) with sequence `seq`.
    func send(seq: UInt16, _ cells: [(UInt32, [UInt8])], label: UInt32 = 4717, etherType: EtherType = .mplsUnicast,
              extra: Int = 0) throws {
        let pw = PseudowireCellRepr(label: label, sequence: seq, cellCount: max(1, cells.count))
        var f = [UInt8](repeating: 0, count: 14 + pw.bufferLength + extra)
        try f.withUnsafeMutableBytes { b in
            EthernetRepr(destination: macB, source: macA, etherType: etherType).emit(into: b)
            let p = b.slice(14 ..< b.count)
            pw.emit(into: p)
            for (i, c) in cells.enumerated() {
                c.1.withUnsafeBytes { PseudowireCellRepr.emitCell(ATMCellRepr(word: c.0), payload: $0, at: i, into: p) }
            }
            let out = FrameBatch(capacity: 1)
            var buf = try #require(pool.take())
            buf.length = b.count
            buf.bytes.copyMemory(from: UnsafeRawBufferPointer(b))
            out.append(buf)
            _ = try wire.transmit(out, pool: pool)
        }
        try drain()
    }

    func drain() throws {
        while true {
            let n = try adaptor.receive(into: batch, limit: 64, pool: pool)
            if n == 0 { return }
            for i in 0 ..< n { received.append(Array(batch[i].readable.dropFirst(14))) }
            batch.releaseAll(to: pool)
        }
    }

    var counters: ATMCounters { adaptor.atmCounters }
}

/// The cells of an LLC/SNAP-encapsulated IPv4-looking packet on VC 0/32.
func packetCells(_ ip: [UInt8], vc: ATMVirtualChannel = vc32) -> [(UInt32, [UInt8])] {
    let payloads = cells(of: pdu([0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00] + ip))
    return payloads.enumerated().map { i, p in
        (ATMCellRepr(channel: vc, payloadType: .userData(endOfPDU: i == payloads.count - 1)).word, p)
    }
}

/// A minimal IPv4 header (only the adaptor's concern: it is not checked
/// beyond the encapsulation) followed by `n` bytes.
func ipPacket(_ n: Int, seed: Int = 0) -> [UInt8] {
    let total = 20 + n
    return [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0, 0, 64, 17, 0, 0,
            198, 18, 0, 1, 198, 18, 0, 2] + pattern(n, seed: seed)
}

@Suite struct CarrierFaultTests {
    @Test func goodFramesDeliverPackets() throws {
        let r = try Receiver()
        let c = packetCells(ipPacket(200))
        try r.send(seq: 1, Array(c[0 ..< 3]))
        try r.send(seq: 2, Array(c[3...]))
        #expect(r.received == [ipPacket(200)])
        #expect(r.counters.totalDrops == 0 && r.counters[.rxFrames] == 2)
    }

    /// A lost frame is seen by the sequence number; the PDU it cut is
    /// dropped as cell loss, and the next PDU is whole.
    @Test func lostFrame() throws {
        let r = try Receiver()
        let c = packetCells(ipPacket(200))
        try r.send(seq: 1, Array(c[0 ..< 2]))
        // seq 2 (c[2]) is lost.
        try r.send(seq: 3, Array(c[3...]))
        try r.send(seq: 4, packetCells(ipPacket(10, seed: 1)))
        #expect(r.counters[.rxFramesLost] == 1 && r.counters[.rxCellLoss] == 1)
        #expect(r.received == [ipPacket(10, seed: 1)])
    }

    /// A frame that arrives after a later one is dropped as out of sequence.
    @Test func reorderedFrame() throws {
        let r = try Receiver()
        let c = packetCells(ipPacket(200))
        try r.send(seq: 1, Array(c[0 ..< 2]))
        try r.send(seq: 3, Array(c[3...]))
        try r.send(seq: 2, [c[2]])
        #expect(r.counters[.rxOutOfSequence] == 1 && r.counters[.rxFramesLost] == 1)
        #expect(r.received.isEmpty)
        // The sequence wraps from 65535 to 1, skipping 0 (RFC 4385 §4.1).
        #expect(ATMAdaptor<MemoryLink>.sequenceDistance(from: 65_535, to: 1) == 1)
        #expect(ATMAdaptor<MemoryLink>.sequenceDistance(from: 1, to: 65_535) == -1)
    }

    @Test func foreignAndMalformedFrames() throws {
        let r = try Receiver()
        let c = packetCells(ipPacket(20))
        try r.send(seq: 1, c, label: 99)
        try r.send(seq: 2, c, etherType: .ipv4)
        try r.send(seq: 3, c, extra: 13)   // not a whole number of cells
        #expect(r.counters[.rxWrongLabel] == 1 && r.counters[.rxNotPseudowire] == 1 && r.counters[.rxMalformedFrame] == 1)
        #expect(r.received.isEmpty)
    }

    @Test func cellsThatBelongToNoPDU() throws {
        let r = try Receiver()
        let zero = [UInt8](repeating: 0, count: 48)
        let idle = ATMCellRepr.idle.word
        let oam = ATMCellRepr(channel: vc32, payloadType: .oamEndToEnd).word
        let stranger = ATMCellRepr(channel: ATMVirtualChannel(vpi: 3, vci: 99), payloadType: .userDataEnd).word
        let congested = packetCells(ipPacket(5)).map { ($0.0 | 0x4, $0.1) }   // EFCI set
        try r.send(seq: 1, [(idle, zero), (oam, zero), (stranger, zero)] + congested)
        #expect(r.counters[.rxIdleCells] == 1 && r.counters[.rxOAMCell] == 1 && r.counters[.rxUnknownVC] == 1)
        #expect(r.counters[.rxCongestionExperienced] == 1)
        #expect(r.received == [ipPacket(5)])
    }

    @Test func badEncapsulation() throws {
        let r = try Receiver()
        let bridged = cells(of: pdu([0xAA, 0xAA, 0x03, 0x00, 0x80, 0xC2, 0x00, 0x07] + ipPacket(30)))
        try r.send(seq: 1, bridged.enumerated().map { i, p in
            (ATMCellRepr(channel: vc32, payloadType: .userData(endOfPDU: i == bridged.count - 1)).word, p)
        })
        #expect(r.counters[.rxBadEncapsulation] == 1 && r.received.isEmpty)
        #expect(r.pool.available == r.pool.count)
    }

    /// 53-byte cells with their HEC: one bad bit in a header is corrected
    /// and counted; two are dropped (and the PDU then fails its CRC).
    @Test func hecCheckedOnEveryCell() throws {
        let r = try Receiver()
        func raw(_ c: [(UInt32, [UInt8])], flip: (Int, UInt32)? = nil) -> [UInt8] {
            c.enumerated().flatMap { i, cell -> [UInt8] in
                let hec = HEC.compute(cell.0)
                let w = flip?.0 == i ? cell.0 ^ flip!.1 : cell.0
                return [UInt8(w >> 24), UInt8(w >> 16 & 0xFF), UInt8(w >> 8 & 0xFF), UInt8(w & 0xFF), hec] + cell.1
            }
        }
        let c = packetCells(ipPacket(100))
        raw(c, flip: (1, 1 << 9)).withUnsafeBytes { r.adaptor.receiveCells($0) }
        try r.drain()
        #expect(r.counters[.rxHECCorrected] == 1 && r.received == [ipPacket(100)])
        raw(c, flip: (1, 0b11 << 9)).withUnsafeBytes { r.adaptor.receiveCells($0) }
        try r.drain()
        #expect(r.counters[.rxHECUncorrectable] == 1 && r.counters[.rxBadCRC] == 1 && r.received.count == 1)
    }
}
