import Synchronization

/// What a dispatcher slot holds: an admitted RTU or a best-effort entry.
public enum SlotKind: Sendable, Hashable {
    case periodic
    case reactive
    /// No reservation: served round-robin in the slack, one slice at a time,
    /// whenever its trigger was signalled or it returned `.moreWork`.
    case bestEffort
}

/// Everything a dispatcher needs to run one RTU; built by the control thread
/// and sent through the command ring.
public struct SlotConfig {
    public var id: RTUID
    public var kind: SlotKind
    public var period: Nanoseconds
    public var budget: Nanoseconds
    public var batch: Int
    public var body: Upcall
    public var stats: RTUStatistics
    /// Present for reactive and best-effort slots.
    public var trigger: RTUTrigger?
    /// Periodic only: absolute time of the first release (nil: when applied).
    public var firstRelease: Nanoseconds?

    public init(id: RTUID, kind: SlotKind, period: Nanoseconds, budget: Nanoseconds, batch: Int,
                body: Upcall, stats: RTUStatistics, trigger: RTUTrigger?, firstRelease: Nanoseconds? = nil) {
        self.id = id
        self.kind = kind
        self.period = period
        self.budget = budget
        self.batch = batch
        self.body = body
        self.stats = stats
        self.trigger = trigger
        self.firstRelease = firstRelease
    }
}

/// A change for one dispatcher, applied between upcalls.
public enum CoreCommand {
    case add(SlotConfig)
    case remove(RTUID)
    /// New period, budget and batch; effective from the RTU's next release.
    case change(RTUID, period: Nanoseconds, budget: Nanoseconds, batch: Int)
}

/// What one `step()` did.
public enum StepResult: Equatable, Sendable {
    /// Invoked this entry's body once.
    case ran(RTUID, bestEffort: Bool)
    /// Nothing is released and no best-effort work waits: sleep until
    /// `wakeAt` (nil: until an event or command).
    case idle(wakeAt: Nanoseconds?)
}

/// The dispatcher of one core as a pure state machine: given the clock and
/// the events, it decides what runs next, runs it to completion, and does
/// the accounting. It never sleeps and never reads time except through
/// `clock`, so every rule is testable with a `ManualClock`; the runtime
/// wraps it with a thread, sleeping and the command ring.
///
/// Rules (ARCHITECTURE.md, "RTUs, as this project defines them"):
/// - rate-monotonic among released RTUs (shorter period first; ties by id);
/// - delayed preemption: an invocation is never interrupted; a
///   higher-priority release during it only makes `shouldYield` true;
/// - a periodic RTU is released at `first + k·T`; if the dispatcher fell
///   behind by whole periods, the skipped releases count as misses;
/// - a reactive RTU is released by a signal, at most once per T;
/// - CPU time is charged to the period's budget; exceeding it is an overrun
///   (counted once per period) and demotes the RTU to best-effort until its
///   next release; an RTU with budget spent and work left also continues only
///   in the slack;
/// - best-effort work (entries and demoted RTUs with work left) is served
///   round-robin when no RTU is released, one slice per invocation.
///
/// Single-threaded: only the owning dispatcher thread touches it.
public final class DispatcherCore {
    struct Slot {
        let id: RTUID
        let kind: SlotKind
        var period: Nanoseconds
        var budget: Nanoseconds
        var batch: Int
        let body: Upcall
        let stats: RTUStatistics
        let trigger: RTUTrigger?
        /// Periodic: next release. Reactive: earliest allowed next release.
        var nextRelease: Nanoseconds
        var releaseTime: Nanoseconds = 0
        var deadline: Nanoseconds = 0
        var used: Nanoseconds = 0
        /// A job is released and may run at its real-time priority.
        var rtReady = false
        /// The current job has had its first invocation.
        var started = false
        var demoted = false
        /// Work remains for the slack.
        var beReady = false
        /// Reactive/best-effort: a signal arrived and is not yet served.
        var eventPending = false
        var eventAt: Nanoseconds = 0

