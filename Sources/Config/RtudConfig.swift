// The rtud configuration model and its built-in defaults (ARCHITECTURE.md,
// "Deployment"). Every setting has one place; rtud starts with no file.

import Wire

public struct RtudConfig: Equatable, Sendable {
    public var daemon: DaemonConfig
    public var limits: LimitsConfig
    /// At least one; the default is one TAP interface `rtu0`.
    public var interfaces: [InterfaceConfig]
    public var atm: ATMConfig
    /// Declared sockets, created at start and on reload.
    public var sockets: [DeclaredSocket]
    public var calibration: CalibrationConfig

    public init(daemon: DaemonConfig = DaemonConfig(), limits: LimitsConfig = LimitsConfig(),
                interfaces: [InterfaceConfig] = [InterfaceConfig()],
                atm: ATMConfig = ATMConfig(), sockets: [DeclaredSocket] = [],
                calibration: CalibrationConfig = CalibrationConfig()) {
        self.daemon = daemon
        self.limits = limits
        self.interfaces = interfaces
        self.atm = atm
        self.sockets = sockets
        self.calibration = calibration
    }

    /// The configuration rtud runs with when no file is given.
    public static let defaults = RtudConfig()
}

public enum LogLevel: String, Sendable, CaseIterable {
    case debug, info, warning, error
}

/// [daemon]: process-wide settings.
public struct DaemonConfig: Equatable, Sendable {
    /// Path of the control-plane Unix socket.
    public var controlSocket: String = "/run/rtud/control.sock"
    /// Permission bits of the control socket (0o660).
    public var controlSocketMode: UInt32 = 0o660
    /// Group that owns the control socket; nil keeps the daemon's group.
    public var controlGroup: String? = nil
    /// CPU cores the RTU dispatchers are pinned to, one dispatcher per core.
    public var rtCores: [Int] = [1]
    /// SCHED_FIFO priority of the dispatchers, 1...99.
    public var rtPriority: Int = 50
    /// Refuse to start when SCHED_FIFO, pinning or mlockall is not granted.
    public var requireRealtime: Bool = false
    /// Admission refuses RTUs beyond this share of a core, 0 < cap ≤ 1.
    public var rtUtilizationCap: Double = 0.85
    /// Longest slice of best-effort work between RTU releases.
    public var bestEffortSlice: ConfigDuration = .microseconds(200)
    public var logLevel: LogLevel = .info
    /// Capture file (pcap) of every frame rtud sends and receives; nil: none.
    /// On a link = "atm" interface these are the carrier's cell frames.
    public var pcap: String? = nil
    /// Capture file of the AAL5 PDUs of every link = "atm" interface
    /// (LINKTYPE_ERF type-4 records, whose CRC Wireshark checks); nil: none.
    public var pcapPDU: String? = nil

    public init() {}
}

/// [limits]: what clients of the control socket may do. A client is
/// *privileged* when its peer credentials (SO_PEERCRED) are root's or name a
/// member of `privilegedGroup`; privileged clients are bound only by
/// `maxSockets` and admission control.
public struct LimitsConfig: Equatable, Sendable {
    /// Group whose members are privileged like root; nil: only root is.
    public var privilegedGroup: String? = nil
    /// Sockets one non-privileged client may hold at once (`maxSockets` binds
    /// first when it is lower).
    public var maxSocketsPerClient: Int = 1024
    /// Sockets rtud holds at once, declared ones included.
    public var maxSockets: Int = 16384
    /// Total reserved rate a non-privileged user (uid) may hold across all
    /// their sockets; 0 leaves them best effort only.
    public var userReservationLimit: BitRate = .mbit(100)
    /// Whether non-privileged clients may create their own sockets (rather
    /// than only attach to declared ones).
    public var allowUserSockets: Bool = true

    /// Binding a local port below this always needs privilege, as in the kernel.
    public static let firstUnprivilegedPort: UInt16 = 1024

