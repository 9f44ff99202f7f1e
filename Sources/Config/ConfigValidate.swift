// The semantic rules of the configuration: ranges, required combinations and
// conflicts between settings. They run on the model, so a configuration built
// in code is held to the same rules as one read from a file.

import Wire

extension RtudConfig {
    /// Checks every rule; `cpuCount` is the number of CPUs of the machine
    /// (cores are numbered 0..<cpuCount). Throws all problems found.
    public func validate(cpuCount: Int) throws(ConfigError) {
        let issues = issues(cpuCount: cpuCount)
        guard issues.isEmpty else {
            throw ConfigError(issues.map { ConfigProblem(keyPath: $0.keyPath, value: $0.value, message: $0.message) })
        }
    }

    func issues(cpuCount: Int) -> [ConfigIssue] {
        var out: [ConfigIssue] = []
        daemon.check(cpuCount: cpuCount, into: &out)
        limits.check(declaredSockets: sockets.count, into: &out)
        checkInterfaces(into: &out)
        checkPDUCapture(into: &out)
        atm.check(into: &out)
        checkSockets(into: &out)
        calibration.check(into: &out)
        return out
    }

    private func checkInterfaces(into out: inout [ConfigIssue]) {
        if interfaces.isEmpty { out.append(ConfigIssue(keyPath: "interface", message: "at least one [[interface]] is required")) }
        for (i, interface) in interfaces.enumerated() {
            let p = "interface[\(i)]"
            interface.check(path: p, into: &out)
            interface.checkPVCs(path: p, line: ATMConfig.admissibleCellsPerSecond, into: &out)
            for (j, earlier) in interfaces[..<i].enumerated() {
                let q = "interface[\(j)]"
                if earlier.name == interface.name {
                    out.append(ConfigIssue(keyPath: "\(p).name", value: quoted(interface.name), message: "already used by \(q)"))
                }
                if earlier.address.overlaps(interface.address) {
                    out.append(ConfigIssue(keyPath: "\(p).address", value: quoted(interface.address),
                                           message: "overlaps \(q).address \(earlier.address)"))
                }
                if earlier.mac == interface.mac {
                    out.append(ConfigIssue(keyPath: "\(p).mac", value: quoted(interface.mac), message: "already used by \(q)"))
                }
            }
        }
    }

    /// [daemon] pcap_pdu captures what only an ATM interface makes.
    private func checkPDUCapture(into out: inout [ConfigIssue]) {
        if let path = daemon.pcapPDU, !interfaces.contains(where: { $0.link == .atm }) {
            out.append(ConfigIssue(keyPath: "daemon.pcap_pdu", value: quoted(path),
                                   message: "applies only with an interface with link = \"atm\" (it captures AAL5 PDUs)"))
        }
    }

    private func checkSockets(into out: inout [ConfigIssue]) {
        for (i, socket) in sockets.enumerated() {
            let p = "socket[\(i)]"
            socket.check(path: p, interfaces: interfaces, into: &out)
            for (j, earlier) in sockets[..<i].enumerated() {
                if earlier.name == socket.name {
                    out.append(ConfigIssue(keyPath: "\(p).name", value: quoted(socket.name), message: "already used by socket[\(j)]"))
                }
                if socket.conflicts(with: earlier) {
                    out.append(ConfigIssue(keyPath: "\(p).bind", value: quoted(socket.bind),
                                           message: "conflicts with socket[\(j)] (\(earlier.proto.rawValue) \(earlier.bind))"))
                }
                // Without an interface (bind names none, reported already) no VC is bound.
                if let vc = socket.vc, vc == earlier.vc, let interface = socket.interface(in: interfaces),
                   interface.name == earlier.interface(in: interfaces)?.name {
                    out.append(ConfigIssue(keyPath: "\(p).vc", value: quoted(vc),
                                           message: "already bound to socket[\(j)] (a VC carries one socket)"))
                }
            }
        }
    }
}

func quoted(_ v: some CustomStringConvertible) -> String { TOMLWriter.string(v.description) }

private func range<T: Comparable>(_ r: ClosedRange<T>) -> String { "must be between \(r.lowerBound) and \(r.upperBound)" }

extension DaemonConfig {
    /// sun_path is 108 bytes including the terminating NUL.
    static let maxSocketPathBytes = 107

