// The control socket: AF_UNIX SOCK_SEQPACKET, one message per packet (the
// kernel keeps the boundaries, so no framing), descriptors beside a message
// as SCM_RIGHTS. Every send and receive is MSG_DONTWAIT and waits, when it
// has to, in poll(2) with a bound: the daemon's control thread never blocks
// on one client, and a client never waits forever on a daemon.
import CShims
import Glibc

/// A failed control-socket operation: what kind of failure, the errno
/// behind it (0 when no system call failed) and a message for a person.
public struct ControlTransportError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// Nothing listens at the path (ENOENT, ECONNREFUSED).
        case noDaemon
        /// The socket file's mode or owner does not let us in (EACCES, EPERM).
        case permissionDenied
        /// A listener found a live daemon answering at its path.
        case alreadyRunning
        /// The peer closed the connection.
        case closed
        /// No room to send, or no reply, within the time allowed.
        case timedOut
        /// A message over `ControlCodec.maxMessage` or with too many descriptors.
        case tooLarge
        /// `request` got a reply that does not decode.
        case badReply(ControlDecodeError)
        /// Any other failed system call; see `errno`.
        case system
    }

    public var kind: Kind
    public var errno: Int32
    public var message: String
    public var description: String { message }

    public init(_ kind: Kind, errno: Int32 = 0, _ message: String) {
        self.kind = kind
        self.errno = errno
        self.message = message
    }

    /// A failed `operation` (a system call and its object) with errno `e`.
    static func system(_ operation: String, _ e: Int32) -> ControlTransportError {
        ControlTransportError(e == EPIPE || e == ECONNRESET ? .closed : .system, errno: e,
                              "\(operation): \(String(cString: strerror(e)))")
    }
}

/// One message as it came off the socket.
public struct ReceivedMessage: Sendable {
    /// The packet's bytes (with `truncated`, only the first `maxMessage`).
    public var bytes: [UInt8]
    /// Descriptors that came with it, close-on-exec; the receiver owns them
    /// and must close them.
    public var descriptors: [Int32]
    /// The packet exceeded `maxMessage` or carried more than
    /// `ControlConnection.maxDescriptors` descriptors; whatever descriptors
    /// it carried were closed on arrival.
    public var truncated: Bool
}

/// What a non-blocking receive found.
public enum ReceiveOutcome: Sendable {
    case message(ReceivedMessage)
    /// Nothing waits now.
    case wouldBlock
    /// The peer closed the connection (or sent an empty packet, which this
    /// protocol never does and which SOCK_SEQPACKET cannot tell apart).
    case closed
}

/// One connected control socket, owned: the descriptor is closed in deinit.
/// Not thread-safe; one thread uses a connection at a time.
public final class ControlConnection {
    /// The most descriptors one message may carry (the receive side's limit).
    public static let maxDescriptors = Int(RTU_CTL_MAX_RECEIVE_FDS)

    /// For poll(2) in the daemon's loop.
    public let descriptor: Int32
    /// Set once a receive saw the end of the stream.
    public private(set) var isClosed = false
    /// How long `send` waits for room when the peer's queue is full; after
    /// that it throws `timedOut`. The daemon sets it low so a client that
    /// does not read cannot hold up the control thread.
    public var sendTimeoutMs: Int32 = 5_000
    /// Unsolicited messages (request id 0, such as `socketClosed`) that
    /// `request` read while waiting for its reply, oldest first. The client
    /// takes them from here and empties the list.
    public var pendingNotifications: [ControlReply] = []