        var isRealtime: Bool { kind != .bestEffort }
    }

    /// An existential rather than a generic parameter on purpose: a generic
    /// core used from another module runs unspecialised (value-witness copies
    /// of every slot, metadata look-ups, even mallocs: measured ~2.8 µs per
    /// invocation); a class-bound existential costs one witness call per read.
    public let clock: any RTUClock
    public let doorbell: CoreDoorbell
    public let stats: CoreStatistics
    /// Longest best-effort invocation the dispatcher asks for (via `budget`
    /// and `shouldYield`). Admission counts it as blocking of every RTU.
    public let bestEffortSlice: Nanoseconds
    /// Real-time slots first in rate-monotonic order, then best-effort by id.
    private(set) var slots: [Slot] = []
    private var roundRobin = 0
    private var triggerCount = 0

    /// The dispatcher's own duty cycle: in every `busyWindow` it runs
    /// best-effort work only while its invocations have used less than
    /// `busyCap`. Without it, best-effort work in the slack (a flood) keeps a
    /// SCHED_FIFO core busy without pause until the kernel's real-time
    /// throttling (`sched_rt_runtime_us`, 95 %) stops the whole thread for
    /// ~50 ms — reserved RTUs included. Admitted RTUs are never held back.
    public let busyWindow: Nanoseconds
    public let busyCap: Nanoseconds
    private var windowStart: Nanoseconds = 0
    private var windowBusy: Nanoseconds = 0

    public init(clock: any RTUClock, doorbell: CoreDoorbell = CoreDoorbell(), stats: CoreStatistics = CoreStatistics(core: 0),
                bestEffortSlice: Nanoseconds = .micros(100), capacity: Int = 64,
                busyWindow: Nanoseconds = .millis(10), busyCapPPM: Int64 = 900_000) {
        self.busyWindow = busyWindow
        busyCap = busyWindow * busyCapPPM / 1_000_000
        self.clock = clock
        self.doorbell = doorbell
        self.stats = stats
        self.bestEffortSlice = bestEffortSlice
        slots.reserveCapacity(capacity)
    }

    /// Number of entries (RTUs and best-effort).
    public var count: Int { slots.count }

    /// Whether any entry can be woken by a signal (so the runtime must sleep
    /// on the eventfd rather than on a timer alone).
    public var hasTriggers: Bool { triggerCount > 0 }

    /// Ids in dispatch-priority order (for inspection and tests).
    public var priorityOrder: [RTUID] { slots.map(\.id) }

    // MARK: commands

    /// Applies a command. Called between upcalls only.
    public func apply(_ command: CoreCommand) {
        switch command {
        case let .add(c):
            let now = clock.now()
            slots.append(Slot(id: c.id, kind: c.kind, period: c.period, budget: c.budget, batch: c.batch,
                              body: c.body, stats: c.stats, trigger: c.trigger,
                              nextRelease: c.kind == .periodic ? (c.firstRelease ?? now) : now))
            if c.trigger != nil { triggerCount += 1 }
            sortSlots()
        case let .remove(id):
            guard let i = slots.firstIndex(where: { $0.id == id }) else { return }
            if slots[i].trigger != nil { triggerCount -= 1 }
            slots.remove(at: i)
            if roundRobin > i { roundRobin -= 1 }
        case let .change(id, period, budget, batch):
            guard let i = slots.firstIndex(where: { $0.id == id }) else { return }
            slots[i].period = period
            slots[i].budget = budget
            slots[i].batch = batch
            slots[i].trigger?.period.store(period, ordering: .relaxed)
            sortSlots()
        }
        stats.commandsApplied.increment()
    }

