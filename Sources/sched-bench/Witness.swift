// Independent observers of the dispatcher's CPU during a configuration: a
// priority-99 witness thread on the same CPU, and a sampler of the vCPU's
// steal time and of other processes' real-time threads allowed on that CPU.
import CShims
import Foundation
import Glibc
import RTUScheduler
import Synchronization

/// One wake-up of the witness.
struct WitnessSample {
    /// When it asked to wake (absolute CLOCK_MONOTONIC).
    var due: Nanoseconds
    var woke: Nanoseconds
    /// Its CLOCK_THREAD_CPUTIME_ID right after waking.
    var cpu: Nanoseconds
    /// Growth of its schedstat run_delay since the previous wake-up: time it
    /// spent woken but waiting for the CPU.
    var queued: Nanoseconds
}

/// A thread pinned to the dispatcher's CPU at SCHED_FIFO priority 99 (above
/// the dispatcher) that does nothing but wake every `period`, like
/// cyclictest, and record when it woke. Only interrupts, non-preemptible
/// kernel code, the kernel's real-time throttling and the hypervisor can
/// delay it, never the dispatcher or the SCHED_OTHER load: a stall that also
/// made the witness late was a stall of the machine at that moment, not a
/// decision of the dispatcher. Every 500 µs, so that any stall long enough
/// to make a job of the set miss (≥ 700 µs) contains a wake-up due at least
/// 200 µs before its end; its wake-ups sit where the measured set's releases
/// are not, so that it shares no timer interrupt with them.
///
/// Its cost (one sleep/wake cycle per wake-up, measured in the run) is CPU
/// taken from the measured core: sched-bench adds it to the set's
/// response-time analysis as interference (`scheduleWithWitness`).
final class Witness: @unchecked Sendable {
    let period: Nanoseconds
    let capacity: Int
    let samples: UnsafeMutablePointer<WitnessSample>
    private(set) var count = 0
    /// Whether it got SCHED_FIFO 99 (needs the same privilege as the dispatcher).
    private(set) var realtime = false
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    init(period: Nanoseconds, capacity: Int) {
        self.period = period
        self.capacity = capacity
        samples = .allocate(capacity: capacity)
    }

    deinit { samples.deallocate() }

    var wakeups: UnsafeBufferPointer<WitnessSample> { UnsafeBufferPointer(start: samples, count: count) }

    /// Starts waking at `phase` + k·`period`, from the first such time after it
    /// has set itself up (a thread starts on SCHED_OTHER; under load its set-up
    /// can take milliseconds, which are not the machine's stalls).
    func start(cpu: Int, phase: Nanoseconds) {
        let thread = Thread { [self] in
            _ = rtu_sched_pin_self(Int32(cpu))
            realtime = rtu_sched_set_fifo_self(99) == 0
            _ = rtu_sched_set_timerslack_self(1)
            let runDelay = RunDelayReader()
            runDelay.openForCallingThread()
            var previousDelay = runDelay.read()
            let now = rtu_sched_monotonic_ns()
            var due = now - now % period + phase + period
            while !stopRequested.load(ordering: .relaxed) && count < capacity {
                _ = rtu_sched_sleep_until(due)
                let woke = rtu_sched_monotonic_ns()
                let delay = runDelay.read()
                samples[count] = WitnessSample(due: due, woke: woke, cpu: rtu_sched_thread_cpu_ns(),
                                               queued: delay - previousDelay)
                previousDelay = delay
                count += 1
                due += period
                if woke > due { due += ((woke - due) / period + 1) * period }  // skip, like the dispatcher
            }
            finished.signal()
        }
        thread.start()
    }

    /// Stops it and waits for its last wake-up (at most ~`period`).
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        finished.wait()
    }

    /// Mean thread CPU per wake-up cycle (kernel sleep/wake path, clock
    /// reads, one pread): what the witness costs the measured core.
    var cpuPerWakeup: Nanoseconds {
        let w = wakeups
        guard w.count > 1 else { return 0 }
        return (w[w.count - 1].cpu - w[0].cpu) / Nanoseconds(w.count - 1)
    }
}

/// A real-time thread of another process that may run on the dispatcher's
/// CPU: a SCHED_FIFO dispatcher can be held runnable by such a thread of
/// equal or higher priority (another program's real-time thread, the
/// kernel's migration/N or threaded interrupts), never by SCHED_OTHER work.
struct RealtimeThread: Hashable {
    var tid: Int32
    var name: String
    var policy: Int32
    var priority: Int32

    var description: String {
        let policyName = policy == 2 ? "SCHED_RR" : policy == 6 ? "SCHED_DEADLINE" : "SCHED_FIFO"
        return "\(name) (tid \(tid), \(policyName) \(priority))"
    }
}

/// What /proc/stat says one CPU spent its time on, in ms (clock ticks: the
/// kernel adds to these at its own ticks and prints 10 ms units, so a
/// difference is good to ~10 ms).
struct CPUTimes {
    var user: Int64 = 0
    var system: Int64 = 0
    var softirq: Int64 = 0
    var idle: Int64 = 0
    var steal: Int64 = 0

    static func - (a: CPUTimes, b: CPUTimes) -> CPUTimes {
        CPUTimes(user: a.user - b.user, system: a.system - b.system, softirq: a.softirq - b.softirq,
                 idle: a.idle - b.idle, steal: a.steal - b.steal)
    }

    var description: String {
        "user \(user), system \(system), softirq \(softirq), idle \(idle), steal \(steal) ms"
    }