    func check(cpuCount: Int, into out: inout [ConfigIssue]) {
        func issue(_ key: String, _ value: String?, _ message: String) {
            out.append(ConfigIssue(keyPath: "daemon.\(key)", value: value, message: message))
        }
        if !controlSocket.hasPrefix("/") {
            issue("control_socket", quoted(controlSocket), "must be an absolute path")
        } else if controlSocket.utf8.count > Self.maxSocketPathBytes {
            issue("control_socket", quoted(controlSocket),
                  "must be at most \(Self.maxSocketPathBytes) bytes (the limit of a Unix socket path)")
        }
        if controlSocketMode > 0o777 {
            issue("control_socket_mode", "0o" + String(controlSocketMode, radix: 8), "must be a permission mode from 0o000 to 0o777")
        }
        if let g = controlGroup, !isValidGroupName(g) {
            issue("control_group", quoted(g), groupNameRule)
        }
        checkCores(cpuCount: cpuCount, into: &out)
        if !(1...99).contains(rtPriority) { issue("rt_priority", "\(rtPriority)", range(1...99)) }
        if !(rtUtilizationCap > 0 && rtUtilizationCap <= 1) {
            issue("rt_utilization_cap", TOMLWriter.float(rtUtilizationCap), "must be greater than 0 and at most 1")
        }
        if !(ConfigDuration.microseconds(1)...ConfigDuration.milliseconds(10)).contains(bestEffortSlice) {
            issue("best_effort_slice", quoted(bestEffortSlice), "must be between 1us and 10ms")
        }
        if pcap == "" { issue("pcap", quoted(""), "must be a file path (leave pcap out for no capture)") }
        if pcapPDU == "" { issue("pcap_pdu", quoted(""), "must be a file path (leave pcap_pdu out for no capture)") }
    }

    private func checkCores(cpuCount: Int, into out: inout [ConfigIssue]) {
        let value = "[" + rtCores.map(String.init).joined(separator: ", ") + "]"
        let path = "daemon.rt_cores"
        if rtCores.isEmpty { out.append(ConfigIssue(keyPath: path, value: value, message: "must list at least one core")) }
        let cpus = cpuCount == 1 ? "1 CPU: core 0" : "\(cpuCount) CPUs: cores 0-\(cpuCount - 1)"
        for (i, core) in rtCores.enumerated() {
            if !(0..<cpuCount).contains(core) {
                out.append(ConfigIssue(keyPath: path, value: value, message: "core \(core) does not exist (this machine has \(cpus))"))
            } else if rtCores[..<i].contains(core) {
                out.append(ConfigIssue(keyPath: path, value: value, message: "core \(core) is listed twice"))
            }
        }
    }
}

/// Group names as useradd(8) accepts them, so that getgrnam can find them.
private func isValidGroupName(_ g: String) -> Bool {
    (1...32).contains(g.utf8.count) && !g.hasPrefix("-")
        && g.utf8.allSatisfy { Ascii.isBareKey($0) || $0 == Ascii.dot }
}

private let groupNameRule = "must be a group name: 1 to 32 of A-Z a-z 0-9 _ . - (not starting with '-')"

extension LimitsConfig {
    /// Each socket costs the daemon a memfd, two eventfds and its rings;
    /// 2^20 is far above any sane need and below the kernel's file limit.
    public static let maxSocketsRange = 1...1_048_576

    func check(declaredSockets: Int, into out: inout [ConfigIssue]) {
        func issue(_ key: String, _ value: String?, _ message: String) {
            out.append(ConfigIssue(keyPath: "limits.\(key)", value: value, message: message))
        }
        if let g = privilegedGroup, !isValidGroupName(g) { issue("privileged_group", quoted(g), groupNameRule) }
        if !Self.maxSocketsRange.contains(maxSockets) {
            issue("max_sockets", "\(maxSockets)", range(Self.maxSocketsRange))
        } else if declaredSockets > maxSockets {
            issue("max_sockets", "\(maxSockets)", "must be at least \(declaredSockets), the number of declared [[socket]] tables")
        }
        // Above max_sockets is allowed: the total then binds first (and
        // lowering max_sockets alone does not make the default per-client limit an error).
        if !Self.maxSocketsRange.contains(maxSocketsPerClient) {
            issue("max_sockets_per_client", "\(maxSocketsPerClient)", range(Self.maxSocketsRange))
        }
    }
}

