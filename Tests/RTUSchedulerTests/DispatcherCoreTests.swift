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

    /// Early events held for the release (`.holdUntilRelease`; with
    /// `.serveInSlack` they are served in between: SlackServiceTests).
    @Test func reactiveRTUIsReleasedAtMostOncePerPeriod() {
        let h = Harness()
        let clock = h.clock
        var releases: [Nanoseconds] = []
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us, earlyEvents: .holdUntilRelease,
                       body: ClosureUpcall { ctx in
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
        #expect(rx.stats.snapshot().slackInvocations == 0)  // the job's own work, not early events
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

    // MARK: many entries: signal set, ready list, slab

    @Test func aSignalReachesItsEntryAmongThousandsOfIdleOnes() {
        let h = Harness()
        var ran: [Int] = []
        let entries = (0..<5_000).map { k in
            h.add("be\(k)", kind: .bestEffort, body: ClosureUpcall { _ in ran.append(k); return .done })
        }
        let rt = h.add("rt", period: 1 * ms, budget: 100 * us, cost: 10 * us)
        #expect(h.core.hasTriggers)
        entries[4_321].trigger?.signal()
        entries[17].trigger?.signal()
        h.run(until: 3 * ms)
        // Exactly the two signalled entries ran, once each, in the order
        // their signals were collected (lowest slot first within one collection).
        #expect(ran == [17, 4_321])
        #expect(rt.stats.snapshot().invocations == 3)
        #expect(h.core.count == 5_001)
    }

    @Test func entriesBeyondTheSignalSetAreStillWoken() {
        let clock = ManualClock()
        let doorbell = CoreDoorbell(signalCapacity: 1)
        #expect(doorbell.signalCapacity == 4096)
        let core = DispatcherCore(clock: clock, doorbell: doorbell)
        var ran: [UInt32] = []
        var triggers: [RTUTrigger] = []
        for k in 1...4_200 {
            let id = RTUID(rawValue: UInt32(k))
            let trigger = RTUTrigger(id: id, period: .max, doorbell: doorbell)
            triggers.append(trigger)
            core.apply(.add(SlotConfig(id: id, kind: .bestEffort, period: .max, budget: 100 * us, batch: 1,
                                       body: ClosureUpcall { _ in ran.append(UInt32(k)); return .done },
                                       stats: RTUStatistics(id: id, name: "be\(k)"), trigger: trigger)))
        }
        triggers[4_150].signal()  // slot 4150: no bit, found by asking
        triggers[10].signal()     // slot 10: its bit
        #expect(core.step() == .ran(RTUID(rawValue: 11), bestEffort: true))
        #expect(core.step() == .ran(RTUID(rawValue: 4_151), bestEffort: true))
        #expect(core.step() == .idle(wakeAt: nil))
        #expect(ran == [11, 4_151])
    }

    @Test func aSignalBeforeTheAdditionIsAppliedIsNotLost() {
        let h = Harness()
        let id = RTUID(rawValue: 99)
        let trigger = RTUTrigger(id: id, period: .max, doorbell: h.core.doorbell)
        trigger.signal()  // the control thread signalled before the dispatcher applied the add
        h.core.apply(.add(SlotConfig(id: id, kind: .bestEffort, period: .max, budget: 100 * us, batch: 1,
                                     body: ClosureUpcall { _ in .done }, stats: RTUStatistics(id: id, name: "early"),
                                     trigger: trigger)))
        #expect(h.step() == .ran(id, bestEffort: true))
        #expect(h.step() == .idle(wakeAt: nil))
    }

    @Test func aReusedSlotDoesNotInheritItsPredecessorsSignal() {
        let h = Harness()
        let old = h.add("old", kind: .bestEffort)
        old.trigger?.signal()
        h.core.apply(.remove(old.id))  // removed with its signal pending
        var newRuns = 0
        let new = h.add("new", kind: .bestEffort, body: ClosureUpcall { _ in newRuns += 1; return .done })
        #expect(h.step() == .idle(wakeAt: nil))  // the stale bit found no pending trigger
        old.trigger?.signal()                     // a late signal of the removed entry
        #expect(h.step() == .idle(wakeAt: nil))
        new.trigger?.signal()
        #expect(h.step() == .ran(new.id, bestEffort: true))
        #expect(newRuns == 1)
        #expect(h.core.count == 1)
        #expect(h.core.slots.count == 1)          // the new entry took the removed one's index
        #expect(h.core.priorityOrder == [new.id])
    }

    @Test func roundRobinSurvivesRemovalsFromTheReadyList() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        func endless() -> ClosureUpcall { ClosureUpcall { _ in clock.advance(by: 10 * us); return .moreWork } }
        let a = h.add("a", kind: .bestEffort, body: endless())
        let b = h.add("b", kind: .bestEffort, body: endless())
        let c = h.add("c", kind: .bestEffort, body: endless())
        for e in [a, b, c] { e.trigger?.signal() }
        for _ in 0..<3 { h.step() }
        #expect(h.ran == [a.id, b.id, c.id])
        h.core.apply(.remove(b.id))  // b is on the ready list
        for _ in 0..<4 { h.step() }
        #expect(h.ran == [a.id, b.id, c.id, a.id, c.id, a.id, c.id])
    }

    @Test func aDemotedRTUTakesItsTurnWithBestEffortEntries() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        var calls = 0
        let rtu = h.add("greedy", period: 10 * ms, budget: 100 * us, body: ClosureUpcall { _ in
            calls += 1
            clock.advance(by: 100 * us)
            return calls < 4 ? .moreWork : .done
        })
        let be = h.add("be", kind: .bestEffort, body: ClosureUpcall { _ in clock.advance(by: 50 * us); return .moreWork })
        be.trigger?.signal()
        for _ in 0..<5 { h.step() }
        // The RTU's budget is spent after its first invocation; its work left
        // then alternates with the best-effort entry's.
        #expect(h.trace == [.ran(rtu.id, bestEffort: false), .ran(be.id, bestEffort: true), .ran(rtu.id, bestEffort: true),
                            .ran(be.id, bestEffort: true), .ran(rtu.id, bestEffort: true)])
        // Its next release takes it off the ready list and runs it at its priority.
        clock.advance(to: 10 * ms)
        #expect(h.step() == .ran(rtu.id, bestEffort: false))
    }
}
