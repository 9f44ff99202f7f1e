import Config
import Service
import Testing
import Wire

private func socket(_ name: String, _ bind: String, rate: BitRate? = nil) -> DeclaredSocket {
    DeclaredSocket(name: name, bind: SocketAddress(bind)!, reserve: rate.map { Reservation(rate: $0, messageSize: 1000) })
}

@Suite struct ReloadReportTests {
    @Test func sameFileChangesNothing() throws {
        let running = RtudConfig(sockets: [socket("a", "198.18.0.1:5")])
        let report = try ReloadReport(running: running, loaded: running, cpuCount: 2)
        #expect(report.effective == running)
        #expect(report.sockets.isEmpty && report.sockets.unchanged == ["a"])
        #expect(report.pendingRestart.isEmpty && !report.limitsChanged && report.logLevel == nil)
        #expect(report.logLines.isEmpty)
        #expect(report.summary == "reloaded: no changes")
    }

    @Test func reloadableChangesApplyAndTheRestWaits() throws {
        let running = RtudConfig(sockets: [socket("keep", "198.18.0.1:1"), socket("gone", "198.18.0.1:2"),
                                           socket("rate", "198.18.0.1:3", rate: .mbit(1))])
        var loaded = RtudConfig(sockets: [socket("keep", "198.18.0.1:1"), socket("rate", "198.18.0.1:3", rate: .mbit(2)),
                                          socket("new", "0.0.0.0:4")])
        loaded.limits.maxSocketsPerClient = 8
        loaded.daemon.logLevel = .debug
        loaded.daemon.rtCores = [0]
        loaded.interfaces[0].mtu = 9000

        let report = try ReloadReport(running: running, loaded: loaded, cpuCount: 2)
        var expected = running
        expected.sockets = loaded.sockets
        expected.limits = loaded.limits
        expected.daemon.logLevel = .debug
        #expect(report.effective == expected)
        #expect(report.effective.daemon.rtCores == [1] && report.effective.interfaces[0].mtu == 1500)
        #expect(report.logLines == [
            "socket new: added", "socket gone: removed", "socket rate: changed", "limits: changed",
            "daemon.log_level: info -> debug",
            "changed daemon.rt_cores: takes effect after restart",
            "changed interface[0].mtu: takes effect after restart",
        ])
        #expect(report.summary
                    == "reloaded: sockets 1 added, 1 removed, 1 changed; limits changed; log level changed; 2 settings waiting for a restart")
    }

    @Test func oneSettingWaiting() throws {
        var loaded = RtudConfig.defaults
        loaded.daemon.controlSocket = "/run/rtud/c.sock"
        let report = try ReloadReport(running: .defaults, loaded: loaded, cpuCount: 2)
        #expect(report.summary == "reloaded: 1 setting waiting for a restart")
        #expect(report.effective == .defaults)
    }

    @Test func aSocketOnAnInterfaceThatExistsOnlyAfterARestartIsRefused() {
        var loaded = RtudConfig.defaults
        loaded.interfaces.append(InterfaceConfig(name: "rtu1", address: IPv4Cidr("198.19.0.1/24")!))
        loaded.sockets = [socket("late", "198.19.0.1:9")]
        let error = #expect(throws: ConfigError.self) { try ReloadReport(running: .defaults, loaded: loaded, cpuCount: 2) }
        #expect(error?.description == #"socket[0].bind = "198.19.0.1:9": 198.19.0.1 is not the address of any interface (or use 0.0.0.0)"#)
    }

    @Test func theEffectiveConfigurationDiffersFromTheFileOnlyInWhatWaits() throws {
        var loaded = RtudConfig(sockets: [socket("s", "0.0.0.0:7")])
        loaded.atm.cellsPerFrame = 2
        loaded.limits.allowUserSockets = false
        let report = try ReloadReport(running: .defaults, loaded: loaded, cpuCount: 2)
        #expect(report.effective.reloadableDifferences(to: .defaults) == [])
        #expect(report.effective.reloadableDifferences(to: loaded) == report.pendingRestart)
        #expect(report.pendingRestart == ["atm.cells_per_frame"])
    }
}
