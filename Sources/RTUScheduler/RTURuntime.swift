import CShims
import Glibc
import Synchronization

/// How the runtime is set up. Defaults match `etc/rtud.toml`'s [daemon].
public struct SchedulerConfiguration: Sendable {
    /// One dispatcher per entry, pinned to that CPU (nil: not pinned).
    public var cpus: [Int?]
    /// SCHED_FIFO priority of the dispatchers.
    public var priority: Int32 = 50
    /// `.other` runs the same dispatcher on SCHED_OTHER (for comparisons).
    public var policy: ThreadPolicy = .fifo
    /// Refuse to start (naming the missing capability/rlimit) instead of
    /// warning and running best-effort when SCHED_FIFO is not permitted.
    public var requireRealtime = false
    /// Locks the process's memory at start (process-wide): what is mapped
    /// then is populated and locked, what is mapped later is locked as it is
    /// first touched (`rtu_sched_lock_memory`).
    public var lockMemory = true
    /// Per-core cap on Σ C/T, parts per million.
    public var utilizationCapPPM: Int64 = 850_000
    /// Longest best-effort invocation; part of every blocking term.
    public var bestEffortSlice: Nanoseconds = .micros(100)
    /// Dispatcher cost charged to every invocation in admission. sched-bench
    /// measured ~18 µs of dispatcher-thread CPU per invocation on these VMs,
    /// ~15 µs of it the kernel's sleep/wake path alone (BENCHMARKS.md).
    public var perInvocationOverhead: Nanoseconds = .micros(20)
    public var commandRingCapacity = 64
    /// Entries per core the dispatcher reserves room for up front and keeps
    /// signal bits for. More still work, but a signal for one of the entries
    /// beyond makes the dispatcher ask each of those whether it fired.
    public var slotsPerCore = 64
    /// Longest a purely periodic core sleeps before looking at its command ring.
    public var commandLatency: Nanoseconds = .millis(5)
    /// Where warnings go (default: standard error).
    public var warn: @Sendable (String) -> Void = { message in
        fputs("rtud: warning: \(message)\n", stderr)
    }

    public init(cpus: [Int?]) { self.cpus = cpus }

    public var admissionPolicy: AdmissionPolicy {
        AdmissionPolicy(cores: cpus.count, utilizationCapPPM: utilizationCapPPM,
                        bestEffortSlice: bestEffortSlice, perInvocationOverhead: perInvocationOverhead)
    }
}

/// What the control side gets back for an admitted RTU or best-effort entry.
public struct RTUHandle: Sendable {
    public let id: RTUID
    public let core: Int
    /// Releases a reactive RTU / gives a best-effort entry work; nil for periodic RTUs.
    public let trigger: RTUTrigger?
    /// Live statistics (`statistics.snapshot()` from any thread).
    public let statistics: RTUStatistics
}

/// The RTU scheduler: admission on the calling (control) thread, one
/// dispatcher thread per configured core, commands between them through an
/// SPSC ring per core.
///
/// Control methods may be called from any non-dispatcher thread; a mutex
/// serialises them (so each ring has one producer at a time). Nothing on
/// the dispatch path takes it. Bodies of removed RTUs are released on the
/// control side once their dispatcher has applied the removal, so no
/// deallocation happens on an RT thread.
public final class RTURuntime: @unchecked Sendable {
    public let configuration: SchedulerConfiguration
    let cores: [CoreRuntime]

    struct Registered {
        var core: Int
        var body: Upcall
        var trigger: RTUTrigger?
        var stats: RTUStatistics
    }

    struct ControlState {
        var model: AdmissionModel
        var registry: [RTUID: Registered] = [:]
        var bestEffort: [RTUID: Registered] = [:]
        var pushed: [UInt64]
        /// Removed entries kept alive until their core applied the removal.
        var retired: [(core: Int, seq: UInt64, entry: Registered)] = []
        /// Descriptors watched for each RTU (`watch`).
        var watched: [RTUID: [Int32]] = [:]
        var started = false
    }

