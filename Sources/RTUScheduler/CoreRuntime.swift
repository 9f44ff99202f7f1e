import CShims
import Glibc
import Synchronization

/// One RT core: a pthread running a `DispatcherCore`, its command ring and
/// its doorbell. Created and stopped by `RTURuntime`.
final class CoreRuntime: @unchecked Sendable {
    let index: Int
    let cpu: Int?
    let core: DispatcherCore
    let ring: SPSCRing<CoreCommand>
    let doorbell: CoreDoorbell
    let stats: CoreStatistics
    let epollFD: Int32
    /// Set by `start` (the runtime may fall back to `.other` before starting).
    private(set) var policy: ThreadPolicy
    let priority: Int32
    let commandLatency: Nanoseconds
    let stopRequested = Atomic<Bool>(false)
    /// Commands applied so far (the control thread compares with pushed).
    let applied = Atomic<UInt64>(0)
    /// 0 setting up, 1 running SCHED_FIFO, 2 running SCHED_OTHER, 3 failed.
    let setupState = Atomic<Int32>(0)
    let setupErrno = Atomic<Int32>(0)
    /// 1: the failure was pinning, 2: setting SCHED_FIFO.
    let setupStep = Atomic<Int32>(0)
    var thread = pthread_t()
    var joined = true
    /// Where epoll reports ready descriptors: allocated once, nothing per wait.
    private static let maxReady = 16
    private let readyTokens = UnsafeMutablePointer<UInt64>.allocate(capacity: CoreRuntime.maxReady)

    init(index: Int, cpu: Int?, policy: ThreadPolicy, priority: Int32, slice: Nanoseconds,
         ringCapacity: Int, slotCapacity: Int, commandLatency: Nanoseconds) throws(SchedulerError) {
        let efd = rtu_sched_eventfd()
        if efd < 0 { throw .systemCall("eventfd", errno: -efd) }
        let ep = rtu_sched_epoll_for(efd)
        if ep < 0 {
            _ = rtu_sched_close(efd)
            throw .systemCall("epoll_create1", errno: -ep)
        }
        self.index = index
        self.cpu = cpu
        self.policy = policy
        self.priority = priority
        self.commandLatency = commandLatency
        epollFD = ep
        doorbell = CoreDoorbell(eventFD: efd, signalCapacity: slotCapacity)
        stats = CoreStatistics(core: index)
        ring = SPSCRing(capacity: ringCapacity)
        core = DispatcherCore(clock: MonotonicClock(), doorbell: doorbell, stats: stats,
                              bestEffortSlice: slice, capacity: slotCapacity)
    }

    deinit {
        readyTokens.deallocate()
        _ = rtu_sched_close(epollFD)
        _ = rtu_sched_close(doorbell.eventFD)
    }

    /// Starts the thread and waits until it has pinned itself and set its
    /// policy; returns its setup state (1 FIFO, 2 OTHER, 3 failed).
    func start(policy: ThreadPolicy) throws(SchedulerError) -> Int32 {
        self.policy = policy
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, 1 << 20)
        let arg = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, &attr, { arg in
            Unmanaged<CoreRuntime>.fromOpaque(arg!).takeRetainedValue().threadMain()
            return nil
        }, arg)
        pthread_attr_destroy(&attr)
        if rc != 0 {
            Unmanaged<CoreRuntime>.fromOpaque(arg).release()
            throw .systemCall("pthread_create", errno: rc)
        }
        joined = false
        while setupState.load(ordering: .acquiring) == 0 { _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 50_000) }
        return setupState.load(ordering: .acquiring)
    }

    func stop() {
        guard !joined else { return }
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        doorbell.ring()
        pthread_join(thread, nil)
        joined = true
    }

    private func threadMain() {
        // Timer slack defaults to 50 µs for SCHED_OTHER threads; it would be
        // added to every wake-up and spoil the FIFO/OTHER comparison.
        _ = rtu_sched_set_timerslack_self(1)
        if let cpu {
            let e = rtu_sched_pin_self(Int32(cpu))
            if e != 0 { return fail(step: 1, errno: e) }
        }
        var state: Int32 = 2
        if policy == .fifo {
            let e = rtu_sched_set_fifo_self(priority)
            if e == 0 { state = 1 } else {
                setupErrno.store(e, ordering: .relaxed)
                setupStep.store(2, ordering: .relaxed)
            }
        }
        stats.startedAt.store(rtu_sched_monotonic_ns(), ordering: .relaxed)
        setupState.store(state, ordering: .releasing)
        run()
    }

    private func fail(step: Int32, errno e: Int32) {
        setupErrno.store(e, ordering: .relaxed)
        setupStep.store(step, ordering: .relaxed)
        setupState.store(3, ordering: .releasing)
    }

    /// The dispatcher loop: apply commands, run one invocation or sleep.
    private func run() {
        while !stopRequested.load(ordering: .relaxed) {
            drainCommands()
            if case let .idle(wakeAt) = core.step() { sleep(until: wakeAt) }
        }
        drainCommands()
        stats.dispatcherThreadCPU.store(rtu_sched_thread_cpu_ns(), ordering: .relaxed)
    }

    private func drainCommands() {
        while let command = ring.pop() {
            core.apply(command)
            applied.store(applied.load(ordering: .relaxed) + 1, ordering: .releasing)
        }
    }

    /// Sleeps until `wakeAt`, an event or a command; never spins. A core with
    /// triggers waits in epoll on the doorbell's eventfd (nanosecond timeout,
    /// epoll_pwait2); a purely periodic core sleeps with clock_nanosleep on
    /// the absolute release time, at most `commandLatency` at a time so that
    /// commands are applied promptly.
    private func sleep(until wakeAt: Nanoseconds?) {
        stats.dispatcherThreadCPU.store(rtu_sched_thread_cpu_ns(), ordering: .relaxed)
        doorbell.sleeping.store(true, ordering: .sequentiallyConsistent)
        defer { doorbell.sleeping.store(false, ordering: .relaxed) }
        if doorbell.signalled.load(ordering: .sequentiallyConsistent) || !ring.isEmpty
            || stopRequested.load(ordering: .relaxed) {
            return
        }
        let now = rtu_sched_monotonic_ns()
        if core.hasTriggers {
            let timeout = wakeAt.map { max(0, $0 - now) } ?? -1
            let n = Int(rtu_sched_epoll_wait_tokens(epollFD, readyTokens, Int32(Self.maxReady), timeout))
            for token in UnsafeBufferPointer(start: readyTokens, count: max(0, n)) {
                if token == 0 {
                    _ = rtu_sched_eventfd_drain(doorbell.eventFD)
                } else {
                    // A watched descriptor: its trigger is kept alive by the
                    // runtime's registry until this core applied its removal.
                    RTUTrigger.markFromDispatcher(token: token)
                }
            }
        } else {
            let limit = now + commandLatency
            _ = rtu_sched_sleep_until(wakeAt.map { min($0, limit) } ?? limit)
        }
        stats.wakeups.increment()
    }
}
