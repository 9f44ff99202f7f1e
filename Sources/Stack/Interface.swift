import Links
import Wire

/// The settings of one IPv4-over-Ethernet interface.
public struct InterfaceConfiguration: Sendable {
    public var name: String
    public var hardwareAddress: EthernetAddress
    public var address: IPv4Cidr
    /// The IP MTU: the largest IPv4 packet in one frame (RFC 894: 1500 on Ethernet).
    public var mtu: Int
    /// Next hop for destinations outside the subnet; none means "no route".
    public var gateway: IPv4Address?
    public var arpLifetime: Interval = .seconds(60)
    public var arpRetryInterval: Interval = .seconds(1)
    public var arpRetries: Int = 3
    public var reassemblyContexts: Int = 8
    public var reassemblyTimeout: Interval = .seconds(30)
    /// ICMP errors sent per second at most (RFC 1812 §4.3.2.8, RFC 1122 §3.2.2), with this burst.
    public var icmpErrorsPerSecond: Int = 100
    public var icmpErrorBurst: Int = 10
    /// Frames the interface may hold queued for the driver.
    public var transmitQueue: Int = 512

    public init(name: String, hardwareAddress: EthernetAddress, address: IPv4Cidr, mtu: Int = 1500,
                gateway: IPv4Address? = nil) {
        self.name = name
        self.hardwareAddress = hardwareAddress
        self.address = address
        self.mtu = mtu
        self.gateway = gateway
    }
}

/// What the transport layer (UDP, TCP) is given by the interface.
public struct IPv4Delivery {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var `protocol`: IPProtocol
    public var timeToLive: UInt8
    /// True when the datagram was addressed to a broadcast address.
    public var isBroadcast: Bool
}

/// The layer above IP. UDP and TCP implement it; the interface calls it for
/// every valid datagram of their protocol (after reassembly).
public protocol TransportHandler: AnyObject {
    /// Returns false when no socket wants the datagram (the interface then
    /// answers with ICMP port unreachable, RFC 1122 §3.2.2.1, rate-limited).
    func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) -> Bool
    /// An ICMP error quoting a datagram this host sent (RFC 1122 §3.2.2 demands it reach the transport).
    func deliverError(_ error: ICMPv4Type, code: UInt8, quoted: IPv4View, now: Instant)
}

/// Why `send` did not queue a packet. Each is also counted as a drop.
public enum SendError: Error, Equatable, Sendable {
    case noRoute
    case payloadTooLarge
    case fragmentationNeeded(mtu: Int)
    case poolExhausted
    case transmitQueueFull
    case resolutionQueueFull
}

/// One IPv4 interface on an Ethernet link: ARP, IPv4 input validation and
/// output with fragmentation, reassembly, and ICMP (RFC 1122 host rules).
///
/// Single-owner and lock-free: one thread calls `receive`, `poll` and `send`.
/// Time is an argument; `poll` returns the next instant it needs attention.
/// Frames to transmit collect in `transmitQueue`, which the owner hands to
/// the link device (`device.transmit(iface.transmitQueue, pool: iface.pool)`).
public final class Interface {
    public let configuration: InterfaceConfiguration
    public let pool: BufferPool
    public let transmitQueue: FrameBatch
    public let counters = StackCounters()
    public weak var transport: TransportHandler?
    /// Called for each echo reply addressed to us: (source, identifier, sequence, data length).
    public var echoReplyObserver: ((IPv4Address, UInt16, UInt16, Int, Instant) -> Void)?
    /// Called when another station sends ARP from our address (its MAC).
    public var addressConflictObserver: ((EthernetAddress) -> Void)?
    /// Called when a neighbour's hardware address becomes known or changes.
    public var neighbourObserver: ((IPv4Address, EthernetAddress) -> Void)?

    var arp: ArpCache
    let reassembler: Reassembler
    private var nextIdentification: UInt16 = 1
    private var icmpTokens: Int
    private var icmpRefilled = Instant.zero
    /// Room to build a whole IP payload (ICMP replies and errors) before fragmenting it.
    private let scratch: UnsafeMutableRawBufferPointer
    /// Fragments of one datagram, built before any is queued so that a
    /// datagram is sent whole or not at all.
    private let fragments: FrameBatch

    public var address: IPv4Address { configuration.address.address }
    public var hardwareAddress: EthernetAddress { configuration.hardwareAddress }

