// The receive half of AAL5 (I.363.5 §9.2): per-VC reassembly of cells into
// CPCS-PDUs with every check of ATM-FACTS.md — whole cells, maximum size,
// CRC-32, abort, Length against the PDU, pad — plus the reassembly timer for
// a PDU whose last cell never comes.
//
// Header/data split: at the first cell of a PDU the sink names two
// destinations, one for the first bytes of the SDU (the headers) and one
// for the rest (the payload). Each cell's payload is copied once, straight
// from the carrier frame to where it belongs; the CRC is run over the cell
// as it is copied, so nothing is read twice.
import Wire

/// Where a PDU's bytes go: SDU bytes 0 ..< header.count to `header`, the
/// following ones to `payload`. Bytes beyond both (pad, trailer) are not
/// stored; an SDU longer than both together is dropped (`rxOversize`).
public struct ReassemblyTarget {
    public var header: UnsafeMutableRawBufferPointer
    public var payload: UnsafeMutableRawBufferPointer

    public init(header: UnsafeMutableRawBufferPointer, payload: UnsafeMutableRawBufferPointer) {
        self.header = header
        self.payload = payload
    }

    /// A single destination.
    public init(_ whole: UnsafeMutableRawBufferPointer) {
        self.init(header: UnsafeMutableRawBufferPointer(start: whole.baseAddress, count: 0), payload: whole)
    }

    public var capacity: Int { header.count + payload.count }
}

/// The reassembler's client: gives destinations and takes results. A generic
/// parameter, not an existential, so the calls are direct on the data path.
public protocol ReassemblySink: AnyObject {
    /// A PDU starts on VC `vc`: where should it go? nil drops it (`rxNoBuffer`).
    func reassemblyTarget(vc: Int) -> ReassemblyTarget?
    /// The PDU is whole and valid; its first `sduLength` bytes are in the target.
    func reassembled(vc: Int, sduLength: Int, trailer: AAL5Trailer)
    /// The PDU was dropped for `reason` (already counted); the target is free.
    func reassemblyFailed(vc: Int, reason: ATMDropReason)
}

/// Per-VC AAL5 reassembly. Single-owner; time is an argument.
public final class ATMReassembler {
    enum State { case idle, collecting, discarding }

    struct Context {
        var state = State.idle
        var target = ReassemblyTarget(UnsafeMutableRawBufferPointer(start: nil, count: 0))
        var received = 0
        var crc = CRC32.initial
        var lastCell: UInt64 = 0
        /// The carrier lost frames while this PDU was being collected.
        var damaged = false
        let maximumPDU: Int
    }

    /// A PDU whose next cell is later than this (ns) is dropped (`rxTimeout`).
    public let timeout: UInt64
    public private(set) var counters = ATMCounters()
    /// Per-VC state; a pointer, so each cell updates its VC in place rather
    /// than copying the state out and back.
    private let contexts: UnsafeMutablePointer<Context>
    private let vcCount: Int

    /// - Parameter maximumSDU: per VC, the longest SDU accepted (≤ 65,535).
    public init(maximumSDU: [Int], timeout: UInt64 = 100_000_000) {
        self.timeout = timeout
        vcCount = maximumSDU.count
        contexts = .allocate(capacity: max(1, vcCount))
        for (i, m) in maximumSDU.enumerated() {
            (contexts + i).initialize(to: Context(maximumPDU: AAL5.pduLength(sduLength: min(m, AAL5.maximumSDULength))))
        }
    }

    deinit {
        contexts.deinitialize(count: vcCount)
        contexts.deallocate()
    }

    private var vcs: Range<Int> { 0 ..< vcCount }

    /// PDUs being collected.
    public var inProgress: Int { vcs.reduce(0) { $0 + (contexts[$1].state == .collecting ? 1 : 0) } }

    /// The carrier lost frames: every PDU being collected may have lost
    /// cells. They are still judged by their CRC, but a failure is counted
    /// as `rxCellLoss` rather than `rxBadCRC`.
    public func noteCellLoss() {
        for i in vcs where contexts[i].state == .collecting { contexts[i].damaged = true }
    }

