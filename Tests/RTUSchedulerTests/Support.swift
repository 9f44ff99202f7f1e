import RTUScheduler

let us: Nanoseconds = 1_000
let ms: Nanoseconds = 1_000_000

/// A body from a closure (tests only: the closure context is allocated once,
/// at construction, like any body's state).
final class ClosureUpcall: Upcall {
    let fn: (inout UpcallContext) -> UpcallOutcome
    init(_ fn: @escaping (inout UpcallContext) -> UpcallOutcome) { self.fn = fn }
    override func run(context: inout UpcallContext) -> UpcallOutcome { fn(&context) }
}

/// A dispatcher core on a manual clock, with helpers to add entries and to
/// run it the way the runtime would (sleeping = advancing the clock).
final class Harness {
    let clock = ManualClock()
    let core: DispatcherCore
    private var nextID: UInt32 = 1
    private(set) var trace: [StepResult] = []

    init(slice: Nanoseconds = 100 * us) {
        core = DispatcherCore(clock: clock, bestEffortSlice: slice)
    }

    /// Adds an entry; its body is `body` (default: uses `cost` of CPU, done).
    @discardableResult
    func add(_ name: String, kind: SlotKind = .periodic, period: Nanoseconds = .max, budget: Nanoseconds = ms,
             batch: Int = 1, firstRelease: Nanoseconds? = nil, cost: Nanoseconds = 100 * us,
             earlyEvents: EarlyEventPolicy = .serveInSlack,
             body: Upcall? = nil) -> (id: RTUID, stats: RTUStatistics, trigger: RTUTrigger?) {
        let id = RTUID(rawValue: nextID)
        nextID += 1
        let stats = RTUStatistics(id: id, name: name)
        let trigger = kind == .periodic ? nil : RTUTrigger(id: id, period: period, doorbell: core.doorbell)
        let clock = self.clock
        let b = body ?? ClosureUpcall { _ in clock.advance(by: cost); return .done }
        core.apply(.add(SlotConfig(id: id, kind: kind, period: period, budget: budget, batch: batch, body: b,
                                   stats: stats, trigger: trigger, firstRelease: firstRelease,
                                   earlyEvents: earlyEvents)))
        return (id, stats, trigger)
    }

    /// One step, recorded in `trace`.
    @discardableResult
    func step() -> StepResult {
        let r = core.step()
        trace.append(r)
        return r
    }

    /// Steps until `end`; when idle, "sleeps" by advancing the clock to the
    /// wake-up time (or `end`).
    func run(until end: Nanoseconds) {
        while clock.now() < end {
            if case let .idle(wakeAt) = step() { clock.advance(to: min(wakeAt ?? end, end)) }
        }
    }

    /// Ids of the invocations in `trace`, in order.
    var ran: [RTUID] {
        trace.compactMap { if case let .ran(id, _) = $0 { return id } else { return nil } }
    }
}
