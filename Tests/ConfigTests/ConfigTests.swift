import Foundation
import Testing
import Wire
@testable import Config

/// The problems `text` has, one description each; [] when it is valid.
func problems(_ text: String, cpuCount: Int = 4) -> [String] {
    do {
        _ = try RtudConfig.parse(text: text, source: "rtud.toml", cpuCount: cpuCount)
        return []
    } catch {
        return error.problems.map(\.description)
    }
}

/// An [[interface]] table with the required keys and `extra` lines.
func interface(_ extra: String = "", name: String = "rtu0", address: String = "198.18.0.1/24") -> String {
    "[[interface]]\nname = \"\(name)\"\naddress = \"\(address)\"\n" + extra + (extra.isEmpty ? "" : "\n")
}

/// etc/rtud.toml of this repository, found from this file's path.
let etcPath: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/ConfigTests/ConfigTests.swift
    return parts.joined(separator: "/") + "/etc/rtud.toml"
}()

@Suite struct ConfigDefaultsTests {
    @Test func defaults() {
        let c = RtudConfig.defaults
        #expect(c.daemon.controlSocket == "/run/rtud/control.sock")
        #expect(c.daemon.controlSocketMode == 0o660)
        #expect(c.daemon.controlGroup == nil)
        #expect(c.daemon.rtCores == [1])
        #expect(c.daemon.rtPriority == 50)
        #expect(c.daemon.requireRealtime == false)
        #expect(c.daemon.rtUtilizationCap == 0.85)
        #expect(c.daemon.bestEffortSlice == .microseconds(200))
        #expect(c.daemon.logLevel == .info)
        #expect(c.daemon.pcap == nil)
        #expect(c.limits.privilegedGroup == nil && c.limits.maxSocketsPerClient == 1024 && c.limits.maxSockets == 16384)
        #expect(c.limits.userReservationLimit == .mbit(100) && c.limits.allowUserSockets)
        #expect(c.interfaces.count == 1)
        let i = c.interfaces[0]
        #expect(i.name == "rtu0" && i.driver == .tap && i.device == nil && i.link == .ethernet)
        #expect(i.address == IPv4Cidr("198.18.0.1/24"))
        #expect(i.mtu == 1500 && i.gateway == nil && i.arpTimeout == .seconds(60) && i.tapCreate)
        #expect(i.mac == EthernetAddress("02:72:c6:12:00:01"))
        #expect(c.atm.lineRateCellsPerSecond == 353_207.5 && c.atm.cellsPerFrame == 8)
        #expect(c.sockets.isEmpty)
        #expect(c.calibration == CalibrationConfig())
    }

    @Test func emptyTextGivesDefaults() throws {
        #expect(try RtudConfig.parse(text: "", cpuCount: 2) == .defaults)
        #expect(throws: Never.self) { try RtudConfig.defaults.validate(cpuCount: 2) }
    }

    @Test func derivedMACIsLocallyAdministeredUnicast() {
        let mac = InterfaceConfig.derivedMAC(for: IPv4Address(198, 18, 1, 7))
        #expect(mac.description == "02:72:c6:12:01:07")
        #expect(mac.isUnicast && (mac.rawValue >> 40) & 0x02 != 0)
    }

    @Test func atmLinkDefaultsToRFC2225MTU() throws {
        let c = try RtudConfig.parse(text: interface("link = \"atm\"") + pvc(), cpuCount: 2)
        #expect(c.interfaces[0].mtu == 9180)
    }

    @Test func etcFileLoadsAndDocumentsTheDefaults() throws {
        let c = try RtudConfig.load(path: etcPath, cpuCount: 2)
        #expect(c == .defaults)
    }

