import Testing
import Wire
@testable import Config

/// One rule: a file and the single problem it must produce.
struct Case: CustomTestStringConvertible, Sendable {
    var text: String
    var expected: String
    var cpuCount = 4
    var testDescription: String { expected }
}

@Suite struct ConfigValidationTests {
    static let daemonCases: [Case] = [
        Case(text: "[daemon]\ncontrol_socket = \"rtud.sock\"",
             expected: #"rtud.toml:2: daemon.control_socket = "rtud.sock": must be an absolute path"#),
        Case(text: "[daemon]\ncontrol_socket = \"/\(String(repeating: "a", count: 107))\"",
             expected: "rtud.toml:2: daemon.control_socket = \"/\(String(repeating: "a", count: 107))\": "
                 + "must be at most 107 bytes (the limit of a Unix socket path)"),
        Case(text: "[daemon]\ncontrol_socket_mode = 0o1777",
             expected: "rtud.toml:2: daemon.control_socket_mode = 0o1777: must be a permission mode from 0o000 to 0o777"),
        Case(text: "[daemon]\ncontrol_socket_mode = \"rw\"",
             expected: #"rtud.toml:2: daemon.control_socket_mode = "rw": expected a permission mode such as 0o660 or "0660""#),
        Case(text: "[daemon]\ncontrol_group = \"-x\"",
             expected: "rtud.toml:2: daemon.control_group = \"-x\": "
                 + "must be a group name: 1 to 32 of A-Z a-z 0-9 _ . - (not starting with '-')"),
        Case(text: "[daemon]\nrt_cores = [1, 4]", expected: "rtud.toml:2: daemon.rt_cores = [1, 4]: "
                 + "core 4 does not exist (this machine has 2 CPUs: cores 0-1)", cpuCount: 2),
        Case(text: "", expected: "rtud.toml: daemon.rt_cores = [1] (default): "
                 + "core 1 does not exist (this machine has 1 CPU: core 0)", cpuCount: 1),
        Case(text: "[daemon]\nrt_cores = []", expected: "rtud.toml:2: daemon.rt_cores = []: must list at least one core"),
        Case(text: "[daemon]\nrt_cores = [0, 0]", expected: "rtud.toml:2: daemon.rt_cores = [0, 0]: core 0 is listed twice"),
        Case(text: "[daemon]\nrt_cores = [\"1\"]",
             expected: #"rtud.toml:2: daemon.rt_cores = ["1"]: expected an array of integers, found an array"#),
        Case(text: "[daemon]\nrt_priority = 0", expected: "rtud.toml:2: daemon.rt_priority = 0: must be between 1 and 99"),
        Case(text: "[daemon]\nrt_priority = \"50\"",
             expected: #"rtud.toml:2: daemon.rt_priority = "50": expected an integer, found a string"#),
        Case(text: "[daemon]\nrequire_realtime = 1",
             expected: "rtud.toml:2: daemon.require_realtime = 1: expected a boolean, found an integer"),
        Case(text: "[daemon]\nrt_utilization_cap = 1.5",
             expected: "rtud.toml:2: daemon.rt_utilization_cap = 1.5: must be greater than 0 and at most 1"),
        Case(text: "[daemon]\nrt_utilization_cap = 0",
             expected: "rtud.toml:2: daemon.rt_utilization_cap = 0.0: must be greater than 0 and at most 1"),
        Case(text: "[daemon]\nbest_effort_slice = \"20ms\"",
             expected: #"rtud.toml:2: daemon.best_effort_slice = "20ms": must be between 1us and 10ms"#),
        Case(text: "[daemon]\nbest_effort_slice = \"200\"", expected: #"rtud.toml:2: daemon.best_effort_slice = "200": "#
                 + #"expected a duration such as "200us" (units ns, us, ms, s)"#),
        Case(text: "[daemon]\nlog_level = \"verbose\"", expected: #"rtud.toml:2: daemon.log_level = "verbose": "#
                 + #"expected one of "debug", "info", "warning", "error""#),
        Case(text: "[daemon]\npcap = \"\"",
             expected: #"rtud.toml:2: daemon.pcap = "": must be a file path (leave pcap out for no capture)"#),
    ]

    static let interfaceCases: [Case] = [
        Case(text: interface("mtu = 70000"), expected: "rtud.toml:4: interface[0].mtu = 70000: must be between 68 and 9216"),
        Case(text: interface("mtu = 67\nlink = \"atm\"") + pvc(),
             expected: #"rtud.toml:4: interface[0].mtu = 67: must be between 68 and 65527 for link = "atm""#),
        Case(text: interface(name: "a-very-long-name"), expected: #"rtud.toml:2: interface[0].name = "a-very-long-name": "#
                 + "must be 1 to 15 bytes without '/', ':' or whitespace"),
        Case(text: interface() + interface(address: "198.19.0.1/24"),
             expected: #"rtud.toml:5: interface[1].name = "rtu0": already used by interface[0]"#),
        Case(text: "[[interface]]\naddress = \"198.18.0.1/24\"", expected: "rtud.toml:1: interface[0].name: missing (required)"),
        Case(text: "[[interface]]\nname = \"x\"", expected: "rtud.toml:1: interface[0].address: missing (required)"),
        Case(text: interface("driver = \"af_packet\""),
             expected: #"rtud.toml:1: interface[0].device: missing (required when driver = "af_packet")"#),
        Case(text: interface("driver = \"af_packet\"\ndevice = \"veth 0\""),
             expected: #"rtud.toml:5: interface[0].device = "veth 0": must be 1 to 15 bytes without '/', ':' or whitespace"#),
        Case(text: interface("device = \"veth0\""),
             expected: #"rtud.toml:4: interface[0].device = "veth0": applies only to driver = "af_packet""#),
        Case(text: interface("driver = \"af_packet\"\ndevice = \"veth0\"\ntap_create = false"),
             expected: #"rtud.toml:6: interface[0].tap_create = false: applies only to driver = "tap""#),
        Case(text: interface("driver = \"pcap\""),
             expected: #"rtud.toml:4: interface[0].driver = "pcap": expected one of "tap", "af_packet""#),
        Case(text: interface(address: "198.18.0.1"), expected: #"rtud.toml:3: interface[0].address = "198.18.0.1": "#
                 + #"expected an IPv4 address with prefix length, such as "198.18.0.1/24""#),
        Case(text: interface(address: "198.18.0.0/24"),
             expected: #"rtud.toml:3: interface[0].address = "198.18.0.0/24": is the subnet's network address, not a host address"#),
        Case(text: interface(address: "198.18.0.255/24"),
             expected: #"rtud.toml:3: interface[0].address = "198.18.0.255/24": is the subnet's broadcast address, not a host address"#),
        Case(text: interface(address: "198.18.0.1/0"),
             expected: #"rtud.toml:3: interface[0].address = "198.18.0.1/0": prefix length must be between 1 and 32"#),
        Case(text: interface(address: "224.0.0.1/24"), expected: #"rtud.toml:3: interface[0].address = "224.0.0.1/24": "#
                 + "must be a unicast address (not 0.0.0.0, loopback, multicast or reserved)"),
        Case(text: interface() + interface(name: "rtu1", address: "198.18.0.200/16"),
             expected: #"rtud.toml:6: interface[1].address = "198.18.0.200/16": overlaps interface[0].address 198.18.0.1/24"#),
        Case(text: interface("mac = \"03:00:00:00:00:01\""), expected: #"rtud.toml:4: interface[0].mac = "03:00:00:00:00:01": "#
                 + "must be a unicast address (low bit of the first byte clear, not all zero)"),
        Case(text: interface("mac = \"02:00:00:00:00:01\"") + interface("mac = \"02:00:00:00:00:01\"", name: "b", address: "198.19.0.1/24"),
             expected: #"rtud.toml:8: interface[1].mac = "02:00:00:00:00:01": already used by interface[0]"#),
        Case(text: interface("mac = \"02:00:00:00:01\""),
             expected: #"rtud.toml:4: interface[0].mac = "02:00:00:00:01": expected a MAC address such as "02:00:00:00:00:01""#),
        Case(text: interface("gateway = \"198.19.0.1\""),
             expected: #"rtud.toml:4: interface[0].gateway = "198.19.0.1": must be inside the interface's subnet 198.18.0.0/24"#),
        Case(text: interface("gateway = \"198.18.0.1\""),
             expected: #"rtud.toml:4: interface[0].gateway = "198.18.0.1": must not be the interface's own address"#),
        Case(text: interface("gateway = \"198.18.0.255\""), expected: #"rtud.toml:4: interface[0].gateway = "198.18.0.255": "#
                 + "must be a host address of the subnet, not its network or broadcast address"),
        Case(text: interface("arp_timeout = \"2h\""), expected: #"rtud.toml:4: interface[0].arp_timeout = "2h": "#
                 + #"expected a duration such as "200us" (units ns, us, ms, s)"#),
        Case(text: interface("arp_timeout = \"100ms\""),
             expected: #"rtud.toml:4: interface[0].arp_timeout = "100ms": must be between 1s and 3600s"#),
        Case(text: "interface = []", expected: "rtud.toml:1: interface: at least one [[interface]] is required"),
        Case(text: "[interface]\nname = \"x\"",
             expected: "rtud.toml:1: interface: expected an array of tables ([[interface]]), found a table"),
    ]

    static let otherCases: [Case] = [
        Case(text: "[atm]\ncells_per_frame = 29",
             expected: "rtud.toml:2: atm.cells_per_frame = 29: must be between 1 and 28 (52-byte cells in a 1500-byte frame)"),
        Case(text: "[atm]\nline_rate_cells_per_second = -1",
             expected: "rtud.toml:2: atm.line_rate_cells_per_second = -1.0: must be 353207.5: "
                 + "the adaptor's cell clock is OC-3c's (other line rates are not implemented)"),
        Case(text: "[[socket]]\nname = \"Video\"\nbind = \"0.0.0.0:1\"",
             expected: #"rtud.toml:2: socket[0].name = "Video": must be 1 to 32 of a-z 0-9 _ -"#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\n[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:2\"",
             expected: #"rtud.toml:5: socket[1].name = "a": already used by socket[0]"#),
        Case(text: "[[socket]]\nname = \"a\"", expected: "rtud.toml:1: socket[0].bind: missing (required)"),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"198.18.0.9:5\"", expected: #"rtud.toml:3: socket[0].bind = "198.18.0.9:5": "#
                 + "198.18.0.9 is not the address of any interface (or use 0.0.0.0)"),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1\"", expected: #"rtud.toml:3: socket[0].bind = "198.18.0.1": "#
                 + #"expected an address and port such as "198.18.0.1:5000""#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1:5\"\n[[socket]]\nname = \"b\"\nbind = \"0.0.0.0:5\"",
             expected: #"rtud.toml:6: socket[1].bind = "0.0.0.0:5": conflicts with socket[0] (udp 198.18.0.1:5)"#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:0\"\nconnect = \"198.18.0.2:0\"",
             expected: #"rtud.toml:4: socket[0].connect = "198.18.0.2:0": port must not be 0"#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:0\"\nconnect = \"224.1.1.1:9\"",
             expected: #"rtud.toml:4: socket[0].connect = "224.1.1.1:9": must be a unicast address"#),
        Case(text: "[[socket]]\nname = \"a\"\nprotocol = \"sctp\"\nbind = \"0.0.0.0:1\"",
             expected: #"rtud.toml:3: socket[0].protocol = "sctp": expected one of "udp", "tcp""#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\nreserve = { rate = \"0M\", message_size = 100 }",
             expected: #"rtud.toml:4: socket[0].reserve.rate = "0bit": must be greater than 0"#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\nreserve = { rate = \"40MB\", message_size = 100 }",
             expected: #"rtud.toml:4: socket[0].reserve.rate = "40MB": expected a rate such as "40Mbit" (units bit, kbit, Mbit, Gbit), found a string"#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\nreserve = { rate = \"1M\", message_size = 65508 }",
             expected: "rtud.toml:4: socket[0].reserve.message_size = 65508: must be between 1 and 65507"),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\nreserve = { rate = \"1M\", message_size = 9, period = \"2s\" }",
             expected: #"rtud.toml:4: socket[0].reserve.period = "2s": must be between 100us and 1s"#),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\nreserve = { message_size = 9 }",
             expected: "rtud.toml:4: socket[0].reserve.rate: missing (required)"),
        Case(text: "[calibration]\nudp_per_message_ns = 0",
             expected: "rtud.toml:2: calibration.udp_per_message_ns = 0: must be between 1 and 10000000 nanoseconds"),
    ]

    static let unknownKeyCases: [Case] = [
        Case(text: interface("mtuu = 1500"), expected: "rtud.toml:4: unknown key 'interface[0].mtuu' (did you mean 'mtu'?)"),
        Case(text: "[daemon]\nrt_prio = 50", expected: "rtud.toml:2: unknown key 'daemon.rt_prio' (did you mean 'rt_priority'?)"),
        Case(text: "[deamon]", expected: "rtud.toml:1: unknown table 'deamon' (did you mean 'daemon'?)"),
        Case(text: "[[sockets]]", expected: "rtud.toml:1: unknown table 'sockets' (did you mean 'socket'?)"),
        Case(text: "colour = 1", expected: "rtud.toml:1: unknown key 'colour'"),
        Case(text: "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:1\"\nreserve = { rate = \"1M\", message_size = 9, perod = \"1ms\" }",
             expected: "rtud.toml:4: unknown key 'socket[0].reserve.perod' (did you mean 'period'?)"),
    ]

    @Test(arguments: daemonCases + interfaceCases + otherCases + unknownKeyCases)
    func rule(_ c: Case) {
        #expect(problems(c.text, cpuCount: c.cpuCount) == [c.expected], "\(c.text)")
    }

    @Test func syntaxErrorsNameFileLineAndColumn() {
        #expect(problems("[daemon]\nmtu 1500") == ["rtud.toml:2:5: expected '=' after key 'mtu', found '1'"])
    }

    @Test func allProblemsAreCollectedInFileOrder() {
        let text = """
            [daemon]
            rt_priority = 100
            log_level = "loud"

            [[interface]]
            name = "rtu0"
            address = "198.18.0.1/24"
            mtu = 70000
            mtuu = 1
            """
        let expected = [
            "rtud.toml:2: daemon.rt_priority = 100: must be between 1 and 99",
            #"rtud.toml:3: daemon.log_level = "loud": expected one of "debug", "info", "warning", "error""#,
            "rtud.toml:8: interface[0].mtu = 70000: must be between 68 and 9216",
            "rtud.toml:9: unknown key 'interface[0].mtuu' (did you mean 'mtu'?)",
        ]
        #expect(problems(text) == expected)
        let error = #expect(throws: ConfigError.self) { try RtudConfig.parse(text: text, cpuCount: 4) }
        #expect(error?.description == expected.joined(separator: "\n"))
    }

    @Test func problemsOfADefaultedKeyNameTheirTable() {
        let text = interface("link = \"atm\"") + pvc() + "[atm]\ncells_per_frame = 8"
        #expect(problems(text) == [])
        var c = RtudConfig.defaults
        c.interfaces[0].mtu = 70000
        let error = #expect(throws: ConfigError.self) { try c.validate(cpuCount: 2) }
        #expect(error?.description == "interface[0].mtu = 70000: must be between 68 and 9216")
        #expect(error?.problems.first?.keyPath == "interface[0].mtu")
        #expect(error?.problems.first?.source == nil && error?.problems.first?.line == nil && error?.problems.count == 1)
    }

    @Test func validValuesPass() {
        let text = """
            [daemon]
            control_socket_mode = "0600"
            rt_cores = [0, 1]
            rt_utilization_cap = 1
            [[interface]]
            name = "veth-rtu"
            driver = "af_packet"
            device = "veth0"
            address = "198.18.0.1/31"
            mtu = 9216
            [[interface]]
            name = "rtu1"
            address = "198.19.0.2/24"
            gateway = "198.19.0.1"
            mac = "02:00:00:00:00:02"
            [[socket]]
            name = "a"
            bind = "198.18.0.1:5"
            connect = "198.18.0.0:5"
            [[socket]]
            name = "b"
            bind = "198.18.0.1:5"
            connect = "198.18.0.0:6"
            reserve = { rate = 1000, message_size = 1 }
            [[socket]]
            name = "c"
            protocol = "tcp"
            bind = "198.18.0.1:5"
            """
        #expect(problems(text, cpuCount: 2) == [])
    }

    @Test func suggestions() {
        #expect(closestMatch(to: "mtuu", in: ["name", "mtu", "mac"]) == "mtu")
        #expect(closestMatch(to: "zzzzzz", in: ["name", "mtu"]) == nil)
        #expect(editDistance("kitten", "sitting") == 3)
        #expect(editDistance("", "abc") == 3)
    }
}
