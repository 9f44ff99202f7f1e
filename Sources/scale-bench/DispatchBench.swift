import ArgumentParser
import CShims
import Foundation
import RTUScheduler

/// The dispatcher's own cost as a function of how many idle best-effort
/// entries it holds (two per unreserved socket), on a manual clock so that
/// only the decision and accounting are timed: a 1 ms periodic RTU (a
/// reserved socket's output), a reactive RTU (the port's link input), and N
/// entries that are never signalled. Measured per invocation when only the
/// periodic RTU runs, and when one best-effort entry is signalled before
/// every step (traffic through one socket); plus the time to add and remove
/// one more entry (what opening and closing a socket costs the RT core).
struct DispatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch", abstract: "DispatcherCore's cost per invocation with many idle entries.")

    @Option(help: "Idle best-effort entries (comma-separated counts).") var entries = "0,2000,20000"
    @Option(help: "Invocations timed per measure.") var invocations = 200_000
    @Option(help: "CPU to run on.") var cpu = 1
    @Option(help: "Repetitions (the median is reported).") var repeats = 5

    func run() throws {
        _ = rtu_sched_pin_self(Int32(cpu))
        let counts = entries.split(separator: ",").compactMap { Int($0) }
        var lines = ["| idle entries | periodic RTU only: ns per invocation | one entry signalled every step: ns per invocation | add one more entry: µs | remove it: µs |",
                     "|---:|---:|---:|---:|---:|"]
        for n in counts {
            var idle: [Double] = [], busy: [Double] = [], add: [Double] = [], remove: [Double] = []
            for _ in 0..<repeats {
                let m = measure(entries: n)
                idle.append(m.idle)
                busy.append(m.busy)
                add.append(m.add)
                remove.append(m.remove)
            }
            lines.append("| \(grouped(n)) | \(String(format: "%.0f", median(idle))) | \(String(format: "%.0f", median(busy))) | \(String(format: "%.1f", median(add) / 1000)) | \(String(format: "%.1f", median(remove) / 1000)) |")
            note("dispatch: \(n) entries done")
        }
        print(lines.joined(separator: "\n"))
    }

    final class Tick: Upcall {
        let clock: ManualClock
        let cost: Nanoseconds
        init(_ clock: ManualClock, cost: Nanoseconds) {
            self.clock = clock
            self.cost = cost
        }
        override func run(context: inout UpcallContext) -> UpcallOutcome {
            clock.advance(by: cost)
            return .done
        }
    }

    func measure(entries n: Int) -> (idle: Double, busy: Double, add: Double, remove: Double) {
        let clock = ManualClock()
        let core = DispatcherCore(clock: clock, bestEffortSlice: .micros(200), capacity: n + 64)
        var next: UInt32 = 1
        func add(_ kind: SlotKind, period: Nanoseconds, cost: Nanoseconds) -> RTUTrigger? {
            let id = RTUID(rawValue: next)
            next += 1
            let trigger = kind == .periodic ? nil : RTUTrigger(id: id, period: period, doorbell: core.doorbell)
            core.apply(.add(SlotConfig(id: id, kind: kind, period: period, budget: .micros(100), batch: 1,
                                       body: Tick(clock, cost: cost), stats: RTUStatistics(id: id, name: "e\(id.rawValue)"),
                                       trigger: trigger)))
            return trigger
        }
        _ = add(.periodic, period: .millis(1), cost: 1_000)
        _ = add(.reactive, period: .millis(1), cost: 1_000)
        let active = add(.bestEffort, period: .max, cost: 1_000)
        for _ in 0..<n { _ = add(.bestEffort, period: .max, cost: 1_000) }

        func timed(signal: RTUTrigger?) -> Double {
            var done = 0
            let start = rtu_sched_monotonic_ns()
            while done < invocations {
                signal?.signal()
                switch core.step() {
                case .ran: done += 1
                case let .idle(wakeAt): clock.advance(to: wakeAt ?? clock.now() + 1_000)
                }
            }
            return Double(rtu_sched_monotonic_ns() - start) / Double(done)
        }
        let idle = timed(signal: nil)
        let busy = timed(signal: active)

        // Made beforehand and held here, as the runtime does: the dispatcher
        // neither allocates nor frees them.
        let id = RTUID(rawValue: next)
        let config = SlotConfig(id: id, kind: .bestEffort, period: .max, budget: .micros(100), batch: 1,
                                body: Tick(clock, cost: 1_000), stats: RTUStatistics(id: id, name: "last"),
                                trigger: RTUTrigger(id: id, period: .max, doorbell: core.doorbell))
        let t0 = rtu_sched_monotonic_ns()
        core.apply(.add(config))
        let t1 = rtu_sched_monotonic_ns()
        core.apply(.remove(id))
        let t2 = rtu_sched_monotonic_ns()
        withExtendedLifetime(config) {}
        return (idle, busy, Double(t1 - t0), Double(t2 - t1))
    }
}
