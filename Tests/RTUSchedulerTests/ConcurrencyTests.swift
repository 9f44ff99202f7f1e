import Glibc
import Synchronization
import Testing
@testable import RTUScheduler

/// Plain pthreads so the tests exercise the same cross-thread patterns as the runtime.
func runThread(_ body: @escaping () -> Void) -> pthread_t {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    var tid = pthread_t()
    let arg = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&tid, nil, { arg in
        Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
        return nil
    }, arg)
    precondition(rc == 0)
    return tid
}

@Suite struct ConcurrencyTests {
    @Test func ringIsFIFOAndBounded() {
        let ring = SPSCRing<Int>(capacity: 3)
        #expect(ring.capacity == 4)
        for i in 0..<4 { #expect(ring.push(i)) }
        #expect(!ring.push(4))  // full: "would block"
        #expect(ring.freeCount == 0)
        #expect(ring.pop() == 0)
        #expect(ring.push(4))
        var out: [Int] = []
        while let v = ring.pop() { out.append(v) }
        #expect(out == [1, 2, 3, 4])
        #expect(ring.isEmpty)
    }

    @Test func ringCarriesValuesAcrossThreadsInOrder() {
        let ring = SPSCRing<Int>(capacity: 64)
        let n = 200_000
        let producer = runThread {
            var i = 0
            while i < n { if ring.push(i) { i += 1 } }
        }
        var expected = 0
        var inOrder = true
        while expected < n {
            if let v = ring.pop() {
                if v != expected { inOrder = false }
                expected += 1
            }
        }
        pthread_join(producer, nil)
        #expect(inOrder)
        #expect(ring.isEmpty)
    }

    @Test func histogramBucketsBoundTheirValues() {
        var v: Int64 = 0
        while v < (1 << 40) {
            let i = LogLinearBuckets.index(v)
            #expect(i >= 0 && i < LogLinearBuckets.count)
            #expect(LogLinearBuckets.lowerBound(i) <= v && v <= LogLinearBuckets.upperBound(i))
            #expect(LogLinearBuckets.upperBound(i) - LogLinearBuckets.lowerBound(i) <= max(0, v / 16))
            v = v < 64 ? v + 1 : v + v / 7 + 3
        }
        #expect(LogLinearBuckets.index(Int64.max) == LogLinearBuckets.count - 1)
        #expect(LogLinearBuckets.index(-5) == 0)
    }

    @Test func statisticsSnapshotsAreConsistentWhileWritten() {
        let stats = RTUStatistics(id: RTUID(rawValue: 1), name: "x")
        let done = Atomic<Bool>(false)
        let writer = runThread {
            for i in 0..<300_000 {
                stats.beginWrite()
                stats.recordLateness(Int64(i % 5000))
                stats.recordExecution(Int64(i % 900), bestEffort: false)
                stats.endWrite()
            }
            done.store(true, ordering: .releasing)
        }
        var consistent = true
        var snapshots = 0
        while !done.load(ordering: .acquiring) {
            let s = stats.snapshot()
            // Within one write, invocations, both histograms move together.
            if s.invocations != s.lateness.total || s.invocations != s.execution.total { consistent = false }
            snapshots += 1
        }
        pthread_join(writer, nil)
        let s = stats.snapshot()
        #expect(consistent)
        #expect(s.invocations == 300_000)
        #expect(s.latenessMax == 4999)
        #expect(s.executionMax == 899)
        #expect(snapshots > 0)
    }

    @Test func triggerSignalsFromAnotherThreadAreCollected() {
        let h = Harness()
        let rx = h.add("rx", kind: .reactive, period: 1 * ms, budget: 100 * us, cost: 1 * us)
        let t = runThread { for _ in 0..<1000 { rx.trigger?.signal() } }
        pthread_join(t, nil)
        h.step()
        #expect(rx.stats.snapshot().invocations == 1)  // 1000 signals coalesced into one event
    }

    @Test func noSignalIsLostAmongThousandsOfEntriesSignalledFromOtherThreads() {
        let h = Harness()
        let perThread = 1_000, threads = 4, rounds = 30
        let n = perThread * threads
        // What each signaller last published, and what each body last saw.
        let published = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: n)
        let seen = UnsafeMutablePointer<Int>.allocate(capacity: n)
        for e in 0..<n {
            (published + e).initialize(to: Atomic(0))
            seen[e] = 0
        }
        defer {
            published.deinitialize(count: n)
            published.deallocate()
            seen.deallocate()
        }
        let entries = (0..<n).map { e in
            h.add("be\(e)", kind: .bestEffort, body: ClosureUpcall { _ in
                seen[e] = published[e].load(ordering: .acquiring)
                return .done
            })
        }
        let finished = Atomic<Int>(0)
        let signallers = (0..<threads).map { t in
            runThread {
                for round in 1...rounds {
                    for e in t * perThread..<(t + 1) * perThread {
                        published[e].store(round, ordering: .releasing)
                        entries[e].trigger?.signal()
                    }
                }
                finished.add(1, ordering: .releasing)
            }
        }
        while finished.load(ordering: .acquiring) < threads { h.core.step() }
        for t in signallers { pthread_join(t, nil) }
        while case .ran = h.core.step() {}
        // Every entry ran after its last signal: none was dropped or left pending.
        #expect((0..<n).allSatisfy { seen[$0] == rounds })
    }

    @Test func bestEffortStatisticsCountWithoutHistograms() {
        let h = Harness()
        let id = RTUID(rawValue: 7)
        let stats = RTUStatistics(id: id, name: "be", histograms: false)
        let trigger = RTUTrigger(id: id, period: .max, doorbell: h.core.doorbell)
        let clock = h.clock
        h.core.apply(.add(SlotConfig(id: id, kind: .bestEffort, period: .max, budget: 100 * us, batch: 1,
                                     body: ClosureUpcall { _ in clock.advance(by: 30 * us); return .done },
                                     stats: stats, trigger: trigger)))
        trigger.signal()
        #expect(h.step() == .ran(id, bestEffort: true))
        let s = stats.snapshot()
        #expect(s.bestEffortInvocations == 1)
        #expect(s.totalExecution == 30 * us)
        #expect(s.lateness.total == 0 && s.execution.total == 0)
        #expect(s.latenessP99 == 0)
        // Without: none allocated, and the snapshots' histograms are empty, not zeroed.
        #expect(stats.histograms == nil)
        #expect(s.lateness.counts.isEmpty && s.execution.counts.isEmpty)
    }
}
