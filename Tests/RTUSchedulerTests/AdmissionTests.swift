import Testing
@testable import RTUScheduler

/// Hand-computed response-time examples. Policy: no best-effort slice, no
/// overhead, cap 100 % unless a test says otherwise, so the numbers below
/// are exactly the textbook recurrences.
@Suite struct AdmissionTests {
    static let exact = AdmissionPolicy(cores: 1, utilizationCapPPM: 1_000_000, bestEffortSlice: 0)

    func spec(_ name: String, _ t: Nanoseconds, _ c: Nanoseconds) -> RTUSpec {
        RTUSpec(name: name, period: t, budget: c)
    }

    @Test func setUnderLiuLaylandBoundIsAccepted() throws {
        // U = 0.1 + 0.2 + 0.2 = 0.5 < 3(2^(1/3) − 1) ≈ 0.78.
        // R1 = 1 + B(8) = 9 ≤ 10; R2 = 4 + 8 + ⌈14/10⌉·1 = 14 ≤ 20;
        // R3 = 8 + 0 + ⌈14/10⌉·1 + ⌈14/20⌉·4 = 14 ≤ 40.
        var m = AdmissionModel(policy: Self.exact)
        try m.admit(spec("a", 10 * ms, 1 * ms))
        try m.admit(spec("b", 20 * ms, 4 * ms))
        try m.admit(spec("c", 40 * ms, 8 * ms))
        #expect(m.admitted.map(\.spec.name) == ["a", "b", "c"])
        #expect(m.utilizationPPB(core: 0) == 500_000_000)
    }

    @Test func setOverFullUtilizationIsRefused() throws {
        // 0.6 + 0.5 = 1.1 > 1. Largest fitting budget for b (T = 20): the
        // blocking of a, R_a = 6 + C_b ≤ 10 → C_b ≤ 4 ms (and R_b = 4 + 6 = 10 ≤ 20).
        var m = AdmissionModel(policy: Self.exact)
        try m.admit(spec("a", 10 * ms, 6 * ms))
        let error = #expect(throws: AdmissionError.self) { try m.admit(spec("b", 20 * ms, 10 * ms)) }
        guard case let .refused(r) = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(r.cause == .utilizationCap(utilizationPPB: 1_100_000_000, capPPB: 1_000_000_000))
        #expect(r.largestFittingBudget == 4 * ms)
        #expect(r.excess == 6 * ms)
    }

    @Test func setSchedulableOnlyByExactAnalysisIsAccepted() throws {
        // U = 0.5 + 4 · 0.1 = 0.9 > 5(2^(1/5) − 1) ≈ 0.743: the utilisation
        // bound cannot admit it; the recurrences can:
        // R_a = 5 + 2 = 7 ≤ 10; R_b1 = 2 + 2 + 5 = 9; R_b2 = 2 + 2 + 2 + 2·5 = 16;
        // R_b3 = 2 + 2 + 4 + 2·5 = 18; R_b4 = 2 + 0 + 6 + 2·5 = 18 ≤ 20.
        var m = AdmissionModel(policy: Self.exact)
        try m.admit(spec("a", 10 * ms, 5 * ms))
        for i in 1...4 { try m.admit(spec("b\(i)", 20 * ms, 2 * ms)) }
        #expect(m.admitted.count == 5)
        let set = m.admitted
        let r = AdmissionModel.responseTime(cost: 2 * ms, blocking: 0,
                                            higher: [(10 * ms, 5 * ms), (20 * ms, 2 * ms), (20 * ms, 2 * ms),
                                                     (20 * ms, 2 * ms)], deadline: 20 * ms)
        #expect(r == 18 * ms)
        #expect(set.last?.spec.name == "b4")
    }

