import Testing
@testable import Config

/// The error `text` raises, or nil.
private func error(_ text: String) -> TOMLError? {
    do {
        _ = try TOML.parse(text)
        return nil
    } catch {
        return error
    }
}

@Suite struct TOMLErrorTests {
    @Test func descriptionFormat() {
        let e = error("[daemon]\nmtu 1500")
        #expect(e?.description == "line 2, column 5: expected '=' after key 'mtu', found '1'")
    }

    /// Syntax: one (text, line, column, message) each.
    static let syntaxCases: [(String, Int, Int, String)] = [
        // Keys and lines
        ("= 5", 1, 1, "expected a key, found '='"),
        ("a = 1 b = 2", 1, 7, "expected end of line after value, found 'b'"),
        ("a =", 1, 4, "expected a value, found end of input"),
        ("a = yes", 1, 5, "invalid value 'yes' (strings must be quoted)"),
        ("a = 1\ra", 1, 6, "a carriage return must be followed by a line feed"),
        ("# bad \u{1} comment", 1, 7, "control character U+0001 is not allowed in a comment"),
        ("\"\"\"k\"\"\" = 1", 1, 1, "a multi-line string cannot be a key"),
        // Strings
        ("s = \"open", 1, 10, "unterminated string: expected '\"' before end of input"),
        ("s = \"a\\qb\"", 1, 7, "invalid escape sequence '\\q'"),
        ("s = \"\\u12\"", 1, 6, "\\u needs 4 hexadecimal digits"),
        ("s = \"\\uD800\"", 1, 6, "U+D800 is not a Unicode scalar value"),
        ("s = 'open\n'", 1, 10, "unterminated literal string: expected \"'\" before end of line"),
        ("s = \"\"\"never closed", 1, 20, "unterminated multi-line string: expected '\"\"\"'"),
        ("s = \"tab\tok \u{7}\"", 1, 13, "control character U+0007 must be escaped in a string"),
        // Numbers
        ("n = 012", 1, 5, "leading zeros are not allowed in '012'"),
        ("n = 1__0", 1, 5, "invalid integer '1__0'"),
        ("n = _1", 1, 5, "invalid value '_1' (strings must be quoted)"),
        ("n = 9223372036854775808", 1, 5, "integer '9223372036854775808' does not fit in 64 bits"),
        ("n = 0xG1", 1, 5, "invalid base-16 integer '0xG1'"),
        ("n = +0x10", 1, 5, "a sign is not allowed on '0x10'"),
        ("n = 1.", 1, 5, "invalid float '1.'"),
        ("n = .5", 1, 5, "expected a value, found '.'"),
        ("n = 1e", 1, 5, "invalid float '1e'"),
        ("d = 1979-05-27", 1, 5, "date and time values are not supported: '1979-05-27'"),
        ("d = 07:32:00", 1, 5, "date and time values are not supported: '07:32:00'"),
        // Arrays and inline tables
        ("a = [1 2]", 1, 8, "expected ',' or ']' in array, found '2'"),
        ("a = [1,", 1, 8, "expected a value, found end of input"),
        ("t = { a = 1, }", 1, 14, "a trailing comma is not allowed in an inline table"),
        ("t = { a = 1\n}", 1, 12, "an inline table must be on one line (expected '}')"),
        ("t = { a = 1 b = 2 }", 1, 13, "expected ',' or '}' in inline table, found 'b'"),
        ("t = { a = 1, a = 2 }", 1, 14, "duplicate key 'a' (first defined at line 1)"),
        // Headers
        ("[a", 1, 3, "expected ']' after table name, found end of input"),
        ("[[a]", 1, 5, "expected ']]' after table name, found end of input"),
        ("[a] x = 1", 1, 5, "expected end of line after table header, found 'x'"),
    ]

    /// Structure: keys and tables defined twice or in conflict (TOML v1.0.0).
    static let structureCases: [(String, Int, Int, String)] = [
        ("a = 1\na = 2", 2, 1, "duplicate key 'a' (first defined at line 1)"),
        ("a.b = 1\na.b = 2", 2, 3, "duplicate key 'a.b' (first defined at line 1)"),
        ("a = 1\na.b = 2", 2, 1, "cannot extend 'a' with dotted key 'a.b': it is already defined as a value at line 1"),
        ("[t]\nx = 1\n[t]", 3, 1, "table 't' is already defined at line 1"),
        ("[t]\nx.y = 1\n[t.x]", 3, 1, "table 't.x' is already defined by dotted keys at line 2"),
        ("[a.b]\n[a]\nb.c = 1", 3, 1,
         "cannot extend 'b' with dotted key 'b.c': it is already defined as a table at line 1"),
        ("a = 1\n[a]", 2, 1, "key 'a' is already defined as a value at line 1"),
        ("a = 1\n[a.b]", 2, 2, "cannot define table 'a.b': 'a' is already defined as a value at line 1"),
        ("t = {x = 1}\n[t.y]", 2, 2, "cannot define table 't.y': 't' is already defined as a value at line 1"),
        ("a = []\n[[a]]", 2, 1, "cannot append to static array 'a' defined at line 1"),
        ("[a]\n[[a]]", 2, 1, "'a' is already defined at line 1 and is not an array of tables"),
        ("[[a]]\n[a]", 2, 1, "'a' is already an array of tables (line 1)"),
        ("[t]\n\"x\" = 1\n'x' = 2", 3, 1, "duplicate key 'x' (first defined at line 2)"),
        ("[\"a b\"]\nk = 1\n[\"a b\"]", 3, 1, "table '\"a b\"' is already defined at line 1"),
    ]

    @Test(arguments: syntaxCases + structureCases)
    func errors(text: String, line: Int, column: Int, message: String) {
        #expect(error(text) == TOMLError(message, at: TOMLPosition(line: line, column: column)), "\(text)")
    }

    @Test func columnCountsCharactersNotBytes() {
        #expect(error("s = \"é\" x")?.position == TOMLPosition(line: 1, column: 9))
    }
}
