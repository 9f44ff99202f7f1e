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
    /// Datagrams and ICMP errors dropped because a ring of the socket was
    /// violated (the socket awaits closing).
    public let droppedRingViolation = Atomic<UInt64>(0)
    /// Datagrams on the socket's channel not addressed to it (another port
    /// or address, or for a connected socket another peer): possible when
    /// the demux classified by VC alone, never delivered.
    public let droppedNotForSocket = Atomic<UInt64>(0)

    public var snapshot: [(String, UInt64)] {
        [("received", received.load(ordering: .relaxed)), ("received_bytes", receivedBytes.load(ordering: .relaxed)),
         ("sent", sent.load(ordering: .relaxed)), ("sent_bytes", sentBytes.load(ordering: .relaxed)),
         ("dropped_ring_full", droppedRingFull.load(ordering: .relaxed)),
         ("dropped_bad_checksum", droppedBadChecksum.load(ordering: .relaxed)),
         ("dropped_malformed", droppedMalformed.load(ordering: .relaxed)),
         ("send_failed", sendFailed.load(ordering: .relaxed)), ("icmp_errors", icmpErrors.load(ordering: .relaxed)),
         ("send_would_block", sendWouldBlock.load(ordering: .relaxed)),
         ("dropped_ring_violation", droppedRingViolation.load(ordering: .relaxed)),
         ("dropped_not_for_socket", droppedNotForSocket.load(ordering: .relaxed))]
    }
}

/// What `receive` got: `length` bytes (of which `stored` fit the buffer) from `source`.
public struct UDPReceived: Equatable, Sendable {
    public var length: Int
    public var stored: Int
    public var source: SocketAddress
}

/// `DatagramSendError` in socket terms, plus `notConnected`.
public enum UDPSendError: Error, Equatable, Sendable {
    /// The TX ring is full (the output RTU has not caught up); try again.
    case wouldBlock
    /// Above 65,507 bytes, or above the ring's largest record.
    case tooLarge(limit: Int)
    /// No destination given and the socket is not connected.
    case notConnected
    /// The socket was closed, or broke (its ring was corrupted).
    case closed

    init(_ error: DatagramSendError) {
        switch error {
        case .wouldBlock: self = .wouldBlock
        case let .tooLarge(limit): self = .tooLarge(limit: limit)
        case .closed, .ringViolation: self = .closed
        }
    }
}

public enum UDPReceiveError: Error, Equatable, Sendable {
    /// An ICMP error about a datagram this socket sent (RFC 1122 §4.1.3.3):
    /// the peer it concerns and the ICMP type and code.
    case icmp(peer: SocketAddress, type: UInt8, code: UInt8)
    /// The socket was closed, or broke (its ring was corrupted).
    case closed

    init(_ error: DatagramReceiveError) {
        switch error {
        case let .icmp(peer, type, code):
            self = .icmp(peer: peer.socketAddress,
                         type: type, code: code)
        case .closed, .ringViolation: self = .closed
        }
    }
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
/// The rings are the socket's own (an application in this process) or a
/// `SocketRegion`'s (a client of the daemon in another process, which uses
/// them through its own `DatagramEndpoint`). Created, bound, connected,
/// reserved and closed through `Node`.
public final class UDPSocket: @unchecked Sendable {
    public let id: Int
    public let name: String
    public let channel: FrameChannel
    public let rx: MessageRing
    public let tx: MessageRing
    /// The shared memory the rings live in when the application is another
    /// process; nil for an in-process socket.
    public let region: SocketRegion?
    public let counters = UDPSocketCounters()
    private let endpoint: DatagramEndpoint

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

    /// What the core found wrong in one of the socket's rings, once it has
    /// (from then on the core drops the socket's datagrams and stops reading
    /// its TX ring); the control thread polls it and closes the socket.
    /// Readable from any thread.
    public var ringViolation: String? { violated.load(ordering: .acquiring) ? violationText : nil }
    private let violated = Atomic<Bool>(false)
    /// Written once by the core before `violated` is set, read only after.
    private var violationText = ""

