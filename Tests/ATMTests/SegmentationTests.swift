// Segmentation and reassembly: the transmitter's cells, framed for the
// carrier, parsed back and reassembled, for every SDU size 1…65,535; the
// header/data split; and the cell clock and contracts seen in the output.
@testable import ATM
import Glibc
import Links
import Testing
import Wire

/// A transmitter with one or more VCs whose frames are parsed and fed to a
/// reassembler, as the adaptor would, without the Ethernet stack around.
final class Rig: ReassemblySink {
    let pool: BufferPool
    let transmitter: ATMTransmitter
    let reassembler: ATMReassembler
    let out = FrameBatch(capacity: 256)
    let target: UnsafeMutableRawBufferPointer
    let source: UnsafeMutableRawBufferPointer
    var headerSplit = 0
    var expected = -1
    var intact = 0
    var damaged = 0
    var failures: [ATMDropReason] = []
    /// (slot time, VC) of every cell, when recording.
    var cells: [(UInt64, Int)] = []
    var framesOut: [(time: UInt64, cells: Int)] = []

    init(pvcs: [ATMPermanentVC], cellsPerFrame: Int? = nil, slot: Int = 65_536 + 256, count: Int = 64, record: Bool = false) throws {
        pool = try BufferPool(slotSize: slot, count: count, headroom: 128)
        let table = try ATMVCTable(pvcs)
        let most = (pool.slotSize - 128 - 22) / 52
        transmitter = ATMTransmitter(table: table, pool: pool, source: macA, destination: macB, label: 4717,
                                     cellsPerFrame: cellsPerFrame ?? most, queueLimit: 64)
        reassembler = ATMReassembler(maximumSDU: pvcs.map { _ in 65_535 })
        target = .allocate(byteCount: 65_536, alignment: 64)
        source = .allocate(byteCount: 65_536, alignment: 64)
        for i in 0 ..< 65_536 { source[i] = UInt8(truncatingIfNeeded: i &* 131 &+ i >> 9) }
        if record { transmitter.cellObserver = { [unowned self] vc, _, _, t in self.cells.append((t, vc)) } }
    }

    deinit {
        target.deallocate()
        source.deallocate()
    }

    /// Queues an SDU of `length` pattern bytes on VC `vc`.
    @discardableResult
    func send(_ length: Int, vc: Int = 0, now: UInt64) -> Bool {
        guard var b = pool.take() else { return false }
        b.length = length
        b.bytes.copyMemory(from: UnsafeRawBufferPointer(source.slice(0 ..< length)))
        if transmitter.enqueue(vc: vc, sdu: b, now: now) { return true }
        pool.give(b)
        return false
    }

    /// Runs the transmitter at `now` and reassembles everything it framed.
    func run(now: UInt64) {
        transmitter.run(now: now, into: out)
        for i in 0 ..< out.count {
            let f = out[i].readable
            let pw = try! PseudowireCellView(f.slice(14 ..< f.count))
            framesOut.append((now, pw.cellCount))
            for c in pw.cells {
                let h = c.header
                reassembler.cell(vc: transmitterIndex(h), endOfPDU: h.payloadType.isEndOfPDU, payload: c.payload,
                                 now: now, sink: self)
            }
        }
        out.releaseAll(to: pool)
    }

    func transmitterIndex(_ h: ATMCellRepr) -> Int { transmitter.table.index(of: h.virtualChannel)! }

    func reassemblyTarget(vc: Int) -> ReassemblyTarget? {
        ReassemblyTarget(header: target.slice(0 ..< headerSplit), payload: target.slice(headerSplit ..< target.count))
    }
    func reassembled(vc: Int, sduLength: Int, trailer: AAL5Trailer) {
        if (expected < 0 || sduLength == expected), memcmp(target.baseAddress!, source.baseAddress!, sduLength) == 0 {
            intact += 1
        } else {
            damaged += 1
        }
    }
    func reassemblyFailed(vc: Int, reason: ATMDropReason) { failures.append(reason) }
}

