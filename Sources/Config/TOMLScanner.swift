// The lexical layer of the TOML parser: a cursor over UTF-8 bytes that reads
// whitespace, comments, keys, strings and numbers (TOML v1.0.0, toml.io).
// The structural layer (tables, arrays, key definitions) is TOMLParser.swift.

enum Ascii {
    static let tab = UInt8(ascii: "\t"), lf = UInt8(ascii: "\n"), cr = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " "), hash = UInt8(ascii: "#"), quote = UInt8(ascii: "\"")
    static let apostrophe = UInt8(ascii: "'"), backslash = UInt8(ascii: "\\"), dot = UInt8(ascii: ".")
    static let equals = UInt8(ascii: "="), comma = UInt8(ascii: ","), underscore = UInt8(ascii: "_")
    static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}")
    static let plus = UInt8(ascii: "+"), minus = UInt8(ascii: "-"), colon = UInt8(ascii: ":")

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isHexDigit(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
    static func isLetter(_ c: UInt8) -> Bool { c | 0x20 >= 0x61 && c | 0x20 <= 0x7A }
    /// TOML bare keys: A-Za-z0-9_-
    static func isBareKey(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) || c == underscore || c == minus }
    /// Control characters TOML forbids in comments and strings (tab is allowed).
    static func isForbiddenControl(_ c: UInt8) -> Bool { (c < 0x20 && c != tab) || c == 0x7F }
}

struct TOMLScanner {
    let bytes: [UInt8]
    private(set) var index = 0
    private var line = 1
    private var lineStart = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    var atEnd: Bool { index >= bytes.count }
    func peek(_ ahead: Int = 0) -> UInt8? { index + ahead < bytes.count ? bytes[index + ahead] : nil }