    public init(privilegedGroup: String? = nil, maxSocketsPerClient: Int = 1024, maxSockets: Int = 16384,
                userReservationLimit: BitRate = .mbit(100), allowUserSockets: Bool = true) {
        self.privilegedGroup = privilegedGroup
        self.maxSocketsPerClient = maxSocketsPerClient
        self.maxSockets = maxSockets
        self.userReservationLimit = userReservationLimit
        self.allowUserSockets = allowUserSockets
    }
}

public enum LinkDriver: String, Sendable, CaseIterable {
    /// A TAP device (created, or attached to when `tapCreate` is false).
    case tap
    /// An existing device (e.g. one end of a veth pair) through AF_PACKET.
    case afPacket = "af_packet"
}

/// How an `af_packet` interface's AF_PACKET socket hands received frames to
/// rtud (PacketSocketDevice.ReceiveRing).
public enum ReceiveRing: String, Sendable, CaseIterable {
    /// TPACKET_V2 (the default): each frame handed over as soon as it is
    /// written, so a lone frame is taken at once; under a stream the link
    /// RTU's holdoff gathers frames into batches (BENCHMARKS.md, "Slack
    /// service for early events").
    case v2
    /// TPACKET_V3: blocks of frames handed over when full or after 1 ms, so
    /// a lone frame waits up to 1 ms; the least CPU per frame under a stream.
    case v3

    /// What an `af_packet` interface without `rx_ring` gets.
    public static let standard = ReceiveRing.v2
}

public enum LinkMode: String, Sendable, CaseIterable {
    case ethernet
    /// The emulated 155 Mbps ATM adaptor over the Ethernet carrier; [atm] applies.
    case atm

    /// The MTU used when none is configured: Ethernet's 1500, RFC 2225's 9180 over ATM.
    public var defaultMTU: Int { self == .ethernet ? 1500 : 9180 }
    /// The MTUs allowed: 68 (RFC 791 minimum) up to jumbo frames on Ethernet,
    /// up to the AAL5 CPCS-SDU maximum (65535) less LLC/SNAP (8) over ATM.
    public var mtuRange: ClosedRange<Int> {
        self == .ethernet ? 68...9216 : 68...(AAL5.maximumSDULength - ATMEncapsulation.llcSNAP.headerLength)
    }
}

/// One [[interface]].
public struct InterfaceConfig: Equatable, Sendable {
    /// The interface's name; for TAP also the kernel device name (≤ 15 bytes).
    public var name: String
    public var driver: LinkDriver
    /// The carrier device for `afPacket` (required there, nil for `tap`).
    public var device: String?
    /// rtud's own address and the subnet's prefix.
    public var address: IPv4Cidr
    public var mtu: Int
    public var link: LinkMode
    /// rtud's MAC address on the carrier.
    public var mac: EthernetAddress
    /// Next hop for destinations outside the subnet; nil: on-link only.
    public var gateway: IPv4Address?
    /// How long a resolved ARP entry stays valid.
    public var arpTimeout: ConfigDuration
    /// `tap` only: true creates the TAP device, false attaches to an existing one.
    public var tapCreate: Bool
    /// link = "atm" only: the permanent virtual circuits ([[interface.pvc]]), at least one.
    public var pvcs: [PVCConfig]
    /// `af_packet` only: the kind of receive ring (BENCHMARKS.md, "Link drivers").
    public var rxRing: ReceiveRing

    /// `mac: nil` derives the MAC from the address (`derivedMAC(for:)`).
    public init(name: String = "rtu0", driver: LinkDriver = .tap, device: String? = nil,
                address: IPv4Cidr = IPv4Cidr("198.18.0.1/24")!, mtu: Int? = nil, link: LinkMode = .ethernet,
                mac: EthernetAddress? = nil, gateway: IPv4Address? = nil,
                arpTimeout: ConfigDuration = .seconds(60), tapCreate: Bool = true, pvcs: [PVCConfig] = [],
                rxRing: ReceiveRing = .standard) {
        self.name = name
        self.driver = driver
        self.device = device
        self.address = address
        self.mtu = mtu ?? link.defaultMTU
        self.link = link
        self.mac = mac ?? Self.derivedMAC(for: address.address)
        self.gateway = gateway
        self.arpTimeout = arpTimeout
        self.tapCreate = tapCreate
        self.pvcs = pvcs
        self.rxRing = rxRing
    }

