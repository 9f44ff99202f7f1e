import CShims
import Glibc
import Synchronization
import Testing
@testable import RTUScheduler

/// Tests on real pinned threads. They assert behaviour (no deadline miss,
/// events delivered), never speed (TESTING.md, "Timing").
@Suite(.serialized) struct RealtimeThreadTests {
    static let isCI = getenv("CI").map { String(cString: $0) == "true" } ?? false
    static let fifoPermitted = RealtimeSupport.checkFIFO(priority: 50).permitted
    static let lastCPU = max(0, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1)

    final class Counter: Upcall {
        let count = Atomic<Int>(0)
        override func run(context: inout UpcallContext) -> UpcallOutcome {
            count.add(1, ordering: .relaxed)
            return .done
        }
    }

    func configuration() -> SchedulerConfiguration {
        var c = SchedulerConfiguration(cpus: [Self.lastCPU])
        c.requireRealtime = true
        // Locked, as in the daemon: without it the 1 ms RTU missed deadlines
        // by 4–8 ms (most likely page faults) while other builds ran. mlockall is
        // process-wide, so the 1 ms test unlocks again when it is done.
        c.lockMemory = true
        return c
    }

    /// A 1 ms RTU on a pinned SCHED_FIFO core keeps its deadlines over
    /// windows of 3000 periods.
    ///
    /// The test machines are shared VMs: the hypervisor and other work stall
    /// even a SCHED_FIFO thread for milliseconds now and then (seen here:
    /// 2–8 ms, once 162 ms; a 4 ms stall costs four releases), and such stalls
    /// can land in every window of a run. So the test asserts behaviour with a
    /// margin that still separates a correct dispatcher from a broken one: the
    /// best of up to five windows has at most 15 misses (0.5 %). A dispatcher
    /// that spins is RT-throttled ~50 ms every second (≈ 150 misses a window);
    /// one that drifts off its release times misses nearly every period. The
    /// benchmark (scripts/bench-sched.sh) reports every miss with its lateness.
    @Test(.enabled(if: fifoPermitted || isCI, "needs root or CAP_SYS_NICE for SCHED_FIFO (fails instead when CI=true)"))
    func oneMillisecondRTUKeepsItsDeadlines() throws {
        let runtime = try RTURuntime(configuration: configuration())
        try runtime.start()
        defer {
            runtime.stop()
            munlockall()
        }
        #expect(runtime.effectivePolicies == [.fifo])
        let body = Counter()
        let handle = try runtime.add(RTUSpec(name: "tick", owner: "test", period: ms, budget: 200 * us), body: body)
        runtime.waitUntilApplied()
        let allowedMisses: UInt64 = 15
        var fewestMisses = UInt64.max
        var previous = handle.statistics.snapshot()
        for window in 1...5 {
            let start = rtu_sched_monotonic_ns()
            while handle.statistics.snapshot().releases < previous.releases + 3000
                && rtu_sched_monotonic_ns() - start < 20 * 1_000 * ms {
                _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 50 * ms)
            }
            let s = handle.statistics.snapshot()
            let releases = s.releases - previous.releases
            let misses = s.deadlineMisses - previous.deadlineMisses
            print("1 ms RTU window \(window): releases \(releases) misses \(misses); cumulative lateness "
                + "p50 \(s.latenessP50) p99 \(s.latenessP99) max \(s.latenessMax) ns; "
                + "recent misses (release, lateness ns): \(s.recentMisses.map { ($0.release, $0.lateness) })")
            #expect(releases >= 3000)
            previous = s
            fewestMisses = min(fewestMisses, misses)
            if misses == 0 { break }
        }
        #expect(fewestMisses <= allowedMisses,
                "every window of 3000 periods missed more than \(allowedMisses) deadlines (best: \(fewestMisses))")
        try runtime.remove(handle.id)
        runtime.waitUntilApplied()
        let s = handle.statistics.snapshot()
        // The body does nothing: an overrun can only be a stall charged as
        // thread CPU time, so the same 0.5 % margin applies.
        #expect(s.overruns <= s.invocations / 200, "overruns \(s.overruns) of \(s.invocations) invocations")
        #expect(body.count.load(ordering: .relaxed) == Int(s.invocations))
        #expect(runtime.model.admitted.isEmpty)
    }

    /// Signals from this thread release a reactive RTU on the dispatcher,
    /// including when it sleeps in epoll.
    @Test(.enabled(if: fifoPermitted || isCI, "needs root or CAP_SYS_NICE for SCHED_FIFO (fails instead when CI=true)"))
    func reactiveSignalsWakeTheDispatcher() throws {
        let runtime = try RTURuntime(configuration: configuration())
        try runtime.start()
        defer { runtime.stop() }
        let body = Counter()
        let handle = try runtime.add(RTUSpec(name: "rx", period: 200 * us, budget: 50 * us, kind: .reactive),
                                     body: body)
        runtime.waitUntilApplied()
        for i in 1...50 {
            handle.trigger?.signal()
            let deadline = rtu_sched_monotonic_ns() + 1_000 * ms
            while body.count.load(ordering: .relaxed) < i && rtu_sched_monotonic_ns() < deadline {
                _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 100 * us)
            }
            _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 300 * us)  // past the min inter-release time
        }
        #expect(body.count.load(ordering: .relaxed) == 50)
        #expect(handle.statistics.snapshot().releases == 50)
    }

    @Test func refusedAddLeavesTheRuntimeUntouched() throws {
        var c = configuration()
        c.requireRealtime = false
        c.bestEffortSlice = 0
        c.perInvocationOverhead = 0
        let runtime = try RTURuntime(configuration: c)  // not started: commands only queue
        _ = try runtime.add(RTUSpec(name: "a", period: 10 * ms, budget: 3 * ms), body: Counter())
        let before = runtime.model.admitted
        let free = runtime.cores[0].ring.freeCount
        #expect(throws: SchedulerError.self) {
            try runtime.add(RTUSpec(name: "b", period: 100 * ms, budget: 8 * ms), body: Counter())
        }
        #expect(runtime.model.admitted == before)
        #expect(runtime.cores[0].ring.freeCount == free)
    }

    @Test func entriesArePagedByIdWithBestEffortOnesWithoutHistograms() throws {
        let runtime = try RTURuntime(configuration: configuration())  // not started: commands only queue
        let rtu = try runtime.add(RTUSpec(name: "r", period: 10 * ms, budget: 1 * ms), body: Counter())
        let bestEffort = try (0..<9).map { try runtime.addBestEffort(name: "be\($0)", body: Counter(), core: 0) }
        #expect(runtime.entries().map(\.id) == [rtu.id] + bestEffort.map(\.id))
        let page = runtime.entries(from: bestEffort[2].id, limit: 4)
        #expect(page.map(\.id) == bestEffort[2..<6].map(\.id))
        #expect(page.allSatisfy { $0.spec == nil && $0.stats.lateness.counts.isEmpty })
        #expect(runtime.entries(from: rtu.id, limit: 1).first?.spec?.name == "r")
        #expect(runtime.entries(from: rtu.id, limit: 1).first?.stats.lateness.counts.count == LogLinearBuckets.count)
        #expect(runtime.entries(from: RTUID(rawValue: bestEffort[8].id.rawValue + 1), limit: 10).isEmpty)
    }

    @Test func requiringRealtimeWithAnImpossiblePriorityRefusesToStart() throws {
        var c = configuration()
        c.priority = 1000
        let runtime = try RTURuntime(configuration: c)
        let error = #expect(throws: SchedulerError.self) { try runtime.start() }
        guard case let .realtimeNotPermitted(why) = error else {
            Issue.record("expected realtimeNotPermitted, got \(String(describing: error))")
            return
        }
        #expect(why.contains("1000"))
        #expect(!RealtimeSupport.checkFIFO(priority: 0).permitted)
    }

    @Test func withoutRequiringRealtimeAnUnpermittedPolicyWarnsAndRunsBestEffort() throws {
        var c = configuration()
        c.priority = 1000
        c.requireRealtime = false
        let warnings = Mutex<[String]>([])
        c.warn = { message in warnings.withLock { $0.append(message) } }
        let runtime = try RTURuntime(configuration: c)
        try runtime.start()
        defer { runtime.stop() }
        #expect(runtime.effectivePolicies == [.other])
        #expect(warnings.withLock { $0.count } == 1)
        #expect(warnings.withLock { $0.first?.contains("SCHED_OTHER") ?? false })
    }
}
