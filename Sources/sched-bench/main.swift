// sched-bench: release lateness and deadline misses of an RTU set using ~60 %
// of one core, idle and under stress-ng load, the same dispatcher on
// SCHED_FIFO and on SCHED_OTHER, all in one run; every deadline miss
// attributed to its cause with evidence taken at the same moment (the
// dispatcher thread's schedstat and CPU clock per job, a priority-99 witness
// thread, the vCPU's steal time); plus the dispatcher's own overhead. Run by
// scripts/bench-sched.sh; results in BENCHMARKS.md.
import CShims
import Foundation
import RTUScheduler

struct Options {
    var seconds = 20.0
    var cpu = max(0, ProcessInfo.processInfo.activeProcessorCount - 1)
    var out = "bench-out"
    var hogs = 8
    var priority: Int32 = 50

    init(_ args: [String]) {
        var i = 1
        while i < args.count {
            let value = i + 1 < args.count ? args[i + 1] : ""
            switch args[i] {
            case "--seconds": seconds = Double(value) ?? seconds
            case "--cpu": cpu = Int(value) ?? cpu
            case "--out": out = value
            case "--hogs": hogs = Int(value) ?? hogs
            case "--priority": priority = Int32(value) ?? priority
            default:
                let usage = "usage: sched-bench [--seconds S] [--cpu N] [--out DIR] [--hogs N] [--priority P]\n"
                FileHandle.standardError.write(usage.data(using: .utf8)!)
                exit(2)
            }
            i += 2
        }
    }
}

/// 25 % + 7 × 5 % = 60 % of one core. The 10 ms RTUs are phased 375 µs after
/// a 1 ms release, each in its own millisecond, so with good dispatching no
/// job waits for another and lateness is the dispatcher's wake-up latency.
let plan: [RTUPlan] =
    [RTUPlan(name: "1ms", period: .millis(1), cost: .micros(250), budget: .micros(300), offset: 0)]
    + (0..<7).map { k in
        RTUPlan(name: "10ms-\(k)", period: .millis(10), cost: .micros(500), budget: .micros(550),
                offset: .millis(Int64(k)) + .micros(375))
    }

/// The witness wakes every 500 µs at 425 and 925 µs into each millisecond:
/// 50 µs after a 10 ms RTU's release (which it then preempts for ~15 µs)
/// and after the 10 ms RTUs' jobs, never with a release.
let witnessPeriod: Nanoseconds = .micros(500)
let witnessPhase: Nanoseconds = .micros(425)
/// What the schedulability check charges for each wake-up of the witness
/// (sleep/wake path included); its measured cost is printed and compared.
let witnessBudget: Nanoseconds = .micros(40)

struct Result {
    var policy: ThreadPolicy
    var loaded: Bool
    /// What the misses were attributed from: the job records, the
    /// dispatcher's timeline, the witness's late and queued stretches.
    let attribution: MissAttribution
    var releases: UInt64 = 0
    var invocations: UInt64 = 0
    var misses: UInt64 = 0
    var overruns: UInt64 = 0
    var samples: [Int64] = []
    var fastSamples: [Int64] = []
    var overhead: Nanoseconds = 0
    var measuredUtilPPB: Int64 = 0
    /// What /proc/stat says the dispatcher's CPU spent its time on during
    /// the configuration (steal: hypervisor preemption of the vCPU).
    var cpuTimes = CPUTimes()
    var admittedUtilPPB: Int64 = 0
    var attributed: [AttributedMiss] = []
    var jobsDropped = 0
    var witness: [WitnessSample] = []
    var witnessRealtime = false
    var witnessCPU: Nanoseconds = 0
    var load = ""
    /// Misses the dispatcher logged that the job records do not show, as
    /// (RTU index, release); see `unmatchedMisses`.
    var unmatched: [(Int, Nanoseconds)] = []
    /// Other processes' real-time threads allowed on the CPU, with the CPU
    /// time they used during the configuration.
    var competitors: [(RealtimeThread, Nanoseconds)] = []

    /// Adds one RTU's counters (read when the observation ended).
    mutating func add(_ s: RTUStatsSnapshot, plan p: RTUPlan, overhead: Nanoseconds) {
        releases += s.releases
        invocations += s.invocations
        misses += s.deadlineMisses
        overruns += s.overruns
        admittedUtilPPB += Int64((Double(p.budget + overhead) / Double(p.period)) * 1e9)
    }

