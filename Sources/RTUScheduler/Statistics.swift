import Synchronization

/// Log-linear bucketing (HdrHistogram-like, 16 sub-buckets per power of two):
/// values 0…15 exact, above that ≤ 6.25 % relative error, up to 2⁴⁰ ns (~18
/// minutes); larger values land in the last bucket.
public enum LogLinearBuckets {
    public static let subBits = 4
    public static let count = 592  // (39 − 3)·16 + 16

    @inlinable public static func index(_ value: Int64) -> Int {
        if value < 16 { return value <= 0 ? 0 : Int(value) }
        let v = min(value, (1 << 40) - 1)
        let e = 63 - v.leadingZeroBitCount
        return (e - 3) << 4 + Int((v >> (e - 4)) & 15)
    }

    /// Smallest value of bucket `i`.
    public static func lowerBound(_ i: Int) -> Int64 {
        if i < 16 { return Int64(i) }
        let e = i >> 4 + 3
        return Int64(16 + i & 15) << (e - 4)
    }

    /// Largest value of bucket `i`.
    public static func upperBound(_ i: Int) -> Int64 {
        if i < 16 { return Int64(i) }
        return lowerBound(i) + (Int64(1) << (i >> 4 - 1)) - 1
    }
}

/// A fixed histogram of atomics: one writer (the dispatcher), any number of
/// readers. The writer updates with relaxed load + store (no locked
/// instruction); consistency across fields comes from the owner's seqlock.
struct AtomicHistogram: ~Copyable {
    let counts: InlineArray<592, Atomic<UInt64>>

    init() { counts = InlineArray { _ in Atomic<UInt64>(0) } }

    @inline(__always) func record(_ value: Int64) {
        let i = LogLinearBuckets.index(value)
        counts[i].increment()
    }

    func copy() -> [UInt64] {
        (0..<LogLinearBuckets.count).map { counts[$0].load(ordering: .relaxed) }
    }
}

/// The release-lateness and execution-time histograms of one RTU.
final class RTUHistograms: @unchecked Sendable {
    let lateness = AtomicHistogram()
    let execution = AtomicHistogram()
}

/// A copied histogram.
public struct HistogramSnapshot: Sendable, Hashable {
    public var counts: [UInt64]
    public var total: UInt64 { counts.reduce(0, +) }

    /// Upper bound of the bucket holding the `q`-quantile (0 < q ≤ 1), capped
    /// at `max`; 0 when empty.
    public func quantile(_ q: Double, max: Int64) -> Int64 {
        let n = total
        if n == 0 { return 0 }
        let rank = UInt64((Double(n) * q).rounded(.up))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() {
            seen += c
            if seen >= Swift.max(rank, 1) { return Swift.min(LogLinearBuckets.upperBound(i), max) }
        }
        return max
    }
}

/// One deadline miss: the job's release time and how late it started (for a
/// job that never ran, how late it was when the next release replaced it).
public struct DeadlineMiss: Sendable, Hashable {
    public var release: Nanoseconds
    public var lateness: Nanoseconds
    /// Releases this event stands for: more than one when the dispatcher
    /// was stalled over several periods (each skipped release is a miss).
    public var count: Int

    public init(release: Nanoseconds, lateness: Nanoseconds, count: Int = 1) {
        self.release = release
        self.lateness = lateness
        self.count = count
    }
}

/// Statistics of one RTU, written by its dispatcher only, readable from any
/// thread through `snapshot()` without locks.
///
/// Seqlock (Boehm, "Can seqlocks get along with programming language memory
/// models?", 2012): the writer makes `sequence` odd, fences, stores fields
/// (relaxed atomics, so no data race), then publishes an even `sequence` with
/// release; a reader retries until it saw the same even value before and after.
public final class RTUStatistics: @unchecked Sendable {
    public let id: RTUID
    public let name: String
    static let missLogSize = 32

    let sequence = Atomic<UInt64>(0)
    let releases = Atomic<UInt64>(0)
    let invocations = Atomic<UInt64>(0)
    let bestEffortInvocations = Atomic<UInt64>(0)
    let slackInvocations = Atomic<UInt64>(0)
    let overruns = Atomic<UInt64>(0)
    let misses = Atomic<UInt64>(0)
    /// Entries written to the miss log (one per `recordMiss`, which may count several misses).
    let missLogged = Atomic<UInt64>(0)
    let maxLateness = Atomic<Int64>(0)
    let maxExecution = Atomic<Int64>(0)
    let totalExecution = Atomic<Int64>(0)
    let histograms: RTUHistograms?
    let missRelease: InlineArray<32, Atomic<Int64>>
    let missLateness: InlineArray<32, Atomic<Int64>>
    let missCount: InlineArray<32, Atomic<Int64>>