    @Test func setRefusedOnlyBecauseOfBlocking() throws {
        // U = 0.3 + 0.08 = 0.38, fully preemptive RM would give R_a = 3. With
        // delayed preemption b blocks a: R_a = 3 + 8 = 11 > 10, so a (already
        // admitted) would miss by 1 ms; b fits with at most 7 ms.
        var m = AdmissionModel(policy: Self.exact)
        try m.admit(spec("a", 10 * ms, 3 * ms))
        let error = #expect(throws: AdmissionError.self) { try m.admit(spec("b", 100 * ms, 8 * ms)) }
        guard case let .refused(r) = error else { Issue.record("wrong error \(String(describing: error))"); return }
        #expect(r.cause == .deadlineMiss(victim: RTUID(rawValue: 1), name: "a", responseTime: 11 * ms,
                                         deadline: 10 * ms))
        #expect(r.excess == 1 * ms)
        #expect(r.largestFittingBudget == 7 * ms)
        #expect(AdmissionModel.responseTime(cost: 3 * ms, blocking: 0, higher: [], deadline: 10 * ms) == 3 * ms)
        try m.admit(spec("b", 100 * ms, 7 * ms))
    }

    @Test func bestEffortSliceCountsAsBlocking() throws {
        // U = 0.95 fits; the slice a best-effort upcall may still be in adds
        // to the response time: R = 950 µs + 100 µs > 1 ms, by 50 µs.
        var tight = AdmissionModel(policy: AdmissionPolicy(cores: 1, utilizationCapPPM: 1_000_000,
                                                           bestEffortSlice: 100 * us))
        let error = #expect(throws: AdmissionError.self) { try tight.admit(spec("a", 1 * ms, 950 * us)) }
        guard case let .refused(r) = error else { Issue.record("wrong error \(String(describing: error))"); return }
        guard case let .deadlineMiss(_, name, responseTime, deadline) = r.cause else {
            Issue.record("refused for \(r.cause), not for blocking"); return
        }
        #expect(name == "a" && responseTime == 1_050 * us && deadline == 1 * ms)
        #expect(r.excess == 50 * us)
        #expect(r.largestFittingBudget == 900 * us)
        var loose = AdmissionModel(policy: AdmissionPolicy(cores: 1, utilizationCapPPM: 1_000_000,
                                                           bestEffortSlice: 50 * us))
        try loose.admit(spec("a", 1 * ms, 950 * us))
    }

    @Test func refusalLeavesEverythingUntouched() throws {
        var m = AdmissionModel(policy: Self.exact)
        let a = try m.admit(spec("a", 10 * ms, 3 * ms))
        let before = m.admitted
        #expect(throws: AdmissionError.self) { try m.admit(spec("b", 100 * ms, 8 * ms)) }
        #expect(m.admitted == before)
        #expect(throws: AdmissionError.self) { try m.change(a.id, to: spec("a", 10 * ms, 11 * ms)) }
        #expect(m.admitted == before)
        // The refused admission consumed no identity.
        let c = try m.admit(spec("c", 100 * ms, 1 * ms))
        #expect(c.id == RTUID(rawValue: 2))
        // A refused change names what would fit.
        let error = #expect(throws: AdmissionError.self) { try m.change(c.id, to: self.spec("c", 100 * ms, 9 * ms)) }
        guard case let .refused(r) = error else { Issue.record("wrong error"); return }
        #expect(r.largestFittingBudget == 7 * ms)
        let admittedNow = m.admitted
        let aError = #expect(throws: AdmissionError.self) { try m.change(a.id, to: self.spec("a", 10 * ms, 9_500 * us)) }
        guard case let .refused(ra) = aError else { Issue.record("wrong error"); return }
        #expect(ra.largestFittingBudget == 9 * ms)
        #expect(m.admitted == admittedNow)
        try m.change(c.id, to: spec("c", 100 * ms, 7 * ms))
        try m.remove(a.id)
        #expect(throws: AdmissionError.unknownRTU(a.id)) { try m.remove(a.id) }
    }

    @Test func firstFitPlacesOnLaterCoresAndPinnedPlacementRefuses() throws {
        var m = AdmissionModel(policy: AdmissionPolicy(cores: 2, utilizationCapPPM: 1_000_000, bestEffortSlice: 0))
        #expect(try m.admit(spec("a", 10 * ms, 6 * ms)).core == 0)
        #expect(try m.admit(spec("b", 10 * ms, 6 * ms)).core == 1)
        #expect(try m.admit(spec("c", 10 * ms, 2 * ms)).core == 0)
        #expect(throws: AdmissionError.self) { try m.admit(spec("d", 10 * ms, 4 * ms), on: .core(0)) }
        #expect(try m.admit(spec("d", 10 * ms, 4 * ms)).core == 1)
        #expect(throws: AdmissionError.noSuchCore(2)) { try m.admit(spec("e", 10 * ms, 1 * ms), on: .core(2)) }
    }

    @Test func capLimitsUtilization() throws {
        var m = AdmissionModel(policy: AdmissionPolicy(cores: 1, utilizationCapPPM: 500_000, bestEffortSlice: 0))
        try m.admit(spec("a", 10 * ms, 4 * ms))
        let error = #expect(throws: AdmissionError.self) { try m.admit(spec("b", 10 * ms, 2 * ms)) }
        guard case let .refused(r) = error else { Issue.record("wrong error"); return }
        #expect(r.largestFittingBudget == 1 * ms)
    }

    @Test func invalidSpecsAreRefused() {
        var m = AdmissionModel(policy: Self.exact)
        #expect(throws: AdmissionError.self) { try m.admit(spec("zero", 0, 0)) }
        #expect(throws: AdmissionError.self) { try m.admit(spec("fat", 1 * ms, 2 * ms)) }
        #expect(throws: AdmissionError.self) { try m.admit(RTUSpec(name: "nobatch", period: ms, budget: us, batch: 0)) }
        #expect(m.admitted.isEmpty)
    }

    @Test func equalPeriodsAreOrderedByAdmission() throws {
        var m = AdmissionModel(policy: Self.exact)
        try m.admit(spec("first", 10 * ms, 1 * ms))
        try m.admit(spec("fast", 5 * ms, 1 * ms))
        try m.admit(spec("second", 10 * ms, 1 * ms))
        #expect(m.admitted.map(\.spec.name) == ["fast", "first", "second"])
    }
}