    var label: String { "\(loaded ? "stress-ng" : "idle") \(policy)" }
    var fileTag: String { "\(policy == .fifo ? "fifo" : "other")-\(loaded ? "load" : "idle")" }
    var machineStallMisses: Int {
        attributed.filter { $0.cause == .machineStall }.count
    }
    /// Misses not explained by machine stalls per 10,000 releases (of the
    /// dispatcher's count or the job records', whichever is larger: they
    /// can differ by a few at the ends of the run).
    var otherMissesPer10k: Double {
        Double(max(Int(misses), attributed.count) - machineStallMisses) * 10_000 / Double(max(releases, 1))
    }
}

func percentile(_ sorted: [Int64], _ q: Double) -> Int64 {
    guard !sorted.isEmpty else { return 0 }
    let idx = min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)
    return sorted[max(0, idx)]
}

func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3)
        .joined(separator: " ")
}

/// Waits (sleeping) until `condition` holds or `timeout` passes.
func waitFor(_ timeout: Nanoseconds, _ condition: () -> Bool) -> Bool {
    let limit = rtu_sched_monotonic_ns() + timeout
    while !condition() {
        if rtu_sched_monotonic_ns() > limit { return false }
        _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + .millis(1))
    }
    return true
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    /// The set was not in place by its first release (the control thread,
    /// SCHED_OTHER, was starved): the configuration is worth repeating.
    var setupLate = false
}

/// Has the dispatcher thread open its own schedstat, in a throw-away RTU run
/// before the set is added, so that no measured job pays for the open.
func openSchedstat(on runtime: RTURuntime, for log: JobLog) throws {
    let opener = try runtime.add(RTUSpec(name: "schedstat-open", owner: "sched-bench", period: .millis(10),
                                         budget: .millis(1)), body: SchedstatOpener(log: log))
    guard waitFor(.seconds(2), { log.runDelay.isOpen || log.runDelay.failed }), log.runDelay.isOpen else {
        throw BenchError(description: "the dispatcher could not open /proc/thread-self/schedstat")
    }
    try runtime.remove(opener.id)
    runtime.waitUntilApplied()
}

func runConfiguration(policy: ThreadPolicy, loaded: Bool, options: Options) throws -> Result {
    var config = SchedulerConfiguration(cpus: [options.cpu])
    config.policy = policy
    config.priority = options.priority
    config.requireRealtime = policy == .fifo
    config.lockMemory = true
    let runtime = try RTURuntime(configuration: config)
    try runtime.start()
    defer { runtime.stop() }
    let jobsPerSecond = plan.reduce(0) { $0 + 1_000_000_000 / Int($1.period) }
    let log = JobLog(capacity: Int(options.seconds * Double(jobsPerSecond) * 1.1) + 2_000)

    try openSchedstat(on: runtime, for: log)

    // This (SCHED_OTHER) thread shares the CPUs with stress-ng's hogs and
    // with whatever else runs on the machine: adding the set has taken from
    // tens of milliseconds to 0.6 s. The first releases are far enough ahead
    // that every RTU is in place before them (checked below).
    let lead: Nanoseconds = .seconds(2)
    let t0 = rtu_sched_monotonic_ns() + lead
    // Room for every wake-up from now until the set is removed, and more.
    let wakeupsPerSecond = Double(Nanoseconds.seconds(1) / witnessPeriod)
    let witness = Witness(period: witnessPeriod,
                          capacity: Int((options.seconds + Double(lead / .seconds(1)) + 5) * wakeupsPerSecond))
    witness.start(cpu: options.cpu, phase: (t0 + witnessPhase) % witnessPeriod)
    let machine = MachineSampler()
    machine.start(cpu: options.cpu)
    var handles: [(RTUPlan, RTUHandle)] = []
    for (k, p) in plan.enumerated() {
        let h = try runtime.add(RTUSpec(name: p.name, owner: "sched-bench", period: p.period, budget: p.budget),
                                body: BusyBody(rtu: k, cost: p.cost, log: log), firstRelease: t0 + p.offset)
        handles.append((p, h))
    }
    runtime.waitUntilApplied()
    let setupLate = rtu_sched_monotonic_ns() - t0
    if setupLate > 0 {
        throw BenchError(description: "adding the set took until \(us(setupLate)) µs after its first release",
                         setupLate: true)
    }
    _ = rtu_sched_sleep_until(t0)
    let core0 = runtime.coreStatistics(0)
    let times0 = CPUTimes.read(cpu: options.cpu)
    Thread.sleep(forTimeInterval: options.seconds)
    let core1 = runtime.coreStatistics(0)
    let times1 = CPUTimes.read(cpu: options.cpu)
    let observedUntil = rtu_sched_monotonic_ns()
    let counted = handles.map { $0.1.statistics.snapshot() }
    for (_, h) in handles { try runtime.remove(h.id) }
    runtime.waitUntilApplied()
    witness.stop()
    machine.stop()

    let attribution = MissAttribution(plan: plan, firstRelease: t0, observedUntil: observedUntil, jobs: log.jobs,
                                      witness: witness.wakeups, machine: machine)
    var r = Result(policy: runtime.effectivePolicies.first ?? policy, loaded: loaded, attribution: attribution)
    r.load = loadAverage()
    if let t1 = times1, let t0 = times0 { r.cpuTimes = t1 - t0 }
    r.overhead = runtime.coreStatistics(0).overheadPerInvocation
    r.measuredUtilPPB = Int64(Double(core1.realtimeCPU - core0.realtimeCPU)
                              / Double(max(1, core1.elapsed - core0.elapsed)) * 1e9)
    for ((p, _), s) in zip(handles, counted) { r.add(s, plan: p, overhead: config.perInvocationOverhead) }
    r.competitors = machine.competitorUse.sorted { $0.value > $1.value }.map { ($0.key, $0.value) }
    r.jobsDropped = log.dropped
    r.attributed = attribution.misses()
    r.unmatched = unmatchedMisses(handles.map { $0.1.statistics.snapshot() }, r.attributed, until: observedUntil)
    // The observation's invocations (the counters were read at its end).
    let observed = attribution.jobs.filter { $0.start <= observedUntil }
    r.samples = observed.map { $0.start - $0.release }.sorted()
    r.fastSamples = observed.filter { $0.rtu == 0 }.map { $0.start - $0.release }.sorted()
    r.witness = Array(witness.wakeups)
    r.witnessRealtime = witness.realtime
    if witness.count == witness.capacity {
        throw BenchError(description: "the witness's log filled up before the set was removed")
    }
    r.witnessCPU = witness.cpuPerWakeup
    return r
}

