import CShims
import Control
import Glibc
import SharedRings
import Synchronization
import Wire

/// Why a send or receive on an `RTUSocket` did not happen.
public enum RTUSocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No room (send) within the timeout; try again.
    case wouldBlock
    /// Larger than the socket takes.
    case tooLarge(limit: Int)
    /// No destination given and the socket is not connected.
    case notConnected
    /// An ICMP error about an earlier datagram to `peer` (in order with the data).
    case icmp(peer: SocketAddress, type: UInt8, code: UInt8)
    /// Closed by `close`, by the daemon (`reason`), or because the daemon went away.
    case closed(reason: String)

    public var description: String {
        switch self {
        case .wouldBlock: return "would block"
        case let .tooLarge(limit): return "datagram too large (at most \(limit) bytes)"
        case .notConnected: return "no destination and the socket is not connected"
        case let .icmp(peer, type, code): return "ICMP error type \(type) code \(code) from \(peer)"
        case let .closed(reason): return "socket closed: \(reason)"
        }
    }
}

/// A socket of rtud as an application holds it: the daemon's description of
/// it and the application's end of its shared rings. One thread may send and
/// one thread receive at the same time; neither takes a lock or makes a
/// system call unless it has to wait or wake the daemon.
public final class RTUSocket: @unchecked Sendable {
    public let info: SocketInfo
    public var id: UInt32 { info.id }
    public var name: String { info.name }
    public var local: SocketAddress { info.local }
    public var remote: SocketAddress? { info.remote }
    let region: SocketRegion
    let endpoint: DatagramEndpoint
    private weak var client: RTUClient?
    /// Whether the daemon's end of the control connection is gone (checked while waiting).
    private let controlDescriptor: Int32
    private let closed = Atomic<Bool>(false)
    private let closeReason = Mutex<String>("closed by the application")
    /// POLLRDHUP (Linux; Glibc hides it behind _GNU_SOURCE): the peer closed its end.
    static let pollReadHangUp: Int16 = 0x2000
    /// Longest single wait, so a daemon that dies is noticed within it.
    static let waitSlice: Int64 = 200_000_000

    init(client: RTUClient, info: SocketInfo, region: SocketRegion) {
        self.client = client
        self.info = info
        self.region = region
        endpoint = DatagramEndpoint(rx: region.rx, tx: region.tx)
        controlDescriptor = client.connection.descriptor
    }

    deinit { close() }

    /// The largest datagram `send` takes whole.
    public var maxDatagram: Int { endpoint.maxDatagram }

    public var isClosed: Bool { closed.load(ordering: .relaxed) }

