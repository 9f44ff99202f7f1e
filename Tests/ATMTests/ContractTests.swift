// The ATM-FACTS.md vectors that WireTests does not cover: the OC-3c rates
// table, the cell clock, the GCRA check and admission on one link; plus
// hand-computed GCRA examples and the synthetic MAC.
@testable import ATM
import Testing
import Wire

@Suite struct RateTests {
    /// ATM-FACTS.md "OC-3c rates": MTU, cells, IP, TCP (40-byte headers),
    /// TCP with timestamps (52), all in Mbit/s to two decimals.
    static let table: [(mtu: Int, cells: Int, ip: Double, tcp: Double, ts: Double)] = [
        (9180, 192, 135.10, 134.51, 134.34),
        (1500, 32, 132.45, 128.92, 127.86),
        (576, 13, 125.20, 116.50, 113.90),
    ]

    @Test func ratesTable() {
        for r in Self.table {
            let n = OC3c.cells(ipLength: r.mtu)
            #expect(n == r.cells)
            func mbit(_ useful: Int) -> Double { (OC3c.throughput(usefulBytes: useful, cells: n) / 1e4).rounded() / 100 }
            #expect(mbit(r.mtu) == r.ip, "IP at \(r.mtu)")
            #expect(mbit(r.mtu - 40) == r.tcp, "TCP at \(r.mtu)")
            #expect(mbit(r.mtu - 52) == r.ts, "TCP+TS at \(r.mtu)")
        }
        // The issue's UDP figure: 134.69 Mbit/s of UDP payload at 9180.
        #expect((OC3c.throughput(usefulBytes: 9180 - 28, cells: 192) / 1e4).rounded() / 100 == 134.69)
    }

    @Test func lineFigures() {
        #expect(OC3c.cellsPerSecond == 353_207.5)
        // 149.76 Mbit/s of cells; 48/53 of it is payload: 135.63 Mbit/s.
        #expect((Double(OC3c.payloadBitsPerSecond) * 48 / 53 / 1e4).rounded() / 100 == 135.63)
        // One cell slot every 2.8312 µs.
        #expect((1e9 / OC3c.cellsPerSecond * 10).rounded() / 10 == 2831.2)
        #expect(CellClock.slotNanosecondsRoundedUp == 2832)
    }

    @Test func slotGrid() {
        #expect(CellClock.start(ofSlot: 0) == 0)
        #expect(CellClock.start(ofSlot: 706_415) == 2_000_000_000)
        #expect(CellClock.slot(atOrBefore: 2_000_000_000) == 706_415)
        #expect(CellClock.slot(atOrBefore: 1_999_999_999) == 706_414)
        for k: UInt64 in [1, 2, 3, 1000, 353_207, 1 << 40] {
            let t = CellClock.start(ofSlot: k)
            #expect(CellClock.slot(atOrBefore: t) == k)
            #expect(CellClock.slot(atOrBefore: t - 1) == k - 1)
            #expect(CellClock.slot(atOrAfter: t) == k && CellClock.slot(atOrAfter: t - 1) == k)
        }
        // A second holds 353,207 or 353,208 slot starts, never more.
        #expect(CellClock.maximumCells(inWindow: 1_000_000_000) == 353_208)
        #expect(CellClock.maximumCells(inWindow: 2_000_000_000) == 706_416)
    }
}

@Suite struct GCRATests {
    /// ATM-FACTS.md: PCR 10,000, SCR 1,000, MBS 10, CDVT 0 → BT = 8.1 ms,
    /// and a back-to-back burst at PCR has exactly 10 conforming cells.
    @Test func factsCheck() {
        let c = ATMTrafficContract.vbr(pcr: 10_000, scr: 1_000, mbs: 10, cdvt: 0)
        #expect(c.burstTolerance == 8_100_000)
        var p = ContractPolicer(c)
        let verdicts = (0 ..< 30).map { p.conforms(at: UInt64($0) * 100_000) }
        #expect(verdicts.prefix(10).allSatisfy { $0 })
        // By hand: after the burst the sustainable bucket's TAT is 10 ms, and a
        // cell at t conforms when t + 8.1 ms ≥ 10 ms, so the next one is at 1.9 ms.
        #expect(verdicts[10 ..< 19].allSatisfy { !$0 })
        #expect(verdicts[19])
        #expect(verdicts[20 ..< 29].allSatisfy { !$0 })   // TAT 11 ms: next at 2.9 ms
        #expect(verdicts[29])
    }

