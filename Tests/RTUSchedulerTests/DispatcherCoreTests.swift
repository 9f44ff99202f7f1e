import Testing
@testable import RTUScheduler

/// The dispatcher's rules, driven deterministically by a manual clock.
@Suite struct DispatcherCoreTests {
    @Test func rateMonotonicOrder() {
        let h = Harness()
        let slow = h.add("slow", period: 3 * ms)
        let fast = h.add("fast", period: 1 * ms)
        let mid = h.add("mid", period: 2 * ms)
        for _ in 0..<3 { h.step() }
        #expect(h.ran == [fast.id, mid.id, slow.id])
        #expect(h.core.priorityOrder == [fast.id, mid.id, slow.id])
    }

    @Test func delayedPreemptionWaitsForTheRunningUpcallThenRunsHigherFirst() {
        let h = Harness()
        let clock = h.clock
        var yields: [Bool] = []
        var highStart: (now: Nanoseconds, release: Nanoseconds)?
        let low = h.add("low", period: 20 * ms, budget: 3 * ms, body: ClosureUpcall { ctx in
            for _ in 0..<4 {
                clock.advance(by: 500 * us)
                yields.append(ctx.shouldYield)
            }
            return .done
        })
        let high = h.add("high", period: 5 * ms, budget: 100 * us, firstRelease: 1 * ms,
                         body: ClosureUpcall { ctx in
                             highStart = (ctx.now, ctx.release)
                             clock.advance(by: 50 * us)
                             return .done
                         })
        let mid = h.add("mid", period: 10 * ms, budget: 100 * us, firstRelease: 1_500 * us)
        h.step()
        h.step()
        h.step()
        // low ran to completion (2 ms) although high was released at 1 ms;
        // shouldYield turned true at the release, then high ran before mid.
        #expect(h.ran == [low.id, high.id, mid.id])
        #expect(yields == [false, true, true, true])
        #expect(highStart?.release == 1 * ms)
        #expect(highStart?.now == 2 * ms)
        #expect(high.stats.snapshot().latenessMax == 1 * ms)
        #expect(high.stats.snapshot().deadlineMisses == 0)
    }