    public init(configuration: InterfaceConfiguration, pool: BufferPool) {
        precondition(configuration.mtu >= 68, "RFC 791: every host must accept 68-byte datagrams")
        precondition(pool.slotSize - pool.headroom >= configuration.mtu + 18, "pool slots smaller than a frame")
        self.configuration = configuration
        self.pool = pool
        transmitQueue = FrameBatch(capacity: configuration.transmitQueue)
        arp = ArpCache(lifetime: configuration.arpLifetime, retryInterval: configuration.arpRetryInterval,
                       maxRetries: configuration.arpRetries)
        reassembler = Reassembler(contexts: configuration.reassemblyContexts, timeout: configuration.reassemblyTimeout)
        icmpTokens = configuration.icmpErrorBurst
        scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        let perFragment = (configuration.mtu - 20) & ~7
        fragments = FrameBatch(capacity: (65_535 + perFragment - 1) / perFragment + 1)
    }

    deinit {
        arp.drain { pool.give($0) }
        fragments.releaseAll(to: pool)
        scratch.deallocate()
    }

    /// Announces our address (gratuitous ARP, RFC 5227 §3) so neighbours update their caches.
    public func start(now: Instant) {
        if sendARP(.request, targetHardware: .zero, targetAddress: address, to: .broadcast) {
            counters.count(.gratuitousArpSent)
        }
    }

    /// Runs timers (ARP retries and ageing, reassembly timeouts); returns when
    /// it next needs to run.
    public func poll(now: Instant) -> Instant {
        let arpNext = arp.poll(now: now, retry: { target in
            if self.sendARP(.request, targetHardware: .zero, targetAddress: target, to: .broadcast) {
                self.counters.count(.arpRequestsSent)
            }
        }, failed: { frame in
            self.counters.drop(.arpUnresolved)
            self.pool.give(frame)
        })
        let (expired, reassemblyNext) = reassembler.expire(now: now)
        for _ in 0..<expired { counters.drop(.fragmentTimeout) }
        return min(arpNext, reassemblyNext)
    }

    /// The hardware address of `neighbour`, if resolved.
    public func neighbour(_ address: IPv4Address, now: Instant) -> EthernetAddress? {
        arp.lookup(address, now: now)
    }

    // MARK: - Input

    /// Processes one received frame. The frame's bytes are only read during
    /// the call; the caller keeps ownership of its buffer.
    public func receive(_ frame: UnsafeRawBufferPointer, now: Instant) {
        counters.count(.framesReceived)
        let eth: EthernetView
        do { eth = try EthernetView(frame) } catch { counters.drop(.ethernetTruncated); return }
        let dst = eth.destination
        guard dst == hardwareAddress || dst.isBroadcast else { counters.drop(.ethernetNotForUs); return }
        switch eth.etherType {
        case .arp: receiveARP(eth.payload, now: now)
        case .ipv4: receiveIPv4(eth.payload, now: now)
        default: counters.drop(.ethernetUnknownType)
        }
    }

    private func receiveARP(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        let view: ARPView
        do { view = try ARPView(bytes) } catch {
            counters.drop(error == .unsupported ? .arpUnsupported : .arpMalformed)
            return
        }
        let sender = view.senderProtocolAddress
        let senderHardware = view.senderHardwareAddress
        // Another station using our address (RFC 5227 §2.4): counted and reported, never merged.
        guard sender != address else {
            counters.drop(.arpAddressConflict)
            addressConflictObserver?(senderHardware)
            return
        }
        // A group MAC as sender, or no sender address (an RFC 5227 probe), is not merged into the cache.
        guard senderHardware.isUnicast, !sender.isUnspecified else {
            counters.drop(.arpMalformed)
            return
        }
        let forUs = view.targetProtocolAddress == address
        // RFC 826 "Packet Reception": update the sender if known; add it if the packet is for us.
        let known = arp.lookup(sender, now: now)
        arp.update(sender, at: senderHardware, now: now, create: forUs, release: { frame in
            self.queueForTransmit(frame)
        })
        if forUs, known != senderHardware {
            counters.count(.arpResolved)
            neighbourObserver?(sender, senderHardware)
        }
        switch view.operation {
        case .request:
            counters.count(.arpRequestsReceived)
            guard forUs else { counters.drop(.arpNotForUs); return }
            if sendARP(.reply, targetHardware: senderHardware, targetAddress: sender, to: senderHardware) {
                counters.count(.arpRepliesSent)
            }
        case .reply:
            counters.count(.arpRepliesReceived)
            if !forUs { counters.drop(.arpNotForUs) }
        default:
            counters.drop(.arpUnsupported)
        }
    }

