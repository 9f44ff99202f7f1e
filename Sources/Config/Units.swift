// Typed values of the configuration, each with the text form the file uses.

import Wire

/// A length of time in whole nanoseconds, written "200us", "10ms", "1.5s".
/// (Not Swift's `Duration`: the dispatcher computes in integer nanoseconds.)
public struct ConfigDuration: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public static func microseconds(_ n: Int64) -> Self { Self(nanoseconds: n * 1_000) }
    public static func milliseconds(_ n: Int64) -> Self { Self(nanoseconds: n * 1_000_000) }
    public static func seconds(_ n: Int64) -> Self { Self(nanoseconds: n * 1_000_000_000) }

    /// Units a duration may be written in, largest first.
    static let units: [(name: String, scale: UInt64)] = [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000), ("ns", 1)]

    /// Parses "<number><unit>" with unit ns, us (or µs), ms or s; a decimal
    /// fraction is allowed when the result is a whole number of nanoseconds.
    public init?(_ text: String) {
        let t = text.hasSuffix("µs") ? text.dropLast(2) + "us" : text
        guard let (number, unit) = splitNumber(t),
              let scale = Self.units.first(where: { $0.name == unit })?.scale,
              let ns = scaledDecimal(number, scale: scale), ns <= UInt64(Int64.max) else { return nil }
        nanoseconds = Int64(ns)
    }

    /// The largest unit that shows the value exactly: "200us", "1500ms".
    public var description: String {
        if nanoseconds == 0 { return "0s" }
        let magnitude = nanoseconds.magnitude
        let unit = Self.units.first { magnitude % $0.scale == 0 }!
        return "\(nanoseconds / Int64(unit.scale))\(unit.name)"
    }

    public var duration: Duration { .nanoseconds(nanoseconds) }

    public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }
}

/// A rate in bits per second, written "40Mbit", "1.5Gbit", "800k" (SI: k = 1000).
public struct BitRate: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var bitsPerSecond: UInt64

    public init(bitsPerSecond: UInt64) { self.bitsPerSecond = bitsPerSecond }
    public static func kbit(_ n: UInt64) -> Self { Self(bitsPerSecond: n * 1_000) }
    public static func mbit(_ n: UInt64) -> Self { Self(bitsPerSecond: n * 1_000_000) }
    public static func gbit(_ n: UInt64) -> Self { Self(bitsPerSecond: n * 1_000_000_000) }

    static let units: [(names: [String], scale: UInt64)] = [
        (["gbit", "g"], 1_000_000_000), (["mbit", "m"], 1_000_000), (["kbit", "k"], 1_000), (["bit", ""], 1),
    ]

    /// Parses "<number><unit>", unit (any case) bit, kbit, Mbit, Gbit, or the
    /// SI prefixes k, M, G alone; no unit means bits per second.
    public init?(_ text: String) {
        guard let (number, unit) = splitNumber(text),
              let scale = Self.units.first(where: { $0.names.contains(unit.lowercased()) })?.scale,
              let bps = scaledDecimal(number, scale: scale) else { return nil }
        bitsPerSecond = bps
    }

    /// The largest unit that shows the value exactly: "40Mbit", "1500kbit".
    public var description: String {
        if bitsPerSecond == 0 { return "0bit" }
        let unit = Self.units.first { bitsPerSecond % $0.scale == 0 }!
        let name = ["gbit": "Gbit", "mbit": "Mbit", "kbit": "kbit", "bit": "bit"][unit.names[0]]!
        return "\(bitsPerSecond / unit.scale)\(name)"
    }

    public static func < (a: Self, b: Self) -> Bool { a.bitsPerSecond < b.bitsPerSecond }
}

/// Splits "12.5ms" into ("12.5", "ms"), allowing one space between them.
private func splitNumber(_ text: String) -> (Substring, String)? {
    let end = text.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? text.endIndex
    let number = text[..<end]
    var unit = text[end...]
    if unit.first == " " { unit = unit.dropFirst() }
    guard !number.isEmpty, !unit.contains(" ") else { return nil }
    return (number, String(unit))
}

/// `number` × `scale` for a decimal "12" or "12.5", when the result is whole and fits.
private func scaledDecimal(_ number: Substring, scale: UInt64) -> UInt64? {
    let parts = number.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, !parts[0].isEmpty, let whole = UInt64(parts[0]) else { return nil }
    let (w, overflow) = whole.multipliedReportingOverflow(by: scale)
    guard !overflow else { return nil }
    guard parts.count == 2 else { return w }
    let fraction = parts[1]
    guard !fraction.isEmpty, fraction.count <= 18, let f = UInt64(fraction) else { return nil }
    var divisor: UInt64 = 1
    for _ in 0..<fraction.count { divisor *= 10 }
    let (product, overflow2) = f.multipliedReportingOverflow(by: scale)
    guard !overflow2, product % divisor == 0 else { return nil }
    let (sum, overflow3) = w.addingReportingOverflow(product / divisor)
    return overflow3 ? nil : sum
}