    private var nextRequestID: UInt32 = 1
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ControlCodec.maxMessage, alignment: 8)

    /// Adopts a connected SOCK_SEQPACKET descriptor (from `accept`,
    /// `connect` or a socketpair); it is closed with the connection.
    public init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        Glibc.close(descriptor)
        buffer.deallocate()
    }

    /// Connects to the daemon listening at `path`.
    public static func connect(path: String) throws(ControlTransportError) -> ControlConnection {
        let fd = rtu_ctl_connect(path, 0)
        guard fd < 0 else { return ControlConnection(descriptor: fd) }
        throw connectFailure(path: path, errno: -fd)
    }

    /// What a failed connect to `path` tells the user.
    static func connectFailure(path: String, errno e: Int32) -> ControlTransportError {
        switch e {
        case ENOENT, ECONNREFUSED:
            ControlTransportError(.noDaemon, errno: e, "no daemon at \(path) (\(String(cString: strerror(e))))")
        case EACCES, EPERM:
            ControlTransportError(.permissionDenied, errno: e,
                                  "not allowed to connect to \(path) (check the socket's mode and group)")
        default:
            .system("connect to \(path)", e)
        }
    }

    /// Sends one message with `descriptors` (which stay ours: the kernel
    /// gives the peer duplicates). Waits up to `sendTimeoutMs` for room.
    public func send(_ bytes: [UInt8], descriptors: [Int32] = []) throws(ControlTransportError) {
        guard bytes.count <= ControlCodec.maxMessage, descriptors.count <= Self.maxDescriptors else {
            throw ControlTransportError(.tooLarge, "message of \(bytes.count) bytes with \(descriptors.count) descriptors "
                + "exceeds \(ControlCodec.maxMessage) bytes or \(Self.maxDescriptors) descriptors")
        }
        try transmit(bytes, descriptors: descriptors)
    }

    /// `send` without the protocol's limits (tests send oversized packets with it).
    func transmit(_ bytes: [UInt8], descriptors: [Int32]) throws(ControlTransportError) {
        let deadline = Deadline(timeoutMs: sendTimeoutMs)
        while true {
            let n = bytes.withUnsafeBytes { b in
                rtu_ctl_send(descriptor, b.baseAddress, b.count, descriptors, UInt32(descriptors.count))
            }
            if n >= 0 { return }
            guard n == -Int(EAGAIN) else { throw .system("send", Int32(-n)) }
            guard try wait(for: Int16(POLLOUT), deadline) else {
                throw ControlTransportError(.timedOut, errno: EAGAIN, "send: the peer has not read for \(sendTimeoutMs) ms")
            }
        }
    }

    /// The next message, waiting up to `timeoutMs` (negative: no limit).
    /// nil when none came in time or the peer closed the connection
    /// (`isClosed` then says which).
    public func receive(timeoutMs: Int32) throws(ControlTransportError) -> ReceivedMessage? {
        let deadline = Deadline(timeoutMs: timeoutMs)
        while true {
            switch try receiveNonBlocking() {
            case let .message(m): return m
            case .closed: return nil
            case .wouldBlock: guard try wait(for: Int16(POLLIN), deadline) else { return nil }
            }
        }
    }

    /// The next message if one waits now (for the daemon's poll loop).
    public func receiveNonBlocking() throws(ControlTransportError) -> ReceiveOutcome {
        var fds = [Int32](repeating: -1, count: Self.maxDescriptors)
        var count: UInt32 = 0
        var truncated: Int32 = 0
        let n = rtu_ctl_receive(descriptor, buffer.baseAddress, buffer.count, &fds, &count, &truncated)
        if n == -Int(EAGAIN) { return .wouldBlock }
        if n == -Int(ECONNRESET) || (n == 0 && truncated == 0) {
            for fd in fds.prefix(Int(count)) { Glibc.close(fd) }
            isClosed = true
            return .closed
        }
        guard n >= 0 else { throw .system("receive", Int32(-n)) }
        let kept = min(n, buffer.count)
        return .message(ReceivedMessage(bytes: Array(buffer.prefix(kept)), descriptors: Array(fds.prefix(Int(count))),
                                        truncated: truncated != 0))
    }

    /// The peer's process, user and group as of its connect(2) (SO_PEERCRED);
    /// nil if the socket cannot say.
    public func peerCredentials() -> (pid: Int32, uid: UInt32, gid: UInt32)? {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard rtu_ctl_peer_credentials(descriptor, &pid, &uid, &gid) == 0 else { return nil }
        return (pid, uid, gid)
    }

    /// Sends `request` under a fresh request id and returns the reply with
    /// that id and its descriptors (owned by the caller). Unsolicited
    /// messages read meanwhile go to `pendingNotifications`; a reply with
    /// another id (one to an earlier request that timed out) is dropped and
    /// its descriptors closed.
    public func request(_ request: ControlRequest, timeoutMs: Int32 = 10_000)
        throws(ControlTransportError) -> (ControlReply, [Int32]) {
        let id = nextRequestID
        nextRequestID = id == .max ? 1 : id + 1  // 0 marks the daemon's unsolicited messages
        try send(ControlCodec.encode(request, requestID: id))
        let deadline = Deadline(timeoutMs: timeoutMs)
        while true {
            guard let m = try receive(timeoutMs: deadline.remainingMs()) else {
                throw isClosed ? ControlTransportError(.closed, "the daemon closed the connection")
                    : ControlTransportError(.timedOut, "no reply within \(timeoutMs) ms")
            }
            if m.truncated {
                throw ControlTransportError(.tooLarge, "the daemon sent a message over \(ControlCodec.maxMessage) bytes "
                    + "or with more than \(Self.maxDescriptors) descriptors")
            }
            let decoded: (requestID: UInt32, ControlReply)
            do { decoded = try ControlCodec.decodeReply(m.bytes) } catch {
                for fd in m.descriptors { Glibc.close(fd) }
                throw ControlTransportError(.badReply(error), "bad reply from the daemon: \(error)")
            }
            if decoded.requestID == id { return (decoded.1, m.descriptors) }
            for fd in m.descriptors { Glibc.close(fd) }
            if decoded.requestID == 0 { pendingNotifications.append(decoded.1) }
        }
    }

    /// poll(2) for `events` until the deadline: whether the socket is ready.
    private func wait(for events: Int16, _ deadline: Deadline) throws(ControlTransportError) -> Bool {
        while true {
            var p = pollfd(fd: descriptor, events: events, revents: 0)
            let r = poll(&p, 1, deadline.remainingMs())
            if r > 0 { return true }
            if r == 0 { return false }
            let e = errno
            if e != EINTR { throw .system("poll", e) }
        }
    }
}

