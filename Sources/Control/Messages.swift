// The control-plane messages between rtud and its clients (rtuctl, the
// RTUClient library): what a request asks and what a reply says. Their bytes
// are ControlCodec's business; these types hold only meaning.
import Wire

/// What a client asks of the daemon. Each request gets exactly one reply with
/// its request id.
public enum ControlRequest: Equatable, Sendable {
    /// The first request on every connection (the daemon enforces that):
    /// the client's protocol version and a name for logs.
    case hello(version: UInt16, client: String)
    /// Creates a socket; the reply is `socket`, with descriptors when
    /// `spec.attach` is set.
    case createSocket(SocketSpec)
    /// Attaches to a named socket; the reply is `socket` with descriptors.
    case attach(name: String)
    /// The client lets go of a socket it created or attached.
    case close(id: UInt32)
    /// Destroys a named socket.
    case delete(name: String)
    /// One page of sockets from `cursor` (0 = the start); the reply says the
    /// next cursor, 0 at the end.
    case listSockets(cursor: UInt32)
    /// One page of RTUs from `cursor`, as `listSockets`.
    case listRTUs(cursor: UInt32)
    case stats
    case status
}

/// What the daemon answers, plus the one message it sends unasked
/// (`socketClosed`, request id 0).
public enum ControlReply: Equatable, Sendable {
    case hello(version: UInt16, daemon: String, pid: UInt32)
    /// The socket created or attached (its descriptors travel beside the
    /// message when the client attached).
    case socket(SocketInfo)
    case ok
    case sockets([SocketInfo], next: UInt32)
    case rtus([RTUInfo], next: UInt32)
    case stats([CounterGroup])
    case status(DaemonStatus)
    case error(ControlErrorCode, String)
    /// Unsolicited: the daemon closed socket `id` (e.g. its ring was
    /// corrupted by the client) and says why.
    case socketClosed(id: UInt32, ControlErrorCode, String)
}

/// A bandwidth reservation: `rateBitsPerSecond` for messages of up to
/// `messageSize` bytes, served every `periodNanoseconds`.
public struct ReservationSpec: Equatable, Sendable {
    public var rateBitsPerSecond: UInt64
    public var messageSize: UInt32
    public var periodNanoseconds: UInt64

    public init(rateBitsPerSecond: UInt64, messageSize: UInt32, periodNanoseconds: UInt64) {
        self.rateBitsPerSecond = rateBitsPerSecond
        self.messageSize = messageSize
        self.periodNanoseconds = periodNanoseconds
    }
}

/// The transport protocol of a socket; the raw values are on the wire.
public enum SocketProtocolCode: UInt8, Equatable, Sendable {
    case udp = 1
    case tcp = 2
}

/// What `createSocket` asks for.
public struct SocketSpec: Equatable, Sendable {
    public var proto: SocketProtocolCode
    /// nil: an ephemeral, anonymous socket that lives as long as its client.
    public var name: String?
    public var bind: SocketAddress
    public var connect: SocketAddress?
    public var reserve: ReservationSpec?
    /// A named socket that outlives the connection that created it (as
    /// `rtuctl` makes them, for applications to attach to later).
    public var persistent: Bool
    /// The creator attaches at once and gets the descriptors in the reply.
    public var attach: Bool
    /// The ATM PVC the socket's datagrams travel on (its interface must be
    /// link = "atm"; the VC configured and bound to no other socket; a
    /// reservation within the VC's contract). nil: the peer's default VC.
    public var vc: ATMVirtualChannel?

    public init(proto: SocketProtocolCode, name: String?, bind: SocketAddress, connect: SocketAddress?,
                reserve: ReservationSpec?, persistent: Bool, attach: Bool, vc: ATMVirtualChannel? = nil) {
        self.proto = proto
        self.name = name
        self.bind = bind
        self.connect = connect
        self.reserve = reserve
        self.persistent = persistent
        self.attach = attach
        self.vc = vc
    }
}

