// The structural layer of the TOML parser: key/value pairs, dotted keys,
// [tables], [[arrays of tables]], inline tables and arrays, with the TOML
// v1.0.0 rules on defining each key and table once.

/// Parses TOML text into a table. Throws the first syntax or structure error.
public enum TOML {
    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var parser = TOMLParser(text)
        return try parser.document()
    }
}

/// A table while the document is being read. A class, because headers and
/// dotted keys reach into tables defined earlier and extend them in place.
private final class TableNode {
    /// How the table came to exist; decides whether it may be extended.
    enum Origin {
        /// Created as the parent of a `[a.b]` header; `[a]` may still define it.
        case implicit
        /// Defined by its own `[header]` (or an element of `[[array]]`).
        case header
        /// Created by a dotted key `a.b = 1`; only more dotted keys in the same
        /// table (or sub-table headers) may extend it.
        case dotted
    }

    var origin: Origin
    var position: TOMLPosition
    var keys: [String] = []
    var slots: [String: Slot] = [:]

    init(_ origin: Origin, at position: TOMLPosition) {
        self.origin = origin
        self.position = position
    }

    enum Slot {
        /// A finished value, including static arrays and inline tables (which TOML freezes).
        case value(TOMLValue, TOMLPosition)
        case table(TableNode, TOMLPosition)
        case tableArray([TableNode], TOMLPosition)

        var position: TOMLPosition {
            switch self {
            case .value(_, let p), .table(_, let p), .tableArray(_, let p): p
            }
        }
    }

    func set(_ key: String, _ slot: Slot) {
        if slots[key] == nil { keys.append(key) }
        slots[key] = slot
    }

    var value: TOMLTable {
        var t = TOMLTable(position: position)
        for k in keys {
            switch slots[k]! {
            case .value(let v, let p): t.set(k, v, at: p)
            case .table(let n, let p): t.set(k, .table(n.value), at: p)
            case .tableArray(let ns, let p): t.set(k, .array(ns.map { .table($0.value) }), at: p)
            }
        }
        return t
    }
}

private struct KeySegment {
    var name: String
    var position: TOMLPosition
}

/// Renders a dotted key for messages, quoting segments that are not bare.
private func keyText(_ segments: some Sequence<KeySegment>) -> String {
    segments.map { TOMLWriter.key($0.name) }.joined(separator: ".")
}

private struct TOMLParser {
    var scanner: TOMLScanner

    init(_ text: String) { scanner = TOMLScanner(text) }

    mutating func document() throws(TOMLError) -> TOMLTable {
        let root = TableNode(.header, at: TOMLPosition(line: 1, column: 1))
        var current = root
        while true {
            scanner.skipWhitespace()
            guard let c = scanner.peek() else { break }
            switch c {
            case Ascii.hash:
                try scanner.skipComment()
            case Ascii.lf, Ascii.cr:
                _ = try scanner.takeNewline()
            case Ascii.openBracket:
                current = try header(root)
                try scanner.expectLineEnd(after: "table header")
            default:
                try keyValue(into: current)
                try scanner.expectLineEnd(after: "value")
            }
        }
        return root.value
    }

    // MARK: Keys and values

    /// A dotted key: simple keys joined by '.', whitespace allowed around dots.
    mutating func key() throws(TOMLError) -> [KeySegment] {
        var segments: [KeySegment] = []
        while true {
            let p = scanner.position
            segments.append(KeySegment(name: try scanner.simpleKey(), position: p))
            scanner.skipWhitespace()
            guard scanner.take(Ascii.dot) else { return segments }
            scanner.skipWhitespace()
        }
    }

    mutating func keyValue(into table: TableNode) throws(TOMLError) {
        let k = try key()
        guard scanner.take(Ascii.equals) else {
            throw scanner.error("expected '=' after key '\(keyText(k))', found \(scanner.found)")
        }
        scanner.skipWhitespace()
        let v = try value()
        try define(k, v, in: table)
    }

    /// Defines `segments = value` in `table`, creating dotted intermediate tables.
    func define(_ segments: [KeySegment], _ value: TOMLValue, in table: TableNode) throws(TOMLError) {
        var node = table
        for (i, s) in segments.dropLast().enumerated() {
            switch node.slots[s.name] {
            case nil:
                let child = TableNode(.dotted, at: s.position)
                node.set(s.name, .table(child, s.position))
                node = child
            case .table(let child, _) where child.origin == .dotted:
                node = child
            case let slot?:
                let what = if case .table = slot { "a table" } else { "a value" }
                throw TOMLError("cannot extend '\(keyText(segments[...i]))' with dotted key '\(keyText(segments))': "
                    + "it is already defined as \(what) at line \(slot.position.line)", at: s.position)
            }
        }
        let last = segments[segments.count - 1]
        if let existing = node.slots[last.name] {
            throw TOMLError("duplicate key '\(keyText(segments))' (first defined at line \(existing.position.line))",
                            at: last.position)
        }
        node.set(last.name, .value(value, last.position))
    }

