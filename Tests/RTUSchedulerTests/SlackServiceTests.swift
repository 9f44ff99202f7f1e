import Testing
@testable import RTUScheduler

/// A reactive RTU's work as a queue of items, each costing `cost` of CPU:
/// an invocation takes up to its batch, checks `shouldYield` after each
/// item, and returns `.moreWork` while items are left. Every invocation is
/// recorded with what the dispatcher told it.
final class WorkQueue {
    struct Run: Equatable {
        var now: Nanoseconds
        var release: Nanoseconds
        var budget: Nanoseconds
        var bestEffort: Bool
        var items: Int
    }

    var items = 0
    private(set) var runs: [Run] = []

    func body(_ clock: ManualClock, cost: Nanoseconds) -> ClosureUpcall {
        ClosureUpcall { [unowned self] ctx in
            var done = 0
            while items > 0 && done < ctx.batch {
                clock.advance(by: cost)
                items -= 1
                done += 1
                if ctx.shouldYield { break }
            }
            runs.append(Run(now: ctx.now, release: ctx.release, budget: ctx.budget, bestEffort: ctx.isBestEffort, items: done))
            return items > 0 ? .moreWork : .done
        }
    }
}

/// Expects `releases` jobs, each invoked, none missing its deadline, none
/// started more than `lateness` after its release.
func expectEveryJobOnTime(_ stats: RTUStatistics, releases: UInt64, lateness: Nanoseconds,
                          sourceLocation: SourceLocation = #_sourceLocation) {
    let s = stats.snapshot()
    #expect(s.releases == releases, sourceLocation: sourceLocation)
    #expect(s.invocations == releases, sourceLocation: sourceLocation)
    #expect(s.deadlineMisses == 0, sourceLocation: sourceLocation)
    #expect(s.latenessMax <= lateness, sourceLocation: sourceLocation)
}

