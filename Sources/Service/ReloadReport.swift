// What a SIGHUP reload does: which declared sockets to create, close or
// change, which settings wait for a restart, and how to say so.

import Config

/// The outcome of reloading a configuration file into a running rtud.
public struct ReloadReport: Sendable {
    /// What rtud runs with after the reload: the running configuration with
    /// the reloadable settings (`RtudConfig.reloadableSettings`) of the file.
    public let effective: RtudConfig
    /// The declared sockets to create, close and change.
    public let sockets: DeclaredSocketChanges
    /// Settings that differ in the file but take effect only after a restart.
    public let pendingRestart: [String]
    /// [limits] changed (applies to requests from now on).
    public let limitsChanged: Bool
    /// The log level before and after, when it changed.
    public let logLevel: (old: LogLevel, new: LogLevel)?

    /// Compares `running` (what rtud runs with, command-line overrides
    /// included) with `loaded` (the file just read, the same overrides
    /// applied). Throws when the result is not a valid configuration: a new
    /// [[socket]] may bind an address of an interface that exists only after
    /// a restart, and then the reload is refused as a whole.
    public init(running: RtudConfig, loaded: RtudConfig, cpuCount: Int) throws(ConfigError) {
        effective = running.reloaded(from: loaded)
        try effective.validate(cpuCount: cpuCount)
        sockets = DeclaredSocketChanges.diff(old: running.sockets, new: loaded.sockets)
        pendingRestart = running.reloadableDifferences(to: loaded)
        limitsChanged = running.limits != loaded.limits
        logLevel = running.daemon.logLevel == loaded.daemon.logLevel
            ? nil : (old: running.daemon.logLevel, new: loaded.daemon.logLevel)
    }

    /// One line per change, for the log.
    public var logLines: [String] {
        var out = sockets.added.map { "socket \($0.name): added" }
        out += sockets.removed.map { "socket \($0.name): removed" }
        out += sockets.changed.map { "socket \($0.new.name): changed" }
        if limitsChanged { out.append("limits: changed") }
        if let (old, new) = logLevel { out.append("daemon.log_level: \(old.rawValue) -> \(new.rawValue)") }
        out += pendingRestart.map { "changed \($0): takes effect after restart" }
        return out
    }

    /// One line for `systemctl status` (STATUS=).
    public var summary: String {
        var parts: [String] = []
        let counts = [(sockets.added.count, "added"), (sockets.removed.count, "removed"), (sockets.changed.count, "changed")]
        let socketParts = counts.filter { $0.0 > 0 }.map { "\($0.0) \($0.1)" }
        if !socketParts.isEmpty { parts.append("sockets " + socketParts.joined(separator: ", ")) }
        if limitsChanged { parts.append("limits changed") }
        if logLevel != nil { parts.append("log level changed") }
        if !pendingRestart.isEmpty {
            parts.append("\(pendingRestart.count) setting\(pendingRestart.count == 1 ? "" : "s") waiting for a restart")
        }
        return "reloaded: " + (parts.isEmpty ? "no changes" : parts.joined(separator: "; "))
    }
}
