// sched-bench: release lateness and deadline misses of an RTU set using ~60 %
// of one core, idle and under stress-ng load, the same dispatcher on
// SCHED_FIFO and on SCHED_OTHER, all in one run; plus the dispatcher's own
// overhead. Run by scripts/bench-sched.sh; results in BENCHMARKS.md.
import CShims
import Foundation
import RTUScheduler

struct Options {
    var seconds = 8.0
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
                FileHandle.standardError.write("usage: sched-bench [--seconds S] [--cpu N] [--out DIR] [--hogs N] [--priority P]\n".data(using: .utf8)!)
                exit(2)
            }
            i += 2
        }
    }
}

/// Busy-loops for a fixed amount of its own CPU time (CLOCK_THREAD_CPUTIME_ID,
/// so preemption stretches the wall time but not the work), and records each
/// job's release lateness into a preallocated buffer (no allocation per run).
final class BusyBody: Upcall {
    let cost: Nanoseconds
    let capacity: Int
    let lateness: UnsafeMutablePointer<Int64>
    var count = 0

    init(cost: Nanoseconds, capacity: Int) {
        self.cost = cost
        self.capacity = capacity
        lateness = .allocate(capacity: capacity)
        super.init()
    }

    deinit { lateness.deallocate() }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        if count < capacity {
            lateness[count] = context.now - context.release
            count += 1
        }
        let end = rtu_sched_thread_cpu_ns() + cost
        while rtu_sched_thread_cpu_ns() < end {}
        return .done
    }
}

struct RTUPlan {
    var name: String
    var period: Nanoseconds
    var cost: Nanoseconds
    var budget: Nanoseconds
    var offset: Nanoseconds
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

struct Result {
    var policy: ThreadPolicy
    var loaded: Bool
    var releases: UInt64 = 0
    var invocations: UInt64 = 0
    var misses: UInt64 = 0
    var overruns: UInt64 = 0
    var samples: [Int64] = []
    var fastSamples: [Int64] = []
    var missEvents: [(String, DeadlineMiss)] = []
    var missLogComplete = true
    var overhead: Nanoseconds = 0
    var measuredUtilPPB: Int64 = 0
    /// Steal time of the dispatcher's vCPU during the run (hypervisor preemption).
    var stealMs: Int64 = 0
    var admittedUtilPPB: Int64 = 0
}

func percentile(_ sorted: [Int64], _ q: Double) -> Int64 {
    guard !sorted.isEmpty else { return 0 }
    let idx = min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)
    return sorted[max(0, idx)]
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
    let capacity = Int(options.seconds * 1_000) + 2_000
    let t0 = rtu_sched_monotonic_ns() + .millis(20)
    var handles: [(RTUPlan, RTUHandle, BusyBody)] = []
    for p in plan {
        let body = BusyBody(cost: p.cost, capacity: capacity)
        let h = try runtime.add(RTUSpec(name: p.name, owner: "sched-bench", period: p.period, budget: p.budget),
                                body: body, firstRelease: t0 + p.offset)
        handles.append((p, h, body))
    }
    runtime.waitUntilApplied()
    let steal0 = stealTicks(cpu: options.cpu)
    Thread.sleep(forTimeInterval: options.seconds + 0.02)
    let steal1 = stealTicks(cpu: options.cpu)
    for (_, h, _) in handles { try runtime.remove(h.id) }
    runtime.waitUntilApplied()
    var r = Result(policy: runtime.effectivePolicies.first ?? policy, loaded: loaded)
    r.stealMs = (steal1 - steal0) * 1000 / Int64(sysconf(Int32(_SC_CLK_TCK)))
    let core = runtime.coreStatistics(0)
    r.overhead = core.overheadPerInvocation
    r.measuredUtilPPB = core.measuredUtilizationPPB
    for (p, h, body) in handles {
        let s = h.statistics.snapshot()
        r.releases += s.releases
        r.invocations += s.invocations
        r.misses += s.deadlineMisses
        r.overruns += s.overruns
        let samples = Array(UnsafeBufferPointer(start: body.lateness, count: body.count))
        r.samples += samples
        if p.period == .millis(1) { r.fastSamples = samples }
        r.missEvents += s.recentMisses.map { (p.name, $0) }
        if s.deadlineMisses > UInt64(s.recentMisses.reduce(0) { $0 + $1.count }) { r.missLogComplete = false }
        r.admittedUtilPPB += Int64((Double(p.budget + config.perInvocationOverhead) / Double(p.period)) * 1e9)
    }
    r.samples.sort()
    r.fastSamples.sort()
    return r
}

/// The steal column of /proc/stat for one CPU, in clock ticks.
func stealTicks(cpu: Int) -> Int64 {
    guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return 0 }
    for line in stat.split(separator: "\n") where line.hasPrefix("cpu\(cpu) ") {
        let fields = line.split(separator: " ")
        return fields.count > 8 ? Int64(fields[8]) ?? 0 : 0
    }
    return 0
}

func write(_ r: Result, to dir: String) throws {
    let name = "\(dir)/sched-lateness-\(r.policy == .fifo ? "fifo" : "other")-\(r.loaded ? "load" : "idle").txt"
    try (r.samples.map(String.init).joined(separator: "\n") + "\n").write(toFile: name, atomically: true, encoding: .utf8)
}

