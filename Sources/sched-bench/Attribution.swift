// Attribution of deadline misses. For every missed job: how the dispatcher
// thread's time was spent between the job's release and its completion,
// according to the guest kernel (on CPU, or runnable on a runqueue); what
// is left over (time in which the guest neither ran the thread nor had it
// queued although it had work); and what the priority-99 witness on the
// same CPU went through at the same time.
//
// What the leftover means: a running thread that does not progress and is
// not queued has lost its vCPU to the hypervisor (with paravirtual steal
// accounting the steal is not charged to the running task; interrupts are
// charged to it on these kernels). A sleeping thread whose wake-up came
// late without run_delay had its timer interrupt delivered late: the vCPU
// was not running, or interrupts were off, or the thread asked to sleep too
// long; the witness, which sleeps on its own timer, tells these apart.
// run_delay of a SCHED_FIFO thread means something the guest would not let
// it preempt held the CPU: a real-time thread of equal or higher priority,
// softirq processing or non-preemptible kernel code (these kernels run
// preempt=none), or a stall of the vCPU after the thread was woken. When
// the witness, at priority 99, waited too, no user-space thread held it.
import RTUScheduler

/// A stretch of the dispatcher's timeline with the guest's accounting of it.
struct Segment {
    var from: Nanoseconds
    var to: Nanoseconds
    /// Thread CPU (including irq time spent while it was current).
    var cpu: Nanoseconds
    /// run_delay: runnable but not running (another guest task, the witness,
    /// real-time throttling).
    var delay: Nanoseconds
    /// `to - from - cpu - delay`, at least 0.
    var unexplained: Nanoseconds
    /// An invocation (the thread was running a body the whole time) rather
    /// than a wait for a wake-up.
    var invocation: Bool

    /// The part of `value` that falls in `[a, b]`, assuming it is spread
    /// evenly over the segment.
    func share(_ value: Nanoseconds, in a: Nanoseconds, _ b: Nanoseconds) -> Nanoseconds {
        let overlap = min(to, b) - max(from, a)
        guard overlap > 0, to > from else { return 0 }
        return Nanoseconds(Double(value) * Double(overlap) / Double(to - from))
    }
}

enum MissCause: String, CaseIterable {
    /// Stall evidence alone covers the miss and outweighs each other cause:
    /// the dispatcher not progressing while running, its wake-up late while
    /// the witness was held up too, or the witness's wake-up late.
    case machineStall = "machine stall"
    /// The dispatcher was runnable, or its body interrupted with the time
    /// charged to it, while the witness (priority 99) was runnable and not
    /// running: something the guest kernel puts above every user priority
    /// held the CPU. Real-time throttling (when the CPU's real-time threads,
    /// ours and any other process's, have used sched_rt_runtime_us = 95 % of
    /// a second, all of them wait for the rest of it), softirq or
    /// non-preemptible kernel code, or a vCPU stall that began after both
    /// were woken.
    case kernelOrThrottling = "kernel or RT throttling"
    /// The dispatcher was runnable, not running, and the witness was not
    /// held up: a real-time thread of another process (listed with its CPU
    /// time), or, for SCHED_OTHER, any other task. Our problem (or our
    /// neighbours').
    case guestScheduling = "guest scheduling"
    /// The job's body used more CPU than its budget, and none of the above
    /// adds up to the miss.
    case overrun = "overrun"
    /// Nothing measured adds up to the miss.
    case unexplained = "unexplained"
}

/// A stretch of time: one in which the witness was held up (from its due
/// time for as long as its timer interrupt came late, or from when it was
/// woken until it ran), or one in which the dispatcher was charged CPU time
/// without doing its work.
struct Stretch {
    var from: Nanoseconds
    var to: Nanoseconds
}

