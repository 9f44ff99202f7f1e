// ATM traffic contracts and the generic cell rate algorithm (ATM Forum TM 4.1
// §4.4 and annex C; ITU-T I.371 §4.4.2). ATM-FACTS.md, "Traffic contracts
// and GCRA", has the definitions and the check this file is tested against.
//
// Times are in nanoseconds on the caller's clock. Increments 1/PCR and 1/SCR
// are rounded *up* to whole nanoseconds, so a shaped VC never exceeds its
// contract (the largest error, at PCR = 353,207, is 0.03 %).

import Wire

/// The service categories the adaptor offers (TM 4.1 §2).
public enum ATMServiceCategory: String, Hashable, Sendable, CaseIterable {
    /// Constant bit rate: a peak cell rate, reserved in full.
    case cbr
    /// Variable bit rate (rt and nrt alike here): peak and sustainable rates
    /// and a maximum burst; the sustainable rate is reserved.
    case vbr
    /// Unspecified bit rate: no reservation; takes the slots the others leave.
    case ubr
}

/// A VC's traffic contract (TM 4.1 §3.6; ATM-FACTS.md table "Traffic
/// contracts and GCRA"). Rates are in cells per second.
public struct ATMTrafficContract: Hashable, Sendable, CustomStringConvertible {
    public var category: ATMServiceCategory
    /// PCR: required for CBR and VBR, an optional cap for UBR (nil: the line).
    public var peakCellRate: Int?
    /// SCR, VBR only.
    public var sustainableCellRate: Int?
    /// MBS in cells, VBR only.
    public var maximumBurstSize: Int?
    /// CDVT in ns: how late a cell may be (the slot multiplexer delays cells
    /// of VCs that become eligible together) without the VC losing its rate.
    public var cellDelayVariationTolerance: UInt64

    /// The largest MBS, in cells: what the 3-octet MBS field of ATM
    /// signalling's traffic descriptor carries (ITU-T Q.2931, ATM Forum UNI
    /// 4.0), 2^24 − 1. It keeps BT = (MBS − 1)(1/SCR − 1/PCR) below 2^54 ns
    /// (1/SCR ≤ 1 s), so nothing that adds to BT overflows.
    public static let maximumBurstSizeLimit = (1 << 24) - 1

    /// The shaper's default CDVT: 10 cell slots (28 µs). A cell of a CBR VC
    /// waits at most one slot for the grid and one slot for each other VC
    /// eligible at the same instant; 10 covers 9 such VCs.
    public static let defaultCDVT: UInt64 = 10 * CellClock.slotNanosecondsRoundedUp

    public init(category: ATMServiceCategory, peakCellRate: Int?, sustainableCellRate: Int? = nil,
                maximumBurstSize: Int? = nil, cellDelayVariationTolerance: UInt64 = defaultCDVT) {
        self.category = category
        self.peakCellRate = peakCellRate
        self.sustainableCellRate = sustainableCellRate
        self.maximumBurstSize = maximumBurstSize
        self.cellDelayVariationTolerance = cellDelayVariationTolerance
    }

    public static func cbr(pcr: Int, cdvt: UInt64 = defaultCDVT) -> ATMTrafficContract {
        ATMTrafficContract(category: .cbr, peakCellRate: pcr, cellDelayVariationTolerance: cdvt)
    }

    public static func vbr(pcr: Int, scr: Int, mbs: Int, cdvt: UInt64 = defaultCDVT) -> ATMTrafficContract {
        ATMTrafficContract(category: .vbr, peakCellRate: pcr, sustainableCellRate: scr, maximumBurstSize: mbs,
                           cellDelayVariationTolerance: cdvt)
    }

    public static func ubr(pcr: Int? = nil) -> ATMTrafficContract {
        ATMTrafficContract(category: .ubr, peakCellRate: pcr)
    }

