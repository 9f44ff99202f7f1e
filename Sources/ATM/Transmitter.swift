// The transmit half of the adaptor: per-VC queues of AAL5 SDUs, segmentation
// into cells (I.363.5 §9.2: SDU, pad, trailer with CRC-32), the OC-3c slot
// clock with per-VC GCRA shaping (TrafficContract.swift), and RFC 4717
// N-to-one framing of the cells into carrier Ethernet frames.
//
// The SDU is copied once, 48 bytes at a time, from the queued packet buffer
// into the carrier frame; the CRC runs over each piece as it goes. Only the
// last one or two cells (the SDU's tail, the pad and the trailer) are built
// in a small per-VC scratch area.
import Links
import Wire

/// Segments queued SDUs into cells, one cell per OC-3c slot at most, and
/// frames the cells for the carrier. Owns no clock: `run(now:into:)` sends
/// the cells of every slot up to `now`, and `nextDeadline` says when to call
/// it again. Single-owner.
public final class ATMTransmitter {
    /// Per-VC state: shaping, the queue of SDUs, the PDU being segmented.
    struct Channel {
        let header: ATMCellRepr
        /// 0 CBR, 1 VBR, 2 UBR: the slot goes to the most urgent class first.
        let rank: Int
        var shaper: ContractShaper
        /// Queue ring: `queue[base + (head + i) % limit]`, `count` entries.
        var head = 0
        var count = 0
        /// The SDU being segmented (the queue's head), and how far.
        var cellIndex = 0
        var cellCount = 0
        var fullCells = 0
        var crc = CRC32.initial
    }

    public let table: ATMVCTable
    public let pool: BufferPool
    /// Cells per carrier frame at most (RFC 4717 §5.1: as many as the frame holds).
    public let cellsPerFrame: Int
    /// SDUs queued per VC at most.
    public let queueLimit: Int
    /// How long a partly filled carrier frame may wait for more cells (ns).
    public let frameHold: UInt64
    /// Slots that may be caught up when `run` is called late; older ones are
    /// forfeited (the line cannot send in the past).
    public let catchUpSlots: UInt64
    public private(set) var counters = ATMCounters()
    /// Called for each cell sent: (VC index, header word, 48-byte payload,
    /// slot time). For the PDU capture; nil costs one branch per cell.
    public var cellObserver: ((Int, UInt32, UnsafeRawBufferPointer, UInt64) -> Void)?

    /// Per-VC state, one entry per PVC; a pointer, so each cell updates
    /// its VC in place rather than copying the state out and back.
    private let channels: UnsafeMutablePointer<Channel>
    private let queue: UnsafeMutablePointer<PacketBuffer>
    private let queuedAt: UnsafeMutablePointer<UInt64>
    /// 96 bytes per VC: the SDU's tail, pad and trailer (at most two cells).
    private let tails: UnsafeMutableRawPointer
    /// Indices of VCs with queued SDUs, in no particular order.
    private var active: [Int]
    private var rotor = 0

    private let ethernet: EthernetRepr
    private let label: UInt32
    private var sequence: UInt16 = 1
    private var nextSlot: UInt64 = 0
    private var open: PacketBuffer?
    private var openCells = 0
    private var openSince: UInt64 = 0

    static let tailBytes = 2 * ATMCell.payloadLength
    static let frameHeaderLength = 14 + PseudowireCellRepr.headerLength

    /// How many cells a carrier frame holds in a pool slot of `room` bytes (after the headroom).
    static func cellsFitting(slotRoom room: Int) -> Int {
        (room - frameHeaderLength) / PseudowireCellRepr.cellLength
    }

    /// - Parameters:
    ///   - cellsPerFrame: at most as many as `pool` slots hold after 22 bytes of headers.
    ///   - frameHold: default 28 slots (a 1500-byte frame's worth, 79 µs).
    public init(table: ATMVCTable, pool: BufferPool, source: EthernetAddress, destination: EthernetAddress,
                label: UInt32, cellsPerFrame: Int, queueLimit: Int = 128, frameHold: UInt64? = nil) {
        let fits = Self.cellsFitting(slotRoom: pool.slotSize - pool.headroom)
        precondition(cellsPerFrame >= 1 && cellsPerFrame <= fits, "ATMTransmitter: cells per frame do not fit the pool")
        precondition(queueLimit >= 1, "ATMTransmitter: queue limit")
        self.table = table
        self.pool = pool
        self.cellsPerFrame = cellsPerFrame
        self.queueLimit = queueLimit
        self.frameHold = frameHold ?? 28 * CellClock.slotNanosecondsRoundedUp
        let holdSlots = CellClock.slot(atOrBefore: self.frameHold) + 1
        catchUpSlots = 2 * max(holdSlots, UInt64(cellsPerFrame))
        ethernet = EthernetRepr(destination: destination, source: source, etherType: .mplsUnicast)
        self.label = label
        let n = max(1, table.count)
        channels = .allocate(capacity: n)
        for (i, p) in table.pvcs.enumerated() {
            let rank = switch p.contract.category { case .cbr: 0; case .vbr: 1; case .ubr: 2 }
            (channels + i).initialize(to: Channel(header: ATMCellRepr(channel: p.channel), rank: rank,
                                                  shaper: ContractShaper(p.contract)))
        }
        queue = .allocate(capacity: n * queueLimit)
        queuedAt = .allocate(capacity: n * queueLimit)
        tails = .allocate(byteCount: n * Self.tailBytes, alignment: 64)
        active = []
        active.reserveCapacity(n)
    }