/// One missed release with its evidence.
struct AttributedMiss {
    var rtu: Int
    var release: Nanoseconds
    /// Start of the job's invocation, nil if the release was skipped (the
    /// dispatcher only got to the RTU after a later release).
    var start: Nanoseconds?
    /// Completion past the deadline (for a skipped release: when the next
    /// job of the RTU started plus the job's cost, past the deadline).
    var excess: Nanoseconds
    /// Beginning of the window examined: the release, or the start of the
    /// busy period it fell into (a backlog is the consequence of what
    /// happened since the dispatcher was last idle).
    var windowStart: Nanoseconds
    var windowEnd: Nanoseconds
    /// The dispatcher thread's CPU time and run_delay in the window.
    var cpu: Nanoseconds = 0
    var delay: Nanoseconds = 0
    /// Unexplained time during invocations (a running thread that did not
    /// progress: only steal does that) and during waits for a wake-up.
    var stalledRunning: Nanoseconds = 0
    var stalledWaiting: Nanoseconds = 0
    /// Time in the window in which the witness's timer was late, and in
    /// which it was woken but waiting for the CPU.
    var witnessLate: Nanoseconds = 0
    var witnessQueued: Nanoseconds = 0
    /// Time in the window for which the dispatcher was charged CPU without
    /// doing its work (a body's loop made no progress, or a wait between
    /// invocations cost far more than the dispatcher's own code, and the
    /// thread was not queued: an interrupt, softirq or kernel code ran in its
    /// context, or the hypervisor worked for its vCPU without counting
    /// steal), and the parts of it in which the witness's timer was late, or
    /// it was queued.
    var chargedInterruptions: Nanoseconds = 0
    var chargedWhileWitnessLate: Nanoseconds = 0
    var chargedWhileWitnessQueued: Nanoseconds = 0
    /// What /proc/stat says the CPU spent its time on, and the CPU time of
    /// other processes' real-time threads allowed on it, over the 10 ms
    /// samples bracketing the window.
    var cpuTimes: CPUTimes?
    var competitorCPU: Nanoseconds?
    /// The job's own CPU time (ran jobs only).
    var ownCPU: Nanoseconds
    var cause: MissCause = .unexplained

    var stalled: Nanoseconds { stalledRunning + stalledWaiting }

    /// Whether the witness was held up in the window (late timer or queued):
    /// then the dispatcher's own late wake-ups in the window were not its
    /// own doing. (A late timer is an interrupt-level delay: non-preemptible
    /// kernel code with interrupts on would have let the timer wake the
    /// thread and shown as run_delay. The witness may be queued rather than
    /// late when a stall began just after its own wake-up.)
    var witnessHeldUp: Bool { witnessLate > 0 || witnessQueued > 0 }

    /// The dispatcher's late wake-ups that the witness corroborates.
    var confirmedWaiting: Nanoseconds { witnessHeldUp ? stalledWaiting : 0 }

    /// Stall time the evidence supports: the dispatcher not progressing while
    /// running (not charged, or charged while the witness's timer was late)
    /// plus its corroborated late wake-ups, or the witness's late-timer time,
    /// whichever is larger (both see the same stall from different places).
    var machineTime: Nanoseconds {
        max(stalledRunning + confirmedWaiting + chargedWhileWitnessLate, witnessLate)
    }

    /// The dispatcher's run_delay during the witness's late timer: while the
    /// vCPU does not run, a queued thread's run_delay grows too (rq_clock
    /// includes steal), so that part is stall.
    var delayInStall: Nanoseconds {
        min(delay, max(0, witnessLate - stalledRunning - confirmedWaiting))
    }

    /// The dispatcher's remaining run_delay while the witness was queued too.
    var delayWithWitnessQueued: Nanoseconds { min(delay - delayInStall, witnessQueued) }

    /// That run_delay, and the CPU charged to the dispatcher without doing
    /// its work while the witness was queued (kernel code or softirq in the
    /// dispatcher's own context).
    var kernelTime: Nanoseconds { delayWithWitnessQueued + chargedWhileWitnessQueued }

    /// The dispatcher's run_delay with the witness neither late nor queued.
    var schedulingTime: Nanoseconds { delay - delayInStall - delayWithWitnessQueued }

    /// The cause: a stall only if it covers the miss alone and outweighs
    /// each other cause; otherwise the larger of the two kinds of run_delay
    /// if the time lost adds up to the miss, or to half the window (after a
    /// long starvation skipped releases are dropped, not queued, so the
    /// lost time need not add up to the whole excess); then an overrun.
    mutating func classify(budget: Nanoseconds) {
        let machine = machineTime
        let kernel = kernelTime
        let scheduling = schedulingTime
        if machine >= excess && machine >= kernel && machine >= scheduling {
            cause = .machineStall
        } else if machine + kernel + scheduling >= min(excess, (windowEnd - windowStart) / 2)
                    && kernel + scheduling > 0 {
            cause = kernel >= scheduling ? .kernelOrThrottling : .guestScheduling
        } else if start != nil && ownCPU > budget {
            cause = .overrun
        } else {
            cause = .unexplained
        }
    }
}

