import CShims
import Glibc

/// The Linux scheduling policy of a dispatcher thread.
public enum ThreadPolicy: Sendable, Hashable, CustomStringConvertible {
    /// SCHED_FIFO at the configured priority: ordinary processes cannot
    /// preempt the dispatcher.
    case fifo
    /// SCHED_OTHER: the same dispatcher, competing with everything else.
    case other

    public var description: String { self == .fifo ? "SCHED_FIFO" : "SCHED_OTHER" }
}

/// Whether this process may do something real-time, and why (not).
public struct RealtimePermission: Sendable, Hashable {
    public var permitted: Bool
    /// The capability or rlimit that grants it, or the ones missing.
    public var explanation: String
}

/// Concrete checks of the privileges the runtime needs, so a refusal names
/// the missing capability or rlimit instead of a bare EPERM.
public enum RealtimeSupport {
    /// SCHED_FIFO at `priority` is allowed with CAP_SYS_NICE in the effective
    /// set, or without it when the soft RLIMIT_RTPRIO is at least `priority`
    /// (sched(7)).
    public static func checkFIFO(priority: Int32) -> RealtimePermission {
        let maxPriority = rtu_sched_fifo_max_priority()
        if priority < 1 || priority > maxPriority {
            return RealtimePermission(permitted: false,
                                      explanation: "SCHED_FIFO priority \(priority) is outside 1…\(maxPriority)")
        }
        if rtu_sched_has_capability(rtu_sched_cap_sys_nice()) == 1 {
            return RealtimePermission(permitted: true, explanation: "CAP_SYS_NICE is in the effective set")
        }
        let limit = rtu_sched_rlimit_rtprio()
        if limit >= UInt64(priority) {
            return RealtimePermission(permitted: true, explanation: "RLIMIT_RTPRIO is \(describe(limit)) ≥ \(priority)")
        }
        return RealtimePermission(
            permitted: false,
            explanation: "SCHED_FIFO priority \(priority) needs CAP_SYS_NICE (not in the effective set) "
                + "or RLIMIT_RTPRIO ≥ \(priority) (soft limit is \(describe(limit)))")
    }

    /// mlockall needs CAP_IPC_LOCK or a RLIMIT_MEMLOCK large enough for the
    /// whole process; only "unlimited" is predictable, so anything else is
    /// reported as a risk.
    public static func checkMemoryLock() -> RealtimePermission {
        if rtu_sched_has_capability(rtu_sched_cap_ipc_lock()) == 1 {
            return RealtimePermission(permitted: true, explanation: "CAP_IPC_LOCK is in the effective set")
        }
        let limit = rtu_sched_rlimit_memlock()
        if limit == UInt64.max {
            return RealtimePermission(permitted: true, explanation: "RLIMIT_MEMLOCK is unlimited")
        }
        return RealtimePermission(
            permitted: false,
            explanation: "locking memory needs CAP_IPC_LOCK (not in the effective set) or an unlimited "
                + "RLIMIT_MEMLOCK (soft limit is \(describe(limit)) bytes)")
    }

    static func describe(_ limit: UInt64) -> String { limit == UInt64.max ? "unlimited" : String(limit) }

    /// strerror for messages.
    static func errnoName(_ e: Int32) -> String { String(cString: strerror(e)) }
}

/// Typed failures of the runtime.
public enum SchedulerError: Error, Sendable, Hashable, CustomStringConvertible {
    case admission(AdmissionError)
    /// SCHED_FIFO was required but is not permitted; names what is missing.
    case realtimeNotPermitted(String)
    /// Memory locking was required (with real time) but failed.
    case memoryLockFailed(String)
    /// The core's command ring is full (the dispatcher is not draining it:
    /// stopped, or stuck in an upcall). Nothing was changed.
    case commandRingFull(core: Int)
    case systemCall(String, errno: Int32)
    case alreadyStarted

    public var description: String {
        switch self {
        case let .admission(e): return e.description
        case let .realtimeNotPermitted(why): return "real time required but not permitted: \(why)"
        case let .memoryLockFailed(why): return "real time required but memory cannot be locked: \(why)"
        case let .commandRingFull(core): return "command ring of core \(core) is full"
        case let .systemCall(call, e): return "\(call) failed: \(RealtimeSupport.errnoName(e))"
        case .alreadyStarted: return "scheduler already started"
        }
    }
}
