import CShims
import RTUScheduler
import SharedRings
import Stack
import Synchronization
import Wire

/// Counters of one socket. Each has a single writer (the core, except
/// `sendWouldBlock`, written by the application's sending thread).
public final class UDPSocketCounters: @unchecked Sendable {
    public let received = Atomic<UInt64>(0)
    public let receivedBytes = Atomic<UInt64>(0)
    public let sent = Atomic<UInt64>(0)
    public let sentBytes = Atomic<UInt64>(0)
    /// Datagrams dropped because the application's receive ring was full.
    public let droppedRingFull = Atomic<UInt64>(0)
    public let droppedBadChecksum = Atomic<UInt64>(0)
    public let droppedMalformed = Atomic<UInt64>(0)
    /// Datagrams the stack refused to send (no route, queue or pool full).
    public let sendFailed = Atomic<UInt64>(0)
    /// ICMP errors reported to the socket.
    public let icmpErrors = Atomic<UInt64>(0)
    /// Sends refused because the TX ring was full (application thread).
    public let sendWouldBlock = Atomic<UInt64>(0)

    public var snapshot: [(String, UInt64)] {
        [("received", received.load(ordering: .relaxed)), ("received_bytes", receivedBytes.load(ordering: .relaxed)),
         ("sent", sent.load(ordering: .relaxed)), ("sent_bytes", sentBytes.load(ordering: .relaxed)),
         ("dropped_ring_full", droppedRingFull.load(ordering: .relaxed)),
         ("dropped_bad_checksum", droppedBadChecksum.load(ordering: .relaxed)),
         ("dropped_malformed", droppedMalformed.load(ordering: .relaxed)),
         ("send_failed", sendFailed.load(ordering: .relaxed)), ("icmp_errors", icmpErrors.load(ordering: .relaxed)),
         ("send_would_block", sendWouldBlock.load(ordering: .relaxed))]
    }
}

/// What `receive` got: `length` bytes (of which `stored` fit the buffer) from `source`.
public struct UDPReceived: Equatable, Sendable {
    public var length: Int
    public var stored: Int
    public var source: SocketAddress
}

public enum UDPSendError: Error, Equatable, Sendable {
    /// The TX ring is full (the output RTU has not caught up); try again.
    case wouldBlock
    /// Above 65,507 bytes, or above the ring's largest record.
    case tooLarge(limit: Int)
    /// No destination given and the socket is not connected.
    case notConnected
    case closed
}

public enum UDPReceiveError: Error, Equatable, Sendable {
    /// An ICMP error about a datagram this socket sent (RFC 1122 §4.1.3.3):
    /// the peer it concerns and the ICMP type and code.
    case icmp(peer: SocketAddress, type: UInt8, code: UInt8)
    /// The socket was closed, or broke (its ring was corrupted).
    case closed
}

/// A datagram handed to an in-core receive handler (the upcall form of
/// delivery: the application's code runs inside the input RTU, as in the
/// RTU paper). Valid only during the call.
public struct UDPDatagram {
    public let source: SocketAddress
    public let payload: UnsafeRawBufferPointer
}

/// One UDP socket of the user-level stack.
///
/// Shared between the application (any one thread sends, any one thread
/// receives) and the core that owns its interface: data crosses in two
/// `MessageRing`s (RX: core → application, TX: application → core); the
/// channel and everything marked core-side is touched only by the core.
/// Created, bound, connected, reserved and closed through `Node`.
public final class UDPSocket: @unchecked Sendable {
    public let id: Int
    public let name: String
    public let channel: FrameChannel
    public let rx: MessageRing
    public let tx: MessageRing
    public let counters = UDPSocketCounters()

    // Control-side view of its addressing and service. The node that owns
    // the socket sets these under its lock (public for it, not for users).
    public var local: SocketAddress?
    public var remote: SocketAddress?
    public var reservation: UDPReservation?
    public var plan: UDPRTUPlan?

    /// Released when the application queues a datagram (best-effort output);
    /// nil for a reserved socket, whose periodic output RTU finds it.
    public var outputTrigger: RTUTrigger?
    public let isClosed = Atomic<Bool>(false)

