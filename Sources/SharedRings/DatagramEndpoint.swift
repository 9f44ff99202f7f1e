import Wire

/// A datagram's peer as the rings carry it: IPv4 address and port, host order.
public struct DatagramPeer: Hashable, Sendable {
    public var address: UInt32
    public var port: UInt16

    public init(address: UInt32, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init(_ s: SocketAddress) { self.init(address: s.address.rawValue, port: s.port) }

    public var socketAddress: SocketAddress { SocketAddress(address: IPv4Address(rawValue: address), port: port) }
}

public enum DatagramSendError: Error, Equatable, Sendable {
    /// The TX ring is full (the core has not caught up); try again.
    case wouldBlock
    /// Above 65,507 bytes, or above the ring's largest record.
    case tooLarge(limit: Int)
    case closed
    /// The core published a head no correct consumer publishes.
    case ringViolation(RingViolation)
}

public enum DatagramReceiveError: Error, Equatable, Sendable {
    /// An ICMP error about a datagram sent from this endpoint (RFC 1122
    /// §4.1.3.3): the peer it concerns and the ICMP type and code.
    case icmp(peer: DatagramPeer, type: UInt8, code: UInt8)
    case closed
    /// The RX ring held something no correct producer writes.
    case ringViolation(RingViolation)
}

/// What one receive got: `length` bytes (of which `stored` fit the buffer) from `peer`.
public struct ReceivedDatagram: Equatable, Sendable {
    public var length: Int
    public var stored: Int
    public var peer: DatagramPeer

    public init(length: Int, stored: Int, peer: DatagramPeer) {
        self.length = length
        self.stored = stored
        self.peer = peer
    }
}

/// One datagram of a batch to send.
public struct OutgoingDatagram {
    public var payload: UnsafeRawBufferPointer
    public var peer: DatagramPeer

    public init(payload: UnsafeRawBufferPointer, peer: DatagramPeer) {
        self.payload = payload
        self.peer = peer
    }
}

/// One message of a receive batch: the caller says where its bytes go,
/// `receive` fills in what arrived.
public struct IncomingDatagram {
    public var buffer: UnsafeMutableRawBufferPointer
    public var received = ReceivedDatagram(length: 0, stored: 0, peer: DatagramPeer(address: 0, port: 0))

    public init(buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }
}

/// The application's end of a datagram socket's two rings (RX: core →
/// application, TX: application → core), shared by in-process sockets
/// (`UDPSocket`) and clients in another process (over a `SocketRegion`).
/// Any one thread may send and any one thread receive.
///
/// A TX record is the destination in its header and the payload after
/// `headroom` bytes, where the core writes the UDP header so that header
/// and payload go to IP as one piece. An ICMP error record on RX surfaces
/// as `DatagramReceiveError.icmp`, in order among the datagrams.
///
/// Telling the core that something was queued is the owner's business,
/// after a send returns: an in-process socket releases its output RTU; across
/// processes the TX data doorbell does it (rung by `publish` when the core
/// armed it). `isClosed` is asked between waits.
public struct DatagramEndpoint {
    public let rx: MessageRing
    public let tx: MessageRing
    /// Bytes before each TX payload for the UDP header.
    public static let headroom = 8
    /// The largest UDP payload over IPv4 (65,535 − 20 − 8).
    public static let largestDatagram = 65_507

    public init(rx: MessageRing, tx: MessageRing) {
        self.rx = rx
        self.tx = tx
    }

    /// Largest datagram this endpoint can send whole.
    public var maxDatagram: Int { min(Self.largestDatagram, tx.maxPayload - Self.headroom) }

    // MARK: - Send

    /// Queues `payload` for `peer`, waiting up to `timeout` nanoseconds for
    /// room in the TX ring (0: do not wait; < 0: wait as long as it takes).
    @inline(__always)
    public func send(_ payload: UnsafeRawBufferPointer, to peer: DatagramPeer, timeout: Int64,
                     isClosed: () -> Bool) throws(DatagramSendError) {
        guard payload.count <= maxDatagram else { throw .tooLarge(limit: maxDatagram) }
        let deadline = WaitDeadline(timeout: timeout)
        while true {
            if isClosed() { throw .closed }
            if stage(payload, to: peer) {
                tx.publish()
                return
            }
            try waitForSpace(payload.count, deadline: deadline)
        }
    }

