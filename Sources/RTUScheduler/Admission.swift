/// Limits admission applies to every core.
public struct AdmissionPolicy: Sendable, Hashable {
    /// Number of RT cores (dispatchers); RTUs are placed on `0..<cores`.
    public var cores: Int
    /// Cap on each core's real-time utilisation Σ C/T, in parts per million
    /// (850_000 = 85 %). Leaves room for best-effort work and the dispatcher.
    public var utilizationCapPPM: Int64
    /// Longest slice one best-effort invocation may run; it blocks every RTU,
    /// so it is part of each blocking term B_i.
    public var bestEffortSlice: Nanoseconds
    /// Dispatcher cost charged to each invocation (added to every C).
    public var perInvocationOverhead: Nanoseconds

    public init(cores: Int = 1, utilizationCapPPM: Int64 = 850_000,
                bestEffortSlice: Nanoseconds = .micros(100), perInvocationOverhead: Nanoseconds = 0) {
        self.cores = cores
        self.utilizationCapPPM = utilizationCapPPM
        self.bestEffortSlice = bestEffortSlice
        self.perInvocationOverhead = perInvocationOverhead
    }
}

/// Where to put a new RTU.
public enum CoreChoice: Sendable, Hashable {
    /// The first core (lowest index) on which the whole set stays schedulable.
    case firstFit
    /// Exactly this core, or refuse.
    case core(Int)
}

/// An RTU the model has accepted.
public struct AdmittedRTU: Sendable, Hashable {
    public var id: RTUID
    public var spec: RTUSpec
    public var core: Int
}

/// Why admission said no. Nothing admitted changed.
public struct AdmissionRefusal: Sendable, Hashable, CustomStringConvertible {
    public enum Cause: Sendable, Hashable {
        /// RTU `victim` (possibly the requested one) would have worst-case
        /// response time `responseTime` > its deadline (= period).
        case deadlineMiss(victim: RTUID, name: String, responseTime: Nanoseconds, deadline: Nanoseconds)
        /// The core's utilisation (parts per billion) would exceed the cap.
        case utilizationCap(utilizationPPB: Int64, capPPB: Int64)
    }
    /// The core the refusal refers to (for first fit: the one that came closest).
    public var core: Int
    public var cause: Cause
    /// How much too much: R − T for a miss (a lower bound when the
    /// iteration diverges), or the surplus utilisation expressed as budget
    /// of the requested RTU for the cap.
    public var excess: Nanoseconds
    /// The largest budget for the requested RTU (same period) that this core
    /// would admit; 0 when nothing fits.
    public var largestFittingBudget: Nanoseconds

    public var description: String {
        switch cause {
        case let .deadlineMiss(victim, name, r, d):
            return "core \(core): \(name) (\(victim)) would miss its deadline: response time \(r) ns > \(d) ns "
                + "(by at least \(excess) ns); largest budget that fits: \(largestFittingBudget) ns"
        case let .utilizationCap(u, cap):
            return "core \(core): utilisation \(u) ppb would exceed the cap \(cap) ppb "
                + "(by \(excess) ns of budget); largest budget that fits: \(largestFittingBudget) ns"
        }
    }
}

/// Typed failures of admission and of the scheduler's control operations.
public enum AdmissionError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidSpec(name: String, reason: String)
    case unknownRTU(RTUID)
    case noSuchCore(Int)
    case refused(AdmissionRefusal)

    public var description: String {
        switch self {
        case let .invalidSpec(name, reason): return "invalid RTU \(name): \(reason)"
        case let .unknownRTU(id): return "unknown \(id)"
        case let .noSuchCore(c): return "no RT core \(c)"
        case let .refused(r): return "admission refused: \(r)"
        }
    }
}

/// The control thread's view of what is admitted where, and the RMDP test.
///
/// A value type: `admit`, `remove` and `change` compute the new set, analyse
/// it and only then assign it, so a refusal leaves the model untouched.
public struct AdmissionModel: Sendable {
    public let policy: AdmissionPolicy
    /// Admitted RTUs, sorted by core then rate-monotonic priority.
    public private(set) var admitted: [AdmittedRTU] = []
    private var nextID: UInt32 = 1

    public init(policy: AdmissionPolicy) {
        precondition(policy.cores >= 1, "at least one RT core")
        self.policy = policy
    }

    /// A fresh identity (also used for best-effort entries, which are not analysed).
    public mutating func allocateID() -> RTUID {
        defer { nextID += 1 }
        return RTUID(rawValue: nextID)
    }

    public func rtu(_ id: RTUID) -> AdmittedRTU? { admitted.first { $0.id == id } }

    /// Admitted RTUs of `core`, highest priority first.
    public func rtus(onCore core: Int) -> [AdmittedRTU] { admitted.filter { $0.core == core } }

    /// Σ ⌈C·10⁹/T⌉ over `core`, in parts per billion (rounded up per RTU, so
    /// the cap check errs on the safe side).
    public func utilizationPPB(core: Int) -> Int64 {
        Self.utilizationPPB(rtus(onCore: core).map(\.spec), overhead: policy.perInvocationOverhead)
    }

    /// Admits `spec`, placing it per `choice`. Returns the placement.
    @discardableResult
    public mutating func admit(_ spec: RTUSpec, on choice: CoreChoice = .firstFit) throws(AdmissionError) -> AdmittedRTU {
        try spec.validate()
        let id = RTUID(rawValue: nextID)
        let cores: [Int]
        switch choice {
        case .firstFit: cores = Array(0..<policy.cores)
        case let .core(c):
            guard c >= 0 && c < policy.cores else { throw .noSuchCore(c) }
            cores = [c]
        }
        var best: AdmissionRefusal?
        for core in cores {
            let candidate = AdmittedRTU(id: id, spec: spec, core: core)
            let set = rtus(onCore: core) + [candidate]
            if let refusal = refusal(for: set, requested: candidate) {
                if best == nil || refusal.largestFittingBudget > best!.largestFittingBudget { best = refusal }
                continue
            }
            nextID += 1
            insert(candidate)
            return candidate
        }
        throw .refused(best!)
    }