    // Core-side state.
    /// Where the core sends from (mirrors `local`; set by the node's command
    /// on the core). Whom it accepts is the demux's business.
    public var coreLocal = SocketAddress(address: .any, port: 0)
    /// Runs on the core for each datagram instead of the RX ring, if set.
    let handler: ((UDPDatagram) -> Void)?
    /// Pacing of a reserved socket: bytes it may still send (may go negative
    /// by one message), and when the credit was last topped up.
    var credit: Int64 = 0
    var creditAt: Nanoseconds = 0
    /// Set when the TX ring held something no correct producer writes.
    var broken = false

    public init(id: Int, name: String, channelCapacity: Int, ringCapacity: Int,
         handler: ((UDPDatagram) -> Void)?) throws(RingSetupError) {
        self.id = id
        self.name = name
        channel = FrameChannel(id: id, capacity: channelCapacity)
        rx = try MessageRing(capacity: ringCapacity)
        tx = try MessageRing(capacity: ringCapacity)
        self.handler = handler
    }

    /// Largest datagram this socket can send or receive whole.
    public var maxDatagram: Int { min(65_507, tx.maxPayload - 8) }

    // MARK: - Application side

    /// Queues `payload` for `destination` (or the connected peer). Does not
    /// block: `.wouldBlock` when the TX ring is full.
    public func send(_ payload: UnsafeRawBufferPointer, to destination: SocketAddress? = nil) throws(UDPSendError) {
        guard !isClosed.load(ordering: .relaxed) else { throw .closed }
        guard payload.count <= maxDatagram else { throw .tooLarge(limit: maxDatagram) }
        let to: SocketAddress
        if let destination { to = destination } else if let remote { to = remote } else { throw .notConnected }
        // 8 bytes of headroom before the payload: the output RTU writes the
        // UDP header there and sends header and payload as one.
        guard let room = tx.reserve(payload.count + 8) else {
            counters.sendWouldBlock.increment()
            throw .wouldBlock
        }
        if payload.count > 0 { (room.baseAddress! + 8).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        tx.commit(payload.count + 8, RecordHeader(kind: .datagram, address: to.address.rawValue, port: to.port))
        outputTrigger?.signal()
    }

    /// As `send`, waiting up to `timeout` nanoseconds for room in the ring.
    public func send(_ payload: UnsafeRawBufferPointer, to destination: SocketAddress? = nil,
                     timeout: Int64) throws(UDPSendError) {
        while true {
            do throws(UDPSendError) {
                try send(payload, to: destination)
                return
            } catch .wouldBlock {
                if !tx.waitForSpace(payload.count + 8, timeoutNanoseconds: timeout) { throw .wouldBlock }
            }
        }
    }

    /// The next datagram, copied into `buffer` (truncated if longer), or nil
    /// when none arrives within `timeout` nanoseconds (0: do not wait; < 0:
    /// wait forever). Throws an ICMP error reported for this socket, in the
    /// order it arrived among the datagrams.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Int64 = 0) throws(UDPReceiveError) -> UDPReceived? {
        while true {
            let record: (RecordHeader, UnsafeRawBufferPointer)?
            do { record = try rx.peek() } catch { throw .closed }   // the core writes it; cannot happen
            if let (header, bytes) = record {
                let peer = SocketAddress(address: IPv4Address(rawValue: header.address), port: header.port)
                if header.kind == .icmpError {
                    rx.release()
                    throw .icmp(peer: peer, type: UInt8(truncatingIfNeeded: header.detail >> 8),
                                code: UInt8(truncatingIfNeeded: header.detail))
                }
                let n = min(bytes.count, buffer.count)
                if n > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: n) }
                rx.release()
                return UDPReceived(length: bytes.count, stored: n, source: peer)
            }
            if isClosed.load(ordering: .relaxed) { throw .closed }
            if timeout == 0 || !rx.waitForData(timeoutNanoseconds: timeout) { return nil }
        }
    }
}
