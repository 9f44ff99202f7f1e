import Links
import RTUScheduler
import SharedRings
import Stack
import Synchronization
import Wire

/// Counters of the UDP layer as a whole (single writer: the core).
public final class UDPCounters: @unchecked Sendable {
    /// Datagrams that reached no socket (the stack answered port unreachable).
    public let noSocket = Atomic<UInt64>(0)
    public let badChecksum = Atomic<UInt64>(0)
    public let malformed = Atomic<UInt64>(0)
    public let icmpErrorsDelivered = Atomic<UInt64>(0)
    public let icmpErrorsUnmatched = Atomic<UInt64>(0)
    /// Sockets found with a violated ring: a TX ring holding something no
    /// correct producer writes, or an RX ring whose head no correct consumer
    /// publishes.
    public let ringViolations = Atomic<UInt64>(0)
    /// Datagrams and ICMP errors dropped because their socket's ring was violated.
    public let droppedRingViolation = Atomic<UInt64>(0)
    /// Datagrams a socket's channel held that were not the socket's (see
    /// `UDPSocketCounters.droppedNotForSocket`).
    public let notForSocket = Atomic<UInt64>(0)

    public var snapshot: [(String, UInt64)] {
        [("udp_no_socket", noSocket.load(ordering: .relaxed)),
         ("udp_bad_checksum", badChecksum.load(ordering: .relaxed)),
         ("udp_malformed", malformed.load(ordering: .relaxed)),
         ("udp_icmp_errors_delivered", icmpErrorsDelivered.load(ordering: .relaxed)),
         ("udp_icmp_errors_unmatched", icmpErrorsUnmatched.load(ordering: .relaxed)),
         ("udp_ring_violations", ringViolations.load(ordering: .relaxed)),
         ("udp_dropped_ring_violation", droppedRingViolation.load(ordering: .relaxed)),
         ("udp_dropped_not_for_socket", notForSocket.load(ordering: .relaxed))]
    }
}

/// UDP (RFC 768) on one interface, the core side: input from the sockets'
/// channels, output from their TX rings, and the `TransportHandler` the
/// interface calls for datagrams it reassembled and for ICMP errors.
/// Everything here runs on the interface's core (no locks).
public final class UDPLayer: TransportHandler {
    public let interface: Interface
    public let demux: Demux
    public let counters = UDPCounters()
    /// Hands the interface's transmit queue to the device (set by the
    /// owner), at the time `output` was given: the owner's device may run a
    /// clock (an ATM adaptor's cells), and the layer's caller, an upcall,
    /// reads none.
    public var flush: (Instant) -> Void = { _ in }
    /// Installed sockets by channel id.
    private var sockets: [Int: UDPSocket] = [:]

    public init(interface: Interface, demux: Demux) {
        self.interface = interface
        self.demux = demux
    }

    /// A node stopped while datagrams were arriving leaves frames in its
    /// sockets' channels that no input RTU will take: they go back to the
    /// pool here (a socket can outlive its layer, and a channel must not be
    /// freed holding another pool's buffers).
    deinit {
        for socket in sockets.values { socket.channel.drain(to: interface.pool) }
    }

    // MARK: - Socket table (applied on the core)

    public func install(_ socket: UDPSocket) {
        sockets.reserveCapacity(sockets.count + 1)
        sockets[socket.channel.id] = socket
    }

    public func uninstall(_ socket: UDPSocket) {
        sockets[socket.channel.id] = nil
        socket.channel.drain(to: interface.pool)
    }

    // MARK: - Input

    /// Processes up to `limit` frames from `socket`'s channel; returns how
    /// many it took. Frames go back to the pool as they are done; the
    /// datagrams are published to the RX ring together at the end (one
    /// doorbell check for the batch).
    @inline(__always)
    public func input(_ socket: UDPSocket, limit: Int, now: Instant) -> Int {
        let pool = interface.pool
        var n = 0
        while n < limit, let frame = socket.channel.pop() {
            receive(frame.readable, for: socket)
            pool.give(frame)
            n &+= 1
        }
        socket.rx.publish()
        return n
    }