@Suite struct SegmentationTests {
    /// Every SDU size from 1 to 65,535 goes through segmentation, framing,
    /// parsing and reassembly intact, in the right number of cells, with
    /// the end-of-PDU mark on the last cell only.
    @Test func everySizeRoundTrips() throws {
        let rig = try Rig(pvcs: [ATMPermanentVC(channel: vc32, peer: addrB)])
        var now: UInt64 = 1_000_000
        var cells: UInt64 = 0
        for size in 1 ... 65_535 {
            rig.expected = size
            #expect(rig.send(size, now: now))
            let n = AAL5.cellCount(sduLength: size)
            now += UInt64(n + 1) * CellClock.slotNanosecondsRoundedUp
            rig.run(now: now)
            cells += UInt64(n)
            if rig.intact != size {
                Issue.record("size \(size) did not round-trip: \(rig.failures)")
                return
            }
        }
        #expect(rig.damaged == 0 && rig.failures.isEmpty)
        #expect(rig.transmitter.counters[.txCells] == cells)
        #expect(rig.reassembler.counters[.rxPDUs] == 65_535)
        #expect(rig.pool.available == rig.pool.count)
    }

    /// Header/data split: the first bytes land in one place, the rest in
    /// another, for splits inside and across cell boundaries.
    @Test func headerDataSplit() throws {
        let rig = try Rig(pvcs: [ATMPermanentVC(channel: vc32, peer: addrB)])
        let header = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 8)
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 10_000, alignment: 8)
        defer { header.deallocate(); payload.deallocate() }
        final class Split: ReassemblySink {
            let h: UnsafeMutableRawBufferPointer, p: UnsafeMutableRawBufferPointer
            var lengths: [Int] = []
            init(_ h: UnsafeMutableRawBufferPointer, _ p: UnsafeMutableRawBufferPointer) { self.h = h; self.p = p }
            func reassemblyTarget(vc: Int) -> ReassemblyTarget? { ReassemblyTarget(header: h, payload: p) }
            func reassembled(vc: Int, sduLength: Int, trailer: AAL5Trailer) { lengths.append(sduLength) }
            func reassemblyFailed(vc: Int, reason: ATMDropReason) {}
        }
        for split in [0, 1, 8, 28, 47, 48, 49, 96, 100] {
            let s = Split(header.slice(0 ..< split), payload)
            let r = ATMReassembler(maximumSDU: [9188])
            let sdu = pattern(9000, seed: split)
            for (i, c) in cells(of: pdu(sdu)).enumerated() {
                c.withUnsafeBytes { r.cell(vc: 0, endOfPDU: i == 9048 / 48 - 1, payload: $0, now: 0, sink: s) }
            }
            #expect(s.lengths == [9000])
            #expect(Array(header.slice(0 ..< split)) == Array(sdu[0 ..< split]), "split \(split)")
            #expect(Array(payload.slice(0 ..< 9000 - split)) == Array(sdu[split...]), "split \(split)")
        }
        _ = rig
    }

    /// Ten VCs of mixed sizes interleaved cell by cell all arrive intact.
    @Test func interleavedVCs() throws {
        let pvcs = (0 ..< 10).map { ATMPermanentVC(channel: ATMVirtualChannel(vpi: 1, vci: UInt16(100 + $0)),
                                                   peer: IPv4Address(198, 18, 0, UInt8(10 + $0))) }
        let rig = try Rig(pvcs: pvcs, cellsPerFrame: 28, count: 256, record: true)
        var now: UInt64 = 1_000_000
        // Same-length SDUs, so the single comparison buffer works for all.
        for round in 0 ..< 5 {
            rig.expected = 1000 + round * 333
            for vc in 0 ..< 10 { #expect(rig.send(rig.expected, vc: vc, now: now)) }
            for _ in 0 ..< 40 {
                now += 50_000
                rig.run(now: now)
            }
        }
        #expect(rig.intact == 50 && rig.damaged == 0 && rig.failures.isEmpty)
        // The VCs really were interleaved on the line.
        let switches = zip(rig.cells, rig.cells.dropFirst()).filter { $0.1 != $1.1 }.count
        #expect(switches > 100)
        #expect(rig.pool.available == rig.pool.count)
    }
}