    let control: Mutex<ControlState>
    private let policies = Mutex<[ThreadPolicy]>([])

    /// Sets up the cores (eventfd, epoll, rings) without starting threads.
    public init(configuration: SchedulerConfiguration) throws(SchedulerError) {
        self.configuration = configuration
        var cores: [CoreRuntime] = []
        for (i, cpu) in configuration.cpus.enumerated() {
            cores.append(try CoreRuntime(
                index: i, cpu: cpu, policy: configuration.policy, priority: configuration.priority,
                slice: configuration.bestEffortSlice, ringCapacity: configuration.commandRingCapacity,
                slotCapacity: configuration.slotsPerCore, commandLatency: configuration.commandLatency))
        }
        self.cores = cores
        control = Mutex(ControlState(model: AdmissionModel(policy: configuration.admissionPolicy),
                                     pushed: Array(repeating: 0, count: cores.count)))
    }

    deinit { stop() }

    /// Dispatcher cores (`configuration.cpus.count`).
    public var coreCount: Int { cores.count }

    /// The policy each core actually runs with (after `start`).
    public var effectivePolicies: [ThreadPolicy] { policies.withLock { $0 } }

    /// Checks privileges, locks memory and starts the dispatchers. Without
    /// SCHED_FIFO permission it warns and runs SCHED_OTHER, unless
    /// `requireRealtime`, in which case it throws naming what is missing.
    public func start() throws(SchedulerError) {
        let config = configuration
        try control.withLock { (s: inout ControlState) throws(SchedulerError) in
            if s.started { throw .alreadyStarted }
            s.started = true
        }
        var wantFIFO = config.policy == .fifo
        if wantFIFO {
            let permission = RealtimeSupport.checkFIFO(priority: config.priority)
            if !permission.permitted {
                if config.requireRealtime { throw .realtimeNotPermitted(permission.explanation) }
                config.warn("\(permission.explanation); RTU dispatchers run best-effort (SCHED_OTHER) "
                    + "and reservations are NOT guaranteed")
                wantFIFO = false
            }
        }
        if config.lockMemory { try lockMemory(required: config.requireRealtime && wantFIFO) }
        var started: [ThreadPolicy] = []
        for core in cores {
            let state: Int32
            do { state = try core.start(policy: wantFIFO ? .fifo : .other) } catch { stopAll(); throw error }
            switch state {
            case 1:
                started.append(.fifo)
            case 2:
                if core.setupStep.load(ordering: .relaxed) == 2 {
                    let why = "sched_setscheduler(SCHED_FIFO, \(config.priority)) failed on core \(core.index): "
                        + RealtimeSupport.errnoName(core.setupErrno.load(ordering: .relaxed))
                        + " (CAP_SYS_NICE / RLIMIT_RTPRIO, or the cgroup's cpu.rt_runtime_us is 0)"
                    if config.requireRealtime { stopAll(); throw .realtimeNotPermitted(why) }
                    config.warn(why + "; this core runs best-effort (SCHED_OTHER)")
                }
                started.append(.other)
            default:
                stopAll()
                throw .systemCall("sched_setaffinity(cpu \(core.cpu ?? -1))",
                                  errno: core.setupErrno.load(ordering: .relaxed))
            }
        }
        policies.withLock { $0 = started }
    }

    private func lockMemory(required: Bool) throws(SchedulerError) {
        let e = rtu_sched_lock_memory()
        if e == 0 { return }
        let permission = RealtimeSupport.checkMemoryLock()
        let why = "mlockall: \(RealtimeSupport.errnoName(e))"
            + (permission.permitted ? "" : "; \(permission.explanation)")
        if required { throw .memoryLockFailed(why) }
        configuration.warn(why + "; page faults may delay upcalls")
    }

    private func stopAll() { for core in cores { core.stop() } }