extension IPv4Cidr {
    /// Whether the two subnets share an address.
    func overlaps(_ other: IPv4Cidr) -> Bool {
        let shorter = prefixLength < other.prefixLength ? self : other
        let longer = prefixLength < other.prefixLength ? other : self
        return shorter.contains(longer.address)
    }
}

/// Linux device names: 1 to 15 bytes (IFNAMSIZ less the NUL), no '/', ':' or whitespace, not "." or "..".
func isValidDeviceName(_ name: String) -> Bool {
    (1...15).contains(name.utf8.count) && name != "." && name != ".."
        && !name.unicodeScalars.contains { $0 == "/" || $0 == ":" || $0.properties.isWhitespace }
}

extension InterfaceConfig {
    func check(path p: String, into out: inout [ConfigIssue]) {
        func issue(_ key: String, _ value: String?, _ message: String) {
            out.append(ConfigIssue(keyPath: "\(p).\(key)", value: value, message: message))
        }
        let nameRule = "must be 1 to 15 bytes without '/', ':' or whitespace"
        if !isValidDeviceName(name) { issue("name", quoted(name), nameRule) }
        switch (driver, device) {
        case (.afPacket, nil): issue("device", nil, "missing (required when driver = \"af_packet\")")
        case (.afPacket, let d?) where !isValidDeviceName(d): issue("device", quoted(d), nameRule)
        case (.tap, let d?): issue("device", quoted(d), "applies only to driver = \"af_packet\"")
        default: break
        }
        checkAddress(issue)
        if !link.mtuRange.contains(mtu) {
            issue("mtu", "\(mtu)", range(link.mtuRange) + (link == .atm ? " for link = \"atm\"" : ""))
        }
        if mac.isMulticast || mac == .zero {
            issue("mac", quoted(mac), "must be a unicast address (low bit of the first byte clear, not all zero)")
        }
        if !(ConfigDuration.seconds(1)...ConfigDuration.seconds(3600)).contains(arpTimeout) {
            issue("arp_timeout", quoted(arpTimeout), "must be between 1s and 3600s")
        }
    }

    private func checkAddress(_ issue: (String, String?, String) -> Void) {
        let a = address.address
        if !(1...32).contains(address.prefixLength) {
            issue("address", quoted(address), "prefix length must be between 1 and 32")
        } else if a.isUnspecified || a.isBroadcast || a.isMulticast || a.isLoopback || a.rawValue >> 28 == 0xF {
            issue("address", quoted(address), "must be a unicast address (not 0.0.0.0, loopback, multicast or reserved)")
        } else if address.prefixLength <= 30 && (a == address.network || a == address.directedBroadcast) {
            issue("address", quoted(address), "is the subnet's \(a == address.network ? "network" : "broadcast") address, not a host address")
        }
        guard let g = gateway else { return }
        if !address.contains(g) {
            issue("gateway", quoted(g), "must be inside the interface's subnet \(address.network)/\(address.prefixLength)")
        } else if g == a {
            issue("gateway", quoted(g), "must not be the interface's own address")
        } else if address.prefixLength <= 30 && (g == address.network || g == address.directedBroadcast) {
            issue("gateway", quoted(g), "must be a host address of the subnet, not its network or broadcast address")
        }
    }
}

extension ATMConfig {
    /// RFC 4717 N-to-one frames of 52-byte cells in a 1500-byte carrier MTU (ATM-FACTS.md): 1...28.
    public static let cellsPerFrameRange = 1...PseudowireCellRepr.maximumCellCount(mtu: 1500)

    func check(into out: inout [ConfigIssue]) {
        if lineRateCellsPerSecond != Self.oc3cCellsPerSecond {
            out.append(ConfigIssue(keyPath: "atm.line_rate_cells_per_second", value: TOMLWriter.float(lineRateCellsPerSecond),
                                   message: "must be \(TOMLWriter.float(Self.oc3cCellsPerSecond)): the adaptor's cell clock is OC-3c's (other line rates are not implemented)"))
        }
        if !Self.cellsPerFrameRange.contains(cellsPerFrame) {
            out.append(ConfigIssue(keyPath: "atm.cells_per_frame", value: "\(cellsPerFrame)",
                                   message: range(Self.cellsPerFrameRange) + " (52-byte cells in a 1500-byte frame)"))
        }
    }
}

extension DeclaredSocket {
    static let messageSizeRange = 1...65507
    static let periodRange = ConfigDuration.microseconds(100)...ConfigDuration.seconds(1)