    @Test func etcFileDocumentsEveryKey() throws {
        let text = RtudConfig(
            daemon: { var d = DaemonConfig(); d.controlGroup = "g"; d.pcap = "/p"; d.pcapPDU = "/q"; return d }(),
            limits: LimitsConfig(privilegedGroup: "g"),
            interfaces: [InterfaceConfig(driver: .afPacket, device: "veth0", gateway: IPv4Address("198.18.0.254"),
                                         pvcs: [PVCConfig(channel: ATMVirtualChannel(vpi: 0, vci: 100), peer: IPv4Address(198, 18, 0, 2),
                                                          category: .vbr, pcr: 2, scr: 1, mbs: 1)])],
            sockets: [DeclaredSocket(name: "s", bind: SocketAddress("198.18.0.1:1")!, connect: SocketAddress("198.18.0.2:1"),
                                     reserve: Reservation(rate: .mbit(1), messageSize: 1), vc: ATMVirtualChannel(vpi: 0, vci: 100))],
            calibration: CalibrationConfig(udpPerMessageNs: 1, tcpPerMessageNs: 1)).renderTOML()
        let etc = try String(contentsOfFile: etcPath, encoding: .utf8)
        let keys = text.split(separator: "\n").compactMap { line -> String? in
            guard !line.hasPrefix("#"), !line.hasPrefix("["), let eq = line.firstIndex(of: "=") else { return nil }
            return line[..<eq].trimmingSpaces
        }
        #expect(keys.count > 25)
        for key in keys {
            #expect(etc.contains("\(key) = ") || etc.contains("#   \(key) "), "etc/rtud.toml does not document \(key)")
        }
    }

    @Test func loadReportsAMissingFile() {
        let error = #expect(throws: ConfigError.self) { try RtudConfig.load(path: "/nonexistent/rtud.toml", cpuCount: 2) }
        #expect(error?.description == "/nonexistent/rtud.toml: cannot read the file: No such file or directory")
    }
}

@Suite struct RoundTripTests {
    @Test func defaultsRoundTrip() throws {
        let text = RtudConfig.defaults.renderTOML()
        #expect(try RtudConfig.parse(text: text, cpuCount: 2) == .defaults)
    }

    @Test func everythingSetRoundTrips() throws {
        var daemon = DaemonConfig()
        daemon.controlSocket = "/tmp/rtud \"test\".sock"
        daemon.controlSocketMode = 0o600
        daemon.controlGroup = "rtud"
        daemon.rtCores = [0, 1]
        daemon.rtPriority = 80
        daemon.requireRealtime = true
        daemon.rtUtilizationCap = 1
        daemon.bestEffortSlice = .init(nanoseconds: 1500)
        daemon.logLevel = .debug
        daemon.pcap = "/var/tmp/rtud.pcap"
        let limits = LimitsConfig(privilegedGroup: "rtud-admin", maxSocketsPerClient: 3, maxSockets: 4,
                                  userReservationLimit: .init(bitsPerSecond: 0), allowUserSockets: false)
        daemon.pcapPDU = "/var/tmp/rtud-pdu.pcap"
        var atm = ATMConfig()
        atm.cellsPerFrame = 28
        let config = RtudConfig(
            daemon: daemon,
            limits: limits,
            interfaces: [
                InterfaceConfig(name: "rtu0", address: IPv4Cidr("198.18.0.1/24")!, mtu: 9000,
                                gateway: IPv4Address("198.18.0.254"), arpTimeout: .seconds(5), tapCreate: false),
                InterfaceConfig(name: "atm0", driver: .afPacket, device: "veth1", address: IPv4Cidr("198.19.0.1/30")!,
                                link: .atm, mac: EthernetAddress("02:00:00:00:00:09"), pvcs: [
                                    PVCConfig(channel: ATMVirtualChannel(vpi: 1, vci: 32), peer: IPv4Address(198, 19, 0, 2)),
                                    PVCConfig(channel: ATMVirtualChannel(vpi: 0, vci: 100), peer: IPv4Address(198, 19, 0, 2),
                                              category: .cbr, pcr: 100_000, encapsulation: .vcMux),
                                    PVCConfig(channel: ATMVirtualChannel(vpi: 255, vci: 65535), peer: IPv4Address(198, 19, 0, 2),
                                              category: .vbr, pcr: 200_000, scr: 50_000, mbs: 100),
                                    PVCConfig(channel: ATMVirtualChannel(vpi: 0, vci: 33), peer: IPv4Address(198, 19, 0, 2),
                                              category: .ubr, pcr: 1_000),
                                ]),
            ],
            atm: atm,
            sockets: [
                DeclaredSocket(name: "video0", bind: SocketAddress("198.18.0.1:5000")!,
                               reserve: Reservation(rate: .mbit(40), messageSize: 8192, period: .milliseconds(10))),
                DeclaredSocket(name: "ctl-1_x", proto: .tcp, bind: SocketAddress("0.0.0.0:0")!,
                               connect: SocketAddress("198.19.0.2:80"),
                               reserve: Reservation(rate: BitRate(bitsPerSecond: 1_500_001), messageSize: 1, period: .microseconds(100))),
                DeclaredSocket(name: "be", bind: SocketAddress("198.19.0.1:7")!),
                DeclaredSocket(name: "on-vc", bind: SocketAddress("198.19.0.1:8")!, vc: ATMVirtualChannel(vpi: 0, vci: 100)),
            ],
            calibration: CalibrationConfig(udpPerMessageNs: 2100, tcpPerMessageNs: 4200))
        try config.validate(cpuCount: 2)
        let text = config.renderTOML()
        #expect(try RtudConfig.parse(text: text, cpuCount: 2) == config, "\(text)")
    }
}