    private func sortSlots() {
        slots.sort { a, b in
            if a.isRealtime != b.isRealtime { return a.isRealtime }
            if !a.isRealtime { return a.id < b.id }
            return rmHigherPriority((a.period, a.id), than: (b.period, b.id))
        }
        if roundRobin >= slots.count { roundRobin = 0 }
    }

    // MARK: dispatching

    /// Collects signals, releases due jobs, and runs at most one invocation:
    /// the highest-priority released RTU, else the next best-effort entry.
    public func step() -> StepResult {
        let now = clock.now()
        collectSignals(now)
        release(now)
        if let i = slots.firstIndex(where: { $0.rtReady }) {
            invoke(i, bestEffort: false, now: now)
            return .ran(slots[i].id, bestEffort: false)
        }
        if now - windowStart >= busyWindow {
            windowStart = now - (now - windowStart) % busyWindow
            windowBusy = 0
        }
        if windowBusy >= busyCap {
            // Best-effort waits for the next window (or an RTU's release).
            let windowEnd = windowStart + busyWindow
            return .idle(wakeAt: min(nextWake() ?? windowEnd, windowEnd))
        }
        if let i = nextBestEffort() {
            let id = slots[i].id
            invoke(i, bestEffort: true, now: now)
            return .ran(id, bestEffort: true)
        }
        return .idle(wakeAt: nextWake())
    }

    private func collectSignals(_ now: Nanoseconds) {
        guard doorbell.signalled.load(ordering: .relaxed) else { return }
        doorbell.urgentPeriod.store(.max, ordering: .relaxed)
        guard doorbell.signalled.exchange(false, ordering: .sequentiallyConsistent) else { return }
        for i in slots.indices where slots[i].trigger?.take() == true {
            if !slots[i].eventPending {
                slots[i].eventPending = true
                slots[i].eventAt = now
            }
        }
    }

    private func release(_ now: Nanoseconds) {
        for i in slots.indices {
            switch slots[i].kind {
            case .periodic:
                if now >= slots[i].nextRelease { releasePeriodic(i, now) }
            case .reactive:
                if slots[i].eventPending && !slots[i].rtReady && now >= slots[i].nextRelease {
                    let t = max(slots[i].nextRelease, slots[i].eventAt)
                    slots[i].eventPending = false
                    slots[i].nextRelease = t + slots[i].period
                    newJob(i, at: t)
                    slots[i].stats.beginWrite()
                    slots[i].stats.releases.increment()
                    slots[i].stats.endWrite()
                }
            case .bestEffort:
                if slots[i].eventPending {
                    slots[i].eventPending = false
                    slots[i].beReady = true
                }
            }
        }
    }

    /// Releases the newest due period of slot `i`; the previous job, if it
    /// never ran, and any wholly skipped releases are deadline misses.
    private func releasePeriodic(_ i: Int, _ now: Nanoseconds) {
        let period = slots[i].period
        let skipped = (now - slots[i].nextRelease) / period
        let t = slots[i].nextRelease + skipped * period
        let stats = slots[i].stats
        stats.beginWrite()
        if slots[i].rtReady && !slots[i].started {
            stats.recordMiss(release: slots[i].releaseTime, lateness: now - slots[i].releaseTime)
        }
        if skipped > 0 {
            stats.recordMiss(release: slots[i].nextRelease, lateness: now - slots[i].nextRelease,
                             count: UInt64(skipped))
        }
        stats.releases.increment(by: UInt64(skipped + 1))
        stats.endWrite()
        slots[i].nextRelease = t + period
        newJob(i, at: t)
    }

    private func newJob(_ i: Int, at t: Nanoseconds) {
        slots[i].releaseTime = t
        slots[i].deadline = t + slots[i].period
        slots[i].used = 0
        slots[i].demoted = false
        slots[i].started = false
        slots[i].rtReady = true
        slots[i].beReady = false
    }

    private func nextBestEffort() -> Int? {
        let n = slots.count
        guard n > 0 else { return nil }
        for k in 0..<n {
            let i = (roundRobin + k) % n
            if slots[i].beReady {
                roundRobin = (i + 1) % n
                return i
            }
        }
        return nil
    }

