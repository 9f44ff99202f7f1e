import Foundation
import Testing

/// rtud's command line (its output is part of the contract): configuration
/// checking, printing, and refusal of a bad file with the key and the problem.
@Suite struct CLITests {
    func temporaryFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rtud-cli-\(Harness.uniqueSuffix()).toml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func shippedConfigIsValid() throws {
        let path = Harness.packageRoot.appendingPathComponent("etc/rtud.toml").path
        let r = try Harness.run([Harness.rtudBinary, "--check-config", path])
        #expect(r.ok, "\(r.stderr)")
        #expect(r.stdout.contains("valid"))
    }

    @Test func printedDefaultsAreAValidConfig() throws {
        let printed = try Harness.run([Harness.rtudBinary, "--print-config"])
        #expect(printed.ok)
        #expect(printed.stdout.contains("[daemon]"))
        #expect(printed.stdout.contains("198.18.0.1/24"))
        let path = try temporaryFile(printed.stdout)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let checked = try Harness.run([Harness.rtudBinary, "--check-config", path])
        #expect(checked.ok, "printed defaults do not validate: \(checked.stderr)")
        // Printing a file's configuration gives the same text as printing the defaults it equals.
        let again = try Harness.run([Harness.rtudBinary, "--config", path, "--print-config"])
        #expect(again.stdout == printed.stdout)
    }

    @Test func badConfigIsRefusedNamingKeyAndProblem() throws {
        let path = try temporaryFile("""
            [[interface]]
            name = "rtu0"
            driver = "tap"
            address = "198.18.0.1/24"
            mtu = 70000
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        for args in [["--check-config", path], ["--config", path]] {
            let r = try Harness.run([Harness.rtudBinary] + args, timeout: 10)
            #expect(r.status == 78, "expected EX_CONFIG from rtud \(args[0]), got \(r.status)")
            #expect(r.stderr.contains("interface[0].mtu"), "message does not name the key: \(r.stderr)")
            #expect(r.stderr.contains("70000"), "message does not give the value: \(r.stderr)")
        }
    }

    @Test func syntaxErrorGivesLine() throws {
        let path = try temporaryFile("[daemon]\nrt_priority = = 3\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Harness.run([Harness.rtudBinary, "--check-config", path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("\(path):2:"), "the message does not give file and line: \(r.stderr)")
    }

    @Test func badArgumentIsRefused() throws {
        let r = try Harness.run([Harness.rtudBinary, "--probe", "not-an-address"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("not an IPv4 address"))
    }
}
