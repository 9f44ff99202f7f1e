import Testing
import Wire
@testable import Config

@Suite struct LimitsTests {
    @Test func everyKeyDecodes() throws {
        let text = """
            [limits]
            privileged_group = "rtud-admin"
            max_sockets_per_client = 8
            max_sockets = 64
            user_reservation_limit = "1.5Gbit"
            allow_user_sockets = false
            """
        let limits = try RtudConfig.parse(text: text, cpuCount: 2).limits
        #expect(limits == LimitsConfig(privilegedGroup: "rtud-admin", maxSocketsPerClient: 8, maxSockets: 64,
                                       userReservationLimit: BitRate(bitsPerSecond: 1_500_000_000), allowUserSockets: false))
    }

    @Test func rateMayBeAnIntegerOfBitsPerSecond() throws {
        let c = try RtudConfig.parse(text: "[limits]\nuser_reservation_limit = 0", cpuCount: 2)
        #expect(c.limits.userReservationLimit.bitsPerSecond == 0)
    }

    static let cases: [Case] = [
        Case(text: "[limits]\nprivileged_group = \"-wheel\"", expected: #"rtud.toml:2: limits.privileged_group = "-wheel": "#
                 + "must be a group name: 1 to 32 of A-Z a-z 0-9 _ . - (not starting with '-')"),
        Case(text: "[limits]\nprivileged_group = 0",
             expected: "rtud.toml:2: limits.privileged_group = 0: expected a string, found an integer"),
        Case(text: "[limits]\n\nmax_sockets = 0", expected: "rtud.toml:3: limits.max_sockets = 0: must be between 1 and 1048576"),
        Case(text: "[limits]\nmax_sockets = 1048577",
             expected: "rtud.toml:2: limits.max_sockets = 1048577: must be between 1 and 1048576"),
        Case(text: "[limits]\nmax_sockets_per_client = 0",
             expected: "rtud.toml:2: limits.max_sockets_per_client = 0: must be between 1 and 1048576"),
        Case(text: "[limits]\nmax_sockets = 10\nmax_sockets_per_client = 2000000",
             expected: "rtud.toml:3: limits.max_sockets_per_client = 2000000: must be between 1 and 1048576"),
        Case(text: "[limits]\nmax_sockets = 1\n[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\n[[socket]]\nname = \"b\"\nbind = \"0.0.0.0:2\"",
             expected: "rtud.toml:2: limits.max_sockets = 1: must be at least 2, the number of declared [[socket]] tables"),
        Case(text: "[limits]\nuser_reservation_limit = \"fast\"", expected: #"rtud.toml:2: limits.user_reservation_limit = "fast": "#
                 + #"expected a rate such as "40Mbit" (units bit, kbit, Mbit, Gbit), found a string"#),
        Case(text: "[limits]\nuser_reservation_limit = -1", expected: "rtud.toml:2: limits.user_reservation_limit = -1: "
                 + #"expected a rate such as "40Mbit" (units bit, kbit, Mbit, Gbit), found an integer"#),
        Case(text: "[limits]\nallow_user_sockets = \"yes\"",
             expected: #"rtud.toml:2: limits.allow_user_sockets = "yes": expected a boolean, found a string"#),
        Case(text: "[limits]\nmax_socket = 5", expected: "rtud.toml:2: unknown key 'limits.max_socket' (did you mean 'max_sockets'?)"),
        Case(text: "[limit]", expected: "rtud.toml:1: unknown table 'limit' (did you mean 'limits'?)"),
    ]

    @Test(arguments: cases)
    func rule(_ c: Case) {
        #expect(problems(c.text, cpuCount: c.cpuCount) == [c.expected], "\(c.text)")
    }

    @Test func validateNamesTheKeyOfAConfigBuiltInCode() {
        var c = RtudConfig.defaults
        c.limits.maxSockets = 0
        let error = #expect(throws: ConfigError.self) { try c.validate(cpuCount: 2) }
        #expect(error?.description == "limits.max_sockets = 0: must be between 1 and 1048576")
    }

    @Test func aPerClientLimitAboveTheTotalIsAllowed() throws {
        let c = try RtudConfig.parse(text: "[limits]\nmax_sockets = 10", cpuCount: 2)
        #expect(c.limits.maxSockets == 10 && c.limits.maxSocketsPerClient == 1024)
    }

    @Test func printedWithDefaultsAndComments() {
        let text = RtudConfig.defaults.renderTOML()
        #expect(text.contains("""

            [limits]
            # privileged_group is not set (only root is privileged)
            max_sockets_per_client = 1024
            max_sockets = 16384
            user_reservation_limit = "100Mbit"
            allow_user_sockets = true

            [[interface]]
            """))
    }

    @Test func printedLimitsRoundTrip() throws {
        let config = RtudConfig(limits: LimitsConfig(privilegedGroup: "ops", maxSocketsPerClient: 1, maxSockets: 1_048_576,
                                                     userReservationLimit: .kbit(64), allowUserSockets: false))
        #expect(try RtudConfig.parse(text: config.renderTOML(), cpuCount: 2) == config)
    }
}

private func udp(_ name: String, _ bind: String, rate: BitRate? = nil) -> DeclaredSocket {
    DeclaredSocket(name: name, bind: SocketAddress(bind)!, reserve: rate.map { Reservation(rate: $0, messageSize: 1000) })
}

@Suite struct DeclaredSocketChangesTests {
    @Test func nothingDeclared() {
        let changes = DeclaredSocketChanges.diff(old: [], new: [])
        #expect(changes.isEmpty && changes.unchanged.isEmpty)
    }

    @Test func equalListsAreUnchanged() {
        let sockets = [udp("a", "0.0.0.0:1"), udp("b", "0.0.0.0:2", rate: .mbit(1))]
        let changes = DeclaredSocketChanges.diff(old: sockets, new: sockets)
        #expect(changes.isEmpty)
        #expect(changes.unchanged == ["a", "b"])
    }

    @Test func addedRemovedChangedAndUnchangedInOrder() {
        let old = [udp("keep", "0.0.0.0:1"), udp("gone", "0.0.0.0:2"), udp("rate", "0.0.0.0:3", rate: .mbit(1)),
                   udp("port", "0.0.0.0:4"), udp("gone2", "0.0.0.0:5")]
        let new = [udp("port", "0.0.0.0:40"), udp("fresh", "0.0.0.0:6"), udp("keep", "0.0.0.0:1"),
                   udp("rate", "0.0.0.0:3", rate: .mbit(2))]
        let changes = DeclaredSocketChanges.diff(old: old, new: new)
        #expect(!changes.isEmpty)
        #expect(changes.added == [udp("fresh", "0.0.0.0:6")])
        #expect(changes.removed == [udp("gone", "0.0.0.0:2"), udp("gone2", "0.0.0.0:5")])
        #expect(changes.changed.map(\.old) == [udp("port", "0.0.0.0:4"), udp("rate", "0.0.0.0:3", rate: .mbit(1))])
        #expect(changes.changed.map(\.new) == [udp("port", "0.0.0.0:40"), udp("rate", "0.0.0.0:3", rate: .mbit(2))])
        #expect(changes.unchanged == ["keep"])
    }

    @Test func aRenameIsARemovalAndAnAddition() {
        let changes = DeclaredSocketChanges.diff(old: [udp("a", "0.0.0.0:1")], new: [udp("b", "0.0.0.0:1")])
        #expect(changes.removed.map(\.name) == ["a"] && changes.added.map(\.name) == ["b"])
        #expect(changes.changed.isEmpty && changes.unchanged.isEmpty)
    }

    @Test func everyChangedFieldCounts() {
        let base = DeclaredSocket(name: "s", bind: SocketAddress("0.0.0.0:1")!)
        var proto = base; proto.proto = .tcp
        var connect = base; connect.connect = SocketAddress("198.18.0.2:9")
        var reserve = base; reserve.reserve = Reservation(rate: .mbit(1), messageSize: 100)
        var period = reserve; period.reserve?.period = .milliseconds(1)
        for (old, new) in [(base, proto), (base, connect), (base, reserve), (reserve, period), (reserve, base)] {
            let changes = DeclaredSocketChanges.diff(old: [old], new: [new])
            #expect(changes.changed.count == 1 && changes.added.isEmpty && changes.removed.isEmpty && changes.unchanged.isEmpty)
        }
    }

    @Test func repeatedNamesAreMatchedInTurn() {
        let changes = DeclaredSocketChanges.diff(old: [udp("x", "0.0.0.0:1"), udp("x", "0.0.0.0:2")],
                                                 new: [udp("x", "0.0.0.0:1"), udp("x", "0.0.0.0:3"), udp("x", "0.0.0.0:4")])
        #expect(changes.unchanged == ["x"])
        #expect(changes.changed.map(\.old.bind.port) == [2] && changes.changed.map(\.new.bind.port) == [3])
        #expect(changes.added.map(\.bind.port) == [4] && changes.removed.isEmpty)
    }
}

@Suite struct ReloadableDifferencesTests {
    @Test func identicalConfigurations() {
        #expect(RtudConfig.defaults.reloadableDifferences(to: .defaults) == [])
    }

    @Test func socketsLimitsAndLogLevelNeedNoRestart() {
        var new = RtudConfig.defaults
        new.sockets = [udp("a", "198.18.0.1:5", rate: .mbit(5))]
        new.limits = LimitsConfig(privilegedGroup: "ops", maxSocketsPerClient: 1, maxSockets: 2,
                                  userReservationLimit: .kbit(1), allowUserSockets: false)
        new.daemon.logLevel = .debug
        #expect(RtudConfig.defaults.reloadableDifferences(to: new) == [])
        #expect(new.reloadableDifferences(to: .defaults) == [])
    }

    @Test func fixedSettingsAreNamedInFileOrder() {
        var new = RtudConfig.defaults
        new.calibration.udpPerMessageNs = 1500
        new.interfaces[0].mtu = 9000
        new.daemon.rtCores = [0, 1]
        new.daemon.controlSocket = "/run/rtud/other.sock"
        new.daemon.logLevel = .error
        new.atm.cellsPerFrame = 4
        new.daemon.pcap = "/var/log/rtud/rtud.pcap"
        #expect(RtudConfig.defaults.reloadableDifferences(to: new) == [
            "daemon.control_socket", "daemon.rt_cores", "daemon.pcap", "interface[0].mtu", "atm.cells_per_frame",
            "calibration.udp_per_message_ns",
        ])
    }

    @Test func addedAndRemovedInterfacesAreNamedWhole() {
        var two = RtudConfig.defaults
        two.interfaces.append(InterfaceConfig(name: "rtu1", address: IPv4Cidr("198.19.0.1/24")!))
        #expect(RtudConfig.defaults.reloadableDifferences(to: two) == ["interface[1]"])
        #expect(two.reloadableDifferences(to: .defaults) == ["interface[1]"])
    }

    @Test func settingsPrintedForOneDriverOnlyStillCount() {
        var packet = RtudConfig.defaults
        packet.interfaces[0].driver = .afPacket
        packet.interfaces[0].device = "veth0"
        let expected = ["interface[0].driver", "interface[0].tap_create", "interface[0].device", "interface[0].rx_ring"]
        #expect(RtudConfig.defaults.reloadableDifferences(to: packet) == expected)
        var attach = RtudConfig.defaults
        attach.interfaces[0].tapCreate = false
        #expect(RtudConfig.defaults.reloadableDifferences(to: attach) == ["interface[0].tap_create"])
    }

    @Test func everyReloadableSettingExists() {
        let printed = RtudConfig(sockets: [udp("a", "0.0.0.0:1")]).renderedTables()
        for path in RtudConfig.reloadableSettings {
            let found = printed.contains { t in
                t.path == path || t.path.hasPrefix(path + "[") || t.settings.contains { "\(t.path).\($0.key)" == path }
            }
            #expect(found, "\(path) names no printed setting")
        }
    }
}
