// Reading an RtudConfig out of a parsed TOML table: types, units and unknown
// keys. Range and cross-setting rules live in ConfigValidate.swift, so that a
// configuration built in code is checked by the same rules.

import Wire

/// Reads the keys of one table, reporting wrong types, and at `finish()`
/// every key that was not asked for.
struct TableReader {
    let table: TOMLTable
    let path: String
    let diagnostics: Diagnostics
    private var known: [String] = []

    init(_ table: TOMLTable, path: String, _ diagnostics: Diagnostics) {
        self.table = table
        self.path = path
        self.diagnostics = diagnostics
        diagnostics.lines[path] = diagnostics.lines[path] ?? table.position.line
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value of `key`, if present; records its line.
    mutating func raw(_ key: String) -> TOMLValue? {
        known.append(key)
        guard let v = table[key], let p = table.position(of: key) else { return nil }
        diagnostics.lines[keyPath(key)] = p.line
        return v
    }

    func fail(_ key: String, _ value: TOMLValue?, _ message: String) {
        let shown = value.flatMap { $0.tableValue == nil ? TOMLWriter.value($0) : nil }
        diagnostics.fail(keyPath(key), value: shown, message)
    }

    mutating func typed<T>(_ key: String, _ expected: String, _ extract: (TOMLValue) -> T?) -> T? {
        guard let v = raw(key) else { return nil }
        guard let t = extract(v) else {
            fail(key, v, "expected \(expected), found \(v.typeName)")
            return nil
        }
        return t
    }

    mutating func string(_ key: String) -> String? { typed(key, "a string") { $0.stringValue } }
    mutating func bool(_ key: String) -> Bool? { typed(key, "a boolean") { $0.boolValue } }
    mutating func double(_ key: String) -> Double? { typed(key, "a number") { $0.doubleValue } }
    mutating func int(_ key: String) -> Int? { typed(key, "an integer") { $0.integerValue.flatMap { Int(exactly: $0) } } }
    mutating func table(_ key: String) -> TOMLTable? { typed(key, "a table") { $0.tableValue } }

    /// A string in a format `parse` understands, e.g. a CIDR or a duration.
    mutating func parsed<T>(_ key: String, _ what: String, _ parse: (String) -> T?) -> T? {
        guard let v = raw(key) else { return nil }
        guard let s = v.stringValue, let t = parse(s) else {
            fail(key, v, "expected \(what)")
            return nil
        }
        return t
    }

    mutating func choice<E: RawRepresentable & CaseIterable>(_ key: String, _: E.Type) -> E? where E.RawValue == String {
        let options = E.allCases.map { TOMLWriter.string($0.rawValue) }.joined(separator: ", ")
        return parsed(key, "one of \(options)") { E(rawValue: $0) }
    }

    /// A rate: a string such as "40Mbit", or an integer number of bits per second.
    mutating func rate(_ key: String) -> BitRate? {
        typed(key, "a rate such as \"40Mbit\" (units bit, kbit, Mbit, Gbit)") { v in
            v.stringValue.flatMap(BitRate.init) ?? v.integerValue.flatMap { $0 >= 0 ? BitRate(bitsPerSecond: UInt64($0)) : nil }
        }
    }

    /// The elements of a [[key]] array of tables.
    mutating func tableArray(_ key: String) -> [TOMLTable]? {
        typed(key, "an array of tables ([[\(key)]])") { v in
            v.arrayValue.flatMap { items in
                let tables = items.compactMap(\.tableValue)
                return tables.count == items.count ? tables : nil
            }
        }
    }

    /// Reports `key` as missing when it is absent (a present but bad value was reported already).
    func require<T>(_ key: String, _ value: T?) {
        if value == nil && table[key] == nil { diagnostics.fail(keyPath(key), "missing (required)") }
    }

    /// Reports the keys nobody asked for, suggesting the closest known one.
    func finish() {
        for key in table.keys where !known.contains(key) {
            let isTable = table[key]?.tableValue != nil || table[key]?.arrayValue?.first?.tableValue != nil
            let hint = closestMatch(to: key, in: known).map { " (did you mean '\($0)'?)" } ?? ""
            diagnostics.note(line: table.position(of: key)?.line,
                             "unknown \(isTable ? "table" : "key") '\(keyPath(key))'\(hint)")
        }
    }
}

extension RtudConfig {
    /// The configuration the table describes, defaults filled in. Problems go
    /// to `diagnostics`; the result is then only good for further checking.
    static func decode(_ root: TOMLTable, _ diagnostics: Diagnostics) -> RtudConfig {
        var config = RtudConfig()
        var r = TableReader(root, path: "", diagnostics)
        if let t = r.table("daemon") { config.daemon = decodeDaemon(TableReader(t, path: "daemon", diagnostics)) }
        if let t = r.table("limits") { config.limits = decodeLimits(TableReader(t, path: "limits", diagnostics)) }
        if let ts = r.tableArray("interface") {
            config.interfaces = ts.enumerated().map { i, t in
                decodeInterface(TableReader(t, path: "interface[\(i)]", diagnostics))
            }
        }
        if let t = r.table("atm") { config.atm = decodeATM(TableReader(t, path: "atm", diagnostics)) }
        if let ts = r.tableArray("socket") {
            config.sockets = ts.enumerated().map { i, t in
                decodeSocket(TableReader(t, path: "socket[\(i)]", diagnostics))
            }
        }
        if let t = r.table("calibration") {
            config.calibration = decodeCalibration(TableReader(t, path: "calibration", diagnostics))
        }
        r.finish()
        return config
    }