    /// GCRA(10 µs, 2 µs), arrivals 0, 8, 15, 25, 27 µs, by hand:
    /// 0 first → TAT 10; 8 ≥ 10 − 2 → TAT 20; 15 < 18 ✗; 25 ≥ 18 → TAT 35; 27 < 33 ✗.
    @Test func handComputedCBR() {
        var g = GCRA(increment: 10_000, limit: 2_000)
        let verdicts = [0, 8, 15, 25, 27].map { g.conforms(at: UInt64($0) * 1000) }
        #expect(verdicts == [true, true, false, true, false])
        #expect(g.theoreticalArrival == 35_000)
    }

    /// GCRA(1 ms, 0) over a late cell: TAT restarts from the arrival.
    @Test func lateCellRestartsTheSchedule() {
        var g = GCRA(increment: 1_000_000, limit: 0)
        #expect(g.conforms(at: 0) && g.conforms(at: 5_000_000))
        #expect(g.theoreticalArrival == 6_000_000)
        #expect(!g.conforms(at: 5_999_999) && g.conforms(at: 6_000_000))
    }

    @Test func incrementsRoundUp() {
        #expect(GCRA.increment(cellsPerSecond: 10_000) == 100_000)
        #expect(GCRA.increment(cellsPerSecond: 353_207) == 2_832)
        #expect(GCRA.increment(cellsPerSecond: 3) == 333_333_334)
    }

    /// The shaper's output passes the policer of its own contract, whatever
    /// the lateness the multiplexer adds (here a pseudo-random 0–9 slots).
    @Test func shapedOutputConforms() {
        for c in [ATMTrafficContract.cbr(pcr: 100_000), .vbr(pcr: 50_000, scr: 5_000, mbs: 20), .cbr(pcr: 353_207, cdvt: 3000)] {
            var shaper = ContractShaper(c)
            var policer = ContractPolicer(c)
            var rng: UInt64 = 12345
            var slot: UInt64 = 0
            for _ in 0 ..< 5000 {
                let e = shaper.eligible(ready: 0)
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                let lateness = (rng >> 60) % 10 * CellClock.slotNanosecondsRoundedUp / 4
                slot = max(slot + 1, CellClock.slot(atOrAfter: e + lateness))
                let t = CellClock.start(ofSlot: slot)
                let ok = policer.conforms(at: t)
                #expect(ok, "\(c)")
                shaper.commit(ready: 0, sent: t)
            }
        }
    }
}

@Suite struct AdmissionTests {
    func pvc(_ vci: UInt16, _ c: ATMTrafficContract, peer: UInt8? = nil) -> ATMPermanentVC {
        ATMPermanentVC(channel: ATMVirtualChannel(vpi: 0, vci: vci), peer: IPv4Address(198, 18, 1, peer ?? UInt8(vci & 0xFF)), contract: c)
    }

