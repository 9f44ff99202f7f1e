import RTUScheduler

/// A socket's reservation: `rate` bits per second of `messageSize`-byte
/// messages (UDP payload), served every `period` (nil: chosen, see `plan`).
public struct UDPReservation: Hashable, Sendable, CustomStringConvertible {
    public var bitsPerSecond: UInt64
    public var messageSize: Int
    public var period: Nanoseconds?

    public init(bitsPerSecond: UInt64, messageSize: Int, period: Nanoseconds? = nil) {
        self.bitsPerSecond = bitsPerSecond
        self.messageSize = messageSize
        self.period = period
    }

    public var description: String {
        let mbit = Double(bitsPerSecond) / 1e6
        return "\(mbit) Mbit/s of \(messageSize)-byte messages" + (period.map { " every \(Double($0) / 1e6) ms" } ?? "")
    }
}

/// CPU time of one message through an RTU, `c(S) = fixed + perKilobyte·S/1024`:
/// the model the calibration fits and admission charges (ARCHITECTURE.md,
/// "a reservation maps to RTUs").
public struct MessageCost: Hashable, Sendable, CustomStringConvertible {
    public var fixed: Nanoseconds
    public var perKilobyte: Nanoseconds

    public init(fixed: Nanoseconds, perKilobyte: Nanoseconds) {
        self.fixed = fixed
        self.perKilobyte = perKilobyte
    }

    public func cost(_ size: Int) -> Nanoseconds { fixed + (perKilobyte * Int64(size) + 1023) / 1024 }

    public var description: String { "\(fixed) ns + \(perKilobyte) ns/KiB" }
}

/// The per-message costs of UDP input and output processing.
public struct UDPCalibration: Hashable, Sendable, CustomStringConvertible {
    public var input: MessageCost
    public var output: MessageCost
    /// Where the figures came from ("measured at start-up", "config").
    public var source: String

    public init(input: MessageCost, output: MessageCost, source: String) {
        self.input = input
        self.output = output
        self.source = source
    }

    /// Conservative figures for when nothing was measured (a 2 GHz core,
    /// cold caches): 2 µs + 1 µs/KiB each way.
    public static let fallback = UDPCalibration(input: MessageCost(fixed: 2_000, perKilobyte: 1_000),
                                                output: MessageCost(fixed: 2_000, perKilobyte: 1_000),
                                                source: "built-in")

    public var description: String { "input \(input), output \(output) (\(source))" }
}

/// Why a reservation cannot even be put to admission.
public enum ReservationError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    /// Well formed, but one of its RTUs would need more CPU per period than
    /// a whole core has: no core can hold it (an admission matter, not a typo).
    case exceedsCore(String)

    public var description: String {
        switch self {
        case .invalid(let why): return "invalid reservation: \(why)"
        case .exceedsCore(let why): return why
        }
    }
}

/// The RTUs a reservation becomes: a reactive input RTU released by its
/// channel and a periodic output RTU that paces sending, both with batch
/// `B = ⌈R·T/(8·S)⌉` and budget `C = B·c(S)` (ARCHITECTURE.md).
public struct UDPRTUPlan: Sendable, Equatable {
    public var input: RTUSpec
    public var output: RTUSpec
    public var period: Nanoseconds
    public var batch: Int

    /// Period when none is asked for: 10 ms, or longer if one message takes
    /// longer than that at the reserved rate.
    public static let defaultPeriod: Nanoseconds = 10_000_000

    /// The period `make` uses for `r`: the one asked for, else `defaultPeriod`
    /// or one message's time at the rate when that is longer.
    public static func period(of r: UDPReservation) -> Nanoseconds {
        if let period = r.period { return period }
        let bitsPerMessage = Int64(r.messageSize) * 8
        let rate = Int64(max(r.bitsPerSecond, 1))
        return max(defaultPeriod, (bitsPerMessage * 1_000_000_000 + rate - 1) / rate)
    }

    public static func make(_ r: UDPReservation, name: String, owner: String,
                            calibration: UDPCalibration) throws(ReservationError) -> UDPRTUPlan {
        guard r.bitsPerSecond > 0 else { throw .invalid("rate must be above 0") }
        guard r.messageSize >= 1 && r.messageSize <= 65_507 else {
            throw .invalid("message size \(r.messageSize) is outside 1…65507 bytes")
        }
        let bitsPerMessage = Int64(r.messageSize) * 8
        let period = Self.period(of: r)
        guard period >= 100_000 && period <= 10_000_000_000 else {
            throw .invalid("period \(Double(period) / 1e6) ms is outside 0.1 ms…10 s")
        }
        // B = ⌈R·T / (8·S)⌉ in integers: R·T can exceed 2⁶³ only beyond 900 Gbit/s × 10 s.
        let (bits, overflow) = Int64(r.bitsPerSecond).multipliedReportingOverflow(by: period)
        guard !overflow else { throw .invalid("rate × period is too large") }
        let perPeriod = (bits + 999_999_999) / 1_000_000_000
        let batch = Int((perPeriod + bitsPerMessage - 1) / bitsPerMessage)
        guard batch <= 65_536 else { throw .invalid("\(batch) messages per period is too many; use a shorter period") }
        let inputBudget = Int64(batch) * calibration.input.cost(r.messageSize)
        let outputBudget = Int64(batch) * calibration.output.cost(r.messageSize)
        for (what, budget) in [("input", inputBudget), ("output", outputBudget)] where budget > period {
            throw .exceedsCore("\(name).\(what == "input" ? "in" : "out") would need \(budget / 1000) µs of CPU every \(period / 1000) µs period (\(batch) messages × \(what == "input" ? calibration.input : calibration.output)): more than a whole core")
        }
        return UDPRTUPlan(
            input: RTUSpec(name: "\(name).in", owner: owner, period: period, budget: inputBudget,
                           batch: batch, kind: .reactive),
            output: RTUSpec(name: "\(name).out", owner: owner, period: period, budget: outputBudget,
                            batch: batch, kind: .periodic),
            period: period, batch: batch)
    }
}