    deinit {
        for v in active {
            let c = channels[v]
            for i in 0 ..< c.count { pool.give(queue[v * queueLimit + (c.head + i) % queueLimit]) }
        }
        if let o = open { pool.give(o) }
        channels.deinitialize(count: table.count)
        channels.deallocate()
        queue.deallocate()
        queuedAt.deallocate()
        tails.deallocate()
    }

    /// SDUs waiting (or being segmented) on VC `vc`.
    public func queued(_ vc: Int) -> Int {
        precondition(vc >= 0 && vc < table.count, "ATMTransmitter: no such VC")
        return channels[vc].count
    }
    /// SDUs waiting on all VCs.
    public var totalQueued: Int { active.reduce(0) { $0 + channels[$1].count } }

    /// Queues an SDU (the buffer's bytes, encapsulation included) on VC
    /// `vc`; its cells are ready from `now`. Takes the buffer on success;
    /// false (nothing taken) when the queue is full or the SDU is empty or
    /// longer than 65,535 bytes.
    public func enqueue(vc: Int, sdu: PacketBuffer, now: UInt64) -> Bool {
        precondition(vc >= 0 && vc < table.count, "ATMTransmitter: no such VC")
        guard sdu.length >= 1, sdu.length <= AAL5.maximumSDULength else { counters.drop(.txTooLong); return false }
        var c = channels[vc]
        guard c.count < queueLimit else { counters.drop(.txVCQueueFull); return false }
        let at = vc * queueLimit + (c.head + c.count) % queueLimit
        queue[at] = sdu
        queuedAt[at] = now
        if c.count == 0 {
            active.append(vc)
            start(&c, sdu)
        }
        c.count += 1
        channels[vc] = c
        counters.count(.txPackets)
        return true
    }

    private func start(_ c: inout Channel, _ sdu: PacketBuffer) {
        c.cellIndex = 0
        c.cellCount = AAL5.cellCount(sduLength: sdu.length)
        // Cells 0 ..< fullCells are SDU bytes only; the rest (one or two) come
        // from the tail scratch. ⌊L/48⌋ < ⌈(L+8)/48⌉ always: the trailer needs room.
        c.fullCells = sdu.length / ATMCell.payloadLength
        c.crc = CRC32.initial
    }

    /// When `run` next has work: the instant a carrier frame fills or a held
    /// frame's hold expires; `UInt64.max` when idle.
    public private(set) var nextDeadline: UInt64 = .max

    /// Sends the cells of every slot from the last call up to `now` (at most
    /// `catchUpSlots` of them) and appends finished carrier frames to `out`.
    /// Stops early when `out` is full or the pool is empty. Bounded work:
    /// at most `catchUpSlots` cells, each O(active VCs).
    public func run(now: UInt64, into out: FrameBatch) {
        let last = CellClock.slot(atOrBefore: now)
        if last >= catchUpSlots, nextSlot < last - catchUpSlots + 1 {
            let floor = last - catchUpSlots + 1
            if !active.isEmpty { counters.count(.slotsForfeited, floor - nextSlot) }
            nextSlot = floor
        }
        var earliest = UInt64.max
        while nextSlot <= last, !out.isFull {
            let t = CellClock.start(ofSlot: nextSlot)
            let (vc, e) = pick(at: t)
            earliest = e
            guard vc >= 0 else {
                // Nothing eligible in this slot: skip to the slot of the next eligible cell.
                guard e <= now else { break }
                nextSlot = CellClock.slot(atOrAfter: e)
                continue
            }
            if open == nil {
                guard let f = pool.take() else { counters.drop(.txNoBuffer); break }
                open = f
                openCells = 0
                openSince = t
            }
            emitCell(vc: vc, slotTime: t)
            nextSlot += 1
            if openCells == cellsPerFrame { finishFrame(into: out) }
        }
        if nextSlot > last { earliest = pick(at: CellClock.start(ofSlot: nextSlot)).earliest }
        // A partly filled frame goes now if no cell can join it within the hold.
        if open != nil, out.isFull == false {
            let joinBy = max(CellClock.start(ofSlot: nextSlot), earliest)
            if earliest == .max || now >= openSince &+ frameHold || joinBy > openSince &+ frameHold {
                finishFrame(into: out)
            }
        }
        nextDeadline = deadline(earliest: earliest)
    }