    /// Stops and joins every dispatcher (idempotent). Admitted RTUs stay in
    /// the model; their bodies are released with the runtime.
    public func stop() { stopAll() }

    // MARK: control operations

    /// Admits `spec` and hands it to its core's dispatcher. `firstRelease`
    /// (absolute, periodic only) staggers releases; nil releases it as soon
    /// as the dispatcher applies the command.
    public func add(_ spec: RTUSpec, body: Upcall, on choice: CoreChoice = .firstFit,
                    firstRelease: Nanoseconds? = nil) throws(SchedulerError) -> RTUHandle {
        try control.withLock { (s: inout ControlState) throws(SchedulerError) -> RTUHandle in
            purgeRetired(&s)
            var model = s.model
            let placed: AdmittedRTU
            do throws(AdmissionError) { placed = try model.admit(spec, on: choice) } catch { throw .admission(error) }
            let core = cores[placed.core]
            guard core.ring.freeCount > 0 else { throw .commandRingFull(core: placed.core) }
            let stats = RTUStatistics(id: placed.id, name: spec.name)
            let trigger = spec.kind == .reactive
                ? RTUTrigger(id: placed.id, period: spec.period, doorbell: core.doorbell) : nil
            s.model = model
            s.registry[placed.id] = Registered(core: placed.core, body: body, trigger: trigger, stats: stats)
            push(.add(SlotConfig(id: placed.id, kind: spec.kind == .periodic ? .periodic : .reactive,
                                 period: spec.period, budget: spec.budget, batch: spec.batch, body: body,
                                 stats: stats, trigger: trigger, firstRelease: firstRelease,
                                 earlyEvents: spec.earlyEvents)),
                 core: placed.core, state: &s)
            return RTUHandle(id: placed.id, core: placed.core, trigger: trigger, statistics: stats)
        }
    }

    /// Registers best-effort work on `core` (no admission; it runs in the
    /// slack one `bestEffortSlice` at a time). Signal its trigger when it has
    /// work; it keeps being served while it returns `.moreWork`.
    /// `batch` is what each invocation is offered (the slice bounds it anyway).
    public func addBestEffort(name: String, body: Upcall, core index: Int, batch: Int = 1) throws(SchedulerError) -> RTUHandle {
        try control.withLock { (s: inout ControlState) throws(SchedulerError) -> RTUHandle in
            purgeRetired(&s)
            guard index >= 0 && index < cores.count else { throw .admission(.noSuchCore(index)) }
            let core = cores[index]
            guard core.ring.freeCount > 0 else { throw .commandRingFull(core: index) }
            let id = s.model.allocateID()
            let stats = RTUStatistics(id: id, name: name, histograms: false)
            let trigger = RTUTrigger(id: id, period: .max, doorbell: core.doorbell)
            s.bestEffort[id] = Registered(core: index, body: body, trigger: trigger, stats: stats)
            push(.add(SlotConfig(id: id, kind: .bestEffort, period: .max, budget: configuration.bestEffortSlice,
                                 batch: max(1, batch), body: body, stats: stats, trigger: trigger)),
                 core: index, state: &s)
            return RTUHandle(id: id, core: index, trigger: trigger, statistics: stats)
        }
    }

