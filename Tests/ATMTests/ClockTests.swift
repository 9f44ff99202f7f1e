// The cell clock is never exceeded, in any window; each CBR VC gets its
// PCR; VBR bursts to MBS and then holds SCR; UBR takes what is left; and
// every VC's output passes its contract's policer.
@testable import ATM
import Testing
import Wire

@Suite struct ClockTests {
    /// Drives a rig for `duration` ns with polls at irregular intervals (but
    /// never later than the transmitter's deadline, as its owner promises),
    /// keeping the VCs in `backlogged` saturated with `size`-byte SDUs.
    static func drive(_ rig: Rig, backlogged: [Int], size: Int, duration: UInt64, start: UInt64 = 1_000_000,
                      seed: UInt64 = 7) {
        var now = start
        var rng = seed
        while now < start + duration {
            for vc in backlogged where rig.transmitter.queued(vc) < 4 {
                for _ in 0 ..< 4 { rig.send(size, vc: vc, now: now) }
            }
            rig.run(now: now)
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            now = min(now + 5_000 + (rng >> 33) % 200_000, max(now + 1, rig.transmitter.nextDeadline))
        }
    }

    /// Slides a window of `w` ns over sorted times; the most found in one window.
    static func busiestWindow(_ times: [UInt64], _ w: UInt64) -> Int {
        var best = 0, lo = 0
        for hi in times.indices {
            while times[hi] - times[lo] >= w { lo += 1 }
            best = max(best, hi - lo + 1)
        }
        return best
    }

    @Test func cellClockNeverExceeded() throws {
        let pvcs = (0 ..< 4).map { ATMPermanentVC(channel: ATMVirtualChannel(vpi: 0, vci: UInt16(40 + $0)),
                                                  peer: IPv4Address(198, 18, 0, UInt8(10 + $0))) }
        let rig = try Rig(pvcs: pvcs, cellsPerFrame: 28, slot: 9_600, count: 600, record: true)
        let duration: UInt64 = 50_000_000
        Self.drive(rig, backlogged: [0, 1, 2, 3], size: 9188, duration: duration)
        let times = rig.cells.map(\.0)
        // One cell per slot at most: slot times strictly increase.
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
        for w: UInt64 in [100_000, 1_000_000, 2_500_000, 5_000_000] {
            #expect(UInt64(Self.busiestWindow(times, w)) <= CellClock.maximumCells(inWindow: w), "window \(w) ns")
        }
        // Frames leave at the poll that finished them, with cells of earlier
        // slots: on the carrier's clock a window holds at most the cells of
        // the catch-up window and one held frame more than the cell clock allows.
        var frameCells: [UInt64] = []
        for f in rig.framesOut { frameCells += Array(repeating: f.time, count: f.cells) }
        let t = rig.transmitter
        for w: UInt64 in [1_000_000, 5_000_000] {
            let most = UInt64(Self.busiestWindow(frameCells, w))
            #expect(most <= CellClock.maximumCells(inWindow: w) + t.catchUpSlots + UInt64(t.cellsPerFrame), "carrier window \(w)")
        }
        // A saturated line uses (almost) every slot: only slots forfeited
        // when a poll came later than the catch-up window are lost.
        let slots = Double(duration) / 1e9 * OC3c.cellsPerSecond
        let forfeited = Double(rig.transmitter.counters[.slotsForfeited])
        #expect(Double(times.count) + forfeited >= 0.99 * slots)
        #expect(rig.damaged == 0 && rig.failures.isEmpty && rig.intact > 80)
    }