    /// Earliest time a real-time slot among `0..<end` gets released (for
    /// `shouldYield`), or `.max`.
    private func earliestRelease(before end: Int, now: Nanoseconds) -> Nanoseconds {
        var t = Nanoseconds.max
        for j in 0..<end {
            switch slots[j].kind {
            case .periodic: t = min(t, slots[j].nextRelease)
            case .reactive where slots[j].eventPending: t = min(t, max(slots[j].nextRelease, now))
            default: break
            }
        }
        return t
    }

    /// When the dispatcher must look again if nothing happens meanwhile.
    public func nextWake() -> Nanoseconds? {
        let t = earliestRelease(before: slots.count, now: clock.now())
        return t == .max ? nil : t
    }

    private func invoke(_ i: Int, bestEffort: Bool, now: Nanoseconds) {
        let slice = bestEffortSlice
        let realtimeCount = slots.firstIndex { !$0.isRealtime } ?? slots.count
        var context = UpcallContext(
            now: now,
            release: bestEffort ? now : slots[i].releaseTime,
            deadline: bestEffort ? now + slice : slots[i].deadline,
            batch: slots[i].batch,
            budget: bestEffort ? slice : max(slots[i].budget - slots[i].used, 0),
            isBestEffort: bestEffort,
            yieldAt: bestEffort ? min(now + slice, earliestRelease(before: realtimeCount, now: now))
                : earliestRelease(before: i, now: now),
            urgencyPeriod: bestEffort ? .max : slots[i].period,
            clock: clock, doorbell: doorbell)
        let body = slots[i].body
        let cpu0 = clock.threadCPUTime()
        let outcome = body.run(context: &context)
        let end = clock.now()
        let cpu = clock.threadCPUTime() - cpu0
        windowBusy += end - now
        if bestEffort {
            completeBestEffort(i, cpu: cpu, more: outcome == .moreWork)
        } else {
            completeRealtime(i, start: now, end: end, cpu: cpu, more: outcome == .moreWork)
        }
    }

    private func completeRealtime(_ i: Int, start: Nanoseconds, end: Nanoseconds, cpu: Nanoseconds, more: Bool) {
        let stats = slots[i].stats
        stats.beginWrite()
        if !slots[i].started {
            slots[i].started = true
            let lateness = start - slots[i].releaseTime
            stats.recordLateness(lateness)
            if end > slots[i].deadline { stats.recordMiss(release: slots[i].releaseTime, lateness: lateness) }
        }
        stats.recordExecution(cpu, bestEffort: false)
        slots[i].used += cpu
        if slots[i].used > slots[i].budget && !slots[i].demoted {
            slots[i].demoted = true
            stats.overruns.increment()
        }
        stats.endWrite()
        if slots[i].demoted || slots[i].used >= slots[i].budget {
            slots[i].rtReady = false
            slots[i].beReady = more
        } else {
            slots[i].rtReady = more
        }
        if slots[i].kind == .reactive {
            // Work left: released again once the minimum inter-release time
            // passes. Done: every event collected before this invocation was
            // seen by it (signal, then drain), so none is left pending.
            if more && !slots[i].eventPending { slots[i].eventAt = end }
            slots[i].eventPending = more
        }
        self.stats.realtimeCPU.increment(by: cpu)
        self.stats.invocations.increment()
    }

    private func completeBestEffort(_ i: Int, cpu: Nanoseconds, more: Bool) {
        let stats = slots[i].stats
        stats.beginWrite()
        stats.recordExecution(cpu, bestEffort: true)
        stats.endWrite()
        slots[i].beReady = more
        if !more && slots[i].kind == .reactive { slots[i].eventPending = false }
        self.stats.bestEffortCPU.increment(by: cpu)
        self.stats.invocations.increment()
    }
}