/// The misses in the dispatcher's own log (its last 32 events per RTU) with
/// a deadline before `until` that the job records do not show as misses:
/// what the attribution did not see.
func unmatchedMisses(_ stats: [RTUStatsSnapshot], _ attributed: [AttributedMiss],
                     until: Nanoseconds) -> [(Int, Nanoseconds)] {
    let seen = Set(attributed.map { "\($0.rtu)/\($0.release)" })
    var result: [(Int, Nanoseconds)] = []
    for (k, s) in stats.enumerated() {
        for event in s.recentMisses {
            for n in 0..<event.count {
                let release = event.release + Nanoseconds(n) * plan[k].period
                if release + plan[k].period <= until && !seen.contains("\(k)/\(release)") { result.append((k, release)) }
            }
        }
    }
    return result
}

/// Whether the set stays schedulable with the witness: the admission test's
/// response-time recurrence (rate-monotonic, delayed preemption, each budget
/// plus the per-invocation overhead, blocking by the longest lower-priority
/// budget or the best-effort slice) with the witness added as interference
/// to every RTU, ⌈R/T_w⌉·C_w. The witness preempts the dispatcher and is
/// never blocked by it, so it is not an RTU of the model (admitted as one,
/// it would be charged a blocking term it does not suffer). Returns the
/// utilisation with the witness and the largest R/T.
func scheduleWithWitness(_ policy: AdmissionPolicy) -> String {
    let order = plan.indices.sorted { plan[$0].period < plan[$1].period }
    let cost = order.map { plan[$0].budget + policy.perInvocationOverhead }
    var worst = (name: "", response: Nanoseconds(0), period: Nanoseconds(1))
    for (rank, i) in order.enumerated() {
        let blocking = max(policy.bestEffortSlice, cost[(rank + 1)...].max() ?? 0)
        var r = cost[rank] + blocking
        while r <= plan[i].period {
            var next = cost[rank] + blocking + (r + witnessPeriod - 1) / witnessPeriod * witnessBudget
            for h in 0..<rank { next += (r + plan[order[h]].period - 1) / plan[order[h]].period * cost[h] }
            if next == r { break }
            r = next
        }
        if r * worst.period > worst.response * plan[i].period { worst = (plan[i].name, r, plan[i].period) }
    }
    let util = plan.reduce(0.0) { $0 + Double($1.budget + policy.perInvocationOverhead) / Double($1.period) }
        + Double(witnessBudget) / Double(witnessPeriod)
    return String(format: "%.1f %% with the witness; ", util * 100)
        + "largest response time \(worst.name) \(us(worst.response)) µs of \(us(worst.period)) µs"
        + (worst.response <= worst.period ? " (schedulable)" : " (NOT schedulable)")
}