/// A socket as the daemon reports it.
public struct SocketInfo: Equatable, Sendable {
    public var id: UInt32
    public var name: String
    public var proto: SocketProtocolCode
    public var local: SocketAddress
    public var remote: SocketAddress?
    public var reserve: ReservationSpec?
    public var ownerUID: UInt32
    public var persistent: Bool
    /// Whether a client is attached (at most one is).
    public var attached: Bool
    public var interface: String
    public var counters: [Counter]
    /// The ATM PVC bound to the socket, if any.
    public var vc: ATMVirtualChannel?

    public init(id: UInt32, name: String, proto: SocketProtocolCode, local: SocketAddress, remote: SocketAddress?,
                reserve: ReservationSpec?, ownerUID: UInt32, persistent: Bool, attached: Bool, interface: String,
                counters: [Counter], vc: ATMVirtualChannel? = nil) {
        self.id = id
        self.name = name
        self.proto = proto
        self.local = local
        self.remote = remote
        self.reserve = reserve
        self.ownerUID = ownerUID
        self.persistent = persistent
        self.attached = attached
        self.interface = interface
        self.counters = counters
        self.vc = vc
    }
}

public struct Counter: Equatable, Sendable {
    public var name: String
    public var value: UInt64

    public init(name: String, value: UInt64) {
        self.name = name
        self.value = value
    }
}

/// Counters of one part of the daemon (a link, the stack, a core).
public struct CounterGroup: Equatable, Sendable {
    public var name: String
    public var counters: [Counter]

    public init(name: String, counters: [Counter]) {
        self.name = name
        self.counters = counters
    }
}

/// The kind of an RTU; the raw values are on the wire.
public enum RTUKindCode: UInt8, Equatable, Sendable {
    case periodic = 1
    case reactive = 2
    case bestEffort = 3
}

/// An RTU and its statistics as the daemon reports them.
public struct RTUInfo: Equatable, Sendable {
    public var id: UInt32
    public var name: String
    /// What the RTU serves (a socket's name, "stack", …).
    public var owner: String
    public var core: Int32
    public var kind: RTUKindCode
    public var periodNs: Int64
    public var budgetNs: Int64
    public var batch: UInt32
    public var invocations: UInt64
    public var overruns: UInt64
    public var deadlineMisses: UInt64
    public var latenessP50Ns: Int64
    public var latenessP99Ns: Int64
    public var latenessMaxNs: Int64
    public var executionP50Ns: Int64
    public var executionP99Ns: Int64
    public var executionMaxNs: Int64

    public init(id: UInt32, name: String, owner: String, core: Int32, kind: RTUKindCode, periodNs: Int64,
                budgetNs: Int64, batch: UInt32, invocations: UInt64, overruns: UInt64, deadlineMisses: UInt64,
                latenessP50Ns: Int64, latenessP99Ns: Int64, latenessMaxNs: Int64,
                executionP50Ns: Int64, executionP99Ns: Int64, executionMaxNs: Int64) {
        self.id = id
        self.name = name
        self.owner = owner
        self.core = core
        self.kind = kind
        self.periodNs = periodNs
        self.budgetNs = budgetNs
        self.batch = batch
        self.invocations = invocations
        self.overruns = overruns
        self.deadlineMisses = deadlineMisses
        self.latenessP50Ns = latenessP50Ns
        self.latenessP99Ns = latenessP99Ns
        self.latenessMaxNs = latenessMaxNs
        self.executionP50Ns = executionP50Ns
        self.executionP99Ns = executionP99Ns
        self.executionMaxNs = executionMaxNs
    }
}

/// An interface as the daemon reports it; the texts are for display.
public struct InterfaceInfo: Equatable, Sendable {
    public var name: String
    public var driver: String
    /// CIDR text, "198.18.0.1/24".
    public var address: String
    public var mac: String
    public var mtu: UInt32
    public var link: String

