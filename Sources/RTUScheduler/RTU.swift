/// Identity of an admitted RTU (or best-effort entry). Assigned by admission
/// in increasing order and never reused, so it breaks rate-monotonic ties
/// deterministically: among equal periods the earlier-admitted RTU wins.
public struct RTUID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static func < (a: RTUID, b: RTUID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "rtu#\(rawValue)" }
}

/// How an RTU is released.
public enum RTUKind: Sendable, Hashable {
    /// Released every period at `firstRelease + k·T`.
    case periodic
    /// Released by an event (`RTUTrigger.signal()`), at most once per period:
    /// the period is the minimum inter-release time.
    case reactive
}

/// A reservation: what admission analyses and the dispatcher enforces.
public struct RTUSpec: Sendable, Hashable, CustomStringConvertible {
    /// Human-readable name, reported in refusals and statistics.
    public var name: String
    /// Who asked for it (a client, a socket); reported, not interpreted.
    public var owner: String
    /// Period T (periodic) or minimum inter-release time (reactive), > 0.
    public var period: Nanoseconds
    /// Budget C: CPU time per period, 0 < C ≤ T. Also the longest time one
    /// invocation may block higher-priority RTUs of its core (delayed preemption).
    public var budget: Nanoseconds
    /// Batch B: work items (messages) one invocation handles at most, ≥ 1.
    public var batch: Int
    public var kind: RTUKind

    public init(name: String, owner: String = "", period: Nanoseconds, budget: Nanoseconds,
                batch: Int = 1, kind: RTUKind = .periodic) {
        self.name = name
        self.owner = owner
        self.period = period
        self.budget = budget
        self.batch = batch
        self.kind = kind
    }

    public var description: String {
        "\(name)(T=\(period)ns C=\(budget)ns B=\(batch) \(kind))"
    }

    /// Checks the invariants admission relies on.
    public func validate() throws(AdmissionError) {
        if period <= 0 { throw .invalidSpec(name: name, reason: "period must be > 0") }
        if budget <= 0 { throw .invalidSpec(name: name, reason: "budget must be > 0") }
        if budget > period { throw .invalidSpec(name: name, reason: "budget exceeds period") }
        if batch < 1 { throw .invalidSpec(name: name, reason: "batch must be ≥ 1") }
    }
}

/// Rate-monotonic order: shorter period first; equal periods by RTUID
/// (admission order). Returns true when `a` has strictly higher priority.
@inlinable
public func rmHigherPriority(_ a: (period: Nanoseconds, id: RTUID),
                             than b: (period: Nanoseconds, id: RTUID)) -> Bool {
    a.period != b.period ? a.period < b.period : a.id < b.id
}
