// Errors of the configuration: every problem found, each naming where it is.

/// All problems found in a configuration; `description` lists them one per line.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    public init(_ problems: [ConfigProblem]) { self.problems = problems }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// One problem: "rtud.toml:12: interface[0].mtu = 70000: must be between 68 and 9216".
public struct ConfigProblem: Equatable, Sendable, CustomStringConvertible {
    /// The file (or the name given to `parse(text:source:cpuCount:)`); nil for a
    /// configuration built in code.
    public var source: String?
    /// 1-based line of the setting (or of its table when the setting is absent).
    public var line: Int?
    /// Set for TOML syntax errors only.
    public var column: Int?
    /// The setting, as `interface[1].address`; nil for syntax and file errors.
    public var keyPath: String?
    /// The setting's value as TOML, when it has one.
    public var value: String?
    /// The value is a built-in default, not written in the file.
    public var isDefault: Bool
    public var message: String

    public init(source: String? = nil, line: Int? = nil, column: Int? = nil, keyPath: String? = nil,
                value: String? = nil, isDefault: Bool = false, message: String) {
        self.source = source
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.value = value
        self.isDefault = isDefault
        self.message = message
    }

    public var description: String {
        var location = source ?? ""
        if let line { location += source == nil ? "line \(line)" : ":\(line)" }
        if let column, line != nil { location += ":\(column)" }
        var subject = ""
        if let keyPath {
            subject = keyPath
            if let value { subject += " = \(value)" }
            if isDefault { subject += " (default)" }
            subject += ": "
        }
        return (location.isEmpty ? "" : location + ": ") + subject + message
    }
}

/// A semantic problem found by `RtudConfig.validate`, before it is given a place in a file.
struct ConfigIssue: Equatable {
    var keyPath: String
    var value: String?
    var message: String
}

/// Collects problems while a file is decoded and validated, and remembers
/// the line of every setting read so that later problems can name it.
final class Diagnostics {
    let source: String?
    private(set) var problems: [ConfigProblem] = []
    /// Line of each key path that appeared in the file ("interface[0].mtu" → 14).
    var lines: [String: Int] = [:]
    /// Key paths that already have a problem; validation does not repeat them.
    private var failed: Set<String> = []

    init(source: String?) { self.source = source }

    /// The line of `keyPath`, or of its nearest enclosing table in the file.
    func line(of keyPath: String) -> (line: Int?, isDefault: Bool) {
        if let l = lines[keyPath] { return (l, false) }
        var path = Substring(keyPath)
        while let cut = path.lastIndex(where: { $0 == "." || $0 == "[" }) {
            path = path[..<cut]
            if let l = lines[String(path)] { return (l, true) }
        }
        return (nil, source != nil)
    }

    func fail(_ keyPath: String, value: String? = nil, _ message: String) {
        let (line, isDefault) = line(of: keyPath)
        failed.insert(keyPath)
        problems.append(ConfigProblem(source: source, line: line, keyPath: keyPath, value: value,
                                      isDefault: isDefault && value != nil, message: message))
    }

    /// A problem that names no single setting (unknown keys).
    func note(line: Int?, _ message: String) {
        problems.append(ConfigProblem(source: source, line: line, message: message))
    }

    func add(_ issue: ConfigIssue) {
        guard !failed.contains(where: { issue.keyPath == $0 || issue.keyPath.hasPrefix($0 + ".") }) else { return }
        fail(issue.keyPath, value: issue.value, issue.message)
    }

    /// Problems in file order (those without a line last).
    var sortedProblems: [ConfigProblem] {
        problems.enumerated().sorted { a, b in
            (a.element.line ?? .max, a.offset) < (b.element.line ?? .max, b.offset)
        }.map(\.element)
    }
}

/// The candidate closest to `word` by edit distance, if close enough to be a likely typo.
func closestMatch(to word: String, in candidates: [String]) -> String? {
    let best = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    guard let (candidate, distance) = best else { return nil }
    if distance <= max(2, max(word.count, candidate.count) / 3) { return candidate }
    return word.count >= 3 ? candidates.first { $0.hasPrefix(word) } : nil
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