    /// What admission counts against the line: PCR for CBR, SCR for VBR,
    /// nothing for UBR (ATM-FACTS.md, "Admission on one link").
    public var reservedCellRate: Int {
        switch category {
        case .cbr: peakCellRate ?? 0
        case .vbr: sustainableCellRate ?? 0
        case .ubr: 0
        }
    }

    /// Why the contract is not well formed, or nil.
    public var problem: String? {
        let line = OC3c.admissibleCellsPerSecond
        switch category {
        case .cbr:
            guard let p = peakCellRate, p > 0, p <= line else { return "CBR needs 0 < PCR ≤ \(line) cells/s" }
        case .vbr:
            guard let p = peakCellRate, let s = sustainableCellRate, let m = maximumBurstSize else {
                return "VBR needs PCR, SCR and MBS"
            }
            guard p > 0, p <= line, s > 0, s <= p else { return "VBR needs 0 < SCR ≤ PCR ≤ \(line) cells/s" }
            guard m >= 1 && m <= Self.maximumBurstSizeLimit else {
                return "VBR needs 1 ≤ MBS ≤ \(Self.maximumBurstSizeLimit) cells"
            }
        case .ubr:
            if let p = peakCellRate, p <= 0 || p > line { return "UBR PCR, if given, must be in 1…\(line) cells/s" }
        }
        return nil
    }

    /// 1/PCR in ns (rounded up), or nil when the VC has no peak limit.
    public var peakIncrement: UInt64? { peakCellRate.map(GCRA.increment(cellsPerSecond:)) }
    /// 1/SCR in ns (rounded up), VBR only.
    public var sustainableIncrement: UInt64? {
        category == .vbr ? sustainableCellRate.map(GCRA.increment(cellsPerSecond:)) : nil
    }

    /// BT = (MBS − 1)(1/SCR − 1/PCR) in ns (ATM-FACTS.md; TM 4.1 §4.4.2),
    /// 0 unless VBR. A contract `problem` refuses (MBS over
    /// `maximumBurstSizeLimit`) may not fit 64 bits: `UInt64.max` then, a
    /// burst without limit, rather than a trap.
    public var burstTolerance: UInt64 {
        guard category == .vbr, let ip = peakIncrement, let isr = sustainableIncrement,
              let m = maximumBurstSize, m > 1, isr > ip else { return 0 }
        let (bt, overflow) = UInt64(m - 1).multipliedReportingOverflow(by: isr - ip)
        return overflow ? .max : bt
    }

    /// BT + CDVT, the sustainable bucket's limit, saturating as `burstTolerance` does.
    var sustainableLimit: UInt64 {
        let (l, overflow) = burstTolerance.addingReportingOverflow(cellDelayVariationTolerance)
        return overflow ? .max : l
    }

    public var description: String {
        switch category {
        case .cbr: "cbr pcr=\(peakCellRate ?? 0)"
        case .vbr: "vbr pcr=\(peakCellRate ?? 0) scr=\(sustainableCellRate ?? 0) mbs=\(maximumBurstSize ?? 0)"
        case .ubr: peakCellRate.map { "ubr pcr=\($0)" } ?? "ubr"
        }
    }
}

/// GCRA(I, L) in its virtual scheduling form, as a policer: decides whether
/// each arriving cell conforms (ATM-FACTS.md; TM 4.1 annex C).
public struct GCRA: Hashable, Sendable {
    /// I, ns.
    public let increment: UInt64
    /// L, ns.
    public let limit: UInt64
    /// The theoretical arrival time of the next cell; nil before the first.
    public private(set) var theoreticalArrival: UInt64?

    public init(increment: UInt64, limit: UInt64) {
        self.increment = increment
        self.limit = limit
    }

    /// 1/rate in ns, rounded up.
    public static func increment(cellsPerSecond rate: Int) -> UInt64 {
        precondition(rate > 0, "GCRA: rate must be positive")
        return (1_000_000_000 + UInt64(rate) - 1) / UInt64(rate)
    }