    /// One frame the demux classified to `socket`: IPv4 validation, that the
    /// datagram is the socket's, the UDP checksum, then delivery. The demux
    /// read only header fields — for a VC bound to the socket, none of the
    /// addresses or ports — so every check happens here, charged to the
    /// socket's RTU. The addresses and ports are checked before the checksum,
    /// where the demux would have read them: a datagram that is not the
    /// socket's costs no pass over its payload.
    @inline(__always)
    private func receive(_ frame: UnsafeRawBufferPointer, for socket: UDPSocket) {
        guard frame.count > 14, let (ip, packet) = interface.acceptIPv4(frame.slice(14 ..< frame.count)) else {
            socket.counters.droppedMalformed.increment()
            return
        }
        let udp: UDPView
        do { udp = try UDPView(ip.payload) } catch {
            counters.malformed.increment()
            socket.counters.droppedMalformed.increment()
            return
        }
        let local = socket.coreLocal
        guard udp.destinationPort == local.port, local.address.isUnspecified || packet.destination == local.address,
              socket.coreRemote.map({ $0.port == udp.sourcePort && $0.address == packet.source }) ?? true else {
            counters.notForSocket.increment()
            socket.counters.droppedNotForSocket.increment()
            return
        }
        guard udp.verifyChecksum(source: packet.source, destination: packet.destination) else {
            counters.badChecksum.increment()
            socket.counters.droppedBadChecksum.increment()
            return
        }
        interface.countDelivered()
        deliver(udp.payload, from: SocketAddress(address: packet.source, port: udp.sourcePort), to: socket)
    }

    /// Hands a checked datagram to the socket's handler, or stages it on the
    /// RX ring (the caller publishes).
    @inline(__always)
    private func deliver(_ payload: UnsafeRawBufferPointer, from source: SocketAddress, to socket: UDPSocket) {
        if let handler = socket.handler {
            handler(UDPDatagram(source: source, payload: payload))
        } else if !stage(payload, RecordHeader(kind: .datagram, address: source.address.rawValue, port: source.port),
                         on: socket) {
            return
        }
        socket.counters.received.increment()
        socket.counters.receivedBytes.increment(by: UInt64(payload.count))
    }

    /// Stages a record on `socket`'s RX ring; false (counted) when the socket
    /// is broken, its ring is full, or its consumer just turned out to have
    /// violated the ring (which breaks the socket).
    @inline(__always)
    private func stage(_ payload: UnsafeRawBufferPointer, _ header: RecordHeader, on socket: UDPSocket) -> Bool {
        if !socket.broken && socket.rx.append(payload, header) { return true }
        if let violation = socket.rx.producerViolation {
            violated(socket, "RX ring: \(violation)")
        }
        if socket.broken {
            socket.counters.droppedRingViolation.increment()
            counters.droppedRingViolation.increment()
        } else {
            socket.counters.droppedRingFull.increment()
        }
        return false
    }

    /// Breaks `socket` (first finding only): its datagrams are dropped and
    /// its TX ring is no longer read; the control thread sees
    /// `ringViolation` and closes it. No other socket notices.
    private func violated(_ socket: UDPSocket, _ what: @autoclosure () -> String) {
        guard !socket.broken else { return }
        socket.markViolated(what())
        counters.ringViolations.increment()
    }

