import CShims
import Glibc
import Synchronization
import Testing
@testable import RTUScheduler

/// Descriptors watched by a running dispatcher: edge-triggered ones wake it
/// at every new datum, one-shot ones once until the RTU's work is done and
/// the holdoff has passed. Behaviour only, never speed (TESTING.md): every
/// time bound below is a lower bound, or hundreds of milliseconds wide.
@Suite(.serialized) struct WatchTests {
    /// A pipe whose read end the RTU drains at each invocation.
    final class Pipe {
        let read: Int32
        let write: Int32

        init() throws {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw PipeError(code: errno) }
            read = fds[0]
            write = fds[1]
            _ = fcntl(read, F_SETFL, O_NONBLOCK)
        }

        deinit {
            close(read)
            close(write)
        }

        /// Writes `count` bytes (at most 8) in one write(2), so they arrive together.
        func put(_ count: Int = 1) {
            var bytes: UInt64 = 0
            _ = Glibc.write(write, &bytes, min(count, 8))
        }
    }

    struct PipeError: Error { let code: Int32 }

    /// Reads everything the pipe holds; records when each invocation ran;
    /// with `reports`, says how many bytes it took (`context.handled`).
    final class Drain: Upcall {
        let fd: Int32
        let reports: Bool
        let bytes = Atomic<Int>(0)
        let starts = Mutex<[Nanoseconds]>([])

        init(fd: Int32, reports: Bool = false) {
            self.fd = fd
            self.reports = reports
        }

        var runs: Int { starts.withLock { $0.count } }

        override func run(context: inout UpcallContext) -> UpcallOutcome {
            var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            var taken = 0
            while true {
                let n = withUnsafeMutableBytes(of: &buffer) { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                taken += n
            }
            bytes.add(taken, ordering: .relaxed)
            if reports { context.handled = taken }
            let now = context.now
            starts.withLock { $0.append(now) }
            return .done
        }
    }

    func runtime() throws -> RTURuntime {
        var c = SchedulerConfiguration(cpus: [nil])
        c.policy = .other
        c.lockMemory = false
        let runtime = try RTURuntime(configuration: c)
        try runtime.start()
        return runtime
    }

    /// A started runtime with a reactive RTU (period 5 s: after its first
    /// release every event is early) draining a pipe watched with `holdoff`.
    func drainedPipe(holdoff: Nanoseconds, reports: Bool) throws -> (RTURuntime, Pipe, Drain, RTUHandle) {
        let runtime = try runtime()
        let pipe = try Pipe()
        let body = Drain(fd: pipe.read, reports: reports)
        let handle = try runtime.add(RTUSpec(name: "rx", period: 5_000 * ms, budget: 500 * us, kind: .reactive), body: body)
        try runtime.watch(descriptor: pipe.read, for: handle.id, holdoff: holdoff)
        runtime.waitUntilApplied()
        return (runtime, pipe, body, handle)
    }

    /// Waits up to two seconds for `condition`.
    func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = rtu_sched_monotonic_ns() + 2_000 * ms
        while !condition() {
            if rtu_sched_monotonic_ns() > deadline { return false }
            _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 200 * us)
        }
        return true
    }

    func sleep(_ t: Nanoseconds) { _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + t) }

    /// An RTU that holds its early events for its release (200 ms away)
    /// while data keeps coming: a one-shot descriptor wakes the core once,
    /// an edge-triggered one at (nearly) every write.
    @Test(arguments: [true, false])
    func whileItsRTUWaitsAOneShotDescriptorWakesTheCoreOnce(oneShot: Bool) throws {
        let runtime = try runtime()
        defer { runtime.stop() }
        let pipe = try Pipe()
        let body = Drain(fd: pipe.read)
        let handle = try runtime.add(RTUSpec(name: "rx", period: 200 * ms, budget: 5 * ms, kind: .reactive,
                                             earlyEvents: .holdUntilRelease), body: body)
        try runtime.watch(descriptor: pipe.read, for: handle.id, holdoff: oneShot ? 0 : nil)
        runtime.waitUntilApplied()
        pipe.put()
        #expect(eventually { body.runs == 1 })   // released by the first datum
        sleep(1 * ms)
        let before = runtime.coreStatistics(0).wakeups
        for _ in 0..<20 {
            pipe.put()
            sleep(1 * ms)
        }
        let wakeups = runtime.coreStatistics(0).wakeups - before
        #expect(body.runs == 1)                  // held for the release
        if oneShot {
            #expect(wakeups <= 2, "\(wakeups) wake-ups for 20 writes")  // the first write's (and a stray one)
        } else {
            // More than the one-shot bound above: that is the difference.
            #expect(wakeups > 2, "\(wakeups) wake-ups for 20 writes")
        }
        // The release drains all of it; the descriptor is watched again after.
        #expect(eventually { body.runs == 2 })
        #expect(body.bytes.load(ordering: .relaxed) == 21)
        pipe.put()
        sleep(250 * ms)                          // past the next allowed release
        #expect(eventually { body.runs == 3 })
        #expect(body.bytes.load(ordering: .relaxed) == 22)
    }

    /// After an invocation that drained it, a one-shot descriptor is
    /// enabled again only `holdoff` later: data in between waits for it,
    /// data after it is taken at once (in the slack: the RTU's next release
    /// is seconds away).
    @Test func aOneShotDescriptorIsEnabledAgainAfterTheHoldoff() throws {
        let holdoff = 200 * ms
        let (runtime, pipe, body, handle) = try drainedPipe(holdoff: holdoff, reports: false)
        defer { runtime.stop() }
        pipe.put()
        #expect(eventually { body.runs == 1 })
        pipe.put()                               // within the holdoff
        #expect(eventually { body.runs == 2 })
        let starts = body.starts.withLock { $0 }
        #expect(starts[1] - starts[0] >= holdoff)
        sleep(holdoff + 100 * ms)                // enabled again meanwhile
        let put = rtu_sched_monotonic_ns()
        pipe.put()
        #expect(eventually { body.runs == 3 })
        #expect(body.starts.withLock { $0[2] } - put < holdoff, "waited for a holdoff it was past")
        #expect(body.bytes.load(ordering: .relaxed) == 3)
        #expect(handle.statistics.snapshot().releases == 1)
        #expect(handle.statistics.snapshot().slackInvocations == 2)
    }

    /// A body that says it handled one item (a lone frame) has its
    /// descriptor enabled again at once; one that handled more, only after
    /// the holdoff.
    @Test func aLoneEventLeavesNothingToBatch() throws {
        let holdoff = 300 * ms
        let (runtime, pipe, body, _) = try drainedPipe(holdoff: holdoff, reports: true)
        defer { runtime.stop() }
        pipe.put()
        #expect(eventually { body.runs == 1 })
        let put = rtu_sched_monotonic_ns()
        pipe.put()
        #expect(eventually { body.runs == 2 })
        #expect(body.starts.withLock { $0[1] } - put < holdoff, "a lone byte held off")
        // Three bytes at once: the next byte waits for the holdoff.
        pipe.put(3)
        #expect(eventually { body.runs == 3 })
        pipe.put()
        #expect(eventually { body.runs == 4 })
        let starts = body.starts.withLock { $0 }
        #expect(starts[3] - starts[2] >= holdoff)
        #expect(body.bytes.load(ordering: .relaxed) == 6)
    }

    @Test func oneShotWatchesAreCheckedWhenAsked() throws {
        var c = SchedulerConfiguration(cpus: [nil])
        c.lockMemory = false
        let runtime = try RTURuntime(configuration: c)  // not started: commands only queue
        let a = try Pipe(), b = try Pipe()
        let reactive = try runtime.add(RTUSpec(name: "rx", period: 1 * ms, budget: 100 * us, kind: .reactive), body: Upcall())
        let entry = try runtime.addBestEffort(name: "be", body: Upcall(), core: 0)
        let other = try runtime.addBestEffort(name: "other", body: Upcall(), core: 0)
        #expect(throws: SchedulerError.admission(.invalidSpec(name: "rx", reason: "holdoff must be ≥ 0"))) {
            try runtime.watch(descriptor: b.read, for: reactive.id, holdoff: -1)
        }
        #expect(throws: SchedulerError.admission(.invalidSpec(name: "be", reason: "a holdoff above 0 needs a reactive RTU"))) {
            try runtime.watch(descriptor: a.read, for: entry.id, holdoff: 1 * ms)
        }
        try runtime.watch(descriptor: a.read, for: entry.id, holdoff: 0)
        try runtime.watch(descriptor: b.read, for: reactive.id, holdoff: 1 * ms)
        #expect(throws: SchedulerError.admission(.invalidSpec(name: "rx", reason: "already watches a one-shot descriptor"))) {
            try runtime.watch(descriptor: b.write, for: reactive.id, holdoff: 1 * ms)
        }
        // A descriptor epoll refuses leaves the entry free for another one.
        #expect(throws: SchedulerError.systemCall("epoll_ctl(ADD)", errno: EBADF)) {
            try runtime.watch(descriptor: -1, for: other.id, holdoff: 0)
        }
        try runtime.watch(descriptor: a.write, for: other.id, holdoff: 0)
    }
}