/// Dispatcher decision + accounting cost alone: 8 RTUs on a manual clock,
/// bodies that only advance the clock, timed on the monotonic clock.
func decisionCost() -> Double {
    final class Tick: Upcall {
        let clock: ManualClock
        init(_ c: ManualClock) { clock = c }
        override func run(context: inout UpcallContext) -> UpcallOutcome {
            clock.advance(by: 1_000)
            return .done
        }
    }
    let clock = ManualClock()
    let core = DispatcherCore(clock: clock, bestEffortSlice: .micros(100))
    for k in 0..<8 {
        let id = RTUID(rawValue: UInt32(k + 1))
        core.apply(.add(SlotConfig(id: id, kind: .periodic, period: .micros(Int64(100 * (k + 1))), budget: .micros(10),
                                   batch: 1, body: Tick(clock), stats: RTUStatistics(id: id, name: "r\(k)"),
                                   trigger: nil)))
    }
    var invocations = 0
    let start = rtu_sched_monotonic_ns()
    while invocations < 1_000_000 {
        switch core.step() {
        case .ran: invocations += 1
        case let .idle(wakeAt): clock.advance(to: wakeAt ?? clock.now() + 1)
        }
    }
    return Double(rtu_sched_monotonic_ns() - start) / Double(invocations)
}

/// A thread's result, written before it signals and read after the wait.
final class ResultBox<T>: @unchecked Sendable { var value: T? }

/// Runs `body` on a new thread pinned to `cpu` at SCHED_FIFO `priority`
/// with a 1 ns timer slack (the dispatcher's set-up) and returns its result.
func onPinnedFIFOThread<T>(cpu: Int, priority: Int32, _ body: @escaping () -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        _ = rtu_sched_pin_self(Int32(cpu))
        _ = rtu_sched_set_fifo_self(priority)
        _ = rtu_sched_set_timerslack_self(1)
        box.value = body()
        done.signal()
    }
    thread.start()
    done.wait()
    return box.value!
}

/// Baseline for the overhead figure: thread CPU time of a bare
/// clock_nanosleep(TIMER_ABSTIME) sleep/wake cycle (1000 × 500 µs) on a
/// pinned SCHED_FIFO thread: the part of the dispatcher's per-invocation
/// cost that is the kernel's (and the hypervisor's), not the dispatcher's.
func bareWakeCost(cpu: Int, priority: Int32) -> Int64 {
    onPinnedFIFOThread(cpu: cpu, priority: priority) {
        let cpu0 = rtu_sched_thread_cpu_ns()
        var t = rtu_sched_monotonic_ns()
        for _ in 0..<1000 {
            t += 500_000
            _ = rtu_sched_sleep_until(t)
        }
        return (rtu_sched_thread_cpu_ns() - cpu0) / 1000
    }
}

func startLoad(hogs: Int, seconds: Int) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/stress-ng")
    p.arguments = ["--cpu", "\(hogs)", "--timeout", "\(seconds)s", "--quiet"]
    try p.run()
    return p
}

/// CPU cost of one schedstat pread on a pinned SCHED_FIFO thread (10,000
/// reads): each measured job makes two.
func runDelayReadCost(cpu: Int, priority: Int32) -> Int64 {
    onPinnedFIFOThread(cpu: cpu, priority: priority) {
        let reader = RunDelayReader()
        reader.openForCallingThread()
        let cpu0 = rtu_sched_thread_cpu_ns()
        for _ in 0..<10_000 { _ = reader.read() }
        return (rtu_sched_thread_cpu_ns() - cpu0) / 10_000
    }
}