    /// Validates an IPv4 packet (RFC 1122 §3.2.1: version, lengths, header
    /// checksum, TTL, source, destination ours or broadcast), counting any
    /// drop; nil when it is dropped. Shared by the stack's own input and the
    /// transport input RTUs, which get whole datagrams straight from the demux.
    @inline(__always)
    public func acceptIPv4(_ bytes: UnsafeRawBufferPointer) -> (IPv4View, IPv4Delivery)? {
        let ip: IPv4View
        do { ip = try IPv4View(bytes) } catch {
            counters.drop(ipv4Failure(error, bytes))
            return nil
        }
        guard ip.verifyChecksum() else { counters.drop(.ipv4BadChecksum); return nil }
        guard ip.timeToLive > 0 else { counters.drop(.ipv4ZeroTTL); return nil }
        let src = ip.source
        // RFC 1122 §3.2.1.3: a source that is broadcast or multicast is discarded.
        guard !src.isBroadcast, !src.isMulticast, src != configuration.address.directedBroadcast else {
            counters.drop(.ipv4BadSource); return nil
        }
        let dst = ip.destination
        let broadcast = dst.isBroadcast || dst == configuration.address.directedBroadcast
        guard dst == address || broadcast else { counters.drop(.ipv4NotForUs); return nil }
        counters.count(.ipv4Received)
        return (ip, IPv4Delivery(source: src, destination: dst, protocol: ip.protocol,
                                 timeToLive: ip.timeToLive, isBroadcast: broadcast))
    }

    /// Counts a datagram a transport input RTU took from the demux's channel.
    @inline(__always)
    public func countDelivered() { counters.count(.ipv4Delivered) }

    private func receiveIPv4(_ bytes: UnsafeRawBufferPointer, now: Instant) {
        guard let (ip, delivery) = acceptIPv4(bytes) else { return }
        let src = delivery.source, dst = delivery.destination
        guard ip.isFragment else {
            deliver(delivery, payload: ip.payload, now: now)
            return
        }
        counters.count(.fragmentsReceived)
        let key = Reassembler.Key(source: src, destination: dst, protocolNumber: ip.protocol,
                                  identification: ip.identification)
        switch reassembler.add(key, offset: ip.fragmentOffset, more: ip.moreFragments, data: ip.payload,
                               ttl: ip.timeToLive, now: now) {
        case .incomplete, .duplicate:
            return
        case .evictedOldest:
            counters.drop(.fragmentEvicted)
        case .complete(let context, let length):
            counters.count(.datagramsReassembled)
            let payload = reassembler.payload(of: context, length: length)
            deliver(delivery, payload: payload, now: now)
            reassembler.release(context)
        case .overlap: counters.drop(.fragmentOverlap)
        case .tooLarge: counters.drop(.fragmentTooLarge)
        }
    }

    /// Which counter an IPv4 parse failure goes to (the view reports one
    /// `badLength` for both the IHL and the total length).
    private func ipv4Failure(_ error: WireError, _ bytes: UnsafeRawBufferPointer) -> DropReason {
        switch error {
        case .truncated: return .ipv4Truncated
        case .badVersion: return .ipv4BadVersion
        default:
            let ihl = Int(bytes[0] & 0x0F) * 4
            return ihl < 20 || ihl > bytes.count ? .ipv4BadHeaderLength : .ipv4BadTotalLength
        }
    }

