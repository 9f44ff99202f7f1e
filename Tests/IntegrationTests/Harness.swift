import Foundation
import Testing

/// Real-traffic test plumbing (TESTING.md): namespaces and devices with unique
/// names that are always removed, bounded commands, and the rtud binary.
enum Harness {
    /// Whether this process may make namespaces and devices. Outside CI a
    /// test without root skips with a message; with CI=true it fails.
    static func requireRoot(_ what: String) -> Bool {
        if geteuid() == 0 { return true }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("\(what) needs root (network namespaces, TAP, AF_PACKET); CI runs as root")
        } else {
            print("skipping \(what): needs root (network namespaces, TAP, AF_PACKET)")
        }
        return false
    }

    /// A suffix unique to this process and call, for names of at most 15 bytes.
    static func uniqueSuffix() -> String {
        "\(getpid() % 100_000)\(String(UInt32.random(in: 0..<0xFFF), radix: 16))"
    }

    /// The rtud binary: $RTUD_BIN (scripts/test.sh sets it) or the debug build beside this package.
    static var rtudBinary: String {
        if let p = ProcessInfo.processInfo.environment["RTUD_BIN"], FileManager.default.isExecutableFile(atPath: p) { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/rtud").path
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var ok: Bool { status == 0 }
    }

    /// Runs a command to completion, killed after `timeout` seconds.
    @discardableResult
    static func run(_ args: [String], timeout: Double = 30) throws -> Output {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        // Read while waiting so a chatty command cannot fill the pipe and stall.
        let o = Collected(), e = Collected()
        let group = DispatchGroup()
        group.enter(); DispatchQueue.global().async { o.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter(); DispatchQueue.global().async { e.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        group.wait()
        return Output(status: p.terminationStatus, stdout: String(decoding: o.data, as: UTF8.self),
                      stderr: String(decoding: e.data, as: UTF8.self))
    }

    /// Runs a command inside a namespace.
    @discardableResult
    static func inNamespace(_ ns: String, _ args: [String], timeout: Double = 30) throws -> Output {
        try run(["ip", "netns", "exec", ns] + args, timeout: timeout)
    }

    /// Polls `condition` every 50 ms for at most `seconds`.
    static func waitUntil(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }
}

/// A pipe's bytes, written by one reader thread and read after `group.wait()`
/// (which orders the two).
private final class Collected: @unchecked Sendable {
    var data = Data()
}

/// A network namespace owned by a test; `close()` (always deferred) deletes it
/// and with it every device inside.
final class Namespace {
    let name: String

    init(_ prefix: String) throws {
        name = "\(prefix)-\(Harness.uniqueSuffix())"
        let r = try Harness.run(["ip", "netns", "add", name])
        guard r.ok else { throw HarnessError("ip netns add \(name): \(r.stderr)") }
        try exec(["ip", "link", "set", "lo", "up"])
        // No IPv6 chatter on the test links: captures then hold only what the test made.
        try exec(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"])
        try exec(["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"])
    }

    @discardableResult
    func exec(_ args: [String], timeout: Double = 30) throws -> Harness.Output {
        try Harness.inNamespace(name, args, timeout: timeout)
    }

    /// Runs a command that must succeed.
    func must(_ args: [String]) throws {
        let r = try exec(args)
        guard r.ok else { throw HarnessError("in \(name): \(args.joined(separator: " ")): \(r.stderr)") }
    }

    func close() {
        _ = try? Harness.run(["ip", "netns", "del", name])
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// rtud running in a namespace with a config file; stopped with SIGTERM.
final class RtudProcess {
    let process = Process()
    let logURL: URL
    let directory: URL

    /// `config` is given this run's private directory (for capture files) and returns the TOML.
    init(namespace: Namespace, arguments: [String] = [], config: (String) -> String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rtud-it-\(Harness.uniqueSuffix())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configURL = directory.appendingPathComponent("rtud.toml")
        try config(directory.path).write(to: configURL, atomically: true, encoding: .utf8)
        logURL = directory.appendingPathComponent("rtud.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // `ip netns exec` execs rtud itself, so the PID is rtud's.
        process.arguments = ["ip", "netns", "exec", namespace.name, Harness.rtudBinary, "--config", configURL.path] + arguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Waits until the log contains `text` (or rtud exits).
    func waitForLog(_ text: String, seconds: Double = 10) -> Bool {
        Harness.waitUntil(seconds) { log.contains(text) || !process.isRunning }
            && log.contains(text)
    }

    /// SIGTERM, then waits for a clean exit (SIGKILL after 10 s). Returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            if !Harness.waitUntil(10, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func cleanup() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// tshark over a capture file: every frame decoded, none malformed, no bad checksum.
enum Capture {
    static let checksums = ["-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE"]

    /// Frames matching `filter`, one summary line each.
    static func frames(_ path: String, filter: String) throws -> [String] {
        let r = try Harness.run(["tshark", "-n", "-r", path] + checksums + ["-Y", filter])
        guard r.ok else { throw HarnessError("tshark -r \(path): \(r.stderr)") }
        return r.stdout.split(separator: "\n").map(String.init)
    }

    static let problems = #"_ws.malformed || _ws.expert.severity == "Error" || ip.checksum.status == "Bad" || icmp.checksum.status == "Bad" || udp.checksum.status == "Bad" || tcp.checksum.status == "Bad""#
}