    /// Queues the longest prefix of `batch` that fits, published at once
    /// (one fence, one doorbell check), and returns how many; waits up to
    /// `timeout` (as `send`) only while not even the first fits. A datagram
    /// above `maxDatagram` ends the prefix, or throws `.tooLarge` when first.
    public func send(_ batch: UnsafeBufferPointer<OutgoingDatagram>, timeout: Int64,
                     isClosed: () -> Bool) throws(DatagramSendError) -> Int {
        guard let first = batch.first else { return 0 }
        guard first.payload.count <= maxDatagram else { throw .tooLarge(limit: maxDatagram) }
        let deadline = WaitDeadline(timeout: timeout)
        while true {
            if isClosed() { throw .closed }
            var n = 0
            while n < batch.count && batch[n].payload.count <= maxDatagram && stage(batch[n].payload, to: batch[n].peer) {
                n += 1
            }
            if n > 0 {
                tx.publish()
                return n
            }
            try waitForSpace(first.payload.count, deadline: deadline)
        }
    }

    /// Reserves, copies and stages one record; false when the ring is full.
    @inline(__always)
    private func stage(_ payload: UnsafeRawBufferPointer, to peer: DatagramPeer) -> Bool {
        guard let room = tx.reserve(payload.count + Self.headroom) else { return false }
        if payload.count > 0 {
            (room.baseAddress! + Self.headroom).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
        tx.stage(payload.count + Self.headroom, RecordHeader(kind: .datagram, address: peer.address, port: peer.port))
        return true
    }

    private func waitForSpace(_ length: Int, deadline: WaitDeadline) throws(DatagramSendError) {
        if let violation = tx.producerViolation { throw .ringViolation(violation) }
        guard let left = deadline.remaining,
              tx.waitForSpace(length + Self.headroom, timeoutNanoseconds: left) else {
            if let violation = tx.producerViolation { throw .ringViolation(violation) }
            throw .wouldBlock
        }
    }

    // MARK: - Receive

    /// The next datagram, copied into `buffer` (truncated if longer), or nil
    /// when none arrives within `timeout` nanoseconds (0: do not wait; < 0:
    /// wait forever). Throws an ICMP error reported for this endpoint, in the
    /// order it arrived among the datagrams.
    @inline(__always)
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Int64,
                        isClosed: () -> Bool) throws(DatagramReceiveError) -> ReceivedDatagram? {
        guard let (header, bytes) = try next(timeout: timeout, isClosed: isClosed) else { return nil }
        rx.consume()
        defer { rx.releaseConsumed() }
        if header.kind == .icmpError { throw Self.icmp(header) }
        return Self.copy(bytes, header, into: buffer)
    }

    /// Fills `batch` from the front with the datagrams waiting (at least one
    /// within `timeout`, as `receive`) and frees their room at once (one
    /// doorbell check); returns how many it filled, 0 on timeout. An ICMP
    /// error ends the batch before it and is thrown by the next call.
    public func receive(_ batch: UnsafeMutableBufferPointer<IncomingDatagram>, timeout: Int64,
                        isClosed: () -> Bool) throws(DatagramReceiveError) -> Int {
        guard !batch.isEmpty, var record = try next(timeout: timeout, isClosed: isClosed) else { return 0 }
        defer { rx.releaseConsumed() }
        var n = 0
        while true {
            let (header, bytes) = record
            if header.kind == .icmpError {
                if n > 0 { return n }
                rx.consume()
                throw Self.icmp(header)
            }
            batch[n].received = Self.copy(bytes, header, into: batch[n].buffer)
            rx.consume()
            n += 1
            guard n < batch.count else { return n }
            // A violation after some datagrams: return those; the next call throws.
            guard let following = try? rx.peek() else { return n }
            record = following
        }
    }

    /// The oldest record, waiting for one up to `timeout`.
    @inline(__always)
    private func next(timeout: Int64, isClosed: () -> Bool) throws(DatagramReceiveError) -> (RecordHeader, UnsafeRawBufferPointer)? {
        let deadline = WaitDeadline(timeout: timeout)
        while true {
            do throws(RingViolation) {
                if let record = try rx.peek() { return record }
            } catch {
                throw .ringViolation(error)
            }
            if isClosed() { throw .closed }
            guard let left = deadline.remaining, rx.waitForData(timeoutNanoseconds: left) else { return nil }
        }
    }

    @inline(__always)
    private static func copy(_ bytes: UnsafeRawBufferPointer, _ header: RecordHeader,
                             into buffer: UnsafeMutableRawBufferPointer) -> ReceivedDatagram {
        let n = min(bytes.count, buffer.count)
        if n > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: n) }
        return ReceivedDatagram(length: bytes.count, stored: n, peer: DatagramPeer(address: header.address, port: header.port))
    }

    private static func icmp(_ header: RecordHeader) -> DatagramReceiveError {
        .icmp(peer: DatagramPeer(address: header.address, port: header.port),
              type: UInt8(truncatingIfNeeded: header.detail >> 8), code: UInt8(truncatingIfNeeded: header.detail))
    }
}
