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

/// What a reactive RTU does with an event that arrives before its next
/// allowed release (its last release + T).
public enum EarlyEventPolicy: Sendable, Hashable {
    /// Served at once if the core has slack: the RTU joins the best-effort
    /// ready list and runs one best-effort slice at a time, round-robin with
    /// the other best-effort work, after every released RTU, not charged to
    /// its budget. Work still left at its next allowed release is released
    /// as real-time then. Its real-time releases, and so every guarantee,
    /// are those of `.holdUntilRelease`; what it adds is only slack, which
    /// admission already charges as blocking (one best-effort slice).
    case serveInSlack
    /// Held until the next allowed release. For an RTU whose own events are
    /// a timer: one that signals itself to run again one period later (an
    /// ATM adaptor's cell clock), which in the slack would run again at once
    /// and poll until its period is over.
    case holdUntilRelease
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
    /// Reactive only: service of events that come before the next allowed release.
    public var earlyEvents: EarlyEventPolicy

    public init(name: String, owner: String = "", period: Nanoseconds, budget: Nanoseconds,
                batch: Int = 1, kind: RTUKind = .periodic, earlyEvents: EarlyEventPolicy = .serveInSlack) {
        self.name = name
        self.owner = owner
        self.period = period
        self.budget = budget
        self.batch = batch
        self.kind = kind
        self.earlyEvents = earlyEvents
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
