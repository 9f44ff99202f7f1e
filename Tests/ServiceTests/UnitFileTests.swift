import Config
import Foundation
import Testing

/// The repository root, found from this file's path.
let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/ServiceTests/UnitFileTests.swift
    return parts.joined(separator: "/")
}()

let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `arguments` (looked up on PATH) to completion, killing it after
/// `timeout` seconds; output goes through files, so it can never fill a pipe.
func runCommand(_ arguments: [String], timeout: TimeInterval = 60, environment: [String: String]? = nil) throws -> CommandOutput {
    let scratch = try TemporaryDirectory()
    let outURL = URL(fileURLWithPath: scratch.path + "/stdout"), errURL = URL(fileURLWithPath: scratch.path + "/stderr")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        Issue.record("\(arguments.joined(separator: " ")) still ran after \(timeout) s and was stopped")
    }
    process.waitUntilExit()
    return CommandOutput(status: process.terminationStatus,
                         stdout: try String(contentsOf: outURL, encoding: .utf8),
                         stderr: try String(contentsOf: errURL, encoding: .utf8))
}

/// A fresh directory under /tmp, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/rtud-service-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The unit's [Service] settings: key → values in order (a key may repeat).
func unitSettings(_ text: String) -> [String: [String]] {
    var settings: [String: [String]] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.hasPrefix("[") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        settings[String(line[..<eq]), default: []].append(String(line[line.index(after: eq)...]))
    }
    return settings
}

let unitPath = repositoryRoot + "/systemd/rtud.service"
let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite struct UnitFileTests {
    /// `systemd-analyze verify` on a copy whose ExecStart names a binary that
    /// exists (verify checks that); clean means exit 0 and nothing said, since
    /// verify reports unknown keys and bad values as warnings only.
    @Test(.enabled(if: systemdAnalyze != nil || isCI,
                   "needs systemd-analyze (scripts/setup.sh installs the systemd package; fails instead when CI=true)"))
    func systemdAnalyzeVerifyIsClean() throws {
        let analyze = try #require(systemdAnalyze, "systemd-analyze is missing: scripts/setup.sh installs the systemd package")
        let scratch = try TemporaryDirectory()
        let binary = scratch.path + "/rtud"
        try "#!/bin/sh\nexit 0\n".write(toFile: binary, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        let unit = try String(contentsOfFile: unitPath, encoding: .utf8)
        let execStart = "ExecStart=/usr/local/bin/rtud "
        #expect(unit.contains("\n" + execStart))
        let copy = unit.replacingOccurrences(of: "\n" + execStart, with: "\nExecStart=\(binary) ")

        func verify(_ text: String) throws -> CommandOutput {
            try text.write(toFile: scratch.path + "/rtud.service", atomically: true, encoding: .utf8)
            return try runCommand([analyze, "verify", scratch.path + "/rtud.service"])
        }
        let clean = try verify(copy)
        #expect(clean.status == 0 && clean.stdout.isEmpty && clean.stderr.isEmpty, "\(clean.stdout)\(clean.stderr)")
        // The check can fail: a misspelt key is only a warning, and is seen.
        let misspelt = try verify(copy.replacingOccurrences(of: "\nRestrictNamespaces=", with: "\nRestrictNamespace="))
        #expect(misspelt.stderr.contains("Unknown key"), "\(misspelt.stderr)")
    }

    @Test func serviceTypeAndLifecycle() throws {
        let s = unitSettings(try String(contentsOfFile: unitPath, encoding: .utf8))
        #expect(s["Type"] == ["notify"])
        #expect(s["NotifyAccess"] == ["main"])
        #expect(s["ExecStart"] == ["/usr/local/bin/rtud --config /etc/rtud/rtud.toml"])
        #expect(s["ExecReload"] == ["/bin/kill -HUP $MAINPID"])
        #expect(s["WatchdogSec"] == ["10s"])
        #expect(s["Restart"] == ["on-failure"])
    }

    @Test func exactlyTheCapabilitiesRtudNeeds() throws {
        let s = unitSettings(try String(contentsOfFile: unitPath, encoding: .utf8))
        let needed = ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_SYS_NICE", "CAP_IPC_LOCK"]
        for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
            #expect(s[key]?.count == 1, "\(key) appears once")
            #expect(s[key]?.first?.split(separator: " ").map(String.init).sorted() == needed.sorted(), "\(key)")
        }
        #expect(s["LimitMEMLOCK"] == ["infinity"])
        #expect(s["LimitRTPRIO"] == ["99"])
    }

    @Test func hardeningLeavesWhatRtudUses() throws {
        let s = unitSettings(try String(contentsOfFile: unitPath, encoding: .utf8))
        for (key, value) in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                             ("PrivateTmp", "yes"), ("ProtectKernelTunables", "yes"), ("DevicePolicy", "closed"),
                             ("LockPersonality", "yes"), ("RestrictNamespaces", "yes"), ("MemoryDenyWriteExecute", "yes"),
                             ("SystemCallArchitectures", "native")] {
            #expect(s[key] == [value], "\(key)")
        }
        // TAP devices come from /dev/net/tun, which PrivateDevices would hide.
        #expect(s["DeviceAllow"] == ["/dev/net/tun rw"])
        #expect(s["PrivateDevices"] == nil)
        // The RT cores run SCHED_FIFO.
        #expect(s["RestrictRealtime"] == nil)
        // The address families of Links (AF_INET for SIOC* ioctls, AF_PACKET),
        // the control socket and sd_notify (AF_UNIX); nothing else.
        #expect(s["RestrictAddressFamilies"]?.first?.split(separator: " ").sorted() == ["AF_INET", "AF_PACKET", "AF_UNIX"])
    }

    @Test func directoriesMatchTheConfigurationDefaults() throws {
        let s = unitSettings(try String(contentsOfFile: unitPath, encoding: .utf8))
        let runtime = try #require(s["RuntimeDirectory"]?.first)
        let controlDirectory = (RtudConfig.defaults.daemon.controlSocket as NSString).deletingLastPathComponent
        #expect("/run/" + runtime == controlDirectory)
        // daemon.pcap's documented example lives in the logs directory the unit makes writable.
        let logs = try #require(s["LogsDirectory"]?.first)
        let etc = try String(contentsOfFile: repositoryRoot + "/etc/rtud.toml", encoding: .utf8)
        #expect(etc.contains("# pcap = \"/var/log/\(logs)/"))
    }
}