    /// Releases the reactive RTU or best-effort entry `id` whenever `descriptor`
    /// becomes readable. The dispatcher waits on it in its epoll set, so a
    /// device or a client's doorbell wakes the core without a thread of its
    /// own.
    ///
    /// `holdoff` nil: edge-triggered, every time it becomes readable (the
    /// body must drain it, or return `.moreWork` until it has), even while
    /// the RTU already has an event pending. With a `holdoff`: one-shot —
    /// reported once, then disabled until an invocation of the RTU returns
    /// `.done`; the dispatcher enables it again (`epoll_ctl` MOD, one system
    /// call; the kernel reports it at once if it is readable then) right
    /// away if that invocation handled at most one item (`UpcallContext.handled`:
    /// a lone event, nothing to batch), `holdoff` later otherwise. So while
    /// the RTU has work pending (waiting for its release, its turn in the
    /// slack, or the end of the core's busy cap) its descriptor wakes
    /// nobody, and under a stream it wakes the core at most once per
    /// invocation plus `holdoff`, which lets frames gather into batches; an
    /// event of a stream is seen at most `holdoff` later than it would be
    /// otherwise. For a descriptor that is readable exactly while there is
    /// work to read from it (a device's receive ring, a socket), not for an
    /// eventfd the body does not read, which would be reported again at
    /// every re-enabling. A `holdoff` above 0 needs a reactive RTU (it is
    /// timed with the releases); one descriptor per RTU may be one-shot.
    ///
    /// Removing the RTU stops the watch. The caller keeps the descriptor
    /// open until then, and a one-shot one until the core has applied the
    /// removal (`waitUntilApplied()`): the core may enable it again until
    /// then, and must not find its number reused by another descriptor.
    public func watch(descriptor: Int32, for id: RTUID, holdoff: Nanoseconds? = nil) throws(SchedulerError) {
        try control.withLock { (s: inout ControlState) throws(SchedulerError) in
            guard let entry = s.registry[id] ?? s.bestEffort[id], let trigger = entry.trigger else {
                throw .admission(.unknownRTU(id))
            }
            let epollFD = cores[entry.core].epollFD
            if let holdoff {
                let name = entry.stats.name
                guard holdoff >= 0 else { throw .admission(.invalidSpec(name: name, reason: "holdoff must be ≥ 0")) }
                guard holdoff == 0 || s.model.rtu(id)?.spec.kind == .reactive else {   // best-effort: not in the model
                    throw .admission(.invalidSpec(name: name, reason: "a holdoff above 0 needs a reactive RTU"))
                }
                guard trigger.oneShot.load(ordering: .relaxed) == RTUTrigger.noOneShot else {
                    throw .admission(.invalidSpec(name: name, reason: "already watches a one-shot descriptor"))
                }
                // Published before the descriptor can be reported, so the
                // dispatcher always knows what to enable again.
                trigger.holdoff.store(holdoff, ordering: .relaxed)
                trigger.oneShot.store(UInt64(UInt32(bitPattern: epollFD)) << 32 | UInt64(UInt32(bitPattern: descriptor)),
                                      ordering: .releasing)
                let e = rtu_sched_epoll_watch_oneshot(epollFD, descriptor, trigger.token(oneShot: true))
                if e != 0 {
                    trigger.oneShot.store(RTUTrigger.noOneShot, ordering: .releasing)
                    throw .systemCall("epoll_ctl(ADD)", errno: e)
                }
            } else {
                let e = rtu_sched_epoll_watch(epollFD, descriptor, trigger.token(oneShot: false))
                if e != 0 { throw .systemCall("epoll_ctl(ADD)", errno: e) }
            }
            s.watched[id, default: []].append(descriptor)
        }
    }

    /// Removes an RTU or best-effort entry.
    public func remove(_ id: RTUID) throws(SchedulerError) {
        try control.withLock { (s: inout ControlState) throws(SchedulerError) in
            purgeRetired(&s)
            guard let entry = s.registry[id] ?? s.bestEffort[id] else { throw .admission(.unknownRTU(id)) }
            for fd in s.watched.removeValue(forKey: id) ?? [] { _ = rtu_sched_epoll_unwatch(cores[entry.core].epollFD, fd) }
            guard cores[entry.core].ring.freeCount > 0 else { throw .commandRingFull(core: entry.core) }
            if s.registry[id] != nil { _ = try? s.model.remove(id) }
            s.registry[id] = nil
            s.bestEffort[id] = nil
            push(.remove(id), core: entry.core, state: &s)
            s.retired.append((entry.core, s.pushed[entry.core], entry))
        }
    }

