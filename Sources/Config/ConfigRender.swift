// Printing the effective configuration (`rtud --print-config`) as TOML that
// parses back to an equal RtudConfig.
//
// The configuration is first listed as tables of (key, value) settings, then
// formatted. The same list tells a reload which settings changed
// (ConfigReload.swift), so a setting added here is covered there too.

/// One setting as printed: its TOML key and value, or nil when it is not set.
struct RenderedSetting {
    var key: String
    var value: String?
    /// Said after "# key is not set" when the absence means something.
    var unsetNote: String = ""

    var line: String { value.map { "\(key) = \($0)" } ?? "# \(key) is not set\(unsetNote)" }
}

/// One table of the configuration as printed.
struct RenderedTable {
    /// "[daemon]", "[[interface]]".
    var header: String
    /// The key path of the table in messages: "daemon", "interface[0]".
    var path: String
    var settings: [RenderedSetting]
}

extension RtudConfig {
    /// The whole configuration, defaults included; settings that are not set
    /// appear as comments.
    public func renderTOML() -> String {
        var out = ["# rtud effective configuration (defaults included)"]
        for table in renderedTables() {
            if table.path == "calibration" && sockets.isEmpty { out += ["", "# no [[socket]] declared"] }
            out += ["", table.header] + table.settings.map(\.line)
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// Every table in the order printed: [daemon], [limits], each [[interface]]
    /// followed by its [[interface.pvc]], [atm], each [[socket]], [calibration].
    func renderedTables() -> [RenderedTable] {
        var tables = [RenderedTable(header: "[daemon]", path: "daemon", settings: daemon.renderedSettings()),
                      RenderedTable(header: "[limits]", path: "limits", settings: limits.renderedSettings())]
        for (i, interface) in interfaces.enumerated() {
            tables.append(RenderedTable(header: "[[interface]]", path: "interface[\(i)]", settings: interface.renderedSettings()))
            // [[interface.pvc]] belongs to the [[interface]] above it.
            tables += interface.pvcs.enumerated().map { j, pvc in
                RenderedTable(header: "[[interface.pvc]]", path: "interface[\(i)].pvc[\(j)]", settings: pvc.renderedSettings())
            }
        }
        tables.append(RenderedTable(header: "[atm]", path: "atm", settings: [
            RenderedSetting(key: "line_rate_cells_per_second", value: TOMLWriter.float(atm.lineRateCellsPerSecond)),
            RenderedSetting(key: "cells_per_frame", value: "\(atm.cellsPerFrame)"),
        ]))
        tables += sockets.enumerated().map { i, socket in
            RenderedTable(header: "[[socket]]", path: "socket[\(i)]", settings: socket.renderedSettings())
        }
        tables.append(RenderedTable(header: "[calibration]", path: "calibration", settings: [
            RenderedSetting(key: "udp_per_message_ns", value: calibration.udpPerMessageNs.map { "\($0)" }),
            RenderedSetting(key: "tcp_per_message_ns", value: calibration.tcpPerMessageNs.map { "\($0)" }),
        ]))
        return tables
    }
}

extension DaemonConfig {
    func renderedSettings() -> [RenderedSetting] {
        [RenderedSetting(key: "control_socket", value: TOMLWriter.string(controlSocket)),
         RenderedSetting(key: "control_socket_mode", value: "0o\(String(controlSocketMode, radix: 8))"),
         RenderedSetting(key: "control_group", value: controlGroup.map(TOMLWriter.string)),
         RenderedSetting(key: "rt_cores", value: "[\(rtCores.map(String.init).joined(separator: ", "))]"),
         RenderedSetting(key: "rt_priority", value: "\(rtPriority)"),
         RenderedSetting(key: "require_realtime", value: "\(requireRealtime)"),
         RenderedSetting(key: "rt_utilization_cap", value: TOMLWriter.float(rtUtilizationCap)),
         RenderedSetting(key: "best_effort_slice", value: quoted(bestEffortSlice)),
         RenderedSetting(key: "log_level", value: quoted(logLevel.rawValue)),
         RenderedSetting(key: "pcap", value: pcap.map(TOMLWriter.string)),
         RenderedSetting(key: "pcap_pdu", value: pcapPDU.map(TOMLWriter.string))]
    }
}

extension LimitsConfig {
    func renderedSettings() -> [RenderedSetting] {
        [RenderedSetting(key: "privileged_group", value: privilegedGroup.map(TOMLWriter.string), unsetNote: " (only root is privileged)"),
         RenderedSetting(key: "max_sockets_per_client", value: "\(maxSocketsPerClient)"),
         RenderedSetting(key: "max_sockets", value: "\(maxSockets)"),
         RenderedSetting(key: "user_reservation_limit", value: quoted(userReservationLimit)),
         RenderedSetting(key: "allow_user_sockets", value: "\(allowUserSockets)")]
    }
}

extension InterfaceConfig {
    func renderedSettings() -> [RenderedSetting] {
        var out = [RenderedSetting(key: "name", value: quoted(name)),
                   RenderedSetting(key: "driver", value: quoted(driver.rawValue))]
        if driver == .afPacket { out.append(RenderedSetting(key: "device", value: device.map(quoted))) }
        out += [RenderedSetting(key: "address", value: quoted(address)),
                RenderedSetting(key: "mtu", value: "\(mtu)"),
                RenderedSetting(key: "link", value: quoted(link.rawValue)),
                RenderedSetting(key: "mac", value: quoted(mac)),
                RenderedSetting(key: "gateway", value: gateway.map(quoted)),
                RenderedSetting(key: "arp_timeout", value: quoted(arpTimeout))]
        if driver == .tap { out.append(RenderedSetting(key: "tap_create", value: "\(tapCreate)")) }
        if driver == .afPacket { out.append(RenderedSetting(key: "rx_ring", value: quoted(rxRing.rawValue))) }
        return out
    }
}

extension DeclaredSocket {
    func renderedSettings() -> [RenderedSetting] {
        [RenderedSetting(key: "name", value: quoted(name)),
         RenderedSetting(key: "protocol", value: quoted(proto.rawValue)),
         RenderedSetting(key: "bind", value: quoted(bind)),
         RenderedSetting(key: "connect", value: connect.map(quoted)),
         RenderedSetting(key: "reserve", value: reserve.map { r in
             "{ rate = \(quoted(r.rate)), message_size = \(r.messageSize), period = \(quoted(r.period)) }"
         }, unsetNote: " (best effort)"),
         RenderedSetting(key: "vc", value: vc.map(quoted), unsetNote: " (the peer's default VC on an ATM interface)")]
    }
}