    private static func decodeDaemon(_ reader: TableReader) -> DaemonConfig {
        var r = reader
        var d = DaemonConfig()
        if let v = r.string("control_socket") { d.controlSocket = v }
        if let v = r.raw("control_socket_mode") {
            if let mode = fileMode(v) { d.controlSocketMode = mode } else {
                r.fail("control_socket_mode", v, "expected a permission mode such as 0o660 or \"0660\"")
            }
        }
        if let v = r.string("control_group") { d.controlGroup = v }
        if let v = r.typed("rt_cores", "an array of integers", { v in
            v.arrayValue.flatMap { items in
                let cores = items.compactMap { $0.integerValue.flatMap { Int(exactly: $0) } }
                return cores.count == items.count ? cores : nil
            }
        }) { d.rtCores = v }
        if let v = r.int("rt_priority") { d.rtPriority = v }
        if let v = r.bool("require_realtime") { d.requireRealtime = v }
        if let v = r.double("rt_utilization_cap") { d.rtUtilizationCap = v }
        if let v = r.parsed("best_effort_slice", durationHelp, ConfigDuration.init) { d.bestEffortSlice = v }
        if let v = r.choice("log_level", LogLevel.self) { d.logLevel = v }
        if let v = r.string("pcap") { d.pcap = v }
        if let v = r.string("pcap_pdu") { d.pcapPDU = v }
        r.finish()
        return d
    }

    private static func decodeLimits(_ reader: TableReader) -> LimitsConfig {
        var r = reader
        var l = LimitsConfig()
        if let v = r.string("privileged_group") { l.privilegedGroup = v }
        if let v = r.int("max_sockets_per_client") { l.maxSocketsPerClient = v }
        if let v = r.int("max_sockets") { l.maxSockets = v }
        if let v = r.rate("user_reservation_limit") { l.userReservationLimit = v }
        if let v = r.bool("allow_user_sockets") { l.allowUserSockets = v }
        r.finish()
        return l
    }

    /// 0o660 (an integer) or "0660" / "660" (octal digits in a string).
    private static func fileMode(_ v: TOMLValue) -> UInt32? {
        switch v {
        case .integer(let i): return (0...0o7777).contains(i) ? UInt32(i) : nil
        case .string(let s):
            let digits = s.hasPrefix("0o") ? String(s.dropFirst(2)) : s
            guard (1...4).contains(digits.count) else { return nil }
            return UInt32(digits, radix: 8)
        default: return nil
        }
    }