    private func deadline(earliest: UInt64) -> UInt64 {
        let holdEnd = open != nil ? openSince &+ frameHold : UInt64.max
        guard earliest != .max else { return holdEnd }
        let first = max(nextSlot, CellClock.slot(atOrAfter: earliest))
        let fill = CellClock.start(ofSlot: first + UInt64(cellsPerFrame - openCells - 1))
        let startHold = open == nil ? CellClock.start(ofSlot: first) &+ frameHold : holdEnd
        return min(fill, startHold)
    }

    /// The VC whose cell goes in the slot at `t` (-1 if none is eligible),
    /// and the earliest eligibility over all queued VCs. CBR before VBR
    /// before UBR; within a class the earliest eligible; ties rotate.
    @inline(__always)
    private func pick(at t: UInt64) -> (vc: Int, earliest: UInt64) {
        var best = -1, bestRank = Int.max, bestE = UInt64.max, earliest = UInt64.max
        let n = active.count
        guard n > 0 else { return (-1, .max) }
        var k = rotor < n ? rotor : 0
        for _ in 0 ..< n {
            let v = active[k]
            let c = channels[v]
            let e = c.shaper.eligible(ready: queuedAt[v * queueLimit + c.head])
            if e < earliest { earliest = e }
            if e <= t, c.rank < bestRank || (c.rank == bestRank && e < bestE) {
                best = v; bestRank = c.rank; bestE = e
            }
            k += 1
            if k == n { k = 0 }
        }
        if best >= 0 { rotor = rotor + 1 < n ? rotor + 1 : 0 }
        return (best, earliest)
    }

    /// Writes the next cell of VC `vc` into the open frame.
    @inline(__always)
    private func emitCell(vc: Int, slotTime t: UInt64) { emitCell(&channels[vc], vc: vc, slotTime: t) }

    private func emitCell(_ c: inout Channel, vc: Int, slotTime t: UInt64) {
        let qi = vc * queueLimit + c.head
        let sdu = queue[qi]
        let i = c.cellIndex
        let last = i == c.cellCount - 1
        let payload: UnsafeRawBufferPointer
        if i < c.fullCells {
            payload = UnsafeRawBufferPointer(start: sdu.base + sdu.offset + i * ATMCell.payloadLength,
                                             count: ATMCell.payloadLength)
            c.crc = CRC32.update(c.crc, payload)
        } else {
            let tail = UnsafeMutableRawBufferPointer(start: tails + vc * Self.tailBytes, count: Self.tailBytes)
            if i == c.fullCells { buildTail(&c, sdu: sdu, into: tail) }
            let o = (i - c.fullCells) * ATMCell.payloadLength
            payload = UnsafeRawBufferPointer(tail.slice(o ..< o + ATMCell.payloadLength))
        }
        var header = c.header
        header.payloadType = .userData(endOfPDU: last)
        let frame = open!.spaceFromOffset
        PseudowireCellRepr.emitCell(header, payload: payload, at: openCells,
                                    into: frame.slice(14 ..< frame.count))
        cellObserver?(vc, header.word, payload, t)
        openCells += 1
        counters.count(.txCells)
        c.shaper.commit(ready: queuedAt[qi], sent: t)
        if last {
            pool.give(sdu)
            c.head = c.head + 1 == queueLimit ? 0 : c.head + 1
            c.count -= 1
            if c.count > 0 { start(&c, queue[vc * queueLimit + c.head]) } else { deactivate(vc) }
        } else {
            c.cellIndex = i + 1
        }
    }

    /// The SDU bytes after the last whole cell, the pad and the trailer:
    /// one or two cells (I.363.5 §9.2.2).
    private func buildTail(_ c: inout Channel, sdu: PacketBuffer, into tail: UnsafeMutableRawBufferPointer) {
        let done = c.fullCells * ATMCell.payloadLength
        let rest = UnsafeRawBufferPointer(start: sdu.base + sdu.offset + done, count: sdu.length - done)
        tail.copy(rest, to: 0)
        let register = CRC32.update(c.crc, rest)
        let end = (c.cellCount - c.fullCells) * ATMCell.payloadLength
        AAL5.writeTail(into: tail.slice(rest.count ..< end), sduLength: sdu.length, crcRegister: register)
    }

    /// A plain loop, not `firstIndex(of:)`: an unoptimised build runs that
    /// generic algorithm, whose element access allocates a coroutine frame
    /// (one allocation per PDU sent).
    private func deactivate(_ vc: Int) {
        for k in active.indices where active[k] == vc {
            active.swapAt(k, active.count - 1)
            active.removeLast()
            return
        }
    }

    /// Writes the Ethernet header, MPLS label and control word of the open
    /// frame and appends it to `out`.
    private func finishFrame(into out: FrameBatch) {
        guard var f = open, openCells > 0 else { return }
        let pw = PseudowireCellRepr(label: label, sequence: sequence, cellCount: openCells)
        f.length = 14 + pw.bufferLength
        ethernet.emit(into: f.bytes)
        pw.emit(into: f.bytes.slice(14 ..< f.length))
        sequence = PseudowireControlWord.nextSequence(after: sequence)
        out.append(f)
        counters.count(.txFrames)
        open = nil
        openCells = 0
    }
}
