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

    /// The root of this package (three levels above this file).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The rtud binary: $RTUD_BIN (scripts/test.sh sets it) or the debug build beside this package.
    static var rtudBinary: String {
        if let p = ProcessInfo.processInfo.environment["RTUD_BIN"], FileManager.default.isExecutableFile(atPath: p) { return p }
        return packageRoot.appendingPathComponent(".build/debug/rtud").path
    }

    /// Another product of the same build as rtud (udp-node, alloc-check).
    static func builtBinary(_ name: String) -> String {
        URL(fileURLWithPath: rtudBinary).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// Compiles a C client of rtud the way include/rtuclient.h tells a user
    /// to: against that header and this build's librtuclient.so, warnings
    /// as errors.
    static func compileCClient(_ source: String, to program: String) throws {
        let lib = URL(fileURLWithPath: rtudBinary).deletingLastPathComponent().path
        let r = try run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-I", "\(packageRoot.path)/include", "-o", program, source,
                         "-L", lib, "-lrtuclient", "-Wl,-rpath,\(lib)"], timeout: 60)
        guard r.ok else { throw HarnessError("gcc \(source): \(r.stderr)") }
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var ok: Bool { status == 0 }
    }

    /// Runs a command to completion, stopped after `timeout` seconds.
    @discardableResult
    static func run(_ args: [String], timeout: Double = 30) throws -> Output {
        try Background(args).finish(timeout: timeout)
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

/// A process running while the test does other things; its output is read
/// as it comes so it can never stall on a full pipe.
final class Background: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let done = DispatchGroup()

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = args
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        try process.run()
        for (pipe, isOut) in [(o, true), (e, false)] {
            done.enter()
            DispatchQueue.global().async {
                while true {
                    let chunk = pipe.fileHandleForReading.availableData
                    if chunk.isEmpty { break }
                    self.lock.lock()
                    if isOut { self.out.append(chunk) } else { self.err.append(chunk) }
                    self.lock.unlock()
                }
                self.done.leave()
            }
        }
    }

    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }

    func waitForLine(containing text: String, seconds: Double) -> Bool {
        Harness.waitUntil(seconds) { stdout.contains(text) || !process.isRunning }
            && stdout.contains(text)
    }

    /// Waits for the process (killing it after `timeout` s) and returns its output.
    func finish(timeout: Double = 60) -> Harness.Output {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.interrupt(); usleep(500_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        done.wait()
        lock.lock(); defer { lock.unlock() }
        return Harness.Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                              stderr: String(decoding: err, as: UTF8.self))
    }
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

    /// A veth pair from this namespace to `other`, both ends up, named
    /// `prefix`a… here and `prefix`b… there (unique, and within the 15 bytes
    /// of a device name for a prefix of up to 4). `otherAddress` (CIDR), when
    /// given, goes on the far end for the kernel there. Deleted with either namespace.
    func veth(to other: Namespace, prefix: String, otherAddress: String? = nil) throws -> (mine: String, theirs: String) {
        let suffix = Harness.uniqueSuffix().prefix(6)
        let (mine, theirs) = ("\(prefix)a\(suffix)", "\(prefix)b\(suffix)")
        try must(["ip", "link", "add", mine, "type", "veth", "peer", "name", theirs, "netns", other.name])
        try must(["ip", "link", "set", mine, "up"])
        if let otherAddress { try other.must(["ip", "addr", "add", otherAddress, "dev", theirs]) }
        try other.must(["ip", "link", "set", theirs, "up"])
        return (mine, theirs)
    }

    /// The MAC address of `device` in this namespace.
    func mac(of device: String) throws -> String {
        let r = try exec(["cat", "/sys/class/net/\(device)/address"])
        guard r.ok else { throw HarnessError("in \(name): no device \(device): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func close() {
        _ = try? Harness.run(["ip", "netns", "del", name])
    }

    /// Two namespaces named after `first` and `second`, joined by a veth
    /// (`veth(to:prefix:otherAddress:)`, `secondAddress` on the second's end);
    /// when any step fails, what was made is deleted again.
    static func pair(_ first: String, _ second: String, vethPrefix: String, secondAddress: String? = nil)
        throws -> (first: Namespace, second: Namespace, devices: (first: String, second: String))
    {
        let a = try Namespace(first)
        let b: Namespace
        do { b = try Namespace(second) } catch { a.close(); throw error }
        do {
            let (mine, theirs) = try a.veth(to: b, prefix: vethPrefix, otherAddress: secondAddress)
            return (a, b, (mine, theirs))
        } catch {
            a.close()
            b.close()
            throw error
        }
    }
}

/// The kernel's side of the UDP tests: bench/c/udptool (modes and output
/// in its header comment) run in a namespace.
extension Namespace {
    /// bench/c/udptool, built on first use.
    static let udptoolPath: String? = {
        let out = NSTemporaryDirectory() + "rtu-udptool-\(getuid())"
        let lib = Harness.packageRoot.appendingPathComponent("scripts/lib-udptool.sh").path
        let r = try? Harness.run(["bash", "-c", ". '\(lib)' && build_udptool '\(out)' && echo \"$UDPTOOL\""])
        guard let r, r.ok else { return nil }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }()

    private func udptoolCommand(_ args: [String]) throws -> [String] {
        guard let tool = Self.udptoolPath else { throw HarnessError("bench/c/udptool did not build") }
        return ["ip", "netns", "exec", name, tool] + args
    }

    /// Runs udptool here to completion.
    func udptool(_ args: [String], timeout: Double = 60) throws -> Harness.Output {
        try Harness.run(udptoolCommand(args), timeout: timeout)
    }

    /// Starts udptool here and returns at once.
    func udptoolInBackground(_ args: [String]) throws -> Background {
        try Background(udptoolCommand(args))
    }

    /// `udptool recv --bind ADDRESS:PORT ARGS`, returned once ss shows its socket bound.
    func udptoolReceiver(bind: String, _ args: [String]) throws -> Background {
        let recv = try udptoolInBackground(["recv", "--bind", bind] + args)
        let port = bind.split(separator: ":").last.map(String.init) ?? bind
        let bound = try Harness.waitUntil(10) { try !exec(["ss", "-Hlun", "sport = :\(port)"]).stdout.isEmpty }
        guard bound else { throw HarnessError("udptool recv did not bind: \(recv.finish(timeout: 1).stderr)") }
        return recv
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// rtud running in a namespace with a config file; stopped with SIGTERM.
final class RtudProcess {
    let process = Process()
    let namespace: Namespace
    let logURL: URL
    let directory: URL
    /// The configuration file rtud reads (again on SIGHUP).
    let configURL: URL

    /// `config` is given this run's private directory (for capture files) and returns the TOML.
    /// `environment` replaces this process's environment for rtud (nil: inherited).
    init(namespace: Namespace, arguments: [String] = [], environment: [String: String]? = nil,
         config: (String) -> String) throws {
        self.namespace = namespace
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rtud-it-\(Harness.uniqueSuffix())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        configURL = directory.appendingPathComponent("rtud.toml")
        try config(directory.path).write(to: configURL, atomically: true, encoding: .utf8)
        logURL = directory.appendingPathComponent("rtud.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // `ip netns exec` execs rtud itself, so the PID is rtud's.
        // Each run its own control socket, never the system's /run/rtud one.
        process.arguments = ["ip", "netns", "exec", namespace.name, Harness.rtudBinary, "--config", configURL.path,
                             "--control", directory.appendingPathComponent("control.sock").path] + arguments
        process.standardOutput = log
        process.standardError = log
        if let environment { process.environment = environment }
        try process.run()
    }

    /// The control socket this run listens on.
    var controlPath: String { path("control.sock") }

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
