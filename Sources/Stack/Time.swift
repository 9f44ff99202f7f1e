/// A point on the monotonic clock, in nanoseconds from an arbitrary origin.
///
/// Protocol code never reads a clock (ARCHITECTURE.md, hot-path rule 4): the
/// caller passes `now`, and each component reports its next deadline.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = Instant(nanoseconds: 0)
    /// Later than any real time: "no deadline".
    public static let never = Instant(nanoseconds: .max)

    @inlinable public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Saturating: `never + d` stays `never`.
    @inlinable public static func + (a: Instant, d: Interval) -> Instant {
        let (v, o) = a.nanoseconds.addingReportingOverflow(d.nanoseconds)
        return Instant(nanoseconds: o ? .max : v)
    }

    /// Time from `b` to `a`, zero when `a` is earlier.
    @inlinable public static func - (a: Instant, b: Instant) -> Interval {
        Interval(nanoseconds: a.nanoseconds >= b.nanoseconds ? a.nanoseconds &- b.nanoseconds : 0)
    }

    public var description: String { "\(nanoseconds)ns" }
}

/// A span of time in nanoseconds (unsigned: protocol timers never go
/// back). Named so that it does not shadow `Swift.Duration`.
public struct Interval: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64
    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    @inlinable public static func microseconds(_ v: UInt64) -> Interval { Interval(nanoseconds: v * 1_000) }
    @inlinable public static func milliseconds(_ v: UInt64) -> Interval { Interval(nanoseconds: v * 1_000_000) }
    @inlinable public static func seconds(_ v: UInt64) -> Interval { Interval(nanoseconds: v * 1_000_000_000) }
    @inlinable public static func < (a: Interval, b: Interval) -> Bool { a.nanoseconds < b.nanoseconds }
    @inlinable public static func * (a: Interval, k: UInt64) -> Interval { Interval(nanoseconds: a.nanoseconds * k) }
    public var description: String {
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
        if nanoseconds % 1_000 == 0 { return "\(nanoseconds / 1_000)us" }
        return "\(nanoseconds)ns"
    }
}