    @Test func lineIsTheLimit() throws {
        // Exactly 353,207 cells/s of CBR + VBR(SCR) fits; UBR is never counted.
        var t = try ATMVCTable([pvc(32, .cbr(pcr: 200_000)), pvc(33, .vbr(pcr: 300_000, scr: 153_207, mbs: 100)),
                                pvc(34, .ubr())])
        #expect(t.reservedCellRate == 353_207 && t.unreservedCellRate == 0)
        #expect(throws: ATMAdmissionError.lineOverbooked(ATMVirtualChannel(vpi: 0, vci: 35), requested: 1,
                                                         reserved: 353_207, limit: 353_207)) {
            try t.admit(pvc(35, .cbr(pcr: 1)))
        }
        // The refusal changed nothing.
        #expect(t.count == 3 && t.reservedCellRate == 353_207 && t.index(of: ATMVirtualChannel(vpi: 0, vci: 35)) == nil)
        try t.admit(pvc(36, .ubr(pcr: 1000)))
        #expect(t.count == 4)
    }

    @Test func refusalSaysWhy() {
        do {
            _ = try ATMVCTable([pvc(32, .cbr(pcr: 300_000)), pvc(33, .cbr(pcr: 60_000))])
            Issue.record("admitted an overbooked line")
        } catch {
            #expect(error.description.contains("0/33"))
            #expect(error.description.contains("60000 cells/s requested, 300000 of 353207 already reserved"))
            #expect(error.description.contains("Σ PCR(CBR) + Σ SCR(VBR) would be 360000 > 353207"))
        }
    }

    @Test func malformedTables() {
        #expect(throws: ATMAdmissionError.reservedChannel(ATMVirtualChannel(vpi: 0, vci: 5))) { try ATMVCTable([pvc(5, .ubr())]) }
        #expect(throws: ATMAdmissionError.duplicateChannel(ATMVirtualChannel(vpi: 0, vci: 40))) {
            try ATMVCTable([pvc(40, .ubr(), peer: 1), pvc(40, .ubr(), peer: 2)])
        }
        #expect(throws: ATMAdmissionError.duplicatePeer(IPv4Address(198, 18, 1, 9))) {
            try ATMVCTable([pvc(40, .ubr(), peer: 9), pvc(41, .ubr(), peer: 9)])
        }
        for bad in [ATMTrafficContract.cbr(pcr: 0), .cbr(pcr: 400_000), .vbr(pcr: 1000, scr: 2000, mbs: 10),
                    .vbr(pcr: 1000, scr: 100, mbs: 0), ATMTrafficContract(category: .vbr, peakCellRate: 10)] {
            #expect(throws: ATMAdmissionError.self) { try ATMVCTable([pvc(40, bad)]) }
        }
    }

    /// MBS is bounded (2^24 − 1, signalling's MBS field) so BT fits 64
    /// bits of ns; a contract built past it reports the problem, and its BT
    /// saturates instead of trapping.
    @Test func aHugeBurstIsRefusedNotATrap() throws {
        let limit = ATMTrafficContract.maximumBurstSizeLimit
        #expect(limit == 16_777_215)
        // The largest MBS at the slowest SCR and the fastest PCR: BT fits.
        let largest = ATMTrafficContract.vbr(pcr: 353_207, scr: 1, mbs: limit)
        #expect(largest.problem == nil)
        #expect(largest.burstTolerance == UInt64(limit - 1) * (1_000_000_000 - 2_832))
        _ = try ATMVCTable([pvc(40, largest)])
        for mbs in [limit + 1, Int.max] {
            let huge = ATMTrafficContract.vbr(pcr: 353_207, scr: 1, mbs: mbs)
            #expect(huge.problem == "VBR needs 1 ≤ MBS ≤ 16777215 cells")
            #expect(throws: ATMAdmissionError.invalidContract(ATMVirtualChannel(vpi: 0, vci: 40), "VBR needs 1 ≤ MBS ≤ 16777215 cells")) {
                try ATMVCTable([pvc(40, huge)])
            }
        }
        let overflowing = ATMTrafficContract.vbr(pcr: 353_207, scr: 1, mbs: Int.max)
        #expect(overflowing.burstTolerance == .max)
        #expect(ContractPolicer(overflowing).sustainable?.limit == .max)
    }

    /// A full table: every channel finds its own index (through the table's
    /// growth and hash collisions), absent ones find none, and one PVC more
    /// is refused.
    @Test func everyChannelFindsItsIndex() throws {
        let n = ATMVCTable.maximumCount
        func channel(_ i: Int) -> ATMVirtualChannel { ATMVirtualChannel(vpi: UInt8(i % 7), vci: UInt16(32 + i * 61 % 65_000)) }
        func peer(_ i: Int) -> IPv4Address { IPv4Address(10, 0, UInt8(i >> 8), UInt8(i & 0xFF)) }
        var t = try ATMVCTable((0 ..< n).map { ATMPermanentVC(channel: channel($0), peer: peer($0)) })
        #expect((0 ..< n).allSatisfy { t.index(of: channel($0)) == $0 && t.index(forPeer: peer($0)) == $0 })
        #expect(t.index(of: ATMVirtualChannel(vpi: 7, vci: 32)) == nil && t.index(of: ATMVirtualChannel(vpi: 0, vci: 0)) == nil)
        #expect(throws: ATMAdmissionError.tableFull(limit: n)) {
            try t.admit(ATMPermanentVC(channel: ATMVirtualChannel(vpi: 9, vci: 99), peer: IPv4Address(10, 1, 0, 0)))
        }
        #expect(throws: ATMAdmissionError.duplicateChannel(channel(5))) {
            try ATMVCTable([ATMPermanentVC(channel: channel(5), peer: peer(0)), ATMPermanentVC(channel: channel(5), peer: peer(1))])
        }
    }

    @Test func syntheticAddresses() {
        let c = ATMVirtualChannel(vpi: 0xAB, vci: 0x1234)
        #expect(c.syntheticHardwareAddress == EthernetAddress(0x02, 0x41, 0x54, 0xAB, 0x12, 0x34))
        #expect(c.syntheticHardwareAddress.isUnicast)
        #expect(ATMVirtualChannel(syntheticHardwareAddress: c.syntheticHardwareAddress) == c)
        #expect(ATMVirtualChannel(syntheticHardwareAddress: EthernetAddress(0x02, 0, 0, 0, 0, 0x0A)) == nil)
    }
}