@Suite struct UnitTests {
    @Test(arguments: [
        ("200us", Int64(200_000)), ("10ms", 10_000_000), ("1s", 1_000_000_000), ("5ns", 5), ("1.5ms", 1_500_000),
        ("0.25s", 250_000_000), ("3 ms", 3_000_000), ("7µs", 7_000), ("0s", 0),
    ])
    func durations(text: String, ns: Int64) {
        #expect(ConfigDuration(text)?.nanoseconds == ns)
    }

    @Test(arguments: ["", "10", "ms", "1.5ns", "-1s", "1h", "1.2.3s", "10 m s", "99999999999999999999s"])
    func badDurations(text: String) {
        #expect(ConfigDuration(text) == nil)
    }

    @Test func durationDescriptions() {
        #expect(ConfigDuration.microseconds(200).description == "200us")
        #expect(ConfigDuration(nanoseconds: 1_500_000).description == "1500us")
        #expect(ConfigDuration.seconds(60).description == "60s")
        #expect(ConfigDuration(nanoseconds: 0).description == "0s")
    }

    @Test(arguments: [
        ("40Mbit", UInt64(40_000_000)), ("40M", 40_000_000), ("1.5Gbit", 1_500_000_000), ("800k", 800_000),
        ("800kbit", 800_000), ("64bit", 64), ("1000", 1000), ("2g", 2_000_000_000), ("100 Mbit", 100_000_000),
    ])
    func rates(text: String, bps: UInt64) {
        #expect(BitRate(text)?.bitsPerSecond == bps)
    }

    @Test(arguments: ["", "Mbit", "1.0000001kbit", "40MB", "40 Mbit/s", "-1M"])
    func badRates(text: String) {
        #expect(BitRate(text) == nil)
    }

    @Test func rateDescriptions() {
        #expect(BitRate.mbit(40).description == "40Mbit")
        #expect(BitRate(bitsPerSecond: 1_500_000).description == "1500kbit")
        #expect(BitRate(bitsPerSecond: 7).description == "7bit")
    }

    @Test func socketAddresses() {
        #expect(SocketAddress("198.18.0.1:5000") == SocketAddress(address: IPv4Address(198, 18, 0, 1), port: 5000))
        #expect(SocketAddress("198.18.0.1:5000")?.description == "198.18.0.1:5000")
        for bad in ["198.18.0.1", "198.18.0.1:", "198.18.0.1:65536", "host:80", "1.2.3.4:5:6", "198.18.0.1:+80"] {
            #expect(SocketAddress(bad) == nil, "\(bad)")
        }
    }
}

extension Substring {
    var trimmingSpaces: String { String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