    /// A datagram the interface itself delivered: reassembled from fragments,
    /// or one the demux found no socket for (and, if still none, refused so
    /// the interface answers port unreachable).
    public func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) -> Bool {
        guard packet.protocol == .udp else { return false }
        let udp: UDPView
        do { udp = try UDPView(payload) } catch { counters.malformed.increment(); return true }
        guard let channel = demux.channel(destination: packet.destination, destinationPort: udp.destinationPort,
                                          source: packet.source, sourcePort: udp.sourcePort),
              let socket = sockets[channel.id] else {
            counters.noSocket.increment()
            return false
        }
        guard udp.verifyChecksum(source: packet.source, destination: packet.destination) else {
            counters.badChecksum.increment()
            socket.counters.droppedBadChecksum.increment()
            return true
        }
        deliver(udp.payload, from: SocketAddress(address: packet.source, port: udp.sourcePort), to: socket)
        socket.rx.publish()
        return true
    }

    /// An ICMP error quoting a datagram we sent: reported to the socket that
    /// sent it, in order with its data (RFC 1122 §4.1.3.3).
    public func deliverError(_ error: ICMPv4Type, code: UInt8, quoted: IPv4View, now: Instant) {
        let q = quoted.payload
        guard quoted.protocol == .udp, q.count >= 4 else { return }
        let sourcePort = q.readU16(0), destinationPort = q.readU16(2)
        guard let channel = demux.channel(destination: quoted.source, destinationPort: sourcePort,
                                          source: quoted.destination, sourcePort: destinationPort),
              let socket = sockets[channel.id] else {
            counters.icmpErrorsUnmatched.increment()
            return
        }
        let header = RecordHeader(kind: .icmpError, address: quoted.destination.rawValue, port: destinationPort,
                                  detail: UInt32(error.rawValue) << 8 | UInt32(code))
        if socket.handler == nil {
            guard stage(UnsafeRawBufferPointer(start: nil, count: 0), header, on: socket) else { return }
        }
        socket.counters.icmpErrors.increment()
        counters.icmpErrorsDelivered.increment()
        // After the counters: whoever reads the error sees it counted.
        socket.rx.publish()
    }

    // MARK: - Output

    /// Sends up to `limit` datagrams from `socket`'s TX ring. With `pacing`
    /// (a reserved socket) it sends only while the socket has credit, which
    /// grows at the reserved rate from release to release (a deficit token
    /// bucket: exact over time, at most `depth` bytes of burst). Returns how
    /// many it sent and whether more wait. The records' room is given back
    /// together at the end (one doorbell check for the batch).
    public func output(_ socket: UDPSocket, limit: Int, now: Instant, pacing: Pacing?) -> (sent: Int, more: Bool) {
        guard !socket.broken else { return (0, false) }
        if let pacing { topUp(socket, pacing) }
        let tx = socket.tx
        var sent = 0
        while sent < limit && (pacing == nil || socket.credit > 0) {
            let record: (RecordHeader, UnsafeRawBufferPointer)?
            do { record = try tx.peek() } catch {
                violated(socket, "TX ring: \(error)")
                break
            }
            guard let (header, bytes) = record else { break }
            guard bytes.count >= 8 && header.kind == .datagram else {
                violated(socket, "TX ring: a record of kind \(header.kind.rawValue) with \(bytes.count) bytes")
                break
            }
            send(bytes, header, from: socket, now: now)
            tx.consume()
            sent &+= 1
            if pacing != nil { socket.credit &-= Int64(bytes.count - 8) }
            if interface.transmitQueue.capacity - interface.transmitQueue.count < 64 { flush(now) }
        }
        tx.releaseConsumed()
        flush(now)
        return (sent, !socket.broken && !tx.isEmpty)
    }

    /// A reserved socket's pacing, as its output RTU sees it at a release.
    public struct Pacing {
        public var release: Nanoseconds
        public var bitsPerSecond: UInt64
        /// Most bytes of credit kept from idle periods (one period's batch).
        public var depth: Int64

        public init(release: Nanoseconds, bitsPerSecond: UInt64, depth: Int64) {
            self.release = release
            self.bitsPerSecond = bitsPerSecond
            self.depth = depth
        }
    }

    private func topUp(_ socket: UDPSocket, _ p: Pacing) {
        if socket.creditAt == 0 {
            socket.credit = p.depth
        } else if p.release > socket.creditAt {
            let earned = Int64((Double(p.release - socket.creditAt) * Double(p.bitsPerSecond) / 8e9).rounded())
            socket.credit = min(p.depth, socket.credit &+ earned)
        }
        socket.creditAt = p.release
    }

    /// Builds the UDP header in the record's 8 bytes of headroom and hands
    /// header and payload to IP (which copies them into frames once).
    @inline(__always)
    private func send(_ record: UnsafeRawBufferPointer, _ header: RecordHeader, from socket: UDPSocket, now: Instant) {
        let destination = IPv4Address(rawValue: header.address)
        let source = socket.coreLocal.address.isUnspecified ? interface.address : socket.coreLocal.address
        let datagram = UnsafeMutableRawBufferPointer(mutating: record)
        UDPRepr(sourcePort: socket.coreLocal.port, destinationPort: header.port, payloadLength: record.count - 8)
            .emit(into: datagram, source: source, destination: destination)
        do throws(SendError) {
            try interface.send(to: destination, protocol: .udp, payload: record, now: now)
            socket.counters.sent.increment()
            socket.counters.sentBytes.increment(by: UInt64(record.count - 8))
        } catch {
            socket.counters.sendFailed.increment()
        }
    }
}