    /// Lets go of the socket: an owned one is destroyed in the daemon, a named
    /// one stays for the next client. Wakes a thread blocked in `receive`.
    public func close() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? client?.release(id)
        region.rx.wakeConsumer()
    }

    /// Marks the socket closed for `reason` (the daemon closed it).
    func closedByDaemon(_ reason: String) {
        closeReason.withLock { $0 = reason }
        closed.store(true, ordering: .releasing)
        region.rx.wakeConsumer()
    }

    private var gone: Bool {
        if closed.load(ordering: .relaxed) { return true }
        if region.closedByDaemon { closedByDaemon("closed by rtud"); return true }
        return false
    }

    /// Whether the control connection hung up (the daemon exited or dropped us).
    private func daemonGone() -> Bool {
        var p = pollfd(fd: controlDescriptor, events: Self.pollReadHangUp, revents: 0)
        guard poll(&p, 1, 0) > 0, p.revents & (Self.pollReadHangUp | Int16(POLLHUP | POLLERR)) != 0 else { return false }
        closedByDaemon("rtud went away")
        return true
    }

    private var closedError: RTUSocketError { .closed(reason: closeReason.withLock { $0 }) }

    /// Runs `attempt` with waits cut into slices, checking between them that
    /// the daemon is still there. `attempt(slice)` returns nil to go on waiting.
    /// The first attempt does not wait, so a send or receive that finds room
    /// or data reads no clock and makes no system call.
    @inline(__always)
    private func waiting<T>(_ timeout: Int64, _ attempt: (Int64) throws(RTUSocketError) -> T?) throws(RTUSocketError) -> T? {
        if let done = try attempt(0) { return done }
        if timeout == 0 { return nil }
        let deadline = timeout < 0 ? Int64.max : rtu_sched_monotonic_ns() &+ timeout
        while true {
            let left = deadline == .max ? Self.waitSlice : min(Self.waitSlice, deadline - rtu_sched_monotonic_ns())
            if left <= 0 { return nil }
            if let done = try attempt(left) { return done }
            if daemonGone() { throw closedError }
            if deadline != .max && rtu_sched_monotonic_ns() >= deadline { return nil }
        }
    }

    // MARK: - Send

    /// Queues `payload` for `destination` (nil: the connected peer), waiting
    /// up to `timeout` ns for room (0: not at all, < 0: as long as it takes).
    public func send(_ payload: UnsafeRawBufferPointer, to destination: SocketAddress? = nil,
                     timeout: Int64 = -1) throws(RTUSocketError) {
        let peer = try self.peer(destination)
        let sent: Bool? = try waiting(timeout) { (slice) throws(RTUSocketError) -> Bool? in
            do throws(DatagramSendError) {
                try endpoint.send(payload, to: peer, timeout: slice) { gone }
                return true
            } catch { return try map(error) }
        }
        if sent == nil { throw .wouldBlock }
    }

    /// Queues as many of `batch` (payload, destination or nil for the
    /// connected peer) as fit at once; returns how many. Waits as `send`
    /// only while not even the first fits (then `.wouldBlock`).
    public func send(batch: UnsafeBufferPointer<OutgoingDatagram>, timeout: Int64 = -1) throws(RTUSocketError) -> Int {
        guard !batch.isEmpty else { return 0 }
        let n: Int? = try waiting(timeout) { (slice) throws(RTUSocketError) -> Int? in
            do throws(DatagramSendError) {
                return try endpoint.send(batch, timeout: slice) { gone }
            } catch { return try map(error) }
        }
        guard let n else { throw .wouldBlock }
        return n
    }

    /// The peer a batch entry with no destination goes to: the connected one.
    public func peer(_ destination: SocketAddress?) throws(RTUSocketError) -> DatagramPeer {
        guard let to = destination ?? info.remote else { throw .notConnected }
        return DatagramPeer(to)
    }

    private func map<T>(_ error: DatagramSendError) throws(RTUSocketError) -> T? {
        switch error {
        case .wouldBlock: return nil
        case let .tooLarge(limit): throw .tooLarge(limit: limit)
        case .closed: throw closedError
        case let .ringViolation(v):
            closedByDaemon("the TX ring is corrupt (\(v))")
            throw closedError
        }
    }

    // MARK: - Receive

    /// The next datagram copied into `buffer` (truncated if longer: `length`
    /// says how long it was), or nil when none came within `timeout` ns.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Int64 = -1) throws(RTUSocketError)
        -> (length: Int, stored: Int, source: SocketAddress)? {
        let r: ReceivedDatagram? = try waiting(timeout) { (slice) throws(RTUSocketError) -> ReceivedDatagram? in
            do throws(DatagramReceiveError) {
                return try endpoint.receive(into: buffer, timeout: slice) { gone }
            } catch { throw map(error) }
        }
        guard let r else { return nil }
        return (r.length, r.stored, r.peer.socketAddress)
    }

    /// Fills `batch` with the datagrams waiting (at least one within
    /// `timeout`); returns how many (0 on timeout).
    public func receive(batch: UnsafeMutableBufferPointer<IncomingDatagram>, timeout: Int64 = -1) throws(RTUSocketError) -> Int {
        let n: Int? = try waiting(timeout) { (slice) throws(RTUSocketError) -> Int? in
            do throws(DatagramReceiveError) {
                let n = try endpoint.receive(batch, timeout: slice) { gone }
                return n > 0 ? n : nil
            } catch { throw map(error) }
        }
        return n ?? 0
    }

    private func map(_ error: DatagramReceiveError) -> RTUSocketError {
        switch error {
        case let .icmp(peer, type, code):
            return .icmp(peer: peer.socketAddress, type: type, code: code)
        case .closed: return closedError
        case let .ringViolation(v):
            closedByDaemon("the RX ring is corrupt (\(v))")
            return closedError
        }
    }

    // MARK: - Receive handler

    /// Runs `handler` for every datagram on a thread of the application
    /// until the socket closes (or `stop` on the returned receiver). The
    /// payload is valid only during the call.
    public func startReceiving(bufferSize: Int = 65_536,
                               _ handler: @escaping @Sendable (UnsafeRawBufferPointer, SocketAddress) -> Void) -> Receiver {
        Receiver(socket: self, bufferSize: bufferSize, handler: handler)
    }

    /// The thread `startReceiving` runs.
    public final class Receiver: @unchecked Sendable {
        private var thread = pthread_t()
        private let box: Box

        /// What the thread shares with its owner (the thread keeps it alive).
        final class Box: @unchecked Sendable {
            let socket: RTUSocket
            let buffer: UnsafeMutableRawBufferPointer
            let handler: @Sendable (UnsafeRawBufferPointer, SocketAddress) -> Void
            let stopped = Atomic<Bool>(false)
            let ending = Mutex<RTUSocketError?>(nil)

            init(socket: RTUSocket, bufferSize: Int, handler: @escaping @Sendable (UnsafeRawBufferPointer, SocketAddress) -> Void) {
                self.socket = socket
                buffer = .allocate(byteCount: max(1, bufferSize), alignment: 16)
                self.handler = handler
            }

            deinit { buffer.deallocate() }

            func loop() {
                while !stopped.load(ordering: .relaxed) {
                    do throws(RTUSocketError) {
                        guard let r = try socket.receive(into: buffer, timeout: RTUSocket.waitSlice) else { continue }
                        handler(UnsafeRawBufferPointer(rebasing: buffer[0..<r.stored]), r.source)
                    } catch {
                        if case .icmp = error { continue }
                        ending.withLock { $0 = error }
                        return
                    }
                }
            }
        }

        /// What ended the loop when the socket closed (nil after `stop`).
        public var ending: RTUSocketError? { box.ending.withLock { $0 } }

        init(socket: RTUSocket, bufferSize: Int, handler: @escaping @Sendable (UnsafeRawBufferPointer, SocketAddress) -> Void) {
            box = Box(socket: socket, bufferSize: bufferSize, handler: handler)
            pthread_create(&thread, nil, { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().loop()
                return nil
            }, Unmanaged.passRetained(box).toOpaque())
        }

        /// Stops the thread (after the datagram it is handling) and waits for it.
        public func stop() {
            box.stopped.store(true, ordering: .relaxed)
            box.socket.region.rx.wakeConsumer()
            join()
        }

        /// Waits until the thread ends (the socket closed, or `stop`).
        public func join() {
            guard thread != pthread_t() else { return }
            pthread_join(thread, nil)
            thread = pthread_t()
        }
    }
}