func writeFiles(_ r: Result, to dir: String) throws {
    try (r.samples.map(String.init).joined(separator: "\n") + "\n")
        .write(toFile: "\(dir)/sched-lateness-\(r.fileTag).txt", atomically: true, encoding: .utf8)
    var jobs = ["rtu", "release", "start", "body_start", "body_end", "cpu_start", "cpu_end", "run_delay_start",
                "run_delay_end", "longest_gap", "longest_gap_at"].joined(separator: "\t") + "\n"
    for j in r.attribution.jobs {
        let fields = [j.release, j.start, j.bodyStart, j.bodyEnd, j.cpuStart, j.cpuEnd, j.delayStart, j.delayEnd,
                      j.longestGap, j.longestGapAt]
        jobs += plan[j.rtu].name + "\t" + fields.map(String.init).joined(separator: "\t") + "\n"
    }
    try jobs.write(toFile: "\(dir)/sched-jobs-\(r.fileTag).tsv", atomically: true, encoding: .utf8)
    var witness = "due\twoke\tcpu\tqueued\n"
    for w in r.witness { witness += "\(w.due)\t\(w.woke)\t\(w.cpu)\t\(w.queued)\n" }
    try witness.write(toFile: "\(dir)/sched-witness-\(r.fileTag).tsv", atomically: true, encoding: .utf8)
    try (r.attributed.map { describe($0, since: r.attribution.firstRelease) }.joined(separator: "\n") + "\n")
        .write(toFile: "\(dir)/sched-misses-\(r.fileTag).txt", atomically: true, encoding: .utf8)
}

func us(_ ns: Int64) -> String { String(format: "%.1f", Double(ns) / 1_000) }
func ms(_ ns: Int64) -> String { String(format: "%.2f", Double(ns) / 1_000_000) }

/// One miss with its evidence, on one line.
func describe(_ m: AttributedMiss, since t0: Nanoseconds) -> String {
    let when = m.start.map { "lateness \(us($0 - m.release)) µs, finished \(us(m.excess)) µs past its deadline" }
        ?? "skipped (the RTU's next job started \(ms(m.windowEnd - m.release)) ms after this release)"
    let window = m.windowStart == m.release ? "release" : "busy period from \(ms(m.windowStart - t0)) ms"
    var evidence = "in [\(window), \(m.start == nil ? "next start" : "completion")]: dispatcher not run "
        + "\(us(m.stalledRunning)) µs while running + \(us(m.stalledWaiting)) µs waiting to wake, "
        + "run_delay \(us(m.delay)) µs (\(us(m.delayInStall)) in the witness's late timer, "
        + "\(us(m.delayWithWitnessQueued)) while the witness was queued too), CPU \(us(m.cpu)) µs"
    if m.start != nil { evidence += " (own \(us(m.ownCPU)))" }
    if m.chargedInterruptions > 0 {
        evidence += "; charged CPU without doing its work \(us(m.chargedInterruptions)) µs "
            + "(\(us(m.chargedWhileWitnessLate)) in the witness's late timer, "
            + "\(us(m.chargedWhileWitnessQueued)) while it was queued)"
    }
    evidence += "; witness: timer late \(us(m.witnessLate)) µs, queued \(us(m.witnessQueued)) µs"
    if let c = m.competitorCPU, c > 0 { evidence += "; other real-time threads on the CPU ran ≥ \(us(c)) µs" }
    if let t = m.cpuTimes { evidence += "; /proc/stat over ~[window]: \(t.description)" }
    return "\(plan[m.rtu].name) released at \(ms(m.release - t0)) ms: \(when) — \(m.cause.rawValue) "
        + "(stall \(us(m.machineTime)) µs, guest kernel \(us(m.kernelTime)) µs, "
        + "scheduling \(us(m.schedulingTime)) µs); "
        + evidence
}