    /// 02:72:a:b:c:d for address a.b.c.d: locally administered (0x02), unicast,
    /// stable across restarts, and distinct for distinct addresses.
    public static func derivedMAC(for address: IPv4Address) -> EthernetAddress {
        EthernetAddress(rawValue: 0x0272_0000_0000 | UInt64(address.rawValue))
    }
}

/// [atm]: the emulated OC-3c adaptor (ATM-FACTS.md), for interfaces with link = "atm".
public struct ATMConfig: Equatable, Sendable {
    /// OC-3c's cell slots per second, the rate of the adaptor's cell clock.
    public static let oc3cCellsPerSecond = 353_207.5
    /// The most cells/s the PVCs of one interface may reserve: Σ PCR(CBR) +
    /// Σ SCR(VBR) ≤ 353,207 (ATM-FACTS.md, "Admission on one link").
    public static let admissibleCellsPerSecond = 353_207

    /// Cell slots per second of the emulated line: OC-3c is 353,207.5, the
    /// only rate the adaptor's cell clock runs at.
    public var lineRateCellsPerSecond: Double = oc3cCellsPerSecond
    /// Cells carried per RFC 4717 N-to-one frame on the Ethernet carrier (1...28 at MTU 1500).
    public var cellsPerFrame: Int = 8

    public init() {}
}

public enum SocketProtocol: String, Sendable, CaseIterable {
    case udp, tcp
}

/// A QoS reservation: `rate` for messages of `messageSize` bytes every `period`.
/// The RTU it maps to has batch ⌈rate·period / (8·messageSize)⌉ (ARCHITECTURE.md).
public struct Reservation: Equatable, Sendable {
    public var rate: BitRate
    public var messageSize: Int
    public var period: ConfigDuration

    public init(rate: BitRate, messageSize: Int, period: ConfigDuration = .milliseconds(10)) {
        self.rate = rate
        self.messageSize = messageSize
        self.period = period
    }
}

/// One [[socket]]: a named socket rtud creates for applications to attach to.
public struct DeclaredSocket: Equatable, Sendable {
    /// [a-z0-9_-]{1,32}, unique.
    public var name: String
    public var proto: SocketProtocol
    /// Local address; the IP is an interface's address or 0.0.0.0, port 0 = any.
    public var bind: SocketAddress
    /// Remote peer of a connected socket.
    public var connect: SocketAddress?
    /// nil: best-effort.
    public var reserve: Reservation?
    /// The PVC this socket's datagrams travel on, both ways: one of its
    /// interface's [[interface.pvc]] (link = "atm"), bound to no other socket.
    public var vc: ATMVirtualChannel?

    public init(name: String, proto: SocketProtocol = .udp, bind: SocketAddress,
                connect: SocketAddress? = nil, reserve: Reservation? = nil, vc: ATMVirtualChannel? = nil) {
        self.name = name
        self.proto = proto
        self.bind = bind
        self.connect = connect
        self.reserve = reserve
        self.vc = vc
    }

    /// The interface the socket binds on, as the daemon picks it: the one
    /// whose address it binds, the first for 0.0.0.0.
    public func interface(in interfaces: [InterfaceConfig]) -> InterfaceConfig? {
        bind.address.isUnspecified ? interfaces.first : interfaces.first { $0.address.address == bind.address }
    }
}

/// [calibration]: measured per-message costs c(S) overriding rtud's built-in ones.
public struct CalibrationConfig: Equatable, Sendable {
    /// CPU time of one UDP message through an RTU, in nanoseconds.
    public var udpPerMessageNs: Int? = nil
    /// CPU time of one TCP segment through an RTU, in nanoseconds.
    public var tcpPerMessageNs: Int? = nil

    public init(udpPerMessageNs: Int? = nil, tcpPerMessageNs: Int? = nil) {
        self.udpPerMessageNs = udpPerMessageNs
        self.tcpPerMessageNs = tcpPerMessageNs
    }
}