func us(_ ns: Int64) -> String { String(format: "%.1f", Double(ns) / 1_000) }

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

/// Control experiment: a bare pinned SCHED_FIFO thread (no dispatcher, no
/// bodies) sleeping with clock_nanosleep to every 1 ms tick for `seconds`.
/// Wake-ups later than 750 µs would make a 250 µs job of a 1 ms RTU miss:
/// if the bare thread sees them too, the stalls are the machine's, not the
/// dispatcher's. Returns sorted lateness samples.
func bareSleeperLateness(cpu: Int, priority: Int32, seconds: Double) -> [Int64] {
    onPinnedFIFOThread(cpu: cpu, priority: priority) {
        let n = Int(seconds * 1_000)
        var samples = [Int64](repeating: 0, count: n)
        var t = rtu_sched_monotonic_ns()
        for i in 0..<n {
            t += 1_000_000
            _ = rtu_sched_sleep_until(t)
            let now = rtu_sched_monotonic_ns()
            samples[i] = now - t
            if now - t > 1_000_000 { t += ((now - t) / 1_000_000) * 1_000_000 }  // skip, like the dispatcher
        }
        return samples.sorted()
    }
}

func describeBare(_ label: String, _ s: [Int64]) -> String {
    let over = s.filter { $0 > 750_000 }.count
    return "bare SCHED_FIFO 1 ms sleeper, \(label): \(s.count) wake-ups, lateness p50 \(us(percentile(s, 0.5))) µs, "
        + "p99 \(us(percentile(s, 0.99))) µs, max \(us(s.last ?? 0)) µs, \(over) later than 750 µs"
}

func startLoad(hogs: Int, seconds: Int) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/stress-ng")
    p.arguments = ["--cpu", "\(hogs)", "--timeout", "\(seconds)s", "--quiet"]
    try p.run()
    return p
}

let options = Options(CommandLine.arguments)
try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
print("sched-bench: dispatcher on CPU \(options.cpu), \(options.seconds) s per configuration, "
    + "load = stress-ng --cpu \(options.hogs)")
print(String(format: "pure dispatcher decision + accounting: %.0f ns per invocation (manual clock)", decisionCost()))
print("bare clock_nanosleep sleep/wake cycle on SCHED_FIFO: \(bareWakeCost(cpu: options.cpu, priority: options.priority)) ns "
    + "of thread CPU (kernel + hypervisor share of the per-invocation overhead below)")

var results: [Result] = []
var bare: [String] = []
for policy in [ThreadPolicy.fifo, .other] {
    results.append(try runConfiguration(policy: policy, loaded: false, options: options))
}
bare.append(describeBare("idle", bareSleeperLateness(cpu: options.cpu, priority: options.priority,
                                                     seconds: options.seconds / 2)))
let load = try startLoad(hogs: options.hogs, seconds: Int(options.seconds * 3) + 30)
Thread.sleep(forTimeInterval: 1)
defer { if load.isRunning { load.terminate(); load.waitUntilExit() } }
for policy in [ThreadPolicy.fifo, .other] {
    results.append(try runConfiguration(policy: policy, loaded: true, options: options))
}
bare.append(describeBare("stress-ng", bareSleeperLateness(cpu: options.cpu, priority: options.priority,
                                                          seconds: options.seconds / 2)))
load.terminate()
load.waitUntilExit()

print("")
print("| load | policy | releases | invocations | misses | miss ratio | lateness p50 µs | p99 µs | max µs | 1 ms RTU p99 µs | overruns | overhead ns/inv | util admitted / measured | vCPU steal ms |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
for r in results {
    try write(r, to: options.out)
    print("| \(r.loaded ? "stress-ng" : "idle") | \(r.policy) | \(r.releases) | \(r.invocations) | \(r.misses) | "
        + String(format: "%.2e", Double(r.misses) / Double(max(r.releases, 1)))
        + " | \(us(percentile(r.samples, 0.5))) | \(us(percentile(r.samples, 0.99))) | \(us(r.samples.last ?? 0)) | "
        + "\(us(percentile(r.fastSamples, 0.99))) | \(r.overruns) | \(r.overhead) | "
        + String(format: "%.1f %% / %.1f %%", Double(r.admittedUtilPPB) / 1e7, Double(r.measuredUtilPPB) / 1e7) + " | \(r.stealMs) |")
}
print("")
for line in bare { print(line) }
print("")
for r in results where r.policy == .fifo {
    let events = r.missEvents.sorted { $0.1.release < $1.1.release }
    print("\(r.policy) \(r.loaded ? "loaded" : "idle"): \(r.misses) deadline misses"
        + (events.isEmpty ? "" : " — each miss event (RTU, lateness):")
        + (r.missLogComplete ? "" : " (the log holds the last 32 events per RTU; older ones not shown)"))
    for (name, m) in events {
        print("  \(name): lateness \(us(m.lateness)) µs"
            + (m.count > 1 ? " (dispatcher stalled; \(m.count) releases skipped, each a miss)" : ""))
    }
}