    /// `histograms: false` for a best-effort entry: it never records
    /// lateness or per-invocation execution (it has no releases), and a
    /// daemon holds two per unreserved socket, so it goes without the
    /// ~9.5 KB they take; its snapshots show empty histograms.
    public init(id: RTUID, name: String, histograms: Bool = true) {
        self.id = id
        self.name = name
        self.histograms = histograms ? RTUHistograms() : nil
        missRelease = InlineArray { _ in Atomic<Int64>(0) }
        missLateness = InlineArray { _ in Atomic<Int64>(0) }
        missCount = InlineArray { _ in Atomic<Int64>(0) }
    }

    // MARK: writer (the owning dispatcher only)

    @inline(__always) func beginWrite() {
        let s = sequence.load(ordering: .relaxed)
        sequence.store(s &+ 1, ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
    }

    @inline(__always) func endWrite() {
        sequence.store(sequence.load(ordering: .relaxed) &+ 1, ordering: .releasing)
    }

    @inline(__always) static func raise(_ a: borrowing Atomic<Int64>, to v: Int64) {
        if v > a.load(ordering: .relaxed) { a.store(v, ordering: .relaxed) }
    }

    @inline(__always) func recordLateness(_ l: Nanoseconds) {
        histograms?.lateness.record(l)
        Self.raise(maxLateness, to: l)
    }

    @inline(__always) func recordExecution(_ cpu: Nanoseconds, bestEffort: Bool) {
        if bestEffort {
            bestEffortInvocations.increment()
        } else {
            invocations.increment()
            histograms?.execution.record(cpu)
            Self.raise(maxExecution, to: cpu)
        }
        totalExecution.increment(by: cpu)
    }

    @inline(__always) func recordMiss(release: Nanoseconds, lateness l: Nanoseconds, count: UInt64 = 1) {
        let n = missLogged.load(ordering: .relaxed)
        let slot = Int(n % UInt64(Self.missLogSize))
        missRelease[slot].store(release, ordering: .relaxed)
        missLateness[slot].store(l, ordering: .relaxed)
        missCount[slot].store(Int64(count), ordering: .relaxed)
        missLogged.store(n &+ 1, ordering: .relaxed)
        misses.increment(by: count)
    }

    // MARK: readers (any thread)

    /// A consistent copy of every field, taken without blocking the writer.
    public func snapshot() -> RTUStatsSnapshot {
        while true {
            let s0 = sequence.load(ordering: .acquiring)
            if s0 & 1 == 1 { continue }
            var snap = RTUStatsSnapshot(
                id: id, name: name,
                releases: releases.load(ordering: .relaxed),
                invocations: invocations.load(ordering: .relaxed),
                bestEffortInvocations: bestEffortInvocations.load(ordering: .relaxed),
                slackInvocations: slackInvocations.load(ordering: .relaxed),
                overruns: overruns.load(ordering: .relaxed),
                deadlineMisses: misses.load(ordering: .relaxed),
                latenessMax: maxLateness.load(ordering: .relaxed),
                executionMax: maxExecution.load(ordering: .relaxed),
                totalExecution: totalExecution.load(ordering: .relaxed),
                lateness: HistogramSnapshot(counts: histograms?.lateness.copy() ?? []),
                execution: HistogramSnapshot(counts: histograms?.execution.copy() ?? []),
                recentMisses: [])
            let logged = Int(min(missLogged.load(ordering: .relaxed), UInt64(Self.missLogSize)))
            snap.recentMisses = (0..<logged).map {
                DeadlineMiss(release: missRelease[$0].load(ordering: .relaxed),
                             lateness: missLateness[$0].load(ordering: .relaxed),
                             count: Int(missCount[$0].load(ordering: .relaxed)))
            }.sorted { $0.release < $1.release }
            atomicMemoryFence(ordering: .acquiring)
            if sequence.load(ordering: .relaxed) == s0 { return snap }
        }
    }
}

/// A consistent copy of one RTU's statistics.
public struct RTUStatsSnapshot: Sendable, Hashable {
    public var id: RTUID
    public var name: String
    /// Releases so far (each is a job with a deadline).
    public var releases: UInt64
    /// Invocations at real-time priority.
    public var invocations: UInt64
    /// Invocations in the best-effort slack: a best-effort entry's, a
    /// demoted or out-of-budget job's remaining work, or early events.
    public var bestEffortInvocations: UInt64
    /// Of `bestEffortInvocations`, those serving a reactive RTU's events
    /// that came before its next allowed release, with no job of it open
    /// (`EarlyEventPolicy.serveInSlack`): work done sooner than the
    /// reservation promises, in the slack.
    public var slackInvocations: UInt64
    /// Periods in which the RTU used more CPU than its budget.
    public var overruns: UInt64
    /// Jobs that did not finish their first invocation by release + T,
    /// including releases skipped because the dispatcher fell behind.
    public var deadlineMisses: UInt64
    public var latenessMax: Nanoseconds
    public var executionMax: Nanoseconds
    /// CPU time of all invocations, real-time and best-effort.
    public var totalExecution: Nanoseconds
    /// Release lateness (start of the job's first invocation − release).
    public var lateness: HistogramSnapshot
    /// CPU time per real-time invocation.
    public var execution: HistogramSnapshot
    /// The most recent miss events (up to 32), oldest first; one event may
    /// stand for several skipped releases (then `release` is the first).
    public var recentMisses: [DeadlineMiss]

