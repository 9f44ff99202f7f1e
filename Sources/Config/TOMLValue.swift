// The value tree a TOML document parses into.
//
// Every key keeps the position where it was defined, so a later validation
// step can name the file line of a bad setting. Positions are not part of a
// value's identity: two tables are equal when their keys and values are.

/// A place in a TOML source text: 1-based line and column (column counts
/// Unicode scalars from the start of the line).
public struct TOMLPosition: Hashable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

/// One TOML value. Date and time values are not supported (a config file
/// here has no use for them); the parser rejects them with a message.
public enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case array([TOMLValue])
    case table(TOMLTable)

    /// A short name of the value's type, for messages ("expected an integer, found a string").
    public var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a float"
        case .boolean: "a boolean"
        case .array: "an array"
        case .table: "a table"
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var integerValue: Int64? { if case .integer(let i) = self { i } else { nil } }
    public var boolValue: Bool? { if case .boolean(let b) = self { b } else { nil } }
    public var arrayValue: [TOMLValue]? { if case .array(let a) = self { a } else { nil } }
    public var tableValue: TOMLTable? { if case .table(let t) = self { t } else { nil } }
    /// A float, or an integer read as a float (TOML `1` where `1.0` is meant).
    public var doubleValue: Double? {
        switch self {
        case .float(let d): d
        case .integer(let i): Double(i)
        default: nil
        }
    }
}

/// A TOML table: keys in definition order, each with its value and position.
public struct TOMLTable: Equatable, Sendable {
    public private(set) var keys: [String] = []
    private var entries: [String: Entry] = [:]
    /// Where the table was opened: its `[header]`, its inline `{`, or the key
    /// of its first dotted definition. Line 1, column 1 for the root table.
    public var position: TOMLPosition

    private struct Entry: Sendable {
        var value: TOMLValue
        var position: TOMLPosition
    }

    public init(position: TOMLPosition = TOMLPosition(line: 1, column: 1)) {
        self.position = position
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    public subscript(key: String) -> TOMLValue? { entries[key]?.value }

    /// Where `key` was defined, if it is present.
    public func position(of key: String) -> TOMLPosition? { entries[key]?.position }

    /// Sets `key` (appending it to `keys` when new; keeping its place when not).
    public mutating func set(_ key: String, _ value: TOMLValue, at position: TOMLPosition) {
        if entries[key] == nil { keys.append(key) }
        entries[key] = Entry(value: value, position: position)
    }

    /// Equal when the same keys, in any order, have equal values.
    public static func == (a: TOMLTable, b: TOMLTable) -> Bool {
        guard a.keys.count == b.keys.count else { return false }
        return a.keys.allSatisfy { k in b.entries[k].map { $0.value == a.entries[k]!.value } ?? false }
    }
}

/// A syntax or structure error in a TOML text, with its position.
public struct TOMLError: Error, Equatable, Sendable, CustomStringConvertible {
    public var position: TOMLPosition
    public var message: String

    public init(_ message: String, at position: TOMLPosition) {
        self.message = message
        self.position = position
    }

    public var line: Int { position.line }
    public var column: Int { position.column }

    /// "line 7, column 12: expected '=' after key 'mtu'"
    public var description: String { "\(position): \(message)" }
}
