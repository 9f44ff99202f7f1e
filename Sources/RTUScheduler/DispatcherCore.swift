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
    /// Reactive only: what happens to an event before the next allowed release.
    public var earlyEvents: EarlyEventPolicy

    public init(id: RTUID, kind: SlotKind, period: Nanoseconds, budget: Nanoseconds, batch: Int,
                body: Upcall, stats: RTUStatistics, trigger: RTUTrigger?, firstRelease: Nanoseconds? = nil,
                earlyEvents: EarlyEventPolicy = .serveInSlack) {
        self.id = id
        self.kind = kind
        self.period = period
        self.budget = budget
        self.batch = batch
        self.body = body
        self.stats = stats
        self.trigger = trigger
        self.firstRelease = firstRelease
        self.earlyEvents = earlyEvents
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
/// - a reactive RTU is released by a signal, at most once per T; a signal
///   before the next allowed release (last release + T) with no job of the
///   RTU open puts it on the ready list, to be served in the slack like
///   best-effort work (`EarlyEventPolicy.serveInSlack`): not a release, not
///   charged to the budget; if work is left at the next allowed release, it
///   is released then as usual;
/// - CPU time is charged to the period's budget; exceeding it is an overrun
///   (counted once per period) and demotes the RTU to best-effort until its
///   next release; an RTU with budget spent and work left also continues only
///   in the slack;
/// - best-effort work (entries, demoted RTUs with work left, early events
///   of reactive RTUs) is served round-robin when no RTU is released, one
///   slice per invocation.
///
/// What a step costs does not grow with the number of entries: a daemon
/// holds two best-effort entries per unreserved socket, tens of thousands,
/// nearly all idle. Entries live in a slab whose index is also their
/// trigger's bit in the doorbell's signal set, so a signal is found without
/// looking at the others; only real-time slots (few: admission bounds them)
/// are scanned for releases; best-effort work waits on a ready list in the
/// order it became ready, which is the round-robin order.
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
        /// Reactive: early events are served in the slack (`.serveInSlack`).
        let servesEarlyEvents: Bool
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
        /// Reactive/best-effort: a signal arrived and is not yet served.
        var eventPending = false
        var eventAt: Nanoseconds = 0
        /// Reactive: on the ready list (or invoked from it) for events that
        /// came before the next allowed release, with no job open; cleared
        /// when that work is done or the next release takes it over.
        var early = false
        /// Reactive: when its one-shot descriptor is to be enabled again
        /// (`RTURuntime.watch(descriptor:for:holdoff:)`), or `.max`.
        var rearmAt: Nanoseconds = .max
        /// Ready-list links (slab indices, -1: none) and membership: work
        /// remains for the slack (taken off while invoked from the list).
        var previousReady = -1
        var nextReady = -1
        var queued = false

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
    /// Every entry, at a stable index (its trigger's signal bit); removed
    /// ones are `vacant` (holding no body, so nothing is freed here, and no
    /// trigger, so a stale signal bit finds nothing) and reused.
    private(set) var slots: [Slot] = []
    private var freeSlots: [Int] = []
    private var slotOf: [RTUID: Int] = [:]
    /// Slab indices of the real-time slots in rate-monotonic order.
    private var realtime: [Int] = []
    /// Triggered entries beyond the doorbell's signal set: looked at one by
    /// one when a signal without a bit arrives (only on a core holding more
    /// entries than the runtime's `slotsPerCore`).
    private var unindexed: [Int] = []
    private var readyHead = -1
    private var readyTail = -1
    private var triggerCount = 0
    private let vacant: Slot

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
        vacant = Slot(id: RTUID(rawValue: 0), kind: .bestEffort, period: .max, budget: 0, batch: 1, body: Upcall(),
                      stats: RTUStatistics(id: RTUID(rawValue: 0), name: "", histograms: false), trigger: nil,
                      servesEarlyEvents: false, nextRelease: .max)
        slots.reserveCapacity(capacity)
        freeSlots.reserveCapacity(capacity)
        slotOf.reserveCapacity(capacity)
    }

    /// Number of entries (RTUs and best-effort).
    public var count: Int { slotOf.count }

    /// Whether any entry can be woken by a signal (so the runtime must sleep
    /// on the eventfd rather than on a timer alone).
    public var hasTriggers: Bool { triggerCount > 0 }

    /// Ids in dispatch-priority order: real-time slots rate-monotonic, then
    /// best-effort entries by id (for inspection and tests).
    public var priorityOrder: [RTUID] {
        realtime.map { slots[$0].id } + slotOf.values.filter { !slots[$0].isRealtime }.map { slots[$0].id }.sorted()
    }

    // MARK: commands

    /// Applies a command. Called between upcalls only. Costs O(1) for
    /// best-effort entries and O(real-time slots) for RTUs (amortised: the
    /// tables grow by doubling when more entries arrive than `capacity`).
    public func apply(_ command: CoreCommand) {
        switch command {
        case let .add(c):
            guard slotOf[c.id] == nil else { return }
            let now = clock.now()
            let i: Int
            if let reused = freeSlots.popLast() {
                i = reused
            } else {
                i = slots.count
                slots.append(vacant)
            }
            slots[i] = Slot(id: c.id, kind: c.kind, period: c.period, budget: c.budget, batch: c.batch,
                            body: c.body, stats: c.stats, trigger: c.trigger,
                            servesEarlyEvents: c.kind == .reactive && c.earlyEvents == .serveInSlack,
                            nextRelease: c.kind == .periodic ? (c.firstRelease ?? now) : now)
            slotOf[c.id] = i
            if slots[i].isRealtime { insertRealtime(i) }
            if let trigger = c.trigger {
                triggerCount += 1
                if i >= doorbell.signalCapacity { unindexed.append(i) }
                trigger.attach(slot: i)
            }
        case let .remove(id):
            guard let i = slotOf.removeValue(forKey: id) else { return }
            if slots[i].trigger != nil {
                triggerCount -= 1
                if i >= doorbell.signalCapacity { unindexed.removeAll { $0 == i } }
            }
            if slots[i].queued { unlinkReady(i) }
            if slots[i].isRealtime { realtime.removeAll { $0 == i } }
            // The runtime keeps the body, statistics and trigger alive until
            // this removal is applied, so dropping them here frees nothing.
            slots[i] = vacant
            freeSlots.append(i)
        case let .change(id, period, budget, batch):
            guard let i = slotOf[id] else { return }
            slots[i].period = period
            slots[i].budget = budget
            slots[i].batch = batch
            slots[i].trigger?.period.store(period, ordering: .relaxed)
            if slots[i].isRealtime {
                realtime.removeAll { $0 == i }
                insertRealtime(i)
            }
        }
        stats.commandsApplied.increment()
    }

    /// Puts slot `i` into `realtime` at its rate-monotonic place.
    private func insertRealtime(_ i: Int) {
        let key = (slots[i].period, slots[i].id)
        let place = realtime.firstIndex { rmHigherPriority(key, than: (slots[$0].period, slots[$0].id)) } ?? realtime.count
        realtime.insert(i, at: place)
    }

    // MARK: the ready list (best-effort work, round-robin)

    /// Marks whether slot `i` has work for the slack: a newly ready slot goes
    /// to the back of the list, one no longer ready leaves it.
    private func setBestEffortReady(_ i: Int, _ ready: Bool) {
        if ready && !slots[i].queued {
            slots[i].previousReady = readyTail
            slots[i].nextReady = -1
            if readyTail >= 0 { slots[readyTail].nextReady = i } else { readyHead = i }
            readyTail = i
            slots[i].queued = true
        } else if !ready && slots[i].queued {
            unlinkReady(i)
        }
    }

    private func unlinkReady(_ i: Int) {
        let previous = slots[i].previousReady, next = slots[i].nextReady
        if previous >= 0 { slots[previous].nextReady = next } else { readyHead = next }
        if next >= 0 { slots[next].previousReady = previous } else { readyTail = previous }
        slots[i].previousReady = -1
        slots[i].nextReady = -1
        slots[i].queued = false
    }

    // MARK: dispatching

    /// Collects signals, releases due jobs, and runs at most one invocation:
    /// the highest-priority released RTU, else the next best-effort entry.
    public func step() -> StepResult {
        let now = clock.now()
        collectSignals(now)
        release(now)
        for position in realtime.indices where slots[realtime[position]].rtReady {
            let i = realtime[position]
            invoke(i, position: position, bestEffort: false, now: now)
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
        if readyHead >= 0 {
            // Served from the front; back to the end of the list if it has more.
            let i = readyHead
            unlinkReady(i)
            let id = slots[i].id
            invoke(i, position: realtime.count, bestEffort: true, now: now)
            return .ran(id, bestEffort: true)
        }
        return .idle(wakeAt: nextWake())
    }

    /// Takes the signal set's bits (a word at a time, found through its
    /// summary) and notes an event for each entry whose trigger fired.
    private func collectSignals(_ now: Nanoseconds) {
        guard doorbell.signalled.load(ordering: .relaxed) else { return }
        doorbell.urgentPeriod.store(.max, ordering: .relaxed)
        guard doorbell.signalled.exchange(false, ordering: .sequentiallyConsistent) else { return }
        doorbell.takeSignals { noteSignal($0, now) }
        if doorbell.takeUnindexed() {
            for i in unindexed { noteSignal(i, now) }
        }
    }

    /// Slot `i`'s bit was set: an event if its trigger is still pending (a
    /// bit left by the removed previous owner of the index finds none, or no
    /// trigger at all while the index is vacant).
    ///
    /// A reactive RTU's event before its next allowed release, when no job
    /// of it is open (not released, not on the ready list with a job's work
    /// left), is early: it goes to the back of the ready list. An open job's
    /// next invocation sees the event anyway (signal, then drain).
    private func noteSignal(_ i: Int, _ now: Nanoseconds) {
        guard i < slots.count, slots[i].trigger?.take() == true else { return }
        if slots[i].kind == .bestEffort {
            setBestEffortReady(i, true)
            return
        }
        if !slots[i].eventPending {
            slots[i].eventPending = true
            slots[i].eventAt = now
        }
        if slots[i].servesEarlyEvents && !slots[i].rtReady && !slots[i].queued && now < slots[i].nextRelease {
            slots[i].early = true
            setBestEffortReady(i, true)
        }
    }

    /// Releases the real-time slots whose time or event has come, and
    /// enables the one-shot descriptors whose holdoff is over.
    private func release(_ now: Nanoseconds) {
        for position in realtime.indices {
            let i = realtime[position]
            switch slots[i].kind {
            case .periodic:
                if now >= slots[i].nextRelease { releasePeriodic(i, now) }
            case .reactive:
                if now >= slots[i].rearmAt {
                    slots[i].rearmAt = .max
                    slots[i].trigger?.rearm()
                }
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
                break
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
        slots[i].early = false
        setBestEffortReady(i, false)
    }

    /// Earliest time a real-time slot among the first `end` in priority
    /// order gets released (for `shouldYield`), or `.max`.
    private func earliestRelease(before end: Int, now: Nanoseconds) -> Nanoseconds {
        var t = Nanoseconds.max
        for position in 0..<end {
            let j = realtime[position]
            switch slots[j].kind {
            case .periodic: t = min(t, slots[j].nextRelease)
            case .reactive where slots[j].eventPending: t = min(t, max(slots[j].nextRelease, now))
            default: break
            }
        }
        return t
    }

    /// When the dispatcher must look again if nothing happens meanwhile: a
    /// release, or a one-shot descriptor to enable again.
    public func nextWake() -> Nanoseconds? {
        var t = earliestRelease(before: realtime.count, now: clock.now())
        for i in realtime { t = min(t, slots[i].rearmAt) }
        return t == .max ? nil : t
    }

    /// Runs slot `i`, whose place in priority order is `position` (the
    /// real-time slots before it may make it yield).
    private func invoke(_ i: Int, position: Int, bestEffort: Bool, now: Nanoseconds) {
        let slice = bestEffortSlice
        var context = UpcallContext(
            now: now,
            release: bestEffort ? now : slots[i].releaseTime,
            deadline: bestEffort ? now + slice : slots[i].deadline,
            batch: slots[i].batch,
            budget: bestEffort ? slice : max(slots[i].budget - slots[i].used, 0),
            isBestEffort: bestEffort,
            yieldAt: bestEffort ? min(now + slice, earliestRelease(before: realtime.count, now: now))
                : earliestRelease(before: position, now: now),
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
        if outcome == .done { workDone(i, at: end, handled: context.handled) }
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
            setBestEffortReady(i, more)
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

    /// Slot `i` has no work left: its one-shot descriptor, if it was
    /// reported since it was last enabled, is enabled again now — after an
    /// invocation that `handled` at most one item, or without a holdoff —
    /// or after the watch's holdoff (a reactive RTU's; a holdoff already
    /// running is kept, so frequent invocations cannot postpone it).
    private func workDone(_ i: Int, at end: Nanoseconds, handled: Int?) {
        guard let trigger = slots[i].trigger, trigger.isDisarmed else { return }
        let holdoff = trigger.holdoff.load(ordering: .relaxed)
        if holdoff <= 0 || slots[i].kind != .reactive || (handled ?? .max) <= 1 {
            slots[i].rearmAt = .max
            trigger.rearm()
        } else if slots[i].rearmAt == .max {
            slots[i].rearmAt = end + holdoff
        }
    }

    private func completeBestEffort(_ i: Int, cpu: Nanoseconds, more: Bool) {
        let stats = slots[i].stats
        stats.beginWrite()
        stats.recordExecution(cpu, bestEffort: true)
        if slots[i].early { stats.slackInvocations.increment() }
        stats.endWrite()
        setBestEffortReady(i, more)
        if !more && slots[i].kind == .reactive {
            slots[i].eventPending = false
            slots[i].early = false
        }
        self.stats.bestEffortCPU.increment(by: cpu)
        self.stats.invocations.increment()
    }
}
