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
    /// Cells parsed out of the carrier frames, and how many of them carried
    /// the end-of-PDU mark.
    var cellsIn = 0
    var endMarks = 0
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
            let cells = pw.cells
            // By index: a debug build spends more on the generic iterator than on the cell.
            for k in 0 ..< cells.count {
                let c = cells[k]
                let h = c.header
                let end = h.payloadType.isEndOfPDU
                cellsIn += 1
                if end { endMarks += 1 }
                reassembler.cell(vc: transmitter.table.index(of: h.virtualChannel)!, endOfPDU: end, payload: c.payload,
                                 now: now, sink: self)
            }
        }
        out.releaseAll(to: pool)
    }

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
    /// 1…65,535 in four ranges of about equal work, so that they run in
    /// parallel: a size costs in proportion to its cells, so the work up to
    /// size L grows as L² and the bounds go as the square root.
    static let sizeRanges: [ClosedRange<Int>] = {
        let bounds = (0 ... 4).map { Int((Double(AAL5.maximumSDULength) * (Double($0) / 4).squareRoot()).rounded()) }
        return (1 ... 4).map { bounds[$0 - 1] + 1 ... bounds[$0] }
    }()

    /// Every SDU size from 1 to 65,535 goes through segmentation, framing,
    /// parsing and reassembly intact, in the right number of cells, with
    /// the end-of-PDU mark on the last cell only.
    @Test(arguments: sizeRanges)
    func everySizeRoundTrips(sizes: ClosedRange<Int>) throws {
        let rig = try Rig(pvcs: [ATMPermanentVC(channel: vc32, peer: addrB)])
        var now: UInt64 = 1_000_000
        var sdus = 0, cells = 0
        for size in sizes {
            rig.expected = size
            #expect(rig.send(size, now: now))
            let n = AAL5.cellCount(sduLength: size)
            now += UInt64(n + 1) * CellClock.slotNanosecondsRoundedUp
            rig.run(now: now)
            sdus += 1
            cells += n
            // This SDU's n cells, the last one (only) marked: the counts
            // before it were exact, so the differences are this SDU's.
            guard rig.intact == sdus, rig.cellsIn == cells, rig.endMarks == sdus,
                  rig.transmitter.counters[.txCells] == UInt64(cells) else {
                let seen = "\(rig.cellsIn) cells and \(rig.endMarks) end marks in all"
                Issue.record("size \(size) did not round-trip in \(n) cells: \(rig.failures), \(seen)")
                return
            }
        }
        #expect(rig.damaged == 0 && rig.failures.isEmpty)
        #expect(rig.reassembler.counters[.rxPDUs] == UInt64(sizes.count))
        #expect(rig.pool.available == rig.pool.count)
    }

    /// The ranges cover 1…65,535 exactly, once.
    @Test func sizeRangesCoverEverySize() {
        #expect(Self.sizeRanges.flatMap { Array($0) } == Array(1 ... AAL5.maximumSDULength))
    }

    /// Header/data split: the first bytes land in one place, the rest in
    /// another, for splits inside and across cell boundaries.
    @Test func headerDataSplit() {
        for split in [0, 1, 8, 28, 47, 48, 49, 96, 100] {
            // The sink reads the SDU back as its header part, then its payload part.
            let s = RecordingSink(headerSize: split, payloadSize: 10_000)
            let r = ATMReassembler(maximumSDU: [9188])
            let sdu = pattern(9000, seed: split)
            feed(r, cells(of: pdu(sdu)), sink: s)
            #expect(s.delivered.map(\.sdu) == [sdu] && s.failures.isEmpty, "split \(split)")
        }
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