    public init(name: String, driver: String, address: String, mac: String, mtu: UInt32, link: String) {
        self.name = name
        self.driver = driver
        self.address = address
        self.mac = mac
        self.mtu = mtu
        self.link = link
    }
}

/// An RT core: what admission granted and what was measured, in parts per
/// billion of the core.
public struct CoreInfo: Equatable, Sendable {
    public var cpu: Int32
    /// Whether its dispatcher runs SCHED_FIFO.
    public var realtime: Bool
    public var admittedPPB: Int64
    public var measuredPPB: Int64
    public var rtus: UInt32

    public init(cpu: Int32, realtime: Bool, admittedPPB: Int64, measuredPPB: Int64, rtus: UInt32) {
        self.cpu = cpu
        self.realtime = realtime
        self.admittedPPB = admittedPPB
        self.measuredPPB = measuredPPB
        self.rtus = rtus
    }
}

public struct DaemonStatus: Equatable, Sendable {
    public var version: String
    public var pid: UInt32
    public var uptimeNs: UInt64
    /// Whether the daemon got the real-time scheduling it asked for.
    public var realtime: Bool
    public var interfaces: [InterfaceInfo]
    public var cores: [CoreInfo]
    public var sockets: UInt32
    public var clients: UInt32

    public init(version: String, pid: UInt32, uptimeNs: UInt64, realtime: Bool, interfaces: [InterfaceInfo],
                cores: [CoreInfo], sockets: UInt32, clients: UInt32) {
        self.version = version
        self.pid = pid
        self.uptimeNs = uptimeNs
        self.realtime = realtime
        self.interfaces = interfaces
        self.cores = cores
        self.sockets = sockets
        self.clients = clients
    }
}

/// Why a request failed (in `error`) or a socket was closed (in
/// `socketClosed`). The raw values are on the wire and never change meaning;
/// a new code needs a new protocol version, because a decoder refuses codes
/// it does not know.
public enum ControlErrorCode: UInt16, Equatable, Sendable, CustomStringConvertible {
    /// The request could not be decoded.
    case badMessage = 1
    /// The header or the hello named a version this daemon does not speak.
    case unsupportedVersion = 2
    /// A request came before `hello`.
    case helloFirst = 3
    /// The message exceeded `ControlCodec.maxMessage` or carried too many descriptors.
    case tooLarge = 4
    /// The peer's credentials do not allow the request.
    case permissionDenied = 5
    /// No socket with that name or id.
    case notFound = 6
    /// A socket of that name exists.
    case nameInUse = 7
    /// Another socket has that local (and remote) address.
    case addressInUse = 8
    /// The reservation does not fit the RT cores (admission control said no).
    case admissionRefused = 9
    /// A field value the daemon cannot use (port 0 for a connect, a zero period, …).
    case invalidArgument = 10
    /// The client reached a limit the configuration sets (sockets, reserved rate, …).
    case limitExceeded = 11
    /// The socket already has an attached client.
    case busy = 12
    /// The client broke the shared ring's rules.
    case ringViolation = 13
    /// The daemon is stopping.
    case shuttingDown = 14
    /// A failure inside the daemon; its log says more.
    case internalError = 15

    public var description: String {
        switch self {
        case .badMessage: "bad message"
        case .unsupportedVersion: "unsupported protocol version"
        case .helloFirst: "hello must come first"
        case .tooLarge: "message too large"
        case .permissionDenied: "permission denied"
        case .notFound: "not found"
        case .nameInUse: "name in use"
        case .addressInUse: "address in use"
        case .admissionRefused: "admission refused"
        case .invalidArgument: "invalid argument"
        case .limitExceeded: "limit exceeded"
        case .busy: "already attached"
        case .ringViolation: "ring violation"
        case .shuttingDown: "daemon shutting down"
        case .internalError: "internal error"
        }
    }
}
