// Writing TOML: keys, strings and values in a form TOML.parse reads back to
// the same value.

public enum TOMLWriter {
    /// A key as written in a document: bare when it can be, else a basic string.
    public static func key(_ k: String) -> String {
        !k.isEmpty && k.utf8.allSatisfy(Ascii.isBareKey) ? k : string(k)
    }

    /// A basic string with the escapes TOML requires.
    public static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + hex(scalar.value, width: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A float that parses back to the same Double.
    public static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        let s = "\(d)"
        // Swift writes 1e+20 and 5e-324: TOML needs a fraction or an exponent, both present here.
        return s.contains(".") || s.contains("e") ? s : s + ".0"
    }

    /// A value on one line (tables as inline tables).
    public static func value(_ v: TOMLValue) -> String {
        switch v {
        case .string(let s): string(s)
        case .integer(let i): "\(i)"
        case .float(let d): float(d)
        case .boolean(let b): b ? "true" : "false"
        case .array(let items): "[" + items.map(value).joined(separator: ", ") + "]"
        case .table(let t):
            t.isEmpty ? "{}" : "{ " + t.keys.map { key($0) + " = " + value(t[$0]!) }.joined(separator: ", ") + " }"
        }
    }
}