    /// Takes one user cell (PTI 0–3) of VC `vc`, its header already checked.
    /// - Precondition: `payload.count == 48`.
    @inline(__always)
    public func cell<S: ReassemblySink>(vc: Int, endOfPDU: Bool, payload: UnsafeRawBufferPointer,
                                        now: UInt64, sink: S) {
        precondition(UInt(bitPattern: vc) < UInt(vcCount), "ATMReassembler: no such VC")
        cell(&contexts[vc], vc: vc, endOfPDU: endOfPDU, payload: payload, now: now, sink: sink)
    }

    @inline(__always)
    private func cell<S: ReassemblySink>(_ c: inout Context, vc: Int, endOfPDU: Bool, payload: UnsafeRawBufferPointer,
                                         now: UInt64, sink: S) {
        if c.state == .idle {
            guard let t = sink.reassemblyTarget(vc: vc) else {
                counters.drop(.rxNoBuffer)
                c.state = endOfPDU ? .idle : .discarding
                c.lastCell = now
                return
            }
            c.target = t
            c.state = .collecting
            c.received = 0
            c.crc = CRC32.initial
            c.damaged = false
        }
        c.lastCell = now
        if c.state == .discarding {
            if endOfPDU { c.state = .idle }
            return
        }
        guard c.received + ATMCell.payloadLength <= c.maximumPDU else {
            fail(&c, vc: vc, .rxOversize, sink: sink)
            if !endOfPDU { c.state = .discarding }
            return
        }
        c.crc = CRC32.update(c.crc, payload)
        store(payload, at: c.received, in: c.target)
        c.received += ATMCell.payloadLength
        guard endOfPDU else { return }
        let trailerBytes = payload.slice(ATMCell.payloadLength - AAL5.trailerLength ..< ATMCell.payloadLength)
        let trailer: AAL5Trailer
        do {
            trailer = try AAL5.validate(pduLength: c.received, trailer: trailerBytes, crcRegister: c.crc)
        } catch {
            fail(&c, vc: vc, error == .badCRC && c.damaged ? .rxCellLoss : ATMDropReason(error), sink: sink)
            return
        }
        guard trailer.length <= c.target.capacity else {
            fail(&c, vc: vc, .rxOversize, sink: sink)
            return
        }
        c.state = .idle
        counters.count(.rxPDUs)
        sink.reassembled(vc: vc, sduLength: trailer.length, trailer: trailer)
    }

    private func fail<S: ReassemblySink>(_ c: inout Context, vc: Int, _ reason: ATMDropReason, sink: S) {
        counters.drop(reason)
        c.state = .idle
        sink.reassemblyFailed(vc: vc, reason: reason)
    }

    /// Copies a cell payload to PDU offset `at`, split between the header and
    /// payload destinations, clipped at their end.
    @inline(__always)
    private func store(_ cell: UnsafeRawBufferPointer, at: Int, in t: ReassemblyTarget) {
        var src = cell
        var pos = at
        let h = t.header.count
        if pos < h {
            let n = min(h - pos, src.count)
            t.header.copy(src.slice(0 ..< n), to: pos)
            src = src.slice(n ..< src.count)
            pos += n
        }
        let off = pos - h
        let room = t.payload.count - off
        if room > 0, src.count > 0 { t.payload.copy(src.slice(0 ..< min(room, src.count)), to: off) }
    }

    /// Drops PDUs whose last cell is overdue; returns when to call again
    /// (`UInt64.max`: nothing pending).
    public func expire<S: ReassemblySink>(now: UInt64, sink: S) -> UInt64 {
        var next = UInt64.max
        for i in vcs where contexts[i].state != .idle {
            let due = contexts[i].lastCell &+ timeout
            if now >= due {
                if contexts[i].state == .collecting {
                    fail(&contexts[i], vc: i, .rxTimeout, sink: sink)
                } else {
                    contexts[i].state = .idle
                }
            } else {
                next = min(next, due)
            }
        }
        return next
    }

    /// Drops every PDU in progress (the sink frees their targets), as at shutdown.
    public func abandonAll<S: ReassemblySink>(sink: S) {
        for i in vcs where contexts[i].state == .collecting {
            contexts[i].state = .idle
            sink.reassemblyFailed(vc: i, reason: .rxTimeout)
        }
    }
}
