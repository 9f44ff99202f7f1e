import CShims

/// Time in the scheduler is integer nanoseconds on the monotonic clock, so
/// admission arithmetic is exact and no floating point reaches the hot path.
public typealias Nanoseconds = Int64

extension Nanoseconds {
    /// `n` microseconds in nanoseconds.
    @inlinable public static func micros(_ n: Int64) -> Nanoseconds { n * 1_000 }
    /// `n` milliseconds in nanoseconds.
    @inlinable public static func millis(_ n: Int64) -> Nanoseconds { n * 1_000_000 }
    /// `n` seconds in nanoseconds.
    @inlinable public static func seconds(_ n: Int64) -> Nanoseconds { n * 1_000_000_000 }
}

/// The dispatcher's only source of time (ARCHITECTURE.md, "Time is an
/// argument"): the runtime uses `MonotonicClock`, tests drive the same
/// state machine with `ManualClock`.
///
/// Named `RTUClock`, not `Clock`, so that it does not shadow the standard
/// library's `Clock` in modules importing both. Class-bound so that an
/// `UpcallContext` can hold it without ARC (`unowned(unsafe)`).
public protocol RTUClock: AnyObject {
    /// Current time, nanoseconds on a monotonic timeline.
    func now() -> Nanoseconds
    /// CPU time consumed so far by the calling thread, for budget accounting.
    func threadCPUTime() -> Nanoseconds
}

/// CLOCK_MONOTONIC and CLOCK_THREAD_CPUTIME_ID.
public final class MonotonicClock: RTUClock {
    public init() {}
    @inline(__always) public func now() -> Nanoseconds { rtu_sched_monotonic_ns() }
    @inline(__always) public func threadCPUTime() -> Nanoseconds { rtu_sched_thread_cpu_ns() }
}

/// A clock that moves only when told to. CPU time equals elapsed manual time,
/// so a test body "executes for 2 ms" by calling `advance(by: .millis(2))`.
///
/// Single-threaded: use it only from the thread driving the dispatcher.
public final class ManualClock: RTUClock {
    public private(set) var time: Nanoseconds

    public init(_ start: Nanoseconds = 0) { time = start }

    public func now() -> Nanoseconds { time }
    public func threadCPUTime() -> Nanoseconds { time }

    /// Moves time forward by `delta` (must not be negative: time is monotonic).
    public func advance(by delta: Nanoseconds) {
        precondition(delta >= 0, "ManualClock cannot go backwards")
        time += delta
    }

    /// Moves time forward to `instant` (no-op if already there or past it).
    public func advance(to instant: Nanoseconds) {
        if instant > time { time = instant }
    }
}