/// A point in CLOCK_MONOTONIC time a wait must end by, or none.
struct Deadline {
    private let end: Int64?

    /// `timeoutMs` from now; negative means no deadline.
    init(timeoutMs: Int32) {
        end = timeoutMs < 0 ? nil : Self.nowMs() + Int64(timeoutMs)
    }

    /// Milliseconds left for poll(2): -1 for no deadline, 0 once past.
    func remainingMs() -> Int32 {
        guard let end else { return -1 }
        return Int32(clamping: max(0, end - Self.nowMs()))
    }

    private static func nowMs() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1000 + Int64(t.tv_nsec) / 1_000_000
    }
}

/// The daemon's listening control socket. The socket file is removed when
/// the listener closes, unless another process has replaced it meanwhile.
public final class ControlListener {
    public let path: String
    /// For poll(2); -1 once closed.
    public private(set) var descriptor: Int32
    /// The bound file's identity, so `close` unlinks only our own.
    private let file: (device: UInt64, inode: UInt64)

    /// Binds and listens at `path` with the file mode `mode` and, when
    /// given, group `gid`. A socket file left by a daemon that died is
    /// replaced; one a live daemon answers on is not (`alreadyRunning`), and
    /// a path that is not a socket is left alone (an error).
    public init(path: String, mode: UInt32, group gid: UInt32?, backlog: Int32 = 64) throws(ControlTransportError) {
        self.path = path
        try Self.removeStale(path)
        let fd = rtu_ctl_bind(path)
        guard fd >= 0 else { throw .system("bind \(path)", -fd) }
        // Mode and group are set before listen(2), so nobody can connect
        // while the file still has the umask's permissions.
        var st = stat()
        if chmod(path, mode_t(mode)) != 0 || (gid.map { chown(path, uid_t.max, $0) } ?? 0) != 0
            || stat(path, &st) != 0 || listen(fd, backlog) != 0 {
            let e = errno
            Glibc.close(fd)
            unlink(path)
            throw .system("set up \(path)", e)
        }
        descriptor = fd
        file = (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    deinit { close() }

    /// The next pending connection, non-blocking and close-on-exec; nil when
    /// none waits.
    public func accept() throws(ControlTransportError) -> ControlConnection? {
        while true {
            let fd = rtu_ctl_accept(descriptor)
            if fd >= 0 { return ControlConnection(descriptor: fd) }
            switch -fd {
            case EAGAIN: return nil
            case ECONNABORTED: continue  // that client gave up; look at the next
            default: throw .system("accept on \(path)", -fd)
            }
        }
    }

    /// Stops listening and removes the socket file if it is still ours.
    public func close() {
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
        var st = stat()
        if stat(path, &st) == 0, UInt64(st.st_dev) == file.device, UInt64(st.st_ino) == file.inode {
            unlink(path)
        }
    }

    /// Unlinks `path` if it is a socket nobody listens on.
    private static func removeStale(_ path: String) throws(ControlTransportError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            let e = errno
            if e == ENOENT { return }
            throw .system("stat \(path)", e)
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw ControlTransportError(.system, errno: EEXIST, "\(path) exists and is not a socket")
        }
        // Non-blocking: a live daemon whose backlog is full answers EAGAIN
        // instead of making us wait.
        let fd = rtu_ctl_connect(path, 1)
        if fd >= 0 || fd == -EAGAIN {
            if fd >= 0 { Glibc.close(fd) }
            throw ControlTransportError(.alreadyRunning, "a daemon is already listening at \(path)")
        }
        guard fd == -ECONNREFUSED else { throw .system("connect to \(path)", -fd) }
        guard unlink(path) == 0 || errno == ENOENT else { throw .system("remove stale \(path)", errno) }
    }
}
