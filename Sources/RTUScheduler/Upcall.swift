import CShims
import Synchronization

/// What an upcall reports when it returns.
public enum UpcallOutcome: Sendable {
    /// Nothing left to do until the next release (or event).
    case done
    /// Work remains (the batch was full, or `shouldYield` cut it short). The
    /// dispatcher invokes it again while its period's budget lasts, then in
    /// the best-effort slack; a reactive RTU is also released again after
    /// its minimum inter-release time.
    case moreWork
}

/// The body of an RTU: protocol code the dispatcher calls. Subclass it with a
/// `final class` and override `run`; the dispatcher holds the instance for as
/// long as the RTU is admitted, so an invocation allocates nothing (a vtable
/// call, a stack-allocated context).
///
/// Contract: `run` does at most `context.batch` items, checks
/// `context.shouldYield` between items and returns promptly when it is true,
/// never blocks or sleeps, never reads a clock (use `context.now`), and
/// touches only state owned by this core (ARCHITECTURE.md, rules of the hot path).
open class Upcall {
    public init() {}

    /// One invocation. The default does nothing.
    open func run(context: inout UpcallContext) -> UpcallOutcome { .done }
}

/// What an invocation may know. Built on the dispatcher's stack per invocation.
public struct UpcallContext {
    /// Time the invocation started.
    public let now: Nanoseconds
    /// Release time of the job this invocation serves (== `now` for best-effort).
    public let release: Nanoseconds
    /// The job's deadline (release + T), or the end of the best-effort slice.
    public let deadline: Nanoseconds
    /// Most items to handle in this invocation.
    public let batch: Int
    /// CPU time this invocation may use: the rest of the period's budget, or
    /// the best-effort slice.
    public let budget: Nanoseconds
    /// True when the RTU runs in the slack (best-effort entry, an RTU
    /// demoted for overrunning / out of budget with work left, or an early
    /// event of a reactive RTU).
    public let isBestEffort: Bool
    /// Set by the body: how many items (frames) this invocation handled.
    /// Only the timing of a one-shot descriptor's re-enabling uses it
    /// (`RTURuntime.watch(descriptor:for:holdoff:)`): after an invocation
    /// that handled at most one item, a lone event, the descriptor is
    /// enabled again at once, since there is nothing to batch; after more,
    /// or when the body does not say, only after the holdoff.
    public var handled: Int?

    @usableFromInline let yieldAt: Nanoseconds
    @usableFromInline let urgencyPeriod: Nanoseconds
    @usableFromInline unowned(unsafe) let clock: any RTUClock
    @usableFromInline unowned(unsafe) let doorbell: CoreDoorbell

    init(now: Nanoseconds, release: Nanoseconds, deadline: Nanoseconds, batch: Int, budget: Nanoseconds,
         isBestEffort: Bool, yieldAt: Nanoseconds, urgencyPeriod: Nanoseconds,
         clock: any RTUClock, doorbell: CoreDoorbell) {
        self.now = now
        self.release = release
        self.deadline = deadline
        self.batch = batch
        self.budget = budget
        self.isBestEffort = isBestEffort
        self.yieldAt = yieldAt
        self.urgencyPeriod = urgencyPeriod
        self.clock = clock
        self.doorbell = doorbell
    }

    /// True once a higher-priority RTU of this core has been released since
    /// the invocation began (its release time passed, or its event was
    /// signalled), or the best-effort slice is used up. The upcall should then
    /// finish the item in hand and return `.moreWork`: the dispatcher never
    /// preempts it (delayed preemption), so returning is how it keeps the
    /// blocking it causes short.
    ///
    /// Costs one clock read and one relaxed atomic load. A reactive RTU of
    /// equal period counts as not higher (its tie-break may go either way).
    @inlinable public var shouldYield: Bool {
        clock.now() >= yieldAt || doorbell.urgentPeriod.load(ordering: .relaxed) < urgencyPeriod
    }
}