    private static func decodeInterface(_ reader: TableReader) -> InterfaceConfig {
        var r = reader
        let name = r.string("name")
        r.require("name", name)
        let driver = r.choice("driver", LinkDriver.self) ?? .tap
        let device = r.string("device")
        let address = r.parsed("address", "an IPv4 address with prefix length, such as \"198.18.0.1/24\"", IPv4Cidr.init)
        r.require("address", address)
        let mtu = r.int("mtu")
        let link = r.choice("link", LinkMode.self) ?? .ethernet
        let mac = r.parsed("mac", "a MAC address such as \"02:00:00:00:00:01\"", EthernetAddress.init)
        let gateway = r.parsed("gateway", "an IPv4 address such as \"198.18.0.254\"") { IPv4Address($0) }
        let arpTimeout = r.parsed("arp_timeout", durationHelp, ConfigDuration.init) ?? .seconds(60)
        let tapCreate = r.bool("tap_create")
        if tapCreate != nil && driver != .tap {
            r.fail("tap_create", tapCreate.map(TOMLValue.boolean), "applies only to driver = \"tap\"")
        }
        let rxRing = r.choice("rx_ring", ReceiveRing.self)
        if let rxRing, driver != .afPacket {
            r.fail("rx_ring", .string(rxRing.rawValue), "applies only to driver = \"af_packet\"")
        }
        let pvcs = r.tableArray("pvc")?.enumerated().map { j, t in
            PVCConfig.decode(TableReader(t, path: "\(r.keyPath("pvc"))[\(j)]", r.diagnostics))
        }
        r.finish()
        return InterfaceConfig(name: name ?? "", driver: driver, device: device,
                               address: address ?? IPv4Cidr(address: .any, prefixLength: 32)!, mtu: mtu, link: link,
                               mac: mac, gateway: gateway, arpTimeout: arpTimeout, tapCreate: tapCreate ?? true,
                               pvcs: pvcs ?? [], rxRing: rxRing ?? .standard)
    }

    private static func decodeATM(_ reader: TableReader) -> ATMConfig {
        var r = reader
        var atm = ATMConfig()
        if let v = r.double("line_rate_cells_per_second") { atm.lineRateCellsPerSecond = v }
        if let v = r.int("cells_per_frame") { atm.cellsPerFrame = v }
        r.finish()
        return atm
    }

    private static func decodeSocket(_ reader: TableReader) -> DeclaredSocket {
        var r = reader
        let name = r.string("name")
        r.require("name", name)
        let proto = r.choice("protocol", SocketProtocol.self) ?? .udp
        let bind = r.parsed("bind", addressHelp, SocketAddress.init)
        r.require("bind", bind)
        let connect = r.parsed("connect", addressHelp, SocketAddress.init)
        var reserve: Reservation? = nil
        if let t = r.table("reserve") {
            reserve = decodeReservation(TableReader(t, path: r.keyPath("reserve"), r.diagnostics))
        }
        let vc = r.channel("vc")
        r.finish()
        return DeclaredSocket(name: name ?? "", proto: proto, bind: bind ?? SocketAddress(address: .any, port: 0),
                              connect: connect, reserve: reserve, vc: vc)
    }

    private static func decodeReservation(_ reader: TableReader) -> Reservation {
        var r = reader
        let rate = r.rate("rate")
        r.require("rate", rate)
        let size = r.int("message_size")
        r.require("message_size", size)
        let period = r.parsed("period", durationHelp, ConfigDuration.init)
        r.finish()
        return Reservation(rate: rate ?? BitRate(bitsPerSecond: 1), messageSize: size ?? 1,
                           period: period ?? .milliseconds(10))
    }

    private static func decodeCalibration(_ reader: TableReader) -> CalibrationConfig {
        var r = reader
        let c = CalibrationConfig(udpPerMessageNs: r.int("udp_per_message_ns"), tcpPerMessageNs: r.int("tcp_per_message_ns"))
        r.finish()
        return c
    }
}

private let durationHelp = "a duration such as \"200us\" (units ns, us, ms, s)"
private let addressHelp = "an address and port such as \"198.18.0.1:5000\""