/// The overruns, seen from the bodies. `onCPU` is the wall time of a body
/// minus its run_delay: how long the guest really ran the thread for it,
/// independent of the thread's CPU clock. For each job over budget by its
/// own CPU clock, what made the body run past its nominal cost (it stops on
/// that clock): one interruption charged to the thread as CPU time (an
/// interrupt: these kernels have no CONFIG_IRQ_TIME_ACCOUNTING), CPU time
/// charged for something before the body (the clock ran ahead of the time on
/// CPU), or a clock that lagged while the thread ran (on the CPU all along,
/// no interruption: the loop went on past its target and the clock caught
/// up at the next read).
func describeOverruns(_ r: Result) -> String {
    var interrupted = 0, before = 0, lagging = 0, other = 0, onCPUOver = 0
    var over: [JobRecord] = []
    for j in r.attribution.jobs {
        let budget = plan[j.rtu].budget
        let cpu = j.cpuEnd - j.cpuStart
        let delay = j.delayEnd - j.delayStart
        let onCPU = j.bodyEnd - j.bodyStart - delay
        if onCPU > budget { onCPUOver += 1 }
        guard cpu > budget else { continue }
        over.append(j)
        let excess = cpu - plan[j.rtu].cost
        if (j.longestGap - delay) * 10 >= excess * 8 {
            interrupted += 1
        } else if (cpu - onCPU) * 10 >= excess * 8 {
            before += 1
        } else if abs(cpu - onCPU) * 10 <= excess * 2 {
            lagging += 1
        } else {
            other += 1
        }
    }
    var text = "overruns: \(r.overruns) counted by the dispatcher; \(onCPUOver) bodies on the CPU (wall − run_delay) "
        + "longer than their budget; \(over.count) over budget by their own CPU clock"
    guard !over.isEmpty else { return text }
    let extra = over.map { $0.cpuEnd - $0.cpuStart - plan[$0.rtu].cost }.sorted()
    text += ", \(us(extra.first!))–\(us(extra.last!)) µs (median \(us(extra[extra.count / 2]))) "
        + "beyond the body's cost: "
        + "\(interrupted) by one interruption charged as CPU, \(before) by CPU time charged from before the body, "
        + "\(lagging) by a CPU clock that lagged while the thread ran, \(other) otherwise"
    return text
}

/// How often the bodies were interrupted, and for how long.
func describeInterruptions(_ r: Result) -> String {
    let gaps = r.attribution.jobs.map(\.longestGap).filter { $0 >= .micros(20) }.sorted()
    guard !gaps.isEmpty else { return "no body was interrupted for 20 µs or more" }
    return "\(gaps.count) of \(r.attribution.jobs.count) bodies were interrupted for 20 µs or more at least once "
        + "(longest interruption per body: p50 \(us(percentile(gaps, 0.5))) µs, "
        + "p99 \(us(percentile(gaps, 0.99))) µs, "
        + "max \(us(gaps.last!)) µs)"
}

func describeCompetitors(_ r: Result) -> String {
    guard !r.competitors.isEmpty else { return "no other process had a real-time thread allowed on the CPU" }
    return "other processes' real-time threads allowed on the CPU, with their CPU time during the configuration: "
        + r.competitors.map { "\($0.0.description) \(ms($0.1)) ms" }.joined(separator: ", ")
}

func describeWitness(_ r: Result) -> String {
    let late = r.witness.map { $0.woke - $0.due }.sorted()
    let lateTimer = r.attribution.witnessLate.reduce(0) { $0 + $1.to - $1.from }
    let queued = r.attribution.witnessQueued.reduce(0) { $0 + $1.to - $1.from }
    let charged = witnessBudget
    let policy = r.witnessRealtime ? "SCHED_FIFO 99" : "NOT real-time"
    let distribution = "lateness p50 \(us(percentile(late, 0.5))) µs, p99 \(us(percentile(late, 0.99))) µs, "
        + "max \(us(late.last ?? 0)) µs"
    return "witness (\(policy), every \(us(witnessPeriod)) µs, same CPU): \(late.count) wake-ups, \(distribution); "
        + "held up by more than \(us(witnessStallThreshold)) µs "
        + "\(r.attribution.witnessLate.count) times by a late timer interrupt "
        + "(\(ms(lateTimer)) ms in all) and \(r.attribution.witnessQueued.count) times queued (\(ms(queued)) ms); "
        + "\(us(r.witnessCPU)) µs of CPU per wake-up (the schedulability check charges \(us(charged)))"
}

/// The run's stalls: time in which the guest ran neither the dispatcher nor
/// anything else in its place although the dispatcher had work, summed over
/// stretches of 200 µs or more, against the vCPU's steal.
func describeStalls(_ r: Result) -> String {
    let stalls = r.attribution.segments.filter { $0.unexplained >= .micros(200) }
    let total = stalls.reduce(0) { $0 + $1.unexplained }
    return "\(stalls.count) stretches of 200 µs or more in which the guest did not run the dispatcher "
        + "although it had work "
        + "(\(stalls.filter(\.invocation).count) during invocations), \(ms(total)) ms in all; "
        + "/proc/stat for the CPU over the configuration: \(r.cpuTimes.description) (10 ms resolution)"
}