struct RTUPlan {
    var name: String
    var period: Nanoseconds
    var cost: Nanoseconds
    var budget: Nanoseconds
    var offset: Nanoseconds
}

/// The dispatcher reads its clock for the end of an invocation up to a few
/// microseconds after the body's last read (the body's closing schedstat
/// read, its record, the return): a job whose body ended this close to its
/// deadline may be a miss to the dispatcher, so it counts as one here too.
let dispatcherEndMargin: Nanoseconds = .micros(5)

/// A witness wake-up held up by more than this (late timer, or queued)
/// counts as the witness having been held up.
let witnessStallThreshold: Nanoseconds = .micros(200)

/// Classifies every deadline miss of one configuration from the bodies' job
/// records, the witness's wake-ups and the machine samples.
struct MissAttribution {
    let plan: [RTUPlan]
    let firstRelease: Nanoseconds
    /// When the RTUs were removed: releases due before it are judged.
    let observedUntil: Nanoseconds
    /// Jobs in start order.
    let jobs: [JobRecord]
    let witnessLate: [Stretch]
    let witnessQueued: [Stretch]
    /// Stretches of at least the threshold in which the dispatcher was
    /// charged CPU time without doing its work: a body's longest
    /// interruption, when at least 80 % of it was neither run_delay nor
    /// uncharged time, and a wait between invocations in which it was
    /// charged CPU for at least 80 % of the time (its own code there takes
    /// 10–40 µs).
    private(set) var charged: [Stretch]
    let machine: MachineSampler
    private(set) var segments: [Segment] = []
    /// Due times of the waits in which the dispatcher had nothing to run
    /// when it went to sleep (the starts of busy periods).
    private var busyPeriodStarts: [Nanoseconds] = []

    init(plan: [RTUPlan], firstRelease: Nanoseconds, observedUntil: Nanoseconds, jobs: UnsafeBufferPointer<JobRecord>,
         witness: UnsafeBufferPointer<WitnessSample>, machine: MachineSampler) {
        self.plan = plan
        self.firstRelease = firstRelease
        self.observedUntil = observedUntil
        self.jobs = jobs.sorted { $0.start < $1.start }
        witnessLate = witness.compactMap { w in
            let late = w.woke - w.due - w.queued
            return late >= witnessStallThreshold ? Stretch(from: w.due, to: w.due + late) : nil
        }
        witnessQueued = witness.compactMap { w in
            w.queued >= witnessStallThreshold ? Stretch(from: w.woke - w.queued, to: w.woke) : nil
        }
        self.machine = machine
        charged = []
        buildTimeline()
        charged = chargedIntervals()
    }

    /// Invocations, and the waits between them from the moment the
    /// dispatcher had a job to run (the earliest release not yet served,
    /// or the end of the previous invocation if one was pending already).
    private mutating func buildTimeline() {
        var lastServed = plan.map { firstRelease + $0.offset - $0.period }
        for (k, job) in jobs.enumerated() {
            if k > 0 {
                let prev = jobs[k - 1]
                let nextDue = plan.indices.map { lastServed[$0] + plan[$0].period }.min() ?? prev.bodyEnd
                let due = max(prev.bodyEnd, nextDue)
                if nextDue > prev.bodyEnd { busyPeriodStarts.append(due) }
                if job.bodyStart > due {
                    let cpu = job.cpuStart - prev.cpuEnd
                    let delay = job.delayStart - prev.delayEnd
                    segments.append(Segment(from: due, to: job.bodyStart, cpu: cpu, delay: delay,
                                            unexplained: max(0, job.bodyStart - due - cpu - delay), invocation: false))
                }
            }
            let cpu = job.cpuEnd - job.cpuStart
            let delay = job.delayEnd - job.delayStart
            segments.append(Segment(from: job.bodyStart, to: job.bodyEnd, cpu: cpu, delay: delay,
                                    unexplained: max(0, job.bodyEnd - job.bodyStart - cpu - delay), invocation: true))
            lastServed[job.rtu] = max(lastServed[job.rtu], job.release)
        }
    }

