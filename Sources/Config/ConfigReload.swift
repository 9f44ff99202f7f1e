// What a reload (SIGHUP) may change: the declared sockets, [limits] and the
// log level take effect at once; every other setting is fixed while rtud runs
// (devices, RT threads, the control socket are set up once), so a change to it
// is reported as waiting for a restart.

/// How the [[socket]] tables of two configurations differ, matched by name.
public struct DeclaredSocketChanges: Sendable {
    /// In the new configuration only, in its order: to be created.
    public var added: [DeclaredSocket]
    /// In the old configuration only, in its order: to be closed.
    public var removed: [DeclaredSocket]
    /// Present in both under the same name with different settings, in the new order.
    public var changed: [(old: DeclaredSocket, new: DeclaredSocket)]
    /// Names present in both with equal settings, in the new order.
    public var unchanged: [String]

    /// Nothing to do.
    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

    /// Matches `old` and `new` by name. Names are unique in a valid
    /// configuration; should one repeat, the k-th of a name in `old` is
    /// matched with the k-th of that name in `new`, so no socket is lost.
    public static func diff(old: [DeclaredSocket], new: [DeclaredSocket]) -> DeclaredSocketChanges {
        var newIndices: [String: ArraySlice<Int>] = [:]
        for (i, socket) in new.enumerated() { newIndices[socket.name, default: []].append(i) }
        var counterpart: [Int: DeclaredSocket] = [:]
        var removed: [DeclaredSocket] = []
        for socket in old {
            if let j = newIndices[socket.name]?.popFirst() { counterpart[j] = socket } else { removed.append(socket) }
        }
        var changes = DeclaredSocketChanges(added: [], removed: removed, changed: [], unchanged: [])
        for (j, socket) in new.enumerated() {
            switch counterpart[j] {
            case nil: changes.added.append(socket)
            case let before? where before == socket: changes.unchanged.append(socket.name)
            case let before?: changes.changed.append((old: before, new: socket))
            }
        }
        return changes
    }
}

extension RtudConfig {
    /// Settings a reload applies (key paths as in messages; a table name
    /// covers every setting in it, "socket" every [[socket]]).
    public static let reloadableSettings = ["daemon.log_level", "limits", "socket"]

    /// The settings that differ between this (running) configuration and
    /// `new` but take effect only after a restart, as key paths in file
    /// order: "daemon.rt_cores", "interface[0].mtu", or a whole table
    /// ("interface[1]") when it exists in only one of them. Empty when a
    /// reload can apply everything that changed.
    public func reloadableDifferences(to new: RtudConfig) -> [String] {
        let before = fixedTables(), after = new.fixedTables()
        var out: [String] = []
        for table in before {
            guard let counterpart = after.first(where: { $0.path == table.path }) else {
                out.append(table.path)
                continue
            }
            let keys = table.settings.map(\.key) + counterpart.settings.map(\.key).filter { k in
                !table.settings.contains { $0.key == k }
            }
            for key in keys where table.value(of: key) != counterpart.value(of: key) {
                out.append("\(table.path).\(key)")
            }
        }
        out += after.filter { t in !before.contains { $0.path == t.path } }.map(\.path)
        return out
    }

    /// This configuration with the settings a reload applies taken from
    /// `new`: what rtud runs with after reloading `new`.
    public func reloaded(from new: RtudConfig) -> RtudConfig {
        var running = self
        running.daemon.logLevel = new.daemon.logLevel
        running.limits = new.limits
        running.sockets = new.sockets
        return running
    }

    /// The printed tables without the settings a reload applies.
    private func fixedTables() -> [RenderedTable] {
        renderedTables().compactMap { table in
            guard !Self.isReloadable(table.path) else { return nil }
            var fixed = table
            fixed.settings.removeAll { Self.isReloadable("\(table.path).\($0.key)") }
            return fixed
        }
    }

    private static func isReloadable(_ path: String) -> Bool {
        reloadableSettings.contains { path == $0 || path.hasPrefix($0 + ".") || path.hasPrefix($0 + "[") }
    }
}

extension RenderedTable {
    /// The value of `key`; nil when it is not set or not printed for this table.
    func value(of key: String) -> String? { settings.first { $0.key == key }?.value }
}
