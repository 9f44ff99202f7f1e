// A network namespace made for one test (TESTING.md): unique name, deleted
// by `remove()` (called from a defer), and a way to run code inside it.
import CShims
import Foundation
import Testing

/// Whether the real-device tests can run: root and /dev/net/tun. Outside CI
/// they are skipped when not; with CI=true they run anyway and fail.
let canUseNamespaces = (geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0)
    || ProcessInfo.processInfo.environment["CI"] == "true"

@discardableResult
func sh(_ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        throw HarnessError(message: "\(args.joined(separator: " ")) failed: \(text)")
    }
    return text
}

struct HarnessError: Error, CustomStringConvertible { let message: String; var description: String { message } }

final class TestNamespace {
    let name: String
    /// Short unique suffix for device names (IFNAMSIZ is 16).
    let suffix: String

    init() throws {
        let r = UInt32.random(in: 0 ... 0xFFFFF)
        suffix = String(r, radix: 16)
        name = "rtulnk-\(getpid())-\(suffix)"
        try sh(["ip", "netns", "add", name])
        do { try sh(["ip", "-n", name, "link", "set", "lo", "up"]) } catch { remove(); throw error }
    }

    /// Runs `ip -n <ns> ...`.
    func ip(_ args: String...) throws { try sh(["ip", "-n", name] + args) }

    func remove() { _ = try? sh(["ip", "netns", "del", name]) }

    /// Runs `body` on a fresh thread that has entered the namespace; the
    /// thread ends with the body, so no thread of the test process stays in it.
    func run<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            let r = rtu_enter_netns(self.name)
            if r < 0 {
                box.result = .failure(HarnessError(message: "setns \(self.name): errno \(-r)"))
            } else {
                box.result = Result { try body() }
            }
            done.signal()
        }
        t.start()
        done.wait()
        return try box.result!.get()
    }
}

/// Carries a result from the namespace thread back to the waiting test.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// A fresh namespace with a veth pair, both ends up: `a` for the device
/// under test, `b` its peer, which gets `peerAddress` (a CIDR) if given, so
/// the kernel answers there. `body` runs inside the namespace, which is
/// deleted afterwards.
func withVeth<T>(peerAddress: String? = nil, _ body: @escaping (_ a: String, _ b: String) throws -> T) throws -> T {
    let ns = try TestNamespace()
    defer { ns.remove() }
    let a = "rlva\(ns.suffix)", b = "rlvb\(ns.suffix)"
    try ns.ip("link", "add", a, "type", "veth", "peer", "name", b)
    try ns.ip("link", "set", a, "up")
    try ns.ip("link", "set", b, "up")
    if let peerAddress { try ns.ip("addr", "add", peerAddress, "dev", b) }
    return try ns.run { try body(a, b) }
}

/// poll(2) for input on `fd`; whether it became readable in time.
func waitReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&p, 1, milliseconds) > 0
}
