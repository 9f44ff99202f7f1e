// What the RTU bodies record about every job, and the guest kernel's view of
// the dispatcher thread they read for it (/proc/thread-self/schedstat).
import CShims
import Glibc
import RTUScheduler
import Synchronization

/// One invocation as its body saw it. All times are CLOCK_MONOTONIC or the
/// dispatcher thread's own clocks, in nanoseconds.
struct JobRecord {
    /// Index of the RTU in `plan`.
    var rtu: Int
    var release: Nanoseconds
    /// Start of the invocation (the dispatcher's `context.now`): lateness
    /// is `start - release`.
    var start: Nanoseconds
    /// The body's own clock reads bracketing its measurements. Each is taken
    /// just before a schedstat read: a preemption at the return from that
    /// read then falls on the same side of the timestamp as its run_delay,
    /// so wall time, CPU time and run_delay of an invocation (and of the
    /// waits between invocations) cover the same interval.
    var bodyStart: Nanoseconds
    var bodyEnd: Nanoseconds
    /// CLOCK_THREAD_CPUTIME_ID of the dispatcher at the body's start and
    /// end. Includes hard- and soft-irq time spent while the thread was
    /// current (these kernels have no CONFIG_IRQ_TIME_ACCOUNTING) and
    /// excludes steal (CONFIG_PARAVIRT_TIME_ACCOUNTING: the hypervisor's
    /// preemption of the vCPU is not charged to the running task).
    var cpuStart: Nanoseconds
    var cpuEnd: Nanoseconds
    /// The guest scheduler's run_delay of the dispatcher thread (time spent
    /// runnable on a runqueue, not running) at the body's start and end.
    var delayStart: Nanoseconds
    var delayEnd: Nanoseconds
    /// Longest wall-clock interval between two consecutive iterations of the
    /// body's loop (~0.6 µs when nothing interrupts it), and when it ended:
    /// an interrupt, a preemption or a stall of the vCPU during the body.
    var longestGap: Nanoseconds
    var longestGapAt: Nanoseconds
}

/// The guest scheduler's run_delay of one thread: how long it has been
/// runnable on a runqueue without running (field 2 of
/// /proc/thread-self/schedstat, ns; CONFIG_SCHED_INFO). The file is opened
/// by the thread it describes and then read through the descriptor (one
/// pread of ~40 bytes, 0.9 µs of CPU on these VMs), parsed without
/// allocating. Field 1 (sum_exec_runtime) is not used: for a running thread
/// it is brought up to date only at the next tick or context switch, while
/// CLOCK_THREAD_CPUTIME_ID is exact.
final class RunDelayReader {
    /// The descriptor, -1 before `openForCallingThread`, -2 if it failed.
    /// Atomic: the dispatcher thread opens it, the control thread waits for it.
    let descriptor = Atomic<Int32>(-1)
    private let text = UnsafeMutablePointer<UInt8>.allocate(capacity: 96)

    deinit {
        let fd = descriptor.load(ordering: .relaxed)
        if fd >= 0 { close(fd) }
        text.deallocate()
    }

    /// Opens the calling thread's schedstat; from now on `read` describes it.
    func openForCallingThread() {
        let fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC)
        descriptor.store(fd >= 0 ? fd : -2, ordering: .releasing)
    }

    var isOpen: Bool { descriptor.load(ordering: .acquiring) >= 0 }
    var failed: Bool { descriptor.load(ordering: .acquiring) == -2 }

    /// run_delay in ns, or -1 if the file is not open or unreadable.
    func read() -> Nanoseconds {
        let fd = descriptor.load(ordering: .relaxed)
        guard fd >= 0 else { return -1 }
        let n = pread(fd, text, 95, 0)
        guard n > 0 else { return -1 }
        var i = 0
        while i < n && text[i] != 0x20 { i += 1 }  // skip sum_exec_runtime
        i += 1
        var value: Int64 = 0
        var digits = 0
        while i < n, text[i] >= 0x30, text[i] <= 0x39 {
            value = value &* 10 &+ Int64(text[i] - 0x30)
            digits += 1
            i += 1
        }
        return digits > 0 ? value : -1
    }
}

/// The job records of one dispatcher core: all its bodies run on the same
/// thread one after another, so one buffer and one index need no locking.
/// Preallocated (and locked in memory by the runtime's mlockall) so that a
/// body never allocates.
final class JobLog {
    let capacity: Int
    let records: UnsafeMutablePointer<JobRecord>
    private(set) var count = 0
    /// Jobs not recorded because the buffer was full.
    private(set) var dropped = 0
    /// The dispatcher thread's run_delay (opened by `SchedstatOpener`).
    let runDelay = RunDelayReader()

    init(capacity: Int) {
        self.capacity = capacity
        records = .allocate(capacity: capacity)
    }

    deinit { records.deallocate() }

    var jobs: UnsafeBufferPointer<JobRecord> { UnsafeBufferPointer(start: records, count: count) }

    func append(_ r: JobRecord) {
        guard count < capacity else {
            dropped += 1
            return
        }
        records[count] = r
        count += 1
    }
}

/// Opens /proc/thread-self/schedstat from the dispatcher thread (a file under
/// thread-self describes the thread that opened it; reads through the
/// descriptor keep describing that thread). Run once as a throw-away RTU
/// before the measured set is added, so no measured job pays for the open.
final class SchedstatOpener: Upcall {
    let log: JobLog

    init(log: JobLog) {
        self.log = log
        super.init()
    }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        if log.runDelay.descriptor.load(ordering: .relaxed) == -1 { log.runDelay.openForCallingThread() }
        return .done
    }
}

/// Busy-loops for a fixed amount of its own CPU time (CLOCK_THREAD_CPUTIME_ID,
/// so a preemption stretches the wall time but not the work) and records the
/// job in the core's `JobLog`. The instrumentation (two schedstat preads,
/// ~2 µs per job, and a monotonic read per loop iteration, which takes no
/// CPU beyond `cost` since the loop stops on CPU time) runs inside the
/// body, so the dispatcher charges it to the RTU's budget like any other work.
final class BusyBody: Upcall {
    let rtu: Int
    let cost: Nanoseconds
    let log: JobLog

    init(rtu: Int, cost: Nanoseconds, log: JobLog) {
        self.rtu = rtu
        self.cost = cost
        self.log = log
        super.init()
    }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        let bodyStart = rtu_sched_monotonic_ns()
        let delayStart = log.runDelay.read()
        let cpuStart = rtu_sched_thread_cpu_ns()
        let target = cpuStart + cost
        var last = bodyStart
        var longestGap: Nanoseconds = 0
        var longestGapAt: Nanoseconds = 0
        repeat {
            let now = rtu_sched_monotonic_ns()
            if now - last > longestGap {
                longestGap = now - last
                longestGapAt = now
            }
            last = now
        } while rtu_sched_thread_cpu_ns() < target
        let bodyEnd = rtu_sched_monotonic_ns()
        let delayEnd = log.runDelay.read()
        log.append(JobRecord(rtu: rtu, release: context.release, start: context.now, bodyStart: bodyStart,
                             bodyEnd: bodyEnd, cpuStart: cpuStart, cpuEnd: rtu_sched_thread_cpu_ns(),
                             delayStart: delayStart, delayEnd: delayEnd,
                             longestGap: longestGap, longestGapAt: longestGapAt))
        return .done
    }
}