/// The wake-up channel of one core: other threads ring it to report reactive
/// events and commands; the dispatcher sleeps on its eventfd.
///
/// Wake-up protocol (a Dekker handshake, hence sequentially consistent):
/// the dispatcher stores `sleeping = true` and then re-checks `signalled` and
/// its command ring before it waits; a signaller stores `signalled = true` and
/// then writes the eventfd only if it sees `sleeping`. One of the two always
/// sees the other, so no wake-up is lost and a busy core costs no syscall.
///
/// Which triggers fired is kept in a signal set: one bit per dispatcher slot
/// (the trigger's `slot`), and a summary bit per 64-bit word of them, so the
/// dispatcher finds the few that fired among tens of thousands without
/// looking at the rest. A signaller sets its bit (and, if the word was empty,
/// the summary bit) before `signalled`; the dispatcher clears `signalled`
/// before it takes summary and words, so a bit it misses comes with a
/// `signalled` it will see next time.
public final class CoreDoorbell: @unchecked Sendable {
    /// eventfd, or -1 for a dispatcher driven by hand in tests.
    public let eventFD: Int32
    @usableFromInline let sleeping = Atomic<Bool>(false)
    @usableFromInline let signalled = Atomic<Bool>(false)
    /// Smallest period among RTUs signalled since the dispatcher last
    /// collected events; `Int64.max` when none. Feeds `shouldYield`.
    @usableFromInline let urgentPeriod = Atomic<Int64>(.max)
    /// Slots the signal set has a bit for (a multiple of 4096).
    public let signalCapacity: Int
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let summary: UnsafeMutablePointer<Atomic<UInt64>>
    private let summaryCount: Int
    /// A trigger without a bit fired (slot beyond `signalCapacity`, or not
    /// yet attached): the dispatcher asks those entries one by one.
    private let unindexedSignal = Atomic<Bool>(false)

    /// A doorbell without a file descriptor (manual dispatching in tests),
    /// with bits for `signalCapacity` slots.
    public convenience init(signalCapacity: Int = 1 << 16) {
        self.init(eventFD: -1, signalCapacity: signalCapacity)
    }

    init(eventFD: Int32, signalCapacity: Int) {
        self.eventFD = eventFD
        summaryCount = max(1, (signalCapacity + 4095) / 4096)
        self.signalCapacity = summaryCount * 4096
        words = .allocate(capacity: summaryCount * 64)
        for w in 0..<summaryCount * 64 { (words + w).initialize(to: Atomic(0)) }
        summary = .allocate(capacity: summaryCount)
        for s in 0..<summaryCount { (summary + s).initialize(to: Atomic(0)) }
    }

    deinit {
        words.deinitialize(count: summaryCount * 64)
        words.deallocate()
        summary.deinitialize(count: summaryCount)
        summary.deallocate()
    }

    /// Marks an event of an RTU with `period` (or `.max`: not urgent) and
    /// wakes the dispatcher if it is asleep. Lock-free; safe from any thread.
    @inlinable public func ring(period: Nanoseconds = .max) {
        var current = urgentPeriod.load(ordering: .relaxed)
        while period < current {
            let (exchanged, original) = urgentPeriod.compareExchange(
                expected: current, desired: period, ordering: .relaxed)
            if exchanged { break }
            current = original
        }
        signalled.store(true, ordering: .sequentiallyConsistent)
        if sleeping.load(ordering: .sequentiallyConsistent) && eventFD >= 0 {
            _ = rtu_sched_eventfd_ring(eventFD)
        }
    }

    /// Sets the bit of `slot` (any thread; before `ring`).
    @usableFromInline func mark(_ slot: Int) {
        guard slot >= 0 && slot < signalCapacity else {
            unindexedSignal.store(true, ordering: .sequentiallyConsistent)
            return
        }
        let w = slot >> 6
        let (old, _) = words[w].bitwiseOr(1 << UInt64(slot & 63), ordering: .sequentiallyConsistent)
        // A non-empty word already has its summary bit, or is being taken
        // by the dispatcher, which then sees this bit too.
        if old == 0 { summary[w >> 6].bitwiseOr(1 << UInt64(w & 63), ordering: .sequentiallyConsistent) }
    }

    /// Dispatcher: clears and reports every set bit, lowest first.
    func takeSignals(_ body: (Int) -> Void) {
        for s in 0..<summaryCount where summary[s].load(ordering: .relaxed) != 0 {
            var nonEmpty = summary[s].exchange(0, ordering: .sequentiallyConsistent)
            while nonEmpty != 0 {
                let w = s << 6 | nonEmpty.trailingZeroBitCount
                nonEmpty &= nonEmpty - 1
                var bits = words[w].exchange(0, ordering: .sequentiallyConsistent)
                while bits != 0 {
                    body(w << 6 | bits.trailingZeroBitCount)
                    bits &= bits - 1
                }
            }
        }
    }

    /// Dispatcher: whether a trigger without a bit fired since the last call.
    func takeUnindexed() -> Bool {
        unindexedSignal.load(ordering: .relaxed) && unindexedSignal.exchange(false, ordering: .sequentiallyConsistent)
    }
}