    /// The `cpuN` line of /proc/stat: user nice system idle iowait irq
    /// softirq steal (user and nice are added, so are idle and iowait).
    static func read(cpu: Int) -> CPUTimes? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("cpu\(cpu) ") }) else { return nil }
        let f = line.split(separator: " ").dropFirst().compactMap { Int64($0) }
        guard f.count >= 8 else { return nil }
        let ms = 1000 / Int64(sysconf(Int32(_SC_CLK_TCK)))
        return CPUTimes(user: (f[0] + f[1]) * ms, system: f[2] * ms, softirq: f[6] * ms,
                        idle: (f[3] + f[4]) * ms, steal: f[7] * ms)
    }
}

/// Samples, every 10 ms from a thread kept off the dispatcher's CPU, what
/// /proc/stat says that CPU spent its time on (steal is the hypervisor's own
/// figure), and the CPU time of the other processes' real-time threads that
/// may run on it (their schedstat; the list is refreshed every 100 ms). A
/// thread first seen in a refresh after the first is charged, in the
/// configuration's totals, all the CPU time it has used (it was not there,
/// or not real-time, at the previous refresh); the 10 ms series counts only
/// what it uses from then on, so a window's figure is a lower bound.
final class MachineSampler: @unchecked Sendable {
    struct Sample {
        var time: Nanoseconds
        var cpu: CPUTimes
        /// CPU time the competing real-time threads used since sampling
        /// began, counted from each one's first sample (ns).
        var competitorCPU: Nanoseconds
    }

    private(set) var samples: [Sample] = []
    /// CPU time each competing real-time thread used while sampled.
    private(set) var competitorUse: [RealtimeThread: Nanoseconds] = [:]
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    func start(cpu: Int) {
        samples.reserveCapacity(10_000)
        let thread = Thread { [self] in
            let others = (0..<ProcessInfo.processInfo.activeProcessorCount).filter { $0 != cpu }
            if let other = others.first { _ = rtu_sched_pin_self(Int32(other)) }
            var threads: [RealtimeThread] = []
            var lastCPU: [RealtimeThread: Nanoseconds] = [:]
            var total: Nanoseconds = 0
            var k = 0
            while !stopRequested.load(ordering: .relaxed) {
                if k % 10 == 0 { threads = realtimeThreads(allowedOn: cpu) }
                for t in threads {
                    guard let used = sumExecRuntime(tid: t.tid) else { continue }
                    if let before = lastCPU[t] {
                        total += used - before
                        competitorUse[t, default: 0] += used - before
                    } else if k > 0 {
                        competitorUse[t, default: 0] += used
                    }
                    lastCPU[t] = used
                }
                k += 1
                if let times = CPUTimes.read(cpu: cpu) {
                    samples.append(Sample(time: rtu_sched_monotonic_ns(), cpu: times, competitorCPU: total))
                }
                _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + .millis(10))
            }
            finished.signal()
        }
        thread.start()
    }

    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        finished.wait()
    }

    /// The samples just before `from` and just after `to`, if they bracket it.
    private func bracket(_ from: Nanoseconds, _ to: Nanoseconds) -> (Sample, Sample)? {
        let after = samples.partitioningIndex(where: { $0.time >= to })
        let before = samples.partitioningIndex(where: { $0.time > from }) - 1
        guard before >= 0, after < samples.count else { return nil }
        return (samples[before], samples[after])
    }

    /// What the CPU spent its time on over a bracket of `[from, to]`.
    func cpuTimes(from: Nanoseconds, to: Nanoseconds) -> CPUTimes? {
        bracket(from, to).map { $1.cpu - $0.cpu }
    }

    /// CPU time of competing real-time threads over a bracket of `[from, to]`.
    func competitorCPU(from: Nanoseconds, to: Nanoseconds) -> Nanoseconds? {
        bracket(from, to).map { $1.competitorCPU - $0.competitorCPU }
    }
}

/// Threads of other processes with a real-time policy whose affinity
/// includes `cpu` (from /proc/<pid>/task/<tid>/stat and status).
func realtimeThreads(allowedOn cpu: Int) -> [RealtimeThread] {
    let me = getpid()
    var found: [RealtimeThread] = []
    let fm = FileManager.default
    for pid in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let p = Int32(pid), p != me else { continue }
        for task in (try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            guard let tid = Int32(task),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the name start with field 3 (state); 40 is rt_priority, 41 policy.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 38, let priority = Int32(fields[37]), let policy = Int32(fields[38]),
                  policy == 1 || policy == 2 || policy == 6 else { continue }
            if allowedCPUs(pid: pid, task: task)?.contains(cpu) == true {
                found.append(RealtimeThread(tid: tid, name: String(stat[stat.index(after: open)..<close]),
                                            policy: policy, priority: priority))
            }
        }
    }
    return found
}

/// The CPUs in a thread's affinity mask: "Cpus_allowed:" of its status,
/// hexadecimal, 32-bit groups separated by commas, most significant first.
func allowedCPUs(pid: String, task: String) -> Set<Int>? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
    var cpus = Set<Int>()
    let groups = line.dropFirst("Cpus_allowed:".count).trimmingCharacters(in: .whitespaces).split(separator: ",")
    for (k, group) in groups.reversed().enumerated() {
        guard let bits = UInt32(group, radix: 16) else { return nil }
        for b in 0..<32 where bits & (1 << b) != 0 { cpus.insert(k * 32 + b) }
    }
    return cpus
}

/// Field 1 of /proc/<tid>/schedstat: the thread's CPU time in ns (brought
/// up to date at its last tick or context switch).
func sumExecRuntime(tid: Int32) -> Nanoseconds? {
    guard let text = try? String(contentsOfFile: "/proc/\(tid)/schedstat", encoding: .utf8),
          let first = text.split(separator: " ").first else { return nil }
    return Int64(first)
}