    /// Changes period, budget and batch of an admitted RTU (same core, same
    /// kind and early-event policy); a refusal leaves the old reservation in force.
    public func change(_ id: RTUID, to spec: RTUSpec) throws(SchedulerError) {
        try control.withLock { (s: inout ControlState) throws(SchedulerError) in
            purgeRetired(&s)
            guard let entry = s.registry[id], let old = s.model.rtu(id) else { throw .admission(.unknownRTU(id)) }
            guard spec.kind == old.spec.kind else {
                throw .admission(.invalidSpec(name: spec.name, reason: "kind cannot change"))
            }
            guard spec.earlyEvents == old.spec.earlyEvents else {
                throw .admission(.invalidSpec(name: spec.name, reason: "early-event policy cannot change"))
            }
            guard cores[entry.core].ring.freeCount > 0 else { throw .commandRingFull(core: entry.core) }
            var model = s.model
            do throws(AdmissionError) { try model.change(id, to: spec) } catch { throw .admission(error) }
            s.model = model
            push(.change(id, period: spec.period, budget: spec.budget, batch: spec.batch), core: entry.core, state: &s)
        }
    }

    private func push(_ command: CoreCommand, core index: Int, state s: inout ControlState) {
        let pushedOK = cores[index].ring.push(command)
        precondition(pushedOK, "ring space was checked under the control lock")
        s.pushed[index] += 1
        cores[index].doorbell.ring()
    }

    private func purgeRetired(_ s: inout ControlState) {
        s.retired.removeAll { cores[$0.core].applied.load(ordering: .acquiring) >= $0.seq }
    }

    /// Waits (sleeping in 100 µs steps) until every core has applied every
    /// command pushed so far. Only meaningful once started.
    public func waitUntilApplied() {
        let targets = control.withLock { $0.pushed }
        for (i, target) in targets.enumerated() {
            while cores[i].applied.load(ordering: .acquiring) < target && !cores[i].joined {
                _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 100_000)
            }
        }
    }

    // MARK: inspection

    /// A snapshot of what admission holds.
    public var model: AdmissionModel { control.withLock { $0.model } }

    /// Every admitted RTU (its spec and core) and every best-effort entry
    /// (spec nil), by id, with a statistics snapshot each: what `rtuctl rtus` shows.
    public func entries() -> [(id: RTUID, core: Int, spec: RTUSpec?, stats: RTUStatsSnapshot)] {
        entries(from: RTUID(rawValue: 0), limit: .max)
    }

    /// As `entries()`, for ids from `first` on and at most `limit` of them (a
    /// page of `rtuctl rtus`): statistics are copied for those only, so
    /// paging through many entries costs each entry's copy once.
    public func entries(from first: RTUID, limit: Int) -> [(id: RTUID, core: Int, spec: RTUSpec?, stats: RTUStatsSnapshot)] {
        let (admitted, bestEffort) = control.withLock { s in
            (s.registry.filter { $0.key >= first }.map { id, r in (id, r.core, s.model.rtu(id)?.spec, r.stats) },
             s.bestEffort.filter { $0.key >= first }.map { id, r in (id, r.core, RTUSpec?.none, r.stats) })
        }
        return (admitted + bestEffort).sorted { $0.0 < $1.0 }.prefix(limit).map { ($0.0, $0.1, $0.2, $0.3.snapshot()) }
    }

    public func statistics(_ id: RTUID) -> RTUStatsSnapshot? {
        control.withLock { ($0.registry[id] ?? $0.bestEffort[id])?.stats }?.snapshot()
    }

    /// Admitted versus measured utilisation and counters of `core`.
    public func coreStatistics(_ index: Int) -> CoreStatsSnapshot {
        let admitted = control.withLock { $0.model.utilizationPPB(core: index) }
        return cores[index].stats.snapshot(now: rtu_sched_monotonic_ns(), admittedUtilizationPPB: admitted)
    }
}