    // Core-side state.
    /// Where the core sends from (mirrors `local`; set by the node's command
    /// on the core), and what input checks each datagram's destination against.
    public var coreLocal = SocketAddress(address: .any, port: 0)
    /// The connected peer as the core sees it (mirrors `remote`; set by the
    /// node's command): input accepts datagrams from it only.
    public var coreRemote: SocketAddress?
    /// Runs on the core for each datagram instead of the RX ring, if set.
    let handler: ((UDPDatagram) -> Void)?
    /// Pacing of a reserved socket: bytes it may still send (may go negative
    /// by one message), and when the credit was last topped up.
    var credit: Int64 = 0
    var creditAt: Nanoseconds = 0
    /// Set with `ringViolation`: the core's own, unsynchronised copy.
    var broken = false

    /// An in-process socket with rings of `ringCapacity` bytes each.
    public convenience init(id: Int, name: String, channelCapacity: Int, ringCapacity: Int,
                            handler: ((UDPDatagram) -> Void)?) throws(RingSetupError) {
        try self.init(id: id, name: name, channelCapacity: channelCapacity, rx: MessageRing(capacity: ringCapacity),
                      tx: MessageRing(capacity: ringCapacity), region: nil, handler: handler)
    }

    /// A socket whose application is a client in another process, over the
    /// rings of `region` (kept alive by the socket).
    public convenience init(id: Int, name: String, channelCapacity: Int, region: SocketRegion) {
        self.init(id: id, name: name, channelCapacity: channelCapacity, rx: region.rx, tx: region.tx, region: region,
                  handler: nil)
    }

    private init(id: Int, name: String, channelCapacity: Int, rx: MessageRing, tx: MessageRing, region: SocketRegion?,
                 handler: ((UDPDatagram) -> Void)?) {
        self.id = id
        self.name = name
        channel = FrameChannel(id: id, capacity: channelCapacity)
        self.rx = rx
        self.tx = tx
        self.region = region
        endpoint = DatagramEndpoint(rx: rx, tx: tx)
        self.handler = handler
    }

    /// Core side (once, by the UDP layer): records that a ring of the socket
    /// was violated, so the core drops its traffic and the control thread
    /// closes it.
    func markViolated(_ what: String) {
        broken = true
        violationText = what
        violated.store(true, ordering: .releasing)
    }

    /// Largest datagram this socket can send or receive whole.
    public var maxDatagram: Int { endpoint.maxDatagram }

    // MARK: - Application side

    /// Queues `payload` for `destination` (or the connected peer). Does not
    /// block: `.wouldBlock` when the TX ring is full.
    public func send(_ payload: UnsafeRawBufferPointer, to destination: SocketAddress? = nil) throws(UDPSendError) {
        try send(payload, to: destination, timeout: 0)
    }

    /// As `send`, waiting up to `timeout` nanoseconds for room in the ring
    /// (< 0: as long as it takes).
    public func send(_ payload: UnsafeRawBufferPointer, to destination: SocketAddress? = nil,
                     timeout: Int64) throws(UDPSendError) {
        guard let to = destination ?? remote else { throw .notConnected }
        do throws(DatagramSendError) {
            try endpoint.send(payload, to: DatagramPeer(to), timeout: timeout,
                              isClosed: { isClosed.load(ordering: .relaxed) })
        } catch {
            if error == .wouldBlock { counters.sendWouldBlock.increment() }
            throw UDPSendError(error)
        }
        outputTrigger?.signal()
    }

    /// The next datagram, copied into `buffer` (truncated if longer), or nil
    /// when none arrives within `timeout` nanoseconds (0: do not wait; < 0:
    /// wait forever). Throws an ICMP error reported for this socket, in the
    /// order it arrived among the datagrams.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeout: Int64 = 0) throws(UDPReceiveError) -> UDPReceived? {
        let got: ReceivedDatagram?
        do throws(DatagramReceiveError) {
            got = try endpoint.receive(into: buffer, timeout: timeout, isClosed: { isClosed.load(ordering: .relaxed) })
        } catch {
            throw UDPReceiveError(error)
        }
        return got.map {
            UDPReceived(length: $0.length, stored: $0.stored,
                        source: $0.peer.socketAddress)
        }
    }
}