    @Test func shouldYieldReportsSignalsOfHigherPriorityReactiveRTUs() {
        let h = Harness()
        let clock = h.clock
        var trigger: RTUTrigger?
        var sawYield: [Bool] = []
        let low = h.add("low", period: 10 * ms, budget: 2 * ms, body: ClosureUpcall { ctx in
            sawYield.append(ctx.shouldYield)
            trigger?.signal()  // as if a demux thread reported a packet
            clock.advance(by: 100 * us)
            sawYield.append(ctx.shouldYield)
            return .done
        })
        let reactive = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us)
        trigger = reactive.trigger
        h.step()
        h.step()
        #expect(sawYield == [false, true])
        #expect(h.ran == [low.id, reactive.id])
    }

    @Test func overrunDemotesToBestEffortUntilNextRelease() {
        let h = Harness()
        let clock = h.clock
        var calls = 0
        let rtu = h.add("greedy", period: 10 * ms, budget: 1 * ms, body: ClosureUpcall { ctx in
            calls += 1
            if calls == 1 { clock.advance(by: 3 * ms); return .moreWork }  // overruns its 1 ms budget
            clock.advance(by: 500 * us)
            return .done
        })
        #expect(h.step() == .ran(rtu.id, bestEffort: false))
        #expect(rtu.stats.snapshot().overruns == 1)
        // Demoted: the remaining work runs in the slack, as best-effort.
        #expect(h.step() == .ran(rtu.id, bestEffort: true))
        #expect(h.step() == .idle(wakeAt: 10 * ms))
        // Recovery: the next release runs at real-time priority again.
        clock.advance(to: 10 * ms)
        #expect(h.step() == .ran(rtu.id, bestEffort: false))
        let s = rtu.stats.snapshot()
        #expect(s.overruns == 1)
        #expect(s.invocations == 2)
        #expect(s.bestEffortInvocations == 1)
        #expect(s.deadlineMisses == 0)
    }

    @Test func bestEffortProgressesWithBoundedBlocking() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        var slices = 0
        // Best-effort work that always has more, and honours its slice.
        let be = h.add("bulk", kind: .bestEffort, body: ClosureUpcall { ctx in
            slices += 1
            while !ctx.shouldYield { clock.advance(by: 7 * us) }
            return .moreWork
        })
        let rt = h.add("rt", period: 1 * ms, budget: 300 * us, cost: 200 * us)
        be.trigger?.signal()
        h.run(until: 20 * ms)
        let s = rt.stats.snapshot()
        #expect(s.releases == 20)
        #expect(s.invocations == 20)
        #expect(s.deadlineMisses == 0)
        #expect(s.latenessMax <= 100 * us)  // at most one slice of blocking
        #expect(slices >= 100)                // ~80 % of 20 ms in ≤ 100 µs slices
        #expect(be.stats.snapshot().bestEffortInvocations == UInt64(slices))
    }

    @Test func bestEffortEntriesAreServedRoundRobin() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        // Each has three slices of work: served in turn, not one until done.
        func threeSlices() -> ClosureUpcall {
            var calls = 0
            return ClosureUpcall { _ in
                calls += 1
                clock.advance(by: 100 * us)
                return calls < 3 ? .moreWork : .done
            }
        }
        let a = h.add("a", kind: .bestEffort, body: threeSlices())
        let b = h.add("b", kind: .bestEffort, body: threeSlices())
        a.trigger?.signal()
        b.trigger?.signal()
        for _ in 0..<6 { h.step() }
        #expect(Set(h.ran) == [a.id, b.id])
        #expect(h.ran.count == 6)
        #expect(zip(h.ran, h.ran.dropFirst()).allSatisfy { $0 != $1 }, "not alternating: \(h.ran)")
        #expect(h.step() == .idle(wakeAt: nil))  // both returned .done
    }

    @Test func reactiveRTUIsReleasedAtMostOncePerPeriod() {
        let h = Harness()
        let clock = h.clock
        var releases: [Nanoseconds] = []
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us, body: ClosureUpcall { ctx in
            releases.append(ctx.release)
            clock.advance(by: 10 * us)
            return .done
        })
        #expect(h.step() == .idle(wakeAt: nil))  // no event, nothing to do
        rx.trigger?.signal()
        rx.trigger?.signal()  // coalesces
        h.step()
        clock.advance(to: 200 * us)
        rx.trigger?.signal()
        #expect(h.step() == .idle(wakeAt: 1 * ms))  // minimum inter-release time
        clock.advance(to: 1 * ms)
        h.step()
        #expect(h.step() == .idle(wakeAt: nil))
        #expect(releases == [0, 1 * ms])
        #expect(rx.stats.snapshot().releases == 2)
    }

    @Test func reactiveRTUWithWorkLeftIsServedUntilDone() {
        let h = Harness()
        let clock = h.clock
        var calls = 0
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us, body: ClosureUpcall { _ in
            calls += 1
            clock.advance(by: 100 * us)
            return calls < 3 ? .moreWork : .done
        })
        rx.trigger?.signal()
        h.run(until: 5 * ms)
        // Budget spent after the first call: the rest is served in the slack,
        // and the final `.done` leaves no event pending (no spurious release).
        #expect(calls == 3)
        #expect(rx.stats.snapshot().releases == 1)
        #expect(rx.stats.snapshot().bestEffortInvocations == 2)
    }

    @Test func fallingBehindCountsSkippedReleasesAsMisses() {
        let h = Harness()
        let rtu = h.add("p", period: 1 * ms, budget: 100 * us, cost: 10 * us)
        h.step()
        h.clock.advance(to: 3_500 * us)  // the dispatcher was stopped for 3.5 ms
        h.step()
        let s = rtu.stats.snapshot()
        #expect(s.deadlineMisses == 2)  // releases at 1 ms and 2 ms never ran
        #expect(s.releases == 4)
        #expect(s.latenessMax == 500 * us)
        #expect(s.recentMisses.first == DeadlineMiss(release: 1 * ms, lateness: 2_500 * us, count: 2))
    }

    @Test func commandsChangeAndRemoveEntriesBetweenUpcalls() {
        let h = Harness()
        let a = h.add("a", period: 1 * ms)
        var bBatches: [Int] = []
        let b = h.add("b", period: 2 * ms, body: ClosureUpcall { ctx in bBatches.append(ctx.batch); return .done })
        #expect(h.core.priorityOrder == [a.id, b.id])
        let ring = SPSCRing<CoreCommand>(capacity: 4)
        #expect(ring.push(.change(b.id, period: 500 * us, budget: 50 * us, batch: 4)))
        #expect(ring.push(.remove(a.id)))
        while let c = ring.pop() { h.core.apply(c) }
        #expect(h.core.priorityOrder == [b.id])
        var batches: [Int] = []
        let c = h.add("c", period: 100 * us, budget: 10 * us, batch: 2,
                      body: ClosureUpcall { ctx in batches.append(ctx.batch); return .done })
        h.step()
        h.step()
        #expect(h.ran == [c.id, b.id])
        #expect(batches == [2])
        #expect(bBatches == [4])  // the change reached b
        #expect(h.core.count == 2)
        h.run(until: 2 * ms)
        #expect(b.stats.snapshot().releases == 4)  // every 500 µs, not every 2 ms
    }

    @Test func invocationsAreMeasuredAgainstTheBudget() {
        let h = Harness()
        let rtu = h.add("p", period: 1 * ms, budget: 300 * us, cost: 250 * us)
        h.run(until: 10 * ms)
        let s = rtu.stats.snapshot()
        #expect(s.invocations == 10)
        #expect(s.overruns == 0)
        #expect(s.executionMax == 250 * us)
        #expect(s.executionP50 >= 250 * us && s.executionP50 < 266 * us)  // ≤ 6.25 % bucket error
        #expect(h.core.stats.snapshot(now: 10 * ms, admittedUtilizationPPB: 0).realtimeCPU == 2_500 * us)
    }
}