    private func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) {
        switch packet.protocol {
        case .icmp:
            counters.count(.ipv4Delivered)
            receiveICMP(packet, payload, now: now)
        case .udp, .tcp:
            if let transport, transport.deliver(packet, payload: payload, now: now) {
                counters.count(.ipv4Delivered)
                return
            }
            counters.drop(.ipv4NoListener)
            if packet.protocol == .udp {
                sendUnreachable(.portUnreachable, about: packet, payload: payload, now: now)
            }
        default:
            counters.drop(.ipv4UnknownProtocol)
            sendUnreachable(.protocolUnreachable, about: packet, payload: payload, now: now)
        }
    }

    private func receiveICMP(_ packet: IPv4Delivery, _ bytes: UnsafeRawBufferPointer, now: Instant) {
        let view: ICMPv4View
        do { view = try ICMPv4View(bytes) } catch { counters.drop(.icmpMalformed); return }
        guard view.verifyChecksum() else { counters.drop(.icmpBadChecksum); return }
        let message: ICMPv4Repr
        do { message = try ICMPv4Repr.parse(view, verifyChecksum: false) } catch {
            counters.drop(error == .unsupported ? .icmpUnhandled : .icmpMalformed)
            return
        }
        switch message {
        case .echoRequest(let id, let seq, let data):
            counters.count(.icmpEchoRequestsReceived)
            // RFC 1122 §3.2.2.6: replying to broadcast echo is optional; like
            // Linux (icmp_echo_ignore_broadcasts) we do not.
            guard !packet.isBroadcast else { counters.drop(.icmpUnhandled); return }
            let reply = ICMPv4Repr.echoReply(identifier: id, sequenceNumber: seq, data: data)
            if sendICMP(reply, to: packet.source, now: now) { counters.count(.icmpEchoRepliesSent) }
        case .echoReply(let id, let seq, let data):
            counters.count(.icmpEchoRepliesReceived)
            echoReplyObserver?(packet.source, id, seq, data.count, now)
        case .destinationUnreachable, .timeExceeded:
            counters.count(.icmpErrorsReceived)
            if let quoted = message.quotedHeader, quoted.source == address {
                transport?.deliverError(view.type, code: view.code, quoted: quoted, now: now)
            }
        }
    }

    // MARK: - Output

    /// Sends an IPv4 datagram from our address, fragmenting it to the MTU
    /// unless `dontFragment` (RFC 791 §3.2). The payload (transport header
    /// included, checksum filled) is copied into frames; when the next hop is
    /// not yet resolved the frames wait in the ARP queue. All fragments are
    /// queued or none is.
    public func send(to destination: IPv4Address, protocol proto: IPProtocol, payload: UnsafeRawBufferPointer,
                     timeToLive: UInt8 = IPv4Repr.defaultTimeToLive, dontFragment: Bool = false,
                     now: Instant) throws(SendError) {
        guard payload.count <= 65_535 - 20 else { counters.drop(.payloadTooLarge); throw .payloadTooLarge }
        let limit = configuration.address
        let broadcast = destination.isBroadcast || destination == limit.directedBroadcast
        let nextHop: IPv4Address
        if broadcast || limit.contains(destination) {
            nextHop = destination
        } else if let gw = configuration.gateway {
            nextHop = gw
        } else {
            counters.drop(.noRoute); throw .noRoute
        }
        let mtu = configuration.mtu
        if payload.count + 20 > mtu && dontFragment {
            counters.drop(.fragmentationNeeded); throw .fragmentationNeeded(mtu: mtu)
        }
        let perFragment = payload.count + 20 <= mtu ? payload.count : (mtu - 20) & ~7
        let id = nextIdentification
        nextIdentification &+= 1
        var offset = 0
        repeat {
            let size = min(perFragment, payload.count - offset)
            guard var frame = pool.take() else {
                fragments.releaseAll(to: pool)
                counters.drop(.poolExhausted); throw .poolExhausted
            }
            let header = IPv4Repr(source: address, destination: destination, protocol: proto, payloadLength: size,
                                  timeToLive: timeToLive, identification: id, dontFragment: dontFragment,
                                  moreFragments: offset + size < payload.count, fragmentOffset: offset)
            frame.length = 14 + 20 + size
            let bytes = frame.bytes
            EthernetRepr(destination: .zero, source: hardwareAddress, etherType: .ipv4).emit(into: bytes)
            header.emit(into: bytes.slice(14 ..< 34))
            bytes.copy(payload.slice(offset ..< offset + size), to: 34)
            fragments.append(frame)
            offset += size
        } while offset < payload.count
        let count = fragments.count

        let mac: EthernetAddress? = broadcast ? .broadcast : arp.lookup(nextHop, now: now)
        if let mac {
            guard transmitQueue.capacity - transmitQueue.count >= count else {
                fragments.releaseAll(to: pool)
                counters.drop(.txQueueFull); throw .transmitQueueFull
            }
            for i in 0..<count {
                mac.store(into: fragments[i].bytes, at: 0)
                transmitQueue.append(fragments[i])
            }
            fragments.removeAll()
        } else {
            for i in 0..<count {
                switch arp.enqueue(fragments[i], for: nextHop, now: now) {
                case .queued:
                    continue
                case .queuedSendRequest:
                    if sendARP(.request, targetHardware: .zero, targetAddress: nextHop, to: .broadcast) {
                        counters.count(.arpRequestsSent)
                    }
                case .full, .tableFull:
                    // Fragments already queued go out when the neighbour
                    // resolves; the rest would be a datagram with holes, so
                    // the peer's reassembly timer drops it. Count the loss here.
                    for j in i..<count { pool.give(fragments[j]) }
                    fragments.removeAll()
                    counters.drop(.arpPendingFull)
                    throw .resolutionQueueFull
                }
            }
            fragments.removeAll()
        }
        counters.count(.ipv4Sent)
        if count > 1 { counters.count(.fragmentsSent, UInt64(count)) }
    }

    /// Sends an ICMP echo request (used by `rtud --probe` and the tests).
    @discardableResult
    public func sendEchoRequest(to destination: IPv4Address, identifier: UInt16, sequence: UInt16,
                                dataLength: Int, now: Instant) -> Bool {
        guard dataLength >= 0, dataLength <= 65_535 - 28 else { return false }
        let data = scratch.slice(8 ..< 8 + dataLength)
        for i in 0..<dataLength { data[i] = UInt8(truncatingIfNeeded: i) }
        return sendICMP(.echoRequest(identifier: identifier, sequenceNumber: sequence, data: UnsafeRawBufferPointer(data)),
                        to: destination, now: now)
    }

    /// Builds `message` at the start of the scratch buffer (its data may
    /// already sit at offset 8 there, or anywhere else) and sends it.
    private func sendICMP(_ message: ICMPv4Repr, to destination: IPv4Address, now: Instant) -> Bool {
        let out = scratch.slice(0 ..< message.bufferLength)
        message.emit(into: out)
        do { try send(to: destination, protocol: .icmp, payload: UnsafeRawBufferPointer(out), now: now) } catch {
            return false
        }
        return true
    }

    /// ICMP destination unreachable about a datagram we received, quoting its
    /// header and first 8 payload bytes (RFC 792). Never about a broadcast,
    /// an ICMP error, or a non-initial fragment (RFC 1122 §3.2.2), and
    /// rate-limited (RFC 1812 §4.3.2.8).
    private func sendUnreachable(_ code: ICMPv4UnreachableCode, about packet: IPv4Delivery,
                                 payload: UnsafeRawBufferPointer, now: Instant) {
        guard !packet.isBroadcast, !packet.source.isUnspecified else { return }
        guard takeICMPToken(now: now) else { counters.drop(.icmpRateLimited); return }
        // Rebuild the offending header (reassembly may have consumed the
        // original) and quote it with the first 8 bytes of its payload.
        let quoteLength = 20 + min(8, payload.count)
        let quote = scratch.slice(8 ..< 8 + quoteLength)   // where emit wants the data
        IPv4Repr(source: packet.source, destination: packet.destination, protocol: packet.protocol,
                 payloadLength: payload.count, timeToLive: packet.timeToLive, dontFragment: false)
            .emit(into: quote)
        quote.copy(payload.slice(0 ..< quoteLength - 20), to: 20)
        let message = ICMPv4Repr.destinationUnreachable(code: code, nextHopMTU: 0, original: UnsafeRawBufferPointer(quote))
        let out = scratch.slice(0 ..< message.bufferLength)
        message.emit(into: out)
        do throws(SendError) {
            try send(to: packet.source, protocol: .icmp, payload: UnsafeRawBufferPointer(out), now: now)
            counters.count(.icmpErrorsSent)
        } catch {}   // counted as a drop by send
    }

    private func takeICMPToken(now: Instant) -> Bool {
        let perToken = 1_000_000_000 / UInt64(max(1, configuration.icmpErrorsPerSecond))
        let elapsed = (now - icmpRefilled).nanoseconds
        if elapsed >= perToken {
            icmpTokens = min(configuration.icmpErrorBurst, icmpTokens + Int(elapsed / perToken))
            icmpRefilled = now
        }
        guard icmpTokens > 0 else { return false }
        icmpTokens -= 1
        return true
    }

    /// Emits an ARP packet (RFC 826) in a frame of its own; false if no buffer or no room.
    private func sendARP(_ op: ARPOperation, targetHardware: EthernetAddress, targetAddress: IPv4Address,
                         to destination: EthernetAddress) -> Bool {
        guard !transmitQueue.isFull else { counters.drop(.txQueueFull); return false }
        guard var frame = pool.take() else { counters.drop(.poolExhausted); return false }
        let arp = ARPRepr(operation: op, senderHardwareAddress: hardwareAddress, senderProtocolAddress: address,
                          targetHardwareAddress: targetHardware, targetProtocolAddress: targetAddress)
        frame.length = 14 + arp.bufferLength
        EthernetRepr(destination: destination, source: hardwareAddress, etherType: .arp).emit(into: frame.bytes)
        arp.emit(into: frame.bytes.slice(14 ..< frame.length))
        transmitQueue.append(frame)
        return true
    }

    /// Queues a frame released by ARP resolution, or drops it when the queue is full.
    private func queueForTransmit(_ frame: PacketBuffer) {
        if transmitQueue.isFull {
            counters.drop(.txQueueFull)
            pool.give(frame)
        } else {
            transmitQueue.append(frame)
        }
    }
}
