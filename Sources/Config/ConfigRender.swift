// Printing the effective configuration (`rtud --print-config`) as TOML that
// parses back to an equal RtudConfig.

extension RtudConfig {
    /// The whole configuration, defaults included; settings that are not set
    /// appear as comments.
    public func renderTOML() -> String {
        var out = ["# rtud effective configuration (defaults included)", ""]
        out += renderDaemon()
        for interface in interfaces { out += [""] + interface.renderTOML() }
        out += ["", "[atm]",
                "line_rate_cells_per_second = \(TOMLWriter.float(atm.lineRateCellsPerSecond))",
                "cells_per_frame = \(atm.cellsPerFrame)"]
        for socket in sockets { out += [""] + socket.renderTOML() }
        if sockets.isEmpty { out += ["", "# no [[socket]] declared"] }
        out += ["", "[calibration]",
                line("udp_per_message_ns", calibration.udpPerMessageNs.map { "\($0)" }),
                line("tcp_per_message_ns", calibration.tcpPerMessageNs.map { "\($0)" })]
        return out.joined(separator: "\n") + "\n"
    }

    private func renderDaemon() -> [String] {
        let d = daemon
        return ["[daemon]",
                "control_socket = \(TOMLWriter.string(d.controlSocket))",
                "control_socket_mode = 0o\(String(d.controlSocketMode, radix: 8))",
                line("control_group", d.controlGroup.map(TOMLWriter.string)),
                "rt_cores = [\(d.rtCores.map(String.init).joined(separator: ", "))]",
                "rt_priority = \(d.rtPriority)",
                "require_realtime = \(d.requireRealtime)",
                "rt_utilization_cap = \(TOMLWriter.float(d.rtUtilizationCap))",
                "best_effort_slice = \(quoted(d.bestEffortSlice))",
                "log_level = \(quoted(d.logLevel.rawValue))",
                line("pcap", d.pcap.map(TOMLWriter.string))]
    }
}

/// "key = value", or "# key is not set".
private func line(_ key: String, _ value: String?) -> String {
    value.map { "\(key) = \($0)" } ?? "# \(key) is not set"
}

extension InterfaceConfig {
    func renderTOML() -> [String] {
        var out = ["[[interface]]",
                   "name = \(quoted(name))",
                   "driver = \(quoted(driver.rawValue))"]
        if driver == .afPacket { out.append(line("device", device.map(quoted))) }
        out += ["address = \(quoted(address))",
                "mtu = \(mtu)",
                "link = \(quoted(link.rawValue))",
                "mac = \(quoted(mac))",
                line("gateway", gateway.map(quoted)),
                "arp_timeout = \(quoted(arpTimeout))"]
        if driver == .tap { out.append("tap_create = \(tapCreate)") }
        return out
    }
}

extension DeclaredSocket {
    func renderTOML() -> [String] {
        var out = ["[[socket]]",
                   "name = \(quoted(name))",
                   "protocol = \(quoted(proto.rawValue))",
                   "bind = \(quoted(bind))",
                   line("connect", connect.map(quoted))]
        if let r = reserve {
            out.append("reserve = { rate = \(quoted(r.rate)), message_size = \(r.messageSize), period = \(quoted(r.period)) }")
        } else {
            out.append("# no reservation (best effort)")
        }
        return out
    }
}