    mutating func value() throws(TOMLError) -> TOMLValue {
        switch scanner.peek() {
        case Ascii.quote?:
            if scanner.peek(1) == Ascii.quote && scanner.peek(2) == Ascii.quote {
                return .string(try scanner.multilineBasicString())
            }
            return .string(try scanner.basicString())
        case Ascii.apostrophe?:
            if scanner.peek(1) == Ascii.apostrophe && scanner.peek(2) == Ascii.apostrophe {
                return .string(try scanner.multilineLiteralString())
            }
            return .string(try scanner.literalString())
        case Ascii.openBracket?:
            return try array()
        case Ascii.openBrace?:
            return try inlineTable()
        case let c? where Ascii.isBareKey(c) || c == Ascii.plus:
            return try scanner.scalarValue()
        default:
            throw scanner.error("expected a value, found \(scanner.found)")
        }
    }

    /// [ v, v, ] — newlines, comments and a trailing comma allowed.
    mutating func array() throws(TOMLError) -> TOMLValue {
        scanner.advance()
        var items: [TOMLValue] = []
        while true {
            try scanner.skipBlankLines()
            if scanner.take(Ascii.closeBracket) { return .array(items) }
            items.append(try value())
            try scanner.skipBlankLines()
            if scanner.take(Ascii.comma) { continue }
            if scanner.take(Ascii.closeBracket) { return .array(items) }
            throw scanner.error("expected ',' or ']' in array, found \(scanner.found)")
        }
    }

    /// { k = v, k = v } — on one line, no trailing comma (TOML v1.0.0).
    mutating func inlineTable() throws(TOMLError) -> TOMLValue {
        let node = TableNode(.dotted, at: scanner.position)
        scanner.advance()
        scanner.skipWhitespace()
        if scanner.take(Ascii.closeBrace) { return .table(node.value) }
        while true {
            scanner.skipWhitespace()
            if scanner.peek() == Ascii.closeBrace {
                throw scanner.error("a trailing comma is not allowed in an inline table")
            }
            try noNewlineInInlineTable()
            try keyValue(into: node)
            scanner.skipWhitespace()
            if scanner.take(Ascii.comma) { continue }
            if scanner.take(Ascii.closeBrace) { return .table(node.value) }
            try noNewlineInInlineTable()
            throw scanner.error("expected ',' or '}' in inline table, found \(scanner.found)")
        }
    }

    private func noNewlineInInlineTable() throws(TOMLError) {
        if scanner.peek() == Ascii.lf || scanner.peek() == Ascii.cr {
            throw scanner.error("an inline table must be on one line (expected '}')")
        }
    }

    // MARK: Headers

    /// [a.b] or [[a.b]]; returns the table that following keys go into.
    mutating func header(_ root: TableNode) throws(TOMLError) -> TableNode {
        let start = scanner.position
        scanner.advance()
        let isArray = scanner.take(Ascii.openBracket)
        scanner.skipWhitespace()
        let segments = try key()
        guard scanner.take(Ascii.closeBracket), !isArray || scanner.take(Ascii.closeBracket) else {
            throw scanner.error("expected '\(isArray ? "]]" : "]")' after table name, found \(scanner.found)")
        }
        let parent = try walk(segments.dropLast(), from: root, header: segments)
        let last = segments[segments.count - 1]
        let name = keyText(segments)
        let existing = parent.slots[last.name]
        if isArray {
            let element = TableNode(.header, at: start)
            switch existing {
            case nil:
                parent.set(last.name, .tableArray([element], start))
            case .tableArray(let elements, let p):
                parent.set(last.name, .tableArray(elements + [element], p))
            case .value(.array, let p)?:
                throw TOMLError("cannot append to static array '\(name)' defined at line \(p.line)", at: start)
            case let slot?:
                throw TOMLError("'\(name)' is already defined at line \(slot.position.line) and is not an array of tables",
                                at: start)
            }
            return element
        }
        switch existing {
        case nil:
            let table = TableNode(.header, at: start)
            parent.set(last.name, .table(table, start))
            return table
        case .table(let table, _) where table.origin == .implicit:
            table.origin = .header
            table.position = start
            return table
        case .table(let table, _):
            let how = table.origin == .dotted ? " by dotted keys" : ""
            throw TOMLError("table '\(name)' is already defined\(how) at line \(table.position.line)", at: start)
        case .tableArray(_, let p)?:
            throw TOMLError("'\(name)' is already an array of tables (line \(p.line))", at: start)
        case .value(_, let p)?:
            throw TOMLError("key '\(name)' is already defined as a value at line \(p.line)", at: start)
        }
    }

    /// Follows a header's leading keys, creating implicit tables and entering
    /// the last element of arrays of tables.
    private func walk(_ segments: ArraySlice<KeySegment>, from root: TableNode,
                      header: [KeySegment]) throws(TOMLError) -> TableNode {
        var node = root
        for (i, s) in segments.enumerated() {
            switch node.slots[s.name] {
            case nil:
                let child = TableNode(.implicit, at: s.position)
                node.set(s.name, .table(child, s.position))
                node = child
            case .table(let child, _)?:
                node = child
            case .tableArray(let elements, _)?:
                node = elements[elements.count - 1]
            case .value(_, let p)?:
                throw TOMLError("cannot define table '\(keyText(header))': '\(keyText(header[...i]))' "
                    + "is already defined as a value at line \(p.line)", at: s.position)
            }
        }
        return node
    }
}
