import CShims
import Foundation

/// What a process holds in memory, from `/proc/PID/status` (resident set,
/// split into anonymous, file-backed and shared-memory pages) and
/// `/proc/PID/smaps_rollup` (proportional set: a page mapped by n processes
/// counts 1/n to each). In KiB, as the kernel reports them. Shared memory
/// (memfd ring pages) shows in `rssShmem` and `pssShmem`.
struct ProcessMemory: Codable {
    var rss = 0
    var rssAnon = 0
    var rssFile = 0
    var rssShmem = 0
    var locked = 0
    var pss = 0
    var pssAnon = 0
    var pssFile = 0
    var pssShmem = 0

    /// Each figure with its key in /proc/PID/status, then those of smaps_rollup.
    private static let statusKeys: [(String, WritableKeyPath<ProcessMemory, Int>)] =
        [("VmRSS", \.rss), ("RssAnon", \.rssAnon), ("RssFile", \.rssFile), ("RssShmem", \.rssShmem), ("VmLck", \.locked)]
    private static let rollupKeys: [(String, WritableKeyPath<ProcessMemory, Int>)] =
        [("Pss", \.pss), ("Pss_Anon", \.pssAnon), ("Pss_File", \.pssFile), ("Pss_Shmem", \.pssShmem)]

    static func read(pid: Int32) -> ProcessMemory? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var m = ProcessMemory()
        let fields = kilobytes(status)
        for (key, figure) in statusKeys { m[keyPath: figure] = fields[key] ?? 0 }
        if let rollup = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) {
            let r = kilobytes(rollup)
            for (key, figure) in rollupKeys { m[keyPath: figure] = r[key] ?? 0 }
        }
        return m
    }

    /// Every figure of `a` combined with the same of `b`.
    private static func combine(_ a: ProcessMemory, _ b: ProcessMemory, _ op: (Int, Int) -> Int) -> ProcessMemory {
        var m = a
        for (_, figure) in statusKeys + rollupKeys { m[keyPath: figure] = op(a[keyPath: figure], b[keyPath: figure]) }
        return m
    }

    static func - (a: ProcessMemory, b: ProcessMemory) -> ProcessMemory { combine(a, b, -) }

    static func + (a: ProcessMemory, b: ProcessMemory) -> ProcessMemory { combine(a, b, +) }
}

/// "Key:   123 kB" lines of a /proc file, as key → KiB.
func kilobytes(_ text: String) -> [String: Int] {
    var out: [String: Int] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let rest = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard rest.count == 2, rest[1] == "kB", let v = Int(rest[0]) else { continue }
        out[String(line[..<colon])] = v
    }
    return out
}

/// Shared memory of the whole machine (`Shmem` in /proc/meminfo, KiB): every
/// memfd page that exists, whoever maps it — what the sockets' rings cost the
/// machine, independent of which process's RSS shows them.
func machineShmemKB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return 0 }
    return kilobytes(text)["Shmem"] ?? 0
}

/// The threads of `pid` allowed on exactly `cpu`: rtud pins its dispatchers
/// and nothing else, so this finds the dispatcher of that core.
func threadsPinned(pid: Int32, to cpu: Int) -> [Int32] {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [] }
    return tasks.compactMap { name -> Int32? in
        guard let tid = Int32(name),
              let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        return line.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespaces) } == "\(cpu)" ? tid : nil
    }
}

/// CPU time of one thread in nanoseconds (first field of its schedstat:
/// time on the CPU, exact, not tick-sampled).
func threadCPU(pid: Int32, tid: Int32) -> Int64 {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/schedstat", encoding: .utf8),
          let first = text.split(separator: " ").first, let v = Int64(first) else { return 0 }
    return v
}

/// CPU time (user + system) of a whole process in nanoseconds, from its
/// threads' schedstat.
func processCPU(pid: Int32) -> Int64 {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return 0 }
    return tasks.compactMap(Int32.init).reduce(0) { $0 + threadCPU(pid: pid, tid: $1) }
}

func now() -> Int64 { rtu_sched_monotonic_ns() }

func sleep(seconds: Double) {
    _ = rtu_sched_sleep_until(now() + Int64(seconds * 1e9))
}

// MARK: - Figures

/// Order statistics of samples in nanoseconds.
struct Summary: Codable {
    var count: Int
    var p50: Int64
    var p99: Int64
    var max: Int64
    var mean: Double

    init(_ samples: [Int64]) {
        let s = samples.sorted()
        count = s.count
        func q(_ f: Double) -> Int64 { s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * f).rounded(.up)) - 1)] }
        p50 = q(0.5)
        p99 = q(0.99)
        max = s.last ?? 0
        mean = s.isEmpty ? 0 : Double(s.reduce(0, +)) / Double(s.count)
    }
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return 0 }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// "12.3 µs" style for nanoseconds.
func micros(_ ns: Int64) -> String { String(format: "%.1f µs", Double(ns) / 1000) }
func micros(_ ns: Double) -> String { String(format: "%.1f µs", ns / 1000) }

/// Thousands separated by commas.
func grouped(_ v: Int) -> String {
    let digits = String(abs(v))
    var out = ""
    for (i, c) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (v < 0 ? "-" : "") + String(out.reversed())
}

func grouped(_ v: Double) -> String { grouped(Int(v.rounded())) }

/// KiB as "123,456 KiB".
func kib(_ v: Int) -> String { "\(grouped(v)) KiB" }

/// Writes a progress or diagnostic line to standard error (standard output
/// carries the tables, or the answers a parent reads).
func note(_ line: String) {
    FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
}

func fail(_ message: String) -> Never {
    note("scale-bench: \(message)")
    exit(1)
}

/// Writes `value` to `path` as JSON (the `--json` files), pretty-printed with sorted keys.
func writeJSON(_ value: some Encodable, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(value).write(to: URL(fileURLWithPath: path))
}

/// Writes a line to standard output at once (the parent reads it through a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write((line + "\n").data(using: .utf8)!)
}