    /// A socket name, declared here or given to the control plane: 1 to 32 of a-z 0-9 _ -.
    public static func isValidName(_ name: String) -> Bool {
        (1...32).contains(name.utf8.count)
            && name.utf8.allSatisfy { Ascii.isDigit($0) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == Ascii.underscore || $0 == Ascii.minus }
    }

    func check(path p: String, interfaces: [InterfaceConfig], into out: inout [ConfigIssue]) {
        func issue(_ key: String, _ value: String?, _ message: String) {
            out.append(ConfigIssue(keyPath: "\(p).\(key)", value: value, message: message))
        }
        if !Self.isValidName(name) { issue("name", quoted(name), "must be 1 to 32 of a-z 0-9 _ -") }
        if !bind.address.isUnspecified && !interfaces.contains(where: { $0.address.address == bind.address }) {
            issue("bind", quoted(bind), "\(bind.address) is not the address of any interface (or use 0.0.0.0)")
        }
        if let c = connect {
            if c.port == 0 { issue("connect", quoted(c), "port must not be 0") }
            if c.address.isUnspecified || c.address.isBroadcast || c.address.isMulticast {
                issue("connect", quoted(c), "must be a unicast address")
            }
        }
        if let vc {
            checkVC(vc, path: p, interfaces: interfaces, into: &out)
        }
        guard let r = reserve else { return }
        if r.rate.bitsPerSecond == 0 { issue("reserve.rate", quoted(r.rate), "must be greater than 0") }
        if !Self.messageSizeRange.contains(r.messageSize) {
            issue("reserve.message_size", "\(r.messageSize)", range(Self.messageSizeRange))
        }
        if !Self.periodRange.contains(r.period) {
            issue("reserve.period", quoted(r.period), "must be between \(Self.periodRange.lowerBound) and \(Self.periodRange.upperBound)")
        }
    }

    /// `vc` must be a PVC of the interface the socket binds on, and not its
    /// peer's default VC (`InterfaceConfig.isDefaultVC`), which carries the
    /// peer's ARP-resolved traffic. (Whether its reservation fits the VC's
    /// contract is admission's question, asked when rtud creates the
    /// socket, as for the RT cores.)
    private func checkVC(_ vc: ATMVirtualChannel, path p: String, interfaces: [InterfaceConfig], into out: inout [ConfigIssue]) {
        guard let interface = interface(in: interfaces) else { return }   // bind is reported already
        if interface.link != .atm {
            out.append(ConfigIssue(keyPath: "\(p).vc", value: quoted(vc),
                                   message: "interface \(interface.name) is not link = \"atm\": only an ATM interface has VCs"))
        } else if let pvc = interface.pvc(vc) {
            if interface.isDefaultVC(vc) {
                out.append(ConfigIssue(keyPath: "\(p).vc", value: quoted(vc),
                                       message: "is the default VC of \(pvc.peer) (the first PVC listed for it): it carries ARP, ICMP "
                                           + "and every socket without a vc, so no socket may take it; add a second [[interface.pvc]] "
                                           + "to \(pvc.peer) and bind that one"))
            }
        } else {
            let known = interface.pvcs.map { "\($0.channel)" }.joined(separator: ", ")
            out.append(ConfigIssue(keyPath: "\(p).vc", value: quoted(vc),
                                   message: "is not a PVC of interface \(interface.name) (its PVCs: \(known.isEmpty ? "none" : known))"))
        }
    }

    /// Same protocol and local port (not 0), addresses equal or one a wildcard,
    /// and the same remote peer (or none): the demux could not tell them apart.
    func conflicts(with other: DeclaredSocket) -> Bool {
        proto == other.proto && bind.port != 0 && bind.port == other.bind.port
            && (bind.address == other.bind.address || bind.address.isUnspecified || other.bind.address.isUnspecified)
            && connect == other.connect
    }
}

extension CalibrationConfig {
    static let costRange = 1...10_000_000

    func check(into out: inout [ConfigIssue]) {
        for (key, value) in [("udp_per_message_ns", udpPerMessageNs), ("tcp_per_message_ns", tcpPerMessageNs)] {
            if let v = value, !Self.costRange.contains(v) {
                out.append(ConfigIssue(keyPath: "calibration.\(key)", value: "\(v)", message: range(Self.costRange) + " nanoseconds"))
            }
        }
    }
}