    /// Three CBR VCs share the line with a backlogged UBR VC: each CBR VC
    /// gets its PCR within 1 %, conforms to GCRA(1/PCR, CDVT), and UBR gets
    /// the rest of the slots.
    @Test func threeCBRVCsGetTheirPCR() throws {
        let pcrs = [150_000, 120_000, 80_000]
        var pvcs = pcrs.enumerated().map { i, p in
            ATMPermanentVC(channel: ATMVirtualChannel(vpi: 0, vci: UInt16(50 + i)), peer: IPv4Address(198, 18, 0, UInt8(20 + i)),
                           contract: .cbr(pcr: p))
        }
        pvcs.append(ATMPermanentVC(channel: ATMVirtualChannel(vpi: 0, vci: 60), peer: IPv4Address(198, 18, 0, 30)))
        let rig = try Rig(pvcs: pvcs, cellsPerFrame: 28, slot: 9_600, count: 600, record: true)
        let start: UInt64 = 1_000_000, duration: UInt64 = 100_000_000
        Self.drive(rig, backlogged: [0, 1, 2, 3], size: 1508, duration: duration, start: start)
        let seconds = Double(duration) / 1e9
        for (i, pcr) in pcrs.enumerated() {
            let mine = rig.cells.filter { $0.1 == i }.map(\.0)
            let rate = Double(mine.count) / seconds
            #expect(abs(rate - Double(pcr)) / Double(pcr) < 0.01, "VC \(i): \(rate) cells/s for PCR \(pcr)")
            var policer = ContractPolicer(pvcs[i].contract)
            let bad = mine.filter { !policer.conforms(at: $0) }.count
            #expect(bad == 0, "VC \(i): \(bad) non-conforming cells")
        }
        let ubr = Double(rig.cells.filter { $0.1 == 3 }.count) / seconds
        let left = OC3c.cellsPerSecond - Double(pcrs.reduce(0, +))
        #expect(ubr <= left * 1.01 && ubr > left * 0.5, "UBR \(ubr) of \(left) left")
    }

    /// VBR alone on the line: a first burst of MBS cells at PCR, then SCR;
    /// the output passes both GCRAs.
    @Test func vbrBurstsThenSustains() throws {
        let c = ATMTrafficContract.vbr(pcr: 100_000, scr: 10_000, mbs: 50, cdvt: 0)
        let rig = try Rig(pvcs: [ATMPermanentVC(channel: vc32, peer: addrB, contract: c)], cellsPerFrame: 28,
                          slot: 9_600, count: 200, record: true)
        Self.drive(rig, backlogged: [0], size: 9188, duration: 200_000_000)
        let times = rig.cells.map(\.0)
        var policer = ContractPolicer(c)
        #expect(times.filter { !policer.conforms(at: $0) }.isEmpty)
        // The first 50 cells are 10 µs apart (one slot of rounding each).
        let gaps = zip(times.prefix(50), times.prefix(50).dropFirst()).map { $1 - $0 }
        #expect(gaps.allSatisfy { $0 >= 10_000 && $0 < 10_000 + 2 * CellClock.slotNanosecondsRoundedUp })
        // The 51st waits for the sustainable bucket: not before 50/SCR − BT
        // = 5 ms − 4.41 ms = 590 µs after the first.
        #expect(times[50] - times[0] >= 590_000 && times[50] - times[49] > 10_000 + 2 * CellClock.slotNanosecondsRoundedUp)
        let rate = Double(times.count) / 0.2
        #expect(rate > 10_000 * 0.99 && rate < 10_000 * 1.03, "\(rate)")
    }

    /// A lone small packet is not held back for long: its frame leaves by
    /// the hold time, and the reported deadline says when.
    @Test func partialFrameLeavesWithinTheHold() throws {
        let rig = try Rig(pvcs: [ATMPermanentVC(channel: vc32, peer: addrB)], cellsPerFrame: 28, slot: 9_600, count: 64)
        let t0: UInt64 = 10_000_000
        rig.send(100, now: t0)   // 3 cells
        rig.run(now: t0)
        let deadline = rig.transmitter.nextDeadline
        #expect(deadline > t0 && deadline <= t0 + rig.transmitter.frameHold + CellClock.slotNanosecondsRoundedUp)
        rig.run(now: deadline)
        #expect(rig.framesOut.count == 1 && rig.framesOut[0].cells == 3 && rig.intact == 1)
        #expect(rig.transmitter.nextDeadline == .max)
    }
}
