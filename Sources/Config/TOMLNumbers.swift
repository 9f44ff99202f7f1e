// TOML numbers and booleans (TOML v1.0.0 "Integer", "Float", "Boolean").
// Date and time values are recognised only to be refused with a clear message.

extension TOMLScanner {
    /// A boolean, integer or float; the cursor is on its first character.
    mutating func scalarValue() throws(TOMLError) -> TOMLValue {
        let start = position
        let from = index
        while let c = peek(), Ascii.isBareKey(c) || c == Ascii.dot || c == Ascii.plus || c == Ascii.colon {
            advance()
        }
        let token = String(decoding: bytes[from..<index], as: UTF8.self)
        guard !token.isEmpty else { throw error("expected a value, found \(found)") }
        if let value = try Self.number(token, at: start) { return value }
        switch token {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        default:
            if Self.looksLikeDateTime(token) {
                throw TOMLError("date and time values are not supported: '\(token)'", at: start)
            }
            throw TOMLError("invalid value '\(token)' (strings must be quoted)", at: start)
        }
    }

    /// The number `token` denotes, nil when it does not start like a number,
    /// or an error when it does but breaks the grammar.
    static func number(_ token: String, at start: TOMLPosition) throws(TOMLError) -> TOMLValue? {
        let u = Array(token.utf8)
        let body = u.first == Ascii.plus || u.first == Ascii.minus ? Array(u.dropFirst()) : u
        switch String(decoding: body, as: UTF8.self) {
        case "inf": return .float(u.first == Ascii.minus ? -.infinity : .infinity)
        case "nan": return .float(.nan)
        default: break
        }
        guard let first = body.first, Ascii.isDigit(first) else { return nil }
        if looksLikeDateTime(token) { return nil }
        if body.count > 1 && first == UInt8(ascii: "0") && "xob".utf8.contains(body[1]) {
            return try prefixedInteger(u, at: start)
        }
        if body.contains(where: { $0 == Ascii.dot || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) {
            return try float(u, at: start)
        }
        guard let digits = digitRun(body[...], Ascii.isDigit) else {
            throw TOMLError("invalid integer '\(token)'", at: start)
        }
        guard digits.count == 1 || first != UInt8(ascii: "0") else {
            throw TOMLError("leading zeros are not allowed in '\(token)'", at: start)
        }
        let text = (u.first == Ascii.minus ? "-" : "") + digits
        guard let v = Int64(text) else { throw TOMLError("integer '\(token)' does not fit in 64 bits", at: start) }
        return .integer(v)
    }

    /// 0x…, 0o…, 0b… (no sign allowed).
    private static func prefixedInteger(_ u: [UInt8], at start: TOMLPosition) throws(TOMLError) -> TOMLValue {
        let token = String(decoding: u, as: UTF8.self)
        guard u[0] == UInt8(ascii: "0") else {
            throw TOMLError("a sign is not allowed on '\(token.dropFirst())'", at: start)
        }
        let radix: Int
        let isDigit: (UInt8) -> Bool
        switch u[1] {
        case UInt8(ascii: "x"): radix = 16; isDigit = Ascii.isHexDigit
        case UInt8(ascii: "o"): radix = 8; isDigit = { $0 >= 0x30 && $0 <= 0x37 }
        case UInt8(ascii: "b"): radix = 2; isDigit = { $0 == 0x30 || $0 == 0x31 }
        default: throw TOMLError("invalid number '\(token)'", at: start)
        }
        guard let digits = digitRun(u[2...], isDigit) else {
            throw TOMLError("invalid base-\(radix) integer '\(token)'", at: start)
        }
        guard let v = Int64(digits, radix: radix) else {
            throw TOMLError("integer '\(token)' does not fit in 64 bits", at: start)
        }
        return .integer(v)
    }

    /// [+-] int-part ( "." digits )? ( [eE] [+-]? digits )?, fraction or exponent required.
    private static func float(_ u: [UInt8], at start: TOMLPosition) throws(TOMLError) -> TOMLValue {
        let token = String(decoding: u, as: UTF8.self)
        let invalid = TOMLError("invalid float '\(token)'", at: start)
        var rest = u[...]
        var text = ""
        if let s = rest.first, s == Ascii.plus || s == Ascii.minus {
            if s == Ascii.minus { text = "-" }
            rest = rest.dropFirst()
        }
        let intEnd = rest.firstIndex(where: { $0 == Ascii.dot || $0 | 0x20 == UInt8(ascii: "e") }) ?? rest.endIndex
        guard let intPart = digitRun(rest[..<intEnd], Ascii.isDigit) else { throw invalid }
        guard intPart.count == 1 || !intPart.hasPrefix("0") else {
            throw TOMLError("leading zeros are not allowed in '\(token)'", at: start)
        }
        text += intPart
        rest = rest[intEnd...]
        if rest.first == Ascii.dot {
            rest = rest.dropFirst()
            let fracEnd = rest.firstIndex(where: { $0 | 0x20 == UInt8(ascii: "e") }) ?? rest.endIndex
            guard let frac = digitRun(rest[..<fracEnd], Ascii.isDigit) else { throw invalid }
            text += "." + frac
            rest = rest[fracEnd...]
        }
        if !rest.isEmpty {
            rest = rest.dropFirst()  // the e or E
            text += "e"
            if let s = rest.first, s == Ascii.plus || s == Ascii.minus {
                text += s == Ascii.minus ? "-" : ""
                rest = rest.dropFirst()
            }
            guard let exp = digitRun(rest, Ascii.isDigit) else { throw invalid }
            text += exp
        }
        guard let v = Double(text) else { throw invalid }
        return .float(v)
    }

    /// The digits of `s` without underscores, when `s` is digits with single
    /// underscores between them; nil otherwise.
    static func digitRun(_ s: ArraySlice<UInt8>, _ isDigit: (UInt8) -> Bool) -> String? {
        guard let f = s.first, let l = s.last, isDigit(f), isDigit(l) else { return nil }
        var out: [UInt8] = []
        var previousUnderscore = false
        for c in s {
            if c == Ascii.underscore {
                if previousUnderscore { return nil }
                previousUnderscore = true
                continue
            }
            guard isDigit(c) else { return nil }
            previousUnderscore = false
            out.append(c)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// 1979-05-27…, 07:32:00…
    static func looksLikeDateTime(_ token: String) -> Bool {
        let u = Array(token.utf8)
        func digits(_ r: Range<Int>) -> Bool { r.upperBound <= u.count && u[r].allSatisfy(Ascii.isDigit) }
        if digits(0..<4) && u.count > 4 && u[4] == Ascii.minus { return true }
        return digits(0..<2) && u.count > 2 && u[2] == Ascii.colon
    }
}
