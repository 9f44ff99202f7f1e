import Config
import Control
import Wire

/// An aligned text table: a header row, then rows, columns padded to their widest cell.
struct Table {
    let header: [String]
    let rows: [[String]]

    init(_ header: [String], _ rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    var text: String {
        let all = [header] + rows
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

/// Numbers and durations as people read them.
enum Format {
    static func duration(_ ns: Int64) -> String {
        if ns < 1_000 { return "\(ns)ns" }
        if ns < 1_000_000 { return DecimalText.fixed(Double(ns) / 1e3, 1) + "us" }
        if ns < 1_000_000_000 { return DecimalText.fixed(Double(ns) / 1e6, 2) + "ms" }
        return DecimalText.fixed(Double(ns) / 1e9, 2) + "s"
    }

    static func percent(_ ppb: Int64) -> String { DecimalText.fixed(Double(ppb) / 1e7, 1) + "%" }

    static func rate(_ bitsPerSecond: UInt64) -> String {
        let b = Double(bitsPerSecond)
        if b >= 1e9 { return DecimalText.fixed(b / 1e9, 2) + "Gbit" }
        if b >= 1e6 { return DecimalText.fixed(b / 1e6, 2) + "Mbit" }
        if b >= 1e3 { return DecimalText.fixed(b / 1e3, 1) + "kbit" }
        return "\(bitsPerSecond)bit"
    }

    static func reservation(_ r: ReservationSpec?) -> String {
        guard let r else { return "best effort" }
        return "\(rate(r.rateBitsPerSecond)) x \(r.messageSize)B/\(duration(Int64(r.periodNanoseconds)))"
    }

    static func kind(_ k: RTUKindCode) -> String {
        switch k {
        case .periodic: return "periodic"
        case .reactive: return "reactive"
        case .bestEffort: return "best-effort"
        }
    }

    static func describe(_ s: SocketInfo) -> String {
        "socket \(s.name) (#\(s.id)) on \(s.interface): \(s.local)" + (s.remote.map { " -> \($0)" } ?? "")
            + (s.vc.map { " on VC \($0)" } ?? "") + ", " + reservation(s.reserve)
    }
}

/// Just enough JSON to print (rtuctl only writes it).
indirect enum JSON {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    var text: String {
        switch self {
        case let .string(s): return JSON.quote(s)
        case let .number(n):
            if n.rounded() == n && abs(n) < 9e15 { return "\(Int64(n))" }
            return "\(n)"
        case let .bool(b): return b ? "true" : "false"
        case .null: return "null"
        case let .array(items): return "[" + items.map(\.text).joined(separator: ",") + "]"
        case let .object(fields): return "{" + fields.map { JSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    /// TOML's basic strings escape exactly what JSON strings must (quote,
    /// backslash, control characters as \n \t \r or \uXXXX): the same writer serves.
    static func quote(_ s: String) -> String { TOMLWriter.string(s) }

    static func socket(_ s: SocketInfo) -> JSON {
        var fields: [(String, JSON)] = [("id", .number(Double(s.id))), ("name", .string(s.name)),
                                        ("protocol", .string(s.proto == .udp ? "udp" : "tcp")), ("interface", .string(s.interface)),
                                        ("local", .string("\(s.local)")), ("remote", s.remote.map { .string("\($0)") } ?? .null),
                                        ("owner_uid", .number(Double(s.ownerUID))), ("persistent", .bool(s.persistent)),
                                        ("attached", .bool(s.attached)), ("vc", s.vc.map { .string("\($0)") } ?? .null)]
        if let r = s.reserve {
            fields.append(("reserve", .object([("rate_bps", .number(Double(r.rateBitsPerSecond))),
                                               ("message_size", .number(Double(r.messageSize))),
                                               ("period_ns", .number(Double(r.periodNanoseconds)))])))
        } else {
            fields.append(("reserve", .null))
        }
        fields.append(("counters", .object(s.counters.map { ($0.name, .number(Double($0.value))) })))
        return .object(fields)
    }

    static func rtu(_ r: RTUInfo) -> JSON {
        .object([("id", .number(Double(r.id))), ("name", .string(r.name)), ("owner", .string(r.owner)),
                 ("core", .number(Double(r.core))), ("kind", .string(Format.kind(r.kind))),
                 ("period_ns", .number(Double(r.periodNs))), ("budget_ns", .number(Double(r.budgetNs))),
                 ("batch", .number(Double(r.batch))), ("invocations", .number(Double(r.invocations))),
                 ("overruns", .number(Double(r.overruns))), ("deadline_misses", .number(Double(r.deadlineMisses))),
                 ("lateness_p50_ns", .number(Double(r.latenessP50Ns))), ("lateness_p99_ns", .number(Double(r.latenessP99Ns))),
                 ("lateness_max_ns", .number(Double(r.latenessMaxNs))), ("execution_p50_ns", .number(Double(r.executionP50Ns))),
                 ("execution_p99_ns", .number(Double(r.executionP99Ns))), ("execution_max_ns", .number(Double(r.executionMaxNs)))])
    }
}
