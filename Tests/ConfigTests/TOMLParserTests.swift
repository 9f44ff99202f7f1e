import Testing
@testable import Config

private func toml(_ text: String) throws -> TOMLTable { try TOML.parse(text) }

private func table(_ pairs: [(String, TOMLValue)]) -> TOMLValue {
    var t = TOMLTable()
    for (k, v) in pairs { t.set(k, v, at: TOMLPosition(line: 1, column: 1)) }
    return .table(t)
}

@Suite struct TOMLParserTests {
    @Test func emptyAndCommentsOnly() throws {
        #expect(try toml("").isEmpty)
        #expect(try toml("# only a comment\n\n   \t# another\r\n").isEmpty)
    }

    @Test func keysBareQuotedDotted() throws {
        let t = try toml("""
            bare_key-1 = 1
            "quoted key" = 2
            'literal.key' = 3
            a . b."c d" = 4
            1234 = 5
            "" = 6
            """)
        #expect(t.keys == ["bare_key-1", "quoted key", "literal.key", "a", "1234", ""])
        #expect(t["a"] == table([("b", table([("c d", .integer(4))]))]))
        #expect(t["literal.key"] == .integer(3))
    }

    @Test func positionsPerKey() throws {
        let t = try toml("\n  x = 1\n[tab]\ny = 2\n[[arr]]\n[[arr]]\nz = 3\n")
        #expect(t.position(of: "x") == TOMLPosition(line: 2, column: 3))
        #expect(t.position(of: "tab")?.line == 3)
        let tab = try #require(t["tab"]?.tableValue)
        #expect(tab.position.line == 3)
        #expect(tab.position(of: "y") == TOMLPosition(line: 4, column: 1))
        let arr = try #require(t["arr"]?.arrayValue)
        #expect(arr.map { $0.tableValue?.position.line } == [5, 6])
        #expect(arr[1].tableValue?.position(of: "z")?.line == 7)
    }