    /// Whether a cell arriving at `t` would conform (no state change).
    public func wouldConform(at t: UInt64) -> Bool {
        guard let tat = theoreticalArrival else { return true }
        return t &+ limit >= tat
    }

    /// Records a conforming cell arriving at `t`: TAT = max(t, TAT) + I.
    public mutating func commit(at t: UInt64) {
        theoreticalArrival = max(t, theoreticalArrival ?? t) &+ increment
    }

    /// The policer: a cell at `t` is non-conforming if t < TAT − L (TAT
    /// unchanged); otherwise TAT = max(t, TAT) + I. The first cell conforms.
    public mutating func conforms(at t: UInt64) -> Bool {
        guard wouldConform(at: t) else { return false }
        commit(at: t)
        return true
    }
}

/// The policer of a whole contract: GCRA(1/PCR, CDVT) and, for VBR,
/// GCRA(1/SCR, BT + CDVT); a cell conforms only if it conforms to both, and
/// only then are both updated (TM 4.1 §4.5). What a network would apply to
/// the adaptor's output; the tests hold the shaper to it.
public struct ContractPolicer: Hashable, Sendable {
    public private(set) var peak: GCRA?
    public private(set) var sustainable: GCRA?

    public init(_ contract: ATMTrafficContract) {
        let cdvt = contract.cellDelayVariationTolerance
        peak = contract.peakIncrement.map { GCRA(increment: $0, limit: cdvt) }
        sustainable = contract.sustainableIncrement.map { GCRA(increment: $0, limit: contract.sustainableLimit) }
    }

    public mutating func conforms(at t: UInt64) -> Bool {
        guard peak?.wouldConform(at: t) ?? true, sustainable?.wouldConform(at: t) ?? true else { return false }
        peak?.commit(at: t)
        sustainable?.commit(at: t)
        return true
    }
}

/// The shaper of one VC: instead of judging cells it says when the next one
/// may go, so the output conforms to the contract's policer.
///
/// Per bucket: a cell is eligible at max(ready, TAT − burst) (burst = 0 for
/// the peak bucket, BT for the sustainable one), and sending it at t sets
/// TAT = max(TAT, ready, t − CDVT) + I. So the schedule follows the ideal
/// arrival times, lateness from the slot multiplexer of up to CDVT is caught
/// up without losing rate, and greater lateness resets the schedule instead
/// of bursting. Each step keeps TAT_policer ≤ TAT_shaper + CDVT, which is why
/// every cell passes GCRA(I, CDVT) (and GCRA(1/SCR, BT + CDVT)).
struct ContractShaper {
    struct Bucket {
        var increment: UInt64
        var burst: UInt64
        var tat: UInt64 = 0
    }

    var peak: Bucket?
    var sustainable: Bucket?
    let tolerance: UInt64

    init(_ contract: ATMTrafficContract) {
        tolerance = contract.cellDelayVariationTolerance
        peak = contract.peakIncrement.map { Bucket(increment: $0, burst: 0) }
        sustainable = contract.sustainableIncrement.map { Bucket(increment: $0, burst: contract.burstTolerance) }
    }

    /// When a cell ready at `ready` may be sent.
    @inline(__always)
    func eligible(ready: UInt64) -> UInt64 {
        var e = ready
        if let p = peak { e = max(e, p.tat) }
        if let s = sustainable { e = max(e, s.tat > s.burst ? s.tat &- s.burst : 0) }
        return e
    }

    /// Records a cell, ready at `ready`, sent at `sent`.
    @inline(__always)
    mutating func commit(ready: UInt64, sent: UInt64) {
        let late = sent > tolerance ? sent &- tolerance : 0
        if var p = peak {
            p.tat = max(p.tat, ready, late) &+ p.increment
            peak = p
        }
        if var s = sustainable {
            s.tat = max(s.tat, ready, late) &+ s.increment
            sustainable = s
        }
    }
}