    private func chargedIntervals() -> [Stretch] {
        var result: [Stretch] = []
        var k = 0
        for s in segments {
            if s.invocation {
                let j = jobs[k]
                k += 1
                // Of the body's wall time, what was neither CPU nor run_delay
                // was not charged (steal); the rest of its longest gap was.
                let charged = j.longestGap - s.delay - s.unexplained
                if j.longestGap >= witnessStallThreshold && charged * 10 >= j.longestGap * 8 {
                    result.append(Stretch(from: j.longestGapAt - j.longestGap, to: j.longestGapAt))
                }
            } else if s.cpu >= witnessStallThreshold && s.cpu * 10 >= (s.to - s.from) * 8 {
                result.append(Stretch(from: s.from, to: s.to))
            }
        }
        return result
    }

    /// Every missed release with a deadline before `observedUntil`, in
    /// release order.
    func misses() -> [AttributedMiss] {
        var result: [AttributedMiss] = []
        for (j, rtu) in plan.enumerated() {
            let own = jobs.filter { $0.rtu == j }
            var next = 0
            var release = firstRelease + rtu.offset
            while release + rtu.period <= observedUntil {
                while next < own.count && own[next].release < release { next += 1 }
                let deadline = release + rtu.period
                if next < own.count && own[next].release == release {
                    let job = own[next]
                    let end = job.bodyEnd + dispatcherEndMargin
                    if end > deadline {
                        result.append(attribute(rtu: j, release: release, start: job.start, windowEnd: end,
                                                excess: end - deadline, ownCPU: job.cpuEnd - job.cpuStart))
                    }
                } else {
                    // Skipped: judged up to the start of the RTU's next job
                    // (or the end of the run), as if it had then run.
                    let resumed = next < own.count ? own[next].start : observedUntil
                    result.append(attribute(rtu: j, release: release, start: nil, windowEnd: resumed,
                                            excess: resumed + rtu.cost - deadline, ownCPU: 0))
                }
                release += rtu.period
            }
        }
        return result.sorted { ($0.release, $0.rtu) < ($1.release, $1.rtu) }
    }

    private func attribute(rtu: Int, release: Nanoseconds, start: Nanoseconds?, windowEnd: Nanoseconds,
                           excess: Nanoseconds, ownCPU: Nanoseconds) -> AttributedMiss {
        let starts = busyPeriodStarts.partitioningIndex(where: { $0 > release })
        let windowStart = starts > 0 ? busyPeriodStarts[starts - 1] : release
        var m = AttributedMiss(rtu: rtu, release: release, start: start, excess: excess,
                               windowStart: windowStart, windowEnd: windowEnd,
                               cpuTimes: machine.cpuTimes(from: windowStart, to: windowEnd),
                               competitorCPU: machine.competitorCPU(from: windowStart, to: windowEnd), ownCPU: ownCPU)
        for s in segments[segments.partitioningIndex(where: { $0.to > windowStart })...] {
            if s.from >= windowEnd { break }
            m.cpu += s.share(s.cpu, in: windowStart, windowEnd)
            m.delay += s.share(s.delay, in: windowStart, windowEnd)
            if s.invocation {
                m.stalledRunning += s.share(s.unexplained, in: windowStart, windowEnd)
            } else {
                m.stalledWaiting += s.share(s.unexplained, in: windowStart, windowEnd)
            }
        }
        m.witnessLate = overlap(witnessLate, windowStart, windowEnd)
        m.witnessQueued = overlap(witnessQueued, windowStart, windowEnd)
        for c in charged[charged.partitioningIndex(where: { $0.to > windowStart })...] {
            if c.from >= windowEnd { break }
            let a = max(c.from, windowStart), b = min(c.to, windowEnd)
            m.chargedInterruptions += b - a
            m.chargedWhileWitnessLate += overlap(witnessLate, a, b)
            m.chargedWhileWitnessQueued += overlap(witnessQueued, a, b)
        }
        m.classify(budget: plan[rtu].budget)
        return m
    }

    /// Total length of `intervals` (sorted, disjoint) inside `[a, b]`.
    private func overlap(_ intervals: [Stretch], _ a: Nanoseconds, _ b: Nanoseconds) -> Nanoseconds {
        var total: Nanoseconds = 0
        for w in intervals[intervals.partitioningIndex(where: { $0.to > a })...] {
            if w.from >= b { break }
            total += min(w.to, b) - max(w.from, a)
        }
        return total
    }
}

extension Array {
    /// Index of the first element for which `predicate` holds, in an array
    /// where it holds for a suffix (binary search); `count` if none.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