/// How other threads release a reactive RTU (or give a best-effort entry
/// work): `signal()` from any thread, lock-free, no allocation. Repeated
/// signals before the dispatcher notices them coalesce into one event, and a
/// reactive RTU is released at most once per period however often it is
/// signalled.
public final class RTUTrigger: @unchecked Sendable {
    public let id: RTUID
    @usableFromInline let pending = Atomic<Bool>(false)
    /// Urgency of this trigger's events: the RTU's period (`.max` for best-effort).
    @usableFromInline let period: Atomic<Int64>
    @usableFromInline let doorbell: CoreDoorbell
    /// The dispatcher slot it releases (its bit in the doorbell's signal
    /// set); -1 until the dispatcher applied the RTU's addition.
    @usableFromInline let slot = Atomic<Int>(-1)
    /// The descriptor watched one-shot for this trigger, if any
    /// (`RTURuntime.watch(descriptor:for:holdoff:)`): the epoll instance in
    /// the high 32 bits, the descriptor in the low ones; `noOneShot` when none.
    let oneShot = Atomic<UInt64>(RTUTrigger.noOneShot)
    /// How long after an invocation that returns `.done` the one-shot
    /// descriptor is enabled again.
    let holdoff = Atomic<Int64>(0)
    /// Dispatcher only: the one-shot descriptor was reported and is
    /// disabled until `rearm()`.
    let disarmed = Atomic<Bool>(false)
    static let noOneShot = UInt64.max

    public init(id: RTUID, period: Nanoseconds, doorbell: CoreDoorbell) {
        self.id = id
        self.period = Atomic(period)
        self.doorbell = doorbell
    }

    /// Reports an event (a channel became non-empty, a ring doorbell rang).
    /// Costs an atomic exchange; the first signal since the dispatcher last
    /// looked also sets the slot's bit and rings the core's doorbell (an
    /// eventfd write only if the dispatcher sleeps).
    @inlinable public func signal() {
        if !pending.exchange(true, ordering: .sequentiallyConsistent) {
            doorbell.mark(slot.load(ordering: .sequentiallyConsistent))
            doorbell.ring(period: period.load(ordering: .relaxed))
        }
    }

    /// Dispatcher side: an event the dispatcher itself observed (a watched
    /// descriptor became readable while it waited), so no eventfd write.
    /// `oneShot`: the descriptor was the one-shot one, disabled from now on.
    private func markFromDispatcher(oneShot: Bool) {
        if oneShot { disarmed.store(true, ordering: .relaxed) }
        if !pending.exchange(true, ordering: .sequentiallyConsistent) {
            doorbell.mark(slot.load(ordering: .sequentiallyConsistent))
        }
        doorbell.signalled.store(true, ordering: .sequentiallyConsistent)
    }

    /// The epoll data of this trigger's descriptors: its address, with bit 0
    /// set for the one-shot descriptor (an object's address is 16-aligned).
    func token(oneShot: Bool) -> UInt64 {
        UInt64(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())) | (oneShot ? 1 : 0)
    }

    /// Dispatcher side: the event of the watched descriptor whose epoll data
    /// is `token` (the inverse of `token(oneShot:)`). The trigger must still
    /// be alive: the runtime's registry keeps it until its core has applied
    /// the RTU's removal.
    static func markFromDispatcher(token: UInt64) {
        let pointer = UnsafeRawPointer(bitPattern: UInt(token & ~1))!
        Unmanaged<RTUTrigger>.fromOpaque(pointer)._withUnsafeGuaranteedRef {
            $0.markFromDispatcher(oneShot: token & 1 != 0)
        }
    }

    /// Dispatcher side: whether the one-shot descriptor waits to be enabled again.
    var isDisarmed: Bool { disarmed.load(ordering: .relaxed) }

    /// Dispatcher side: enables the one-shot descriptor again if it was
    /// reported. The kernel polls it then, so frames that came while it was
    /// disabled are reported at once. An error is left alone: ENOENT or
    /// EBADF mean the RTU's removal took the descriptor out of the set
    /// (the removal is then applied on this core before the next step).
    func rearm() {
        guard disarmed.load(ordering: .relaxed) else { return }
        disarmed.store(false, ordering: .relaxed)
        let watch = oneShot.load(ordering: .acquiring)
        guard watch != Self.noOneShot else { return }
        _ = rtu_sched_epoll_rearm(Int32(truncatingIfNeeded: watch >> 32), Int32(truncatingIfNeeded: watch),
                                  token(oneShot: true))
    }

    /// Dispatcher side: binds the trigger to `slot`. A signal that came
    /// before (and so set no bit) is marked now: the store and the load here
    /// and the exchange and the load in `signal` are sequentially consistent,
    /// so at least one side sees the other.
    func attach(slot index: Int) {
        slot.store(index, ordering: .sequentiallyConsistent)
        if pending.load(ordering: .sequentiallyConsistent) {
            doorbell.mark(index)
            doorbell.signalled.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// Dispatcher side: takes the pending event, if any.
    @inlinable func take() -> Bool {
        pending.load(ordering: .relaxed) && pending.exchange(false, ordering: .acquiringAndReleasing)
    }
}
