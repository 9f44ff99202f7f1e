// The OC-3c cell clock and the link budget of ATM-FACTS.md ("OC-3c rates").
//
// SONET STS-3c carries 149.76 Mbit/s of payload; a 53-byte cell is 424 bits,
// so the line offers 149,760,000 / 424 = 353,207.55 cell slots a second.
// ATM-FACTS.md (and the issue) state the clock as 353,207.5 cells/s; the clock
// here runs at exactly that figure, 706,415 slots every 2 s, a hair under the
// physical rate, so it never exceeds either.

import Wire

/// The OC-3c physical figures (ATM-FACTS.md, "OC-3c rates").
public enum OC3c {
    /// STS-3c line rate, bit/s.
    public static let lineBitsPerSecond = 155_520_000
    /// SONET synchronous payload capacity, bit/s: what carries cells.
    public static let payloadBitsPerSecond = 149_760_000
    /// Cell slots per `slotPeriodNanoseconds`: 353,207.5 cells/s as a fraction.
    public static let slotsPerPeriod: UInt64 = 706_415
    /// 2 s.
    public static let slotPeriodNanoseconds: UInt64 = 2_000_000_000
    /// The largest whole number of cells a second: the admission limit
    /// Σ PCR(CBR) + Σ SCR(VBR) ≤ 353,207 (ATM-FACTS.md, "Traffic contracts").
    public static let admissibleCellsPerSecond = 353_207
    /// 353,207.5 cells/s.
    public static let cellsPerSecond = Double(slotsPerPeriod) / 2

    /// How many cells carry an IP packet of `ipLength` bytes:
    /// ⌈(IP length + encapsulation + 8) / 48⌉ (ATM-FACTS.md).
    public static func cells(ipLength: Int, encapsulation: ATMEncapsulation = .llcSNAP) -> Int {
        AAL5.cellCount(sduLength: ipLength + encapsulation.headerLength)
    }

    /// The most a saturated line delivers of `usefulBytes` carried in
    /// `cells` cells: 149.76 Mbit/s × useful / (53 × cells), in bit/s.
    public static func throughput(usefulBytes: Int, cells: Int) -> Double {
        Double(payloadBitsPerSecond) * Double(usefulBytes) / Double(ATMCell.length * cells)
    }
}

/// The slot grid of the line: slot k starts at ⌈k × 2 s / 706,415⌉ ns on the
/// caller's clock. At most one cell is sent per slot, so any window of W ns
/// holds at most ⌊W × 353,207.5 / 1 s⌋ + 1 cells, whatever the traffic.
/// Pure arithmetic: the time is always the caller's (ARCHITECTURE.md rule 4).
public enum CellClock {
    /// The last slot that starts at or before `t`: ⌊t × 706,415 / 2 s⌋.
    @inlinable
    public static func slot(atOrBefore t: UInt64) -> UInt64 {
        let p = t.multipliedFullWidth(by: OC3c.slotsPerPeriod)
        return OC3c.slotPeriodNanoseconds.dividingFullWidth(p).quotient
    }

    /// The start of slot `k` in ns (rounded up, so no slot starts early).
    @inlinable
    public static func start(ofSlot k: UInt64) -> UInt64 {
        let p = k.multipliedFullWidth(by: OC3c.slotPeriodNanoseconds)
        let (q, r) = OC3c.slotsPerPeriod.dividingFullWidth(p)
        return r == 0 ? q : q &+ 1
    }

    /// The first slot that starts at or after `t`.
    @inlinable
    public static func slot(atOrAfter t: UInt64) -> UInt64 {
        let k = slot(atOrBefore: t)
        return start(ofSlot: k) == t ? k : k &+ 1
    }

    /// The most cells the line may carry in any window of `nanoseconds`:
    /// ⌊W × 706,415 / 2 s⌋ + 1 (a slot may start at both ends).
    public static func maximumCells(inWindow nanoseconds: UInt64) -> UInt64 {
        slot(atOrBefore: nanoseconds) + 1
    }

    /// One slot, rounded up: 2,832 ns (the exact slot is 2,831.2 ns).
    public static let slotNanosecondsRoundedUp: UInt64 = start(ofSlot: 1)
}
