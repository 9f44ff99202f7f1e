import Control
import Glibc
import SharedRings
import Wire

/// What went wrong talking to rtud, in words that say what to do about it.
public enum RTUClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing listens at the control socket.
    case noDaemon(path: String, detail: String)
    /// The control socket's permissions keep this user out.
    case permissionDenied(path: String)
    /// The daemon refused the request.
    case refused(ControlErrorCode, String)
    /// The connection broke, or the daemon said something this client does not understand.
    case protocolFailure(String)
    /// The socket's shared memory could not be mapped.
    case sharedMemory(String)

    public var description: String {
        switch self {
        case let .noDaemon(path, detail):
            return "no rtud at \(path) (\(detail)): is it running? (systemctl start rtud, or rtud --config FILE); another control socket: --control PATH or RTUD_CONTROL"
        case let .permissionDenied(path):
            return "permission denied on \(path): run as root or as a member of the control socket's group ([daemon] control_group)"
        case let .refused(code, message):
            switch code {
            case .admissionRefused: return "admission refused: \(message)"
            case .permissionDenied: return "permission denied: \(message)"
            default: return "\(message) (\(code))"
            }
        case let .protocolFailure(why): return "control connection: \(why)"
        case let .sharedMemory(why): return "socket shared memory: \(why)"
        }
    }

    /// The daemon's error code, when it refused.
    public var code: ControlErrorCode? {
        if case let .refused(code, _) = self { return code }
        return nil
    }
}

/// A connection to rtud's control plane: what applications and `rtuctl`
/// use to create, attach to, list and delete sockets and to read the
/// daemon's state. One connection is used by one thread at a time; the
/// sockets it hands out are used without it (their data moves through
/// shared memory), but closing the connection releases them in the daemon.
public final class RTUClient {
    /// Where rtud listens unless configured otherwise.
    public static let defaultControlPath = "/run/rtud/control.sock"

    /// The path to use: `RTUD_CONTROL` if set, else the default.
    public static var environmentControlPath: String {
        getenv("RTUD_CONTROL").map { String(cString: $0) } ?? defaultControlPath
    }

    let connection: ControlConnection
    public let path: String
    /// What the daemon said it is.
    public private(set) var daemonVersion = ""
    public private(set) var daemonPID: UInt32 = 0

    /// Connects and says hello (`client` names this program in the daemon's log).
    public init(controlPath: String = RTUClient.environmentControlPath, client: String = "rtuclient") throws(RTUClientError) {
        path = controlPath
        do { connection = try ControlConnection.connect(path: controlPath) } catch {
            switch error.kind {
            case .permissionDenied: throw .permissionDenied(path: controlPath)
            case .noDaemon: throw .noDaemon(path: controlPath, detail: String(cString: strerror(error.errno)))
            default: throw .protocolFailure(error.message)
            }
        }
        guard case let .hello(_, daemon, pid) = try call(.hello(version: ControlCodec.version, client: client)).0 else {
            throw .protocolFailure("unexpected answer to hello")
        }
        daemonVersion = daemon
        daemonPID = pid
    }

    /// Sends `request`, waits for its reply; an error reply throws `.refused`.
    @discardableResult
    func call(_ request: ControlRequest) throws(RTUClientError) -> (ControlReply, [Int32]) {
        let answer: (ControlReply, [Int32])
        do { answer = try connection.request(request) } catch { throw .protocolFailure("\(error)") }
        if case let .error(code, message) = answer.0 {
            for fd in answer.1 { close(fd) }
            throw .refused(code, message)
        }
        return answer
    }

    // MARK: - Sockets

    /// Creates a socket in the daemon without attaching to it (what
    /// `rtuctl socket create` does: a named, persistent socket that an
    /// application attaches to later).
    public func createSocket(_ spec: SocketSpec) throws(RTUClientError) -> SocketInfo {
        var spec = spec
        spec.attach = false
        guard case let .socket(info) = try call(.createSocket(spec)).0 else { throw .protocolFailure("unexpected answer to create") }
        return info
    }

    /// Creates a socket owned by this connection and attaches to it: it
    /// lives until `close` or until this connection ends. With `vc`, its
    /// datagrams travel on that ATM PVC of its interface both ways (the
    /// daemon refuses it when the interface is not ATM, the VC is not a PVC
    /// or already has a socket, or the reservation exceeds its contract).
    public func openSocket(bind: SocketAddress, connect: SocketAddress? = nil, reserve: ReservationSpec? = nil,
                           name: String? = nil, vc: ATMVirtualChannel? = nil) throws(RTUClientError) -> RTUSocket {
        let spec = SocketSpec(proto: .udp, name: name, bind: bind, connect: connect, reserve: reserve,
                              persistent: false, attach: true, vc: vc)
        return try socket(from: call(.createSocket(spec)))
    }

    /// Attaches to the named socket (made by `rtuctl socket create` or
    /// declared in the daemon's configuration).
    public func attach(_ name: String) throws(RTUClientError) -> RTUSocket {
        try socket(from: call(.attach(name: name)))
    }

    private func socket(from answer: (ControlReply, [Int32])) throws(RTUClientError) -> RTUSocket {
        guard case let .socket(info) = answer.0 else {
            for fd in answer.1 { close(fd) }
            throw .protocolFailure("unexpected answer: \(answer.0)")
        }
        let region: SocketRegion
        do { region = try SocketRegion.map(descriptors: answer.1) } catch { throw .sharedMemory("\(error)") }
        return RTUSocket(client: self, info: info, region: region)
    }

    /// Lets go of a socket: an owned one is destroyed, a named one stays for the next client.
    func release(_ id: UInt32) throws(RTUClientError) { try call(.close(id: id)) }

    /// Destroys a named socket (owner or privileged only).
    public func delete(_ name: String) throws(RTUClientError) { try call(.delete(name: name)) }

    // MARK: - Inspection

    public func sockets() throws(RTUClientError) -> [SocketInfo] {
        try paged(ControlRequest.listSockets) { if case let .sockets(page, next) = $0 { (page, next) } else { nil } }
    }

    public func rtus() throws(RTUClientError) -> [RTUInfo] {
        try paged(ControlRequest.listRTUs) { if case let .rtus(page, next) = $0 { (page, next) } else { nil } }
    }

    /// Every item of a paged list: requests from cursor 0 until the daemon says 0.
    private func paged<Item>(_ request: (UInt32) -> ControlRequest,
                             _ page: (ControlReply) -> ([Item], UInt32)?) throws(RTUClientError) -> [Item] {
        var all: [Item] = []
        var cursor: UInt32 = 0
        repeat {
            let reply = try call(request(cursor)).0
            guard let (items, next) = page(reply) else { throw .protocolFailure("unexpected answer to \(request(cursor))") }
            all += items
            cursor = next
        } while cursor != 0
        return all
    }

    public func stats() throws(RTUClientError) -> [CounterGroup] {
        guard case let .stats(groups) = try call(.stats).0 else { throw .protocolFailure("unexpected answer to stats") }
        return groups
    }

    public func status() throws(RTUClientError) -> DaemonStatus {
        guard case let .status(status) = try call(.status).0 else { throw .protocolFailure("unexpected answer to status") }
        return status
    }

    /// Sockets the daemon closed under this client since the last call, with why.
    public func closedSockets() -> [(id: UInt32, code: ControlErrorCode, message: String)] {
        defer { connection.pendingNotifications.removeAll() }
        return connection.pendingNotifications.compactMap {
            if case let .socketClosed(id, code, message) = $0 { return (id, code, message) }
            return nil
        }
    }
}