    /// Removes an RTU. Always schedulable: fewer RTUs only shrink interference and blocking.
    @discardableResult
    public mutating func remove(_ id: RTUID) throws(AdmissionError) -> AdmittedRTU {
        guard let i = admitted.firstIndex(where: { $0.id == id }) else { throw .unknownRTU(id) }
        return admitted.remove(at: i)
    }

    /// Replaces the spec of `id`, on the same core, keeping its identity (and
    /// so its tie-breaking rank). Refused changes leave the old spec in force.
    @discardableResult
    public mutating func change(_ id: RTUID, to spec: RTUSpec) throws(AdmissionError) -> AdmittedRTU {
        try spec.validate()
        guard let old = rtu(id) else { throw .unknownRTU(id) }
        let updated = AdmittedRTU(id: id, spec: spec, core: old.core)
        let set = rtus(onCore: old.core).map { $0.id == id ? updated : $0 }
        if let refusal = refusal(for: set, requested: updated) { throw .refused(refusal) }
        admitted.removeAll { $0.id == id }
        insert(updated)
        return updated
    }

    private mutating func insert(_ rtu: AdmittedRTU) {
        admitted.append(rtu)
        admitted.sort { a, b in
            a.core != b.core ? a.core < b.core
                : rmHigherPriority((a.spec.period, a.id), than: (b.spec.period, b.id))
        }
    }

    /// nil when `set` (one core, containing `requested`) is schedulable;
    /// otherwise the refusal, including the largest budget that would fit.
    private func refusal(for set: [AdmittedRTU], requested: AdmittedRTU) -> AdmissionRefusal? {
        guard let failure = Self.analyse(set, policy: policy) else { return nil }
        var lo: Nanoseconds = 0, hi = requested.spec.budget  // lo fits (or is 0), hi does not
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            var trial = requested
            trial.spec.budget = mid
            let trialSet = set.map { $0.id == requested.id ? trial : $0 }
            if Self.analyse(trialSet, policy: policy) == nil { lo = mid } else { hi = mid }
        }
        var refusal = AdmissionRefusal(core: requested.core, cause: failure.cause,
                                       excess: failure.excess, largestFittingBudget: lo)
        if case .utilizationCap = failure.cause { refusal.excess = requested.spec.budget - lo }
        return refusal
    }

    struct Failure { var cause: AdmissionRefusal.Cause; var excess: Nanoseconds }

    /// The RMDP test of one core: the utilisation cap, then for each RTU i in
    /// priority order the response-time recurrence
    /// `R = C_i + B_i + Σ_{j∈hp(i)} ⌈R/T_j⌉·C_j`, `B_i = max(slice, C_k for k
    /// below i)`, iterated from `C_i + B_i` to a fixed point ≤ T_i.
    static func analyse(_ unsorted: [AdmittedRTU], policy: AdmissionPolicy) -> Failure? {
        let set = unsorted.sorted { rmHigherPriority(($0.spec.period, $0.id), than: ($1.spec.period, $1.id)) }
        let cost = set.map { $0.spec.budget + policy.perInvocationOverhead }
        let capPPB = policy.utilizationCapPPM * 1_000
        let u = utilizationPPB(set.map(\.spec), overhead: policy.perInvocationOverhead)
        if u > capPPB { return Failure(cause: .utilizationCap(utilizationPPB: u, capPPB: capPPB), excess: 0) }
        // Suffix maxima of the costs: the blocking term of each position.
        var blocking = [Nanoseconds](repeating: policy.bestEffortSlice, count: set.count)
        var below = policy.bestEffortSlice
        for i in stride(from: set.count - 1, through: 0, by: -1) {
            blocking[i] = below
            below = max(below, cost[i])
        }
        for i in set.indices {
            let deadline = set[i].spec.period
            let r = responseTime(cost: cost[i], blocking: blocking[i],
                                 higher: (0..<i).map { (set[$0].spec.period, cost[$0]) }, deadline: deadline)
            if r > deadline {
                return Failure(cause: .deadlineMiss(victim: set[i].id, name: set[i].spec.name,
                                                    responseTime: r, deadline: deadline),
                               excess: r - deadline)
            }
        }
        return nil
    }

    /// Fixed point of the response-time recurrence, or its first iterate
    /// beyond `deadline` (then the set fails; that iterate is a lower bound
    /// of the true response time, which may diverge when interference ≥ 100 %).
    /// The iterates never decrease and grow by at least one job's cost, so the
    /// loop is bounded by the number of higher-priority jobs within `deadline`.
    static func responseTime(cost: Nanoseconds, blocking: Nanoseconds,
                             higher: [(period: Nanoseconds, cost: Nanoseconds)],
                             deadline: Nanoseconds) -> Nanoseconds {
        var r = cost + blocking
        while r <= deadline {
            var next = cost + blocking
            for h in higher { next += ((r + h.period - 1) / h.period) * h.cost }
            if next == r { return r }
            r = next
        }
        return r
    }

    static func utilizationPPB(_ specs: [RTUSpec], overhead: Nanoseconds) -> Int64 {
        var total: Int64 = 0
        for s in specs {
            let num = Int128(s.budget + overhead) * 1_000_000_000
            total += Int64((num + Int128(s.period) - 1) / Int128(s.period))
        }
        return total
    }
}