    @Test func basicStringEscapes() throws {
        let t = try toml(#"s = "a\"b\\c\nd\te\u00e9\U0001F600\b\f\r""#)
        #expect(t["s"] == .string("a\"b\\c\nd\te\u{e9}\u{1F600}\u{8}\u{C}\r"))
    }

    @Test func literalStrings() throws {
        let t = try toml(#"p = 'C:\Users\no escapes "here"'"#)
        #expect(t["p"] == .string(#"C:\Users\no escapes "here""#))
    }

    @Test func multiLineStrings() throws {
        let t = try toml("""
            a = \"\"\"
            line one
            line two\"\"\"
            b = \"\"\"one \\
                  two\"\"\"
            c = '''
            raw \\n text
            '''
            d = \"\"\"quotes ""inside"" ""\"\"\"
            """)
        #expect(t["a"] == .string("line one\nline two"))
        #expect(t["b"] == .string("one two"))
        #expect(t["c"] == .string("raw \\n text\n"))
        #expect(t["d"] == .string("quotes \"\"inside\"\" \"\""))
    }

    @Test(arguments: [
        ("0", Int64(0)), ("+99", 99), ("-17", -17), ("1_000_000", 1_000_000), ("0xDEAD_beef", 0xDEADBEEF),
        ("0o755", 0o755), ("0b1101", 13), ("9223372036854775807", .max), ("-9223372036854775808", .min),
    ])
    func integers(text: String, value: Int64) throws {
        #expect(try toml("v = \(text)")["v"] == .integer(value))
    }

    @Test(arguments: [
        ("1.0", 1.0), ("-0.01", -0.01), ("5e+22", 5e22), ("1e06", 1e6), ("-2E-2", -0.02), ("6.626e-34", 6.626e-34),
        ("224_617.445_991", 224617.445991), ("inf", .infinity), ("-inf", -.infinity), ("0.85", 0.85), ("0e5", 0),
    ])
    func floats(text: String, value: Double) throws {
        #expect(try toml("v = \(text)")["v"] == .float(value))
    }

    @Test func nanAndBooleans() throws {
        let t = try toml("n = nan\nm = -nan\nyes = true\nno = false")
        #expect(t["n"]?.doubleValue?.isNaN == true)
        #expect(t["m"]?.doubleValue?.isNaN == true)
        #expect(t["yes"] == .boolean(true))
        #expect(t["no"] == .boolean(false))
    }

    @Test func arrays() throws {
        let t = try toml("""
            empty = []
            ints = [1, 2, 3]
            mixed = ["a", 1, 2.5, [true], {x = 1}]
            multi = [
              1,  # one
              # a comment line
              2,
            ]
            """)
        #expect(t["empty"] == .array([]))
        #expect(t["ints"] == .array([.integer(1), .integer(2), .integer(3)]))
        #expect(t["mixed"] == .array([.string("a"), .integer(1), .float(2.5), .array([.boolean(true)]),
                                      table([("x", .integer(1))])]))
        #expect(t["multi"] == .array([.integer(1), .integer(2)]))
    }

    @Test func inlineTables() throws {
        let t = try toml(#"r = { rate = "40Mbit", message_size = 8192, a.b = 1 }"# + "\ne = {}")
        #expect(t["r"] == table([("rate", .string("40Mbit")), ("message_size", .integer(8192)),
                                 ("a", table([("b", .integer(1))]))]))
        #expect(t["e"] == table([]))
    }

    @Test func tablesAndSubTables() throws {
        let t = try toml("""
            top = 1
            [a.b]
            x = 1
            [a]
            y = 2
            [a.c]
            z = 3
            [ "q k" . 'l' ]
            w = 4
            """)
        #expect(t["a"] == table([("b", table([("x", .integer(1))])), ("y", .integer(2)),
                                 ("c", table([("z", .integer(3))]))]))
        #expect(t["q k"] == table([("l", table([("w", .integer(4))]))]))
    }

    @Test func arraysOfTables() throws {
        let t = try toml("""
            [[fruit]]
            name = "apple"
            [fruit.physical]
            color = "red"
            [[fruit.variety]]
            name = "red delicious"
            [[fruit]]
            name = "banana"
            """)
        #expect(t["fruit"] == .array([
            table([("name", .string("apple")), ("physical", table([("color", .string("red"))])),
                   ("variety", .array([table([("name", .string("red delicious"))])]))]),
            table([("name", .string("banana"))]),
        ]))
    }

    @Test func dottedKeysThenSubTableHeader() throws {
        let t = try toml("[x]\na.b = 1\n[x.a.c]\nd = 2")
        #expect(t["x"] == table([("a", table([("b", .integer(1)), ("c", table([("d", .integer(2))]))]))]))
    }

    @Test func commentsAfterValuesAndCRLF() throws {
        let t = try toml("a = 1 # one\r\n[t] # table\r\nb = \"#not a comment\"\r\n")
        #expect(t["a"] == .integer(1))
        #expect(t["t"] == table([("b", .string("#not a comment"))]))
    }

    @Test func equalityIgnoresPositionsAndOrder() throws {
        #expect(try toml("a = 1\nb = 2") == toml("\n\nb = 2\n  a = 1"))
        #expect(try toml("a = 1") != toml("a = 2"))
    }

    @Test func writerRoundTrips() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} é"
        let text = "s = \(TOMLWriter.string(tricky))\n\(TOMLWriter.key("a key")) = \(TOMLWriter.float(1e300))\n"
            + "f = \(TOMLWriter.float(2))\narr = \(TOMLWriter.value(.array([.integer(1), table([("k", .boolean(true))])])))"
        let t = try toml(text)
        #expect(t["s"] == .string(tricky))
        #expect(t["a key"] == .float(1e300))
        #expect(t["f"] == .float(2))
        #expect(t["arr"] == .array([.integer(1), table([("k", .boolean(true))])]))
    }
}