let options = Options(CommandLine.arguments)
try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
print("sched-bench: dispatcher on CPU \(options.cpu), \(options.seconds) s per configuration, "
    + "load = stress-ng --cpu \(options.hogs); load average at start \(loadAverage())")
print(String(format: "pure dispatcher decision + accounting: %.0f ns per invocation (manual clock)", decisionCost()))
print("bare clock_nanosleep sleep/wake cycle on SCHED_FIFO: \(bareWakeCost(cpu: options.cpu, priority: options.priority)) ns "
    + "of thread CPU (kernel + hypervisor share of the per-invocation overhead below)")
print("instrumentation per job: two schedstat preads of \(runDelayReadCost(cpu: options.cpu, priority: options.priority)) ns "
    + "each, inside the body (charged to its budget)")
print("response-time analysis of the set with the witness (\(us(witnessBudget)) µs every \(us(witnessPeriod)) µs, "
    + "preempting): " + scheduleWithWitness(SchedulerConfiguration(cpus: [options.cpu]).admissionPolicy))

/// One configuration, repeated (at most twice more) if the set could not be
/// put in place before its first release.
func measure(_ policy: ThreadPolicy, loaded: Bool) throws -> Result {
    var attempt = 1
    while true {
        do {
            return try runConfiguration(policy: policy, loaded: loaded, options: options)
        } catch let e as BenchError where e.setupLate && attempt < 3 {
            print("sched-bench: \(policy) \(loaded ? "under stress-ng" : "idle"): \(e.description); repeating it")
            attempt += 1
        }
    }
}

var results: [Result] = []
do {
    for policy in [ThreadPolicy.fifo, .other] { results.append(try measure(policy, loaded: false)) }
    let load = try startLoad(hogs: options.hogs, seconds: Int(options.seconds * 2) + 60)
    defer { if load.isRunning { load.terminate(); load.waitUntilExit() } }
    Thread.sleep(forTimeInterval: 1)
    for policy in [ThreadPolicy.fifo, .other] { results.append(try measure(policy, loaded: true)) }
} catch {
    FileHandle.standardError.write("sched-bench: \(error)\n".data(using: .utf8)!)
    exit(1)
}

print("")
print("| load | policy | releases | invocations | misses | miss ratio | lateness p50 µs | p99 µs | max µs | 1 ms RTU p99 µs | overruns | overhead ns/inv | util admitted / measured | vCPU steal ms | misses not explained by machine stalls per 10,000 |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
for r in results {
    try writeFiles(r, to: options.out)
    print("| \(r.loaded ? "stress-ng" : "idle") | \(r.policy) | \(r.releases) | \(r.invocations) | \(r.misses) | "
        + String(format: "%.2e", Double(r.misses) / Double(max(r.releases, 1)))
        + " | \(us(percentile(r.samples, 0.5))) | \(us(percentile(r.samples, 0.99))) | \(us(r.samples.last ?? 0)) | "
        + "\(us(percentile(r.fastSamples, 0.99))) | \(r.overruns) | \(r.overhead) | "
        + String(format: "%.1f %% / %.1f %%", Double(r.admittedUtilPPB) / 1e7, Double(r.measuredUtilPPB) / 1e7)
        + " | \(r.cpuTimes.steal) | " + String(format: "%.2f", r.otherMissesPer10k) + " |")
}
for r in results {
    print("")
    print("\(r.label) (load average \(r.load) at its end):")
    let counts = MissCause.allCases.map { c in "\(r.attributed.filter { $0.cause == c }.count) \(c.rawValue)" }
    print("  misses: \(r.misses) counted by the dispatcher, \(r.attributed.count) found in the job records: "
        + counts.joined(separator: ", ") + (r.jobsDropped > 0 ? " (\(r.jobsDropped) jobs not recorded: log full)" : ""))
    if !r.unmatched.isEmpty {
        print("  logged by the dispatcher, not misses in the job records: "
            + r.unmatched.map { "\(plan[$0.0].name) released at \(ms($0.1 - r.attribution.firstRelease)) ms" }.joined(separator: ", "))
    }
    print("  " + describeStalls(r))
    print("  " + describeWitness(r))
    print("  " + describeOverruns(r))
    print("  " + describeInterruptions(r))
    print("  " + describeCompetitors(r))
    if r.policy == .fifo {
        for m in r.attributed { print("    " + describe(m, since: r.attribution.firstRelease)) }
    }
}