/// Early events of reactive RTUs served in the slack
/// (`EarlyEventPolicy.serveInSlack`), on a manual clock.
@Suite struct SlackServiceTests {
    @Test func anEarlyEventOnAnIdleCoreRunsAtOnceInTheSlack() {
        let h = Harness()
        let q = WorkQueue()
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us, batch: 8, body: q.body(h.clock, cost: 10 * us))
        func event(at t: Nanoseconds) {
            h.clock.advance(to: t)
            q.items += 1
            rx.trigger?.signal()
        }
        event(at: 0)
        #expect(h.step() == .ran(rx.id, bestEffort: false))  // released at 0; next release allowed at 1 ms
        event(at: 200 * us)
        #expect(h.step() == .ran(rx.id, bestEffort: true))   // early: at once, in the slack
        #expect(h.step() == .idle(wakeAt: nil))              // served: nothing pending, no release to wait for
        event(at: 300 * us)
        #expect(h.step() == .ran(rx.id, bestEffort: true))
        // Slack service moved nothing: the release allowed at 1 ms (0 + T)
        // takes the event at 1.1 ms, and the one after is allowed at 2.1 ms.
        event(at: 1_100 * us)
        #expect(h.step() == .ran(rx.id, bestEffort: false))
        event(at: 1_500 * us)
        #expect(h.step() == .ran(rx.id, bestEffort: true))
        #expect(h.step() == .idle(wakeAt: nil))
        #expect(q.runs.map(\.now) == [0, 200 * us, 300 * us, 1_100 * us, 1_500 * us])
        #expect(q.runs.map(\.release) == [0, 200 * us, 300 * us, 1_100 * us, 1_500 * us])
        #expect(q.runs.map(\.bestEffort) == [false, true, true, false, true])
        let s = rx.stats.snapshot()
        #expect(s.releases == 2)
        #expect(s.invocations == 2)
        #expect(s.bestEffortInvocations == 3)
        #expect(s.slackInvocations == 3)
        #expect(s.latenessMax == 0)
        #expect(s.lateness.total == 2)  // slack runs are no jobs: no lateness recorded
    }

    @Test func theSlackRunWaitsForReleasedRealtimeWorkAndYieldsToItsRelease() {
        let h = Harness(slice: 100 * us)
        let q = WorkQueue()
        let rt = h.add("rt", period: 1 * ms, budget: 300 * us, firstRelease: 500 * us, cost: 200 * us)
        let rx = h.add("rx", kind: .reactive, period: 10 * ms, budget: 100 * us, batch: 1_000,
                       body: q.body(h.clock, cost: 10 * us))
        q.items = 1
        rx.trigger?.signal()
        #expect(h.step() == .ran(rx.id, bestEffort: false))  // released at 0
        // At 500 µs the periodic RTU is released and rx gets an early event:
        // the released RTU runs first.
        h.clock.advance(to: 500 * us)
        q.items = 3
        rx.trigger?.signal()
        #expect(h.step() == .ran(rt.id, bestEffort: false))
        #expect(h.step() == .ran(rx.id, bestEffort: true))
        #expect(q.runs.last == WorkQueue.Run(now: 700 * us, release: 700 * us, budget: 100 * us, bestEffort: true, items: 3))
        // Then far more early work than the slack holds before rx's next
        // release at 10 ms: every release of rt finds at most the item in
        // hand of a slack run, never more than one slice.
        q.items = 1_000
        rx.trigger?.signal()
        h.run(until: 9_900 * us)
        expectEveryJobOnTime(rt.stats, releases: 10, lateness: 10 * us)  // the item in hand: yield at the release
        let slack = q.runs.filter(\.bestEffort)
        #expect(slack.count >= 50)           // ~800 µs of slack per ms (less the busy cap), ≤ 100 µs a run
        #expect(slack.allSatisfy { $0.items <= 10 })  // one slice of 10 µs items each
        #expect(rx.stats.snapshot().slackInvocations == UInt64(slack.count))
        #expect(rx.stats.snapshot().releases == 1)
    }

    @Test func workTheSlackLeftIsReleasedAtLastReleasePlusPeriodWithItsWholeBudget() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        let q = WorkQueue()
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 300 * us, batch: 30, body: q.body(clock, cost: 10 * us))
        var bulkRuns = 0
        let bulk = h.add("bulk", kind: .bestEffort, body: ClosureUpcall { ctx in
            bulkRuns += 1
            while !ctx.shouldYield { clock.advance(by: 10 * us) }
            return .moreWork
        })
        q.items = 1
        rx.trigger?.signal()
        #expect(h.step() == .ran(rx.id, bestEffort: false))
        // 2 ms of work at 100 µs, while a best-effort entry shares the slack.
        clock.advance(to: 100 * us)
        q.items = 200
        rx.trigger?.signal()
        bulk.trigger?.signal()
        h.run(until: 2_500 * us)
        let early = q.runs.filter { $0.now >= 100 * us && $0.now < 1 * ms }
        #expect(early.allSatisfy { $0.bestEffort })
        #expect(early.count >= 3)
        // Round-robin with the entry in the slack: neither runs twice in a row.
        let slackTrace = h.trace.dropFirst().prefix { $0 != .ran(rx.id, bestEffort: false) }
        let ids = slackTrace.compactMap { if case let .ran(id, _) = $0 { return id } else { return nil } }
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 != $1 }, "not alternating: \(ids)")
        // At 1 ms (0 + T) what is left is released, with the whole budget:
        // the slack runs were charged nothing.
        let released = q.runs.filter { !$0.bestEffort }
        #expect(released.map(\.release) == [0, 1 * ms, 2 * ms])
        #expect(released.dropFirst().allSatisfy { $0.budget == 300 * us && $0.items == 30 })
        let s = rx.stats.snapshot()
        #expect(s.releases == 3)
        #expect(s.overruns == 0)
        #expect(s.deadlineMisses == 0)
        // Only the runs before the first release after the event are early;
        // after it the released job's own work goes on in the slack.
        #expect(s.slackInvocations == UInt64(early.count))
        #expect(s.bestEffortInvocations > s.slackInvocations)
        #expect(bulkRuns >= early.count)
    }

    @Test func aFloodOfEarlyEventsStarvesNeitherRealtimeNorBestEffortWork() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        let rt = h.add("rt", period: 1 * ms, budget: 300 * us, cost: 200 * us)
        var bulkRuns = 0
        let bulk = h.add("bulk", kind: .bestEffort, body: ClosureUpcall { ctx in
            bulkRuns += 1
            while !ctx.shouldYield { clock.advance(by: 7 * us) }
            return .moreWork
        })
        // Each invocation finds a new event already there (a device flooded
        // with frames): 100 µs of work, then the next signal.
        var trigger: RTUTrigger?
        let rx = h.add("rx", kind: .reactive, period: 5 * ms, budget: 100 * us, body: ClosureUpcall { ctx in
            for _ in 0..<10 {
                clock.advance(by: 10 * us)
                if ctx.shouldYield { break }
            }
            trigger?.signal()
            return .done
        })
        trigger = rx.trigger
        rx.trigger?.signal()
        bulk.trigger?.signal()
        h.run(until: 20 * ms)
        expectEveryJobOnTime(rt.stats, releases: 20, lateness: h.core.bestEffortSlice)
        let x = rx.stats.snapshot()
        #expect(x.releases == 4)  // 0, 5, 10, 15 ms: at most once per period, as before
        #expect(x.overruns == 0)
        // The slack is shared: the flooded RTU gets no more of it than the entry.
        let slackRuns = Int(x.slackInvocations)
        #expect(slackRuns > 20 && bulkRuns > 20)
        #expect(abs(slackRuns - bulkRuns) <= 4 + 1, "rx \(slackRuns) slack runs, bulk \(bulkRuns)")
    }

    @Test func budgetAndOverrunsCountRealtimeInvocationsOnly() {
        let h = Harness(slice: 200 * us)
        let clock = h.clock
        var costs: [Nanoseconds] = []
        var budgets: [Nanoseconds] = []
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us, body: ClosureUpcall { ctx in
            budgets.append(ctx.budget)
            clock.advance(by: costs.removeFirst())
            return .done
        })
        func event(at t: Nanoseconds, costing cost: Nanoseconds) {
            clock.advance(to: t)
            costs.append(cost)
            rx.trigger?.signal()
            h.step()
        }
        event(at: 0, costing: 60 * us)              // released: 40 µs of budget left
        event(at: 200 * us, costing: 90 * us)       // early, in the slack: more than what was left
        event(at: 1_100 * us, costing: 60 * us)     // released with the whole budget
        event(at: 1_500 * us, costing: 90 * us)
        event(at: 2_200 * us, costing: 150 * us)    // released, over budget: one overrun
        event(at: 2_500 * us, costing: 90 * us)     // its job done: early again
        #expect(h.ran == Array(repeating: rx.id, count: 6))
        #expect(budgets == [100 * us, 200 * us, 100 * us, 200 * us, 100 * us, 200 * us])  // budget, slice, …
        let s = rx.stats.snapshot()
        #expect(s.overruns == 1)
        #expect(s.invocations == 3)
        #expect(s.slackInvocations == 3)
        #expect(s.execution.total == 3)             // per-invocation CPU of released jobs only
        #expect(s.executionMax == 150 * us)
        #expect(s.totalExecution == 540 * us)       // all CPU, slack included
        #expect(h.core.stats.snapshot(now: clock.now(), admittedUtilizationPPB: 0).realtimeCPU == 270 * us)
    }

    @Test func aDemotedReactiveRTUFinishesItsJobAsBeforeAndOnlyLaterEventsAreEarly() {
        let h = Harness(slice: 100 * us)
        let clock = h.clock
        var calls = 0
        let rx = h.add("rx", kind: .reactive, period: 10 * ms, budget: 100 * us, body: ClosureUpcall { _ in
            calls += 1
            clock.advance(by: calls == 1 ? 300 * us : 50 * us)
            return calls < 3 ? .moreWork : .done
        })
        rx.trigger?.signal()
        #expect(h.step() == .ran(rx.id, bestEffort: false))   // overruns: demoted
        rx.trigger?.signal()                                   // an event while its job's work is left
        #expect(h.step() == .ran(rx.id, bestEffort: true))
        #expect(h.step() == .ran(rx.id, bestEffort: true))    // job done
        #expect(h.step() == .idle(wakeAt: nil))
        var s = rx.stats.snapshot()
        #expect(s.overruns == 1)
        #expect(s.bestEffortInvocations == 2)
        #expect(s.slackInvocations == 0)                      // the demoted job's work, not early events
        clock.advance(to: 1 * ms)
        rx.trigger?.signal()
        #expect(h.step() == .ran(rx.id, bestEffort: true))    // early
        clock.advance(to: 10_500 * us)
        rx.trigger?.signal()
        #expect(h.step() == .ran(rx.id, bestEffort: false))   // released again, no longer demoted
        s = rx.stats.snapshot()
        #expect(s.slackInvocations == 1)
        #expect(s.releases == 2)
        #expect(s.overruns == 1)
    }

    /// Why `.holdUntilRelease` exists: an RTU that signals itself to run
    /// again a period later (`NAME.atm`'s cell clock) runs once per period
    /// with it, and over and over in the slack without it.
    @Test func aSelfReleasingRTUThatHoldsItsEventsRunsOncePerPeriod() {
        for policy in [EarlyEventPolicy.holdUntilRelease, .serveInSlack] {
            let h = Harness()
            let clock = h.clock
            var trigger: RTUTrigger?
            let tick = h.add("tick", kind: .reactive, period: 400 * us, budget: 50 * us, earlyEvents: policy,
                             body: ClosureUpcall { _ in
                                 clock.advance(by: 5 * us)
                                 trigger?.signal()
                                 return .done
                             })
            trigger = tick.trigger
            tick.trigger?.signal()
            h.run(until: 2 * ms)
            let s = tick.stats.snapshot()
            #expect(s.releases == 5)
            if policy == .holdUntilRelease {
                #expect(h.ran.count == 5)
                #expect(s.slackInvocations == 0)
            } else {
                #expect(s.slackInvocations > 100)
            }
        }
    }

    @Test func theEarlyEventPolicyIsFixedForTheRTUsLife() throws {
        let runtime = try RTURuntime(configuration: SchedulerConfiguration(cpus: [nil]))
        let spec = RTUSpec(name: "rx", period: 1 * ms, budget: 100 * us, kind: .reactive)
        let handle = try runtime.add(spec, body: Upcall())
        var held = spec
        held.earlyEvents = .holdUntilRelease
        #expect(throws: SchedulerError.admission(.invalidSpec(name: "rx", reason: "early-event policy cannot change"))) {
            try runtime.change(handle.id, to: held)
        }
        var longer = spec
        longer.period = 2 * ms
        try runtime.change(handle.id, to: longer)
        #expect(runtime.model.rtu(handle.id)?.spec == longer)
    }
}