    public var latenessP50: Nanoseconds { lateness.quantile(0.5, max: latenessMax) }
    public var latenessP99: Nanoseconds { lateness.quantile(0.99, max: latenessMax) }
    public var executionP50: Nanoseconds { execution.quantile(0.5, max: executionMax) }
    public var executionP99: Nanoseconds { execution.quantile(0.99, max: executionMax) }
}

/// Per-core counters. Each field is independent (no cross-field snapshot
/// needed), single writer, relaxed atomics.
public final class CoreStatistics: @unchecked Sendable {
    public let core: Int
    let startedAt = Atomic<Int64>(0)
    let invocations = Atomic<UInt64>(0)
    let realtimeCPU = Atomic<Int64>(0)
    let bestEffortCPU = Atomic<Int64>(0)
    let dispatcherThreadCPU = Atomic<Int64>(0)
    let wakeups = Atomic<UInt64>(0)
    let commandsApplied = Atomic<UInt64>(0)

    public init(core: Int) { self.core = core }

    public func snapshot(now: Nanoseconds, admittedUtilizationPPB: Int64) -> CoreStatsSnapshot {
        let start = startedAt.load(ordering: .relaxed)
        let rt = realtimeCPU.load(ordering: .relaxed)
        let elapsed = start > 0 ? now - start : 0
        return CoreStatsSnapshot(
            core: core, admittedUtilizationPPB: admittedUtilizationPPB,
            measuredUtilizationPPB: elapsed > 0 ? Int64(Int128(rt) * 1_000_000_000 / Int128(elapsed)) : 0,
            invocations: invocations.load(ordering: .relaxed), realtimeCPU: rt,
            bestEffortCPU: bestEffortCPU.load(ordering: .relaxed),
            dispatcherThreadCPU: dispatcherThreadCPU.load(ordering: .relaxed),
            wakeups: wakeups.load(ordering: .relaxed),
            commandsApplied: commandsApplied.load(ordering: .relaxed), elapsed: elapsed)
    }
}

/// A copy of one core's counters.
public struct CoreStatsSnapshot: Sendable, Hashable {
    public var core: Int
    /// Σ C/T of the admitted RTUs, parts per billion.
    public var admittedUtilizationPPB: Int64
    /// CPU time of real-time invocations / wall time since the core started, ppb.
    public var measuredUtilizationPPB: Int64
    /// All invocations (real-time and best-effort).
    public var invocations: UInt64
    public var realtimeCPU: Nanoseconds
    public var bestEffortCPU: Nanoseconds
    /// CPU time of the dispatcher thread as of its last sleep (bodies included).
    public var dispatcherThreadCPU: Nanoseconds
    public var wakeups: UInt64
    public var commandsApplied: UInt64
    public var elapsed: Nanoseconds

    /// Dispatcher CPU not spent in bodies, per invocation: the scheduler's own
    /// overhead (clock reads, decisions, sleeping and waking syscalls).
    public var overheadPerInvocation: Nanoseconds {
        invocations == 0 ? 0 : (dispatcherThreadCPU - realtimeCPU - bestEffortCPU) / Int64(invocations)
    }
}