    /// The current position; the column counts Unicode scalars, not bytes.
    var position: TOMLPosition {
        var column = 1
        var i = lineStart
        while i < index && i < bytes.count {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        if index > bytes.count { column += index - bytes.count }
        return TOMLPosition(line: line, column: column)
    }

    func error(_ message: String) -> TOMLError { TOMLError(message, at: position) }

    /// A printable description of the character at the cursor, for messages.
    var found: String {
        guard let c = peek() else { return "end of input" }
        switch c {
        case Ascii.lf, Ascii.cr: return "end of line"
        case Ascii.tab: return "a tab"
        case 0..<0x20, 0x7F: return "control character U+\(hex(UInt32(c), width: 4))"
        default:
            var end = index + 1
            while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
            return "'" + String(decoding: bytes[index..<end], as: UTF8.self) + "'"
        }
    }

    mutating func advance(_ n: Int = 1) { index += n }

    /// Consumes `c` if it is next.
    mutating func take(_ c: UInt8) -> Bool {
        guard peek() == c else { return false }
        index += 1
        return true
    }

    mutating func skipWhitespace() {
        while let c = peek(), c == Ascii.space || c == Ascii.tab { index += 1 }
    }

    /// Consumes LF or CRLF; a lone CR is an error.
    mutating func takeNewline() throws(TOMLError) -> Bool {
        if peek() == Ascii.cr {
            guard peek(1) == Ascii.lf else { throw error("a carriage return must be followed by a line feed") }
            index += 1
        }
        guard peek() == Ascii.lf else { return false }
        index += 1
        line += 1
        lineStart = index
        return true
    }

    /// Skips a `#` comment up to (not including) the end of the line.
    mutating func skipComment() throws(TOMLError) {
        guard peek() == Ascii.hash else { return }
        while let c = peek(), c != Ascii.lf {
            if c == Ascii.cr && peek(1) == Ascii.lf { return }
            if Ascii.isForbiddenControl(c) { throw error("\(found) is not allowed in a comment") }
            index += 1
        }
    }

    /// Skips whitespace, comments and newlines (inside arrays).
    mutating func skipBlankLines() throws(TOMLError) {
        while true {
            skipWhitespace()
            try skipComment()
            guard try takeNewline() else { return }
        }
    }

    /// After a key/value pair or a header: optional whitespace and comment,
    /// then a newline or the end of the input.
    mutating func expectLineEnd(after what: String) throws(TOMLError) {
        skipWhitespace()
        try skipComment()
        if atEnd { return }
        guard try takeNewline() else {
            throw error("expected end of line after \(what), found \(found)")
        }
    }

    // MARK: Keys

    /// One key segment: bare, "basic" or 'literal'.
    mutating func simpleKey() throws(TOMLError) -> String {
        switch peek() {
        case Ascii.quote?:
            if peek(1) == Ascii.quote && peek(2) == Ascii.quote {
                throw error("a multi-line string cannot be a key")
            }
            return try basicString()
        case Ascii.apostrophe?:
            if peek(1) == Ascii.apostrophe && peek(2) == Ascii.apostrophe {
                throw error("a multi-line string cannot be a key")
            }
            return try literalString()
        default:
            let start = index
            while let c = peek(), Ascii.isBareKey(c) { index += 1 }
            guard index > start else { throw error("expected a key, found \(found)") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
    }

    // MARK: Strings

    /// A "basic string" with escapes; the cursor is on the opening quote.
    mutating func basicString() throws(TOMLError) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek(), c != Ascii.lf, c != Ascii.cr else {
                throw error("unterminated string: expected '\"' before \(found)")
            }
            if c == Ascii.quote { index += 1; break }
            if c == Ascii.backslash { try escape(into: &out); continue }
            if Ascii.isForbiddenControl(c) { throw error("\(found) must be escaped in a string") }
            out.append(c)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A """multi-line basic string"""; the cursor is on the first quote.
    mutating func multilineBasicString() throws(TOMLError) -> String {
        index += 3
        _ = try takeNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated multi-line string: expected '\"\"\"'") }
            if c == Ascii.quote, let n = try closingQuotes(Ascii.quote) {
                out.append(contentsOf: repeatElement(Ascii.quote, count: n - 3))
                break
            }
            if c == Ascii.backslash {
                if try lineEndingBackslash() { continue }
                try escape(into: &out)
                continue
            }
            if try takeNewline() { out.append(Ascii.lf); continue }
            if Ascii.isForbiddenControl(c) { throw error("\(found) must be escaped in a string") }
            out.append(c)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A 'literal string' without escapes; the cursor is on the apostrophe.
    mutating func literalString() throws(TOMLError) -> String {
        index += 1
        let start = index
        while true {
            guard let c = peek(), c != Ascii.lf, c != Ascii.cr else {
                throw error("unterminated literal string: expected \"'\" before \(found)")
            }
            if c == Ascii.apostrophe { break }
            if Ascii.isForbiddenControl(c) { throw error("\(found) is not allowed in a literal string") }
            index += 1
        }
        defer { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// A '''multi-line literal string'''; the cursor is on the first apostrophe.
    mutating func multilineLiteralString() throws(TOMLError) -> String {
        index += 3
        _ = try takeNewline()
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw error("unterminated multi-line literal string: expected \"'''\"") }
            if c == Ascii.apostrophe, let n = try closingQuotes(Ascii.apostrophe) {
                out.append(contentsOf: repeatElement(Ascii.apostrophe, count: n - 3))
                break
            }
            if try takeNewline() { out.append(Ascii.lf); continue }
            if Ascii.isForbiddenControl(c) { throw error("\(found) is not allowed in a literal string") }
            out.append(c)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// At a run of `q`: nil when fewer than three (content), else consumes the
    /// run and returns its length; up to two extra quotes belong to the content.
    private mutating func closingQuotes(_ q: UInt8) throws(TOMLError) -> Int? {
        var n = 0
        while peek(n) == q { n += 1 }
        guard n >= 3 else { return nil }
        guard n <= 5 else { throw error("too many quotes at the end of a multi-line string") }
        index += n
        return n
    }

    /// A backslash at the end of a line trims it and all following whitespace.
    private mutating func lineEndingBackslash() throws(TOMLError) -> Bool {
        var i = 1
        while let c = peek(i), c == Ascii.space || c == Ascii.tab { i += 1 }
        guard peek(i) == Ascii.lf || (peek(i) == Ascii.cr && peek(i + 1) == Ascii.lf) else { return false }
        index += i
        while true {
            skipWhitespace()
            guard try takeNewline() else { return true }
        }
    }

    /// One escape sequence (TOML v1.0: \b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX).
    private mutating func escape(into out: inout [UInt8]) throws(TOMLError) {
        let escapePosition = position
        index += 1
        guard let c = peek() else { throw error("unterminated escape sequence") }
        index += 1
        switch c {
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "t"): out.append(Ascii.tab)
        case UInt8(ascii: "n"): out.append(Ascii.lf)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "r"): out.append(Ascii.cr)
        case Ascii.quote, Ascii.backslash: out.append(c)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let width = c == UInt8(ascii: "u") ? 4 : 8
            var v: UInt32 = 0
            for k in 0..<width {
                guard let d = peek(k), Ascii.isHexDigit(d) else {
                    throw TOMLError("\\\(Character(Unicode.Scalar(c))) needs \(width) hexadecimal digits",
                                    at: escapePosition)
                }
                v = v << 4 | UInt32(hexValue(d))
            }
            index += width
            guard let scalar = Unicode.Scalar(v) else {
                throw TOMLError("U+\(hex(v, width: 4)) is not a Unicode scalar value", at: escapePosition)
            }
            out.append(contentsOf: String(Character(scalar)).utf8)
        default:
            throw TOMLError("invalid escape sequence '\\\(Character(Unicode.Scalar(c)))'", at: escapePosition)
        }
    }
}

func hexValue(_ d: UInt8) -> UInt8 { Ascii.isDigit(d) ? d - 0x30 : (d | 0x20) - 0x61 + 10 }

func hex(_ v: UInt32, width: Int) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}
