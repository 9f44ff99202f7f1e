import Links
import Synchronization
import Wire

/// A UDP endpoint as the demux matches it. `local` 0.0.0.0 binds every
/// address of the interface; `remote` 0.0.0.0 with port 0 is an unconnected
/// (bound) socket, anything else a connected one (exact 5-tuple).
public struct UDPEndpointKey: Hashable, Sendable, CustomStringConvertible {
    public var local: IPv4Address
    public var localPort: UInt16
    public var remote: IPv4Address
    public var remotePort: UInt16

    public init(local: IPv4Address, localPort: UInt16, remote: IPv4Address = .any, remotePort: UInt16 = 0) {
        self.local = local
        self.localPort = localPort
        self.remote = remote
        self.remotePort = remotePort
    }

    public var isConnected: Bool { remotePort != 0 }

    public var description: String {
        "\(local):\(localPort)" + (isConnected ? " ↔ \(remote):\(remotePort)" : "")
    }

    /// Packed for the table: the protocol number in `hi` keeps an occupied
    /// key non-zero, so `hi == 0` marks an empty entry.
    @inlinable var hi: UInt64 { UInt64(local.rawValue) << 32 | UInt64(localPort) << 16 | 17 }
    @inlinable var lo: UInt64 { UInt64(remote.rawValue) << 16 | UInt64(remotePort) }
}

/// What the demux did with frames, counted as it goes (single writer, the
/// core; readable from the control thread).
public final class DemuxCounters: @unchecked Sendable {
    public let toSockets = Atomic<UInt64>(0)
    public let toStack = Atomic<UInt64>(0)
    public let toFragments = Atomic<UInt64>(0)
    /// Dropped on a full channel (socket, stack or fragment channel).
    public let droppedFull = Atomic<UInt64>(0)
    /// Unicast frames for another station's MAC (a promiscuous device).
    public let droppedNotForUs = Atomic<UInt64>(0)
    /// Of `toSockets`: datagrams classified by their link-level source (on
    /// an ATM interface, their VC) before any address or port was read.
    public let toSocketsByVC = Atomic<UInt64>(0)

    public var snapshot: [(String, UInt64)] {
        [("demux_to_sockets", toSockets.load(ordering: .relaxed)),
         ("demux_to_sockets_by_vc", toSocketsByVC.load(ordering: .relaxed)),
         ("demux_to_stack", toStack.load(ordering: .relaxed)),
         ("demux_to_fragments", toFragments.load(ordering: .relaxed)),
         ("demux_dropped_channel_full", droppedFull.load(ordering: .relaxed)),
         ("demux_dropped_not_for_us", droppedNotForUs.load(ordering: .relaxed))]
    }
}

/// The LRP demux (ARCHITECTURE.md): classifies each received frame by header
/// fields only — no checksum, no validation beyond the bounds it reads — and
/// places it on its channel:
///
/// - UDP, not a fragment: the connected socket matching the exact 5-tuple,
///   else the socket bound to (destination address, port), else the one bound
///   to (any address, port); unmatched UDP goes to the stack channel (which
///   answers ICMP port unreachable, rate-limited);
/// - IPv4 fragments: the fragment channel (reassembled there, then classified);
/// - ARP, ICMP, everything else: the stack channel.
///
/// A link-level source may be bound to a channel (`bindLinkSource`): the
/// LRP "NI demux" of an ATM interface, whose adaptor writes each frame's VC
/// into its source address (ATMVirtualChannel.syntheticHardwareAddress). A
/// whole UDP datagram from a bound source goes to its channel by the source
/// alone; no address or port is read. What else comes from that source —
/// ARP, ICMP, fragments, other protocols — is classified as from anyone
/// else, so ping and ARP keep working over a bound VC. The channel's owner
/// checks addresses and ports and counts a datagram that is not its own as
/// a drop (the demux no longer guarantees it).
///
/// A full channel drops the frame at once, before any protocol work, and
/// counts it. The endpoint table is open addressing with linear probing and
/// backward-shift deletion, sized at init: no allocation after it.
/// Owned by the interface's core, like its channels.
public final class Demux {
    public let hardwareAddress: EthernetAddress
    public let stackChannel: FrameChannel
    public let fragmentChannel: FrameChannel
    public let counters = DemuxCounters()

    private let tableSize: Int
    private let mask: Int
    private let keysHi: UnsafeMutablePointer<UInt64>
    private let keysLo: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<Unmanaged<FrameChannel>?>
    public private(set) var count = 0
    private var connectedCount = 0
    private var wildcardCount = 0
    private var specificCount = 0
    private var linkSourceCount = 0

    /// Endpoints the table holds at most (it is kept at most half full).
    public let maxEndpoints: Int

    public init(hardwareAddress: EthernetAddress, stackChannel: FrameChannel, fragmentChannel: FrameChannel,
                maxEndpoints: Int = 16_384) {
        precondition(maxEndpoints >= 1)
        self.hardwareAddress = hardwareAddress
        self.stackChannel = stackChannel
        self.fragmentChannel = fragmentChannel
        self.maxEndpoints = maxEndpoints
        var size = 16
        while size < maxEndpoints * 2 { size <<= 1 }
        tableSize = size
        mask = size - 1
        keysHi = .allocate(capacity: size)
        keysHi.initialize(repeating: 0, count: size)
        keysLo = .allocate(capacity: size)
        keysLo.initialize(repeating: 0, count: size)
        values = .allocate(capacity: size)
        values.initialize(repeating: nil, count: size)
    }

    deinit {
        keysHi.deallocate()
        keysLo.deallocate()
        values.deallocate()
    }

    // MARK: - Classification (the per-frame path)

    /// Frame offsets this classifier reads (Ethernet II, RFC 894; IPv4, RFC 791 §3.1; UDP, RFC 768).
    @usableFromInline enum Offset {
        static let linkSource = 6
        static let etherType = 12
        static let ip = 14
        static let flagsFragment = ip + 6
        static let protocolNumber = ip + 9
        static let source = ip + 12
        static let destination = ip + 16
    }

    /// Places `frame` on its channel, or gives it back to `pool` and counts
    /// why. Reads at most the first 14 + 60 + 4 bytes; a datagram from a
    /// bound link source, no address and no port.
    @inline(__always)
    public func dispatch(_ frame: PacketBuffer, pool: BufferPool) {
        let b = frame.readable
        guard b.count >= Offset.ip + 20 else { return toStack(frame, pool) }
        // Unicast to another MAC: a promiscuous device; no one here wants it.
        if b[0] & 1 == 0 && EthernetAddress(loadingFrom: b, at: 0) != hardwareAddress {
            counters.droppedNotForUs.increment()
            pool.give(frame)
            return
        }
        guard b[Offset.etherType] == 0x08, b[Offset.etherType + 1] == 0x00 else { return toStack(frame, pool) }
        let versionIHL = b[Offset.ip]
        let ihl = Int(versionIHL & 0x0F) &* 4
        guard versionIHL >> 4 == 4, ihl >= 20 else { return toStack(frame, pool) }
        // More-fragments flag or a non-zero offset (RFC 791 §3.1).
        if b.readU16(Offset.flagsFragment) & 0x3FFF != 0 {
            return place(frame, on: fragmentChannel, counting: counters.toFragments, pool)
        }
        let udp = Offset.ip &+ ihl
        guard b[Offset.protocolNumber] == 17, b.count >= udp &+ 8, count > 0 else { return toStack(frame, pool) }
        if linkSourceCount > 0,
           let channel = find(hi: Self.linkSourceKey(EthernetAddress(loadingFrom: b, at: Offset.linkSource)), lo: 0) {
            counters.toSocketsByVC.increment()
            return channel._withUnsafeGuaranteedRef { place(frame, on: $0, counting: counters.toSockets, pool) }
        }
        let source = b.readU32(Offset.source)
        let destination = b.readU32(Offset.destination)
        let sourcePort = b.readU16(udp)
        let destinationPort = b.readU16(udp &+ 2)
        guard let channel = lookup(destination: destination, destinationPort: destinationPort,
                                   source: source, sourcePort: sourcePort) else {
            return toStack(frame, pool)
        }
        channel._withUnsafeGuaranteedRef { place(frame, on: $0, counting: counters.toSockets, pool) }
    }

    @inline(__always)
    private func toStack(_ frame: PacketBuffer, _ pool: BufferPool) {
        place(frame, on: stackChannel, counting: counters.toStack, pool)
    }

    /// Pushes `frame` on `channel`, or drops it there (full) and gives its buffer back.
    @inline(__always)
    private func place(_ frame: PacketBuffer, on channel: FrameChannel, counting counter: borrowing Atomic<UInt64>,
                       _ pool: BufferPool) {
        if channel.push(frame) {
            counter.increment()
        } else {
            counters.droppedFull.increment()
            pool.give(frame)
        }
    }

    /// The channel of the socket a UDP datagram belongs to: connected (exact
    /// 5-tuple) first, then bound to the address, then bound to any address.
    @inline(__always)
    func lookup(destination: UInt32, destinationPort: UInt16, source: UInt32,
                sourcePort: UInt16) -> Unmanaged<FrameChannel>? {
        let port = UInt64(destinationPort) << 16 | 17
        if connectedCount > 0,
           let c = find(hi: UInt64(destination) << 32 | port, lo: UInt64(source) << 16 | UInt64(sourcePort)) {
            return c
        }
        if specificCount > 0, let c = find(hi: UInt64(destination) << 32 | port, lo: 0) { return c }
        if wildcardCount > 0, let c = find(hi: port, lo: 0) { return c }
        return nil
    }

    /// The channel for a datagram (the UDP layer's lookup for reassembled
    /// datagrams and ICMP errors).
    public func channel(destination: IPv4Address, destinationPort: UInt16, source: IPv4Address,
                        sourcePort: UInt16) -> FrameChannel? {
        lookup(destination: destination.rawValue, destinationPort: destinationPort,
               source: source.rawValue, sourcePort: sourcePort)?.takeUnretainedValue()
    }

    @inline(__always)
    private func slot(hi: UInt64, lo: UInt64) -> Int {
        // Multiply-shift hashing (Dietzfelbinger): the high bits of the product mix every key bit.
        let h = (hi &* 0x9E37_79B9_7F4A_7C15) ^ (lo &* 0xC2B2_AE3D_27D4_EB4F)
        return Int(truncatingIfNeeded: h >> 32) & mask
    }

    @inline(__always)
    private func find(hi: UInt64, lo: UInt64) -> Unmanaged<FrameChannel>? {
        var i = slot(hi: hi, lo: lo)
        while true {
            let k = keysHi[i]
            if k == 0 { return nil }
            if k == hi && keysLo[i] == lo { return values[i] }
            i = (i &+ 1) & mask
        }
    }

    // MARK: - Table maintenance (applied on the core, between frames)

    public enum InsertError: Error, Equatable {
        case inUse
        case tableFull
    }

    /// Adds `key → channel`. The caller keeps `channel` alive until removed.
    public func insert(_ key: UDPEndpointKey, channel: FrameChannel) throws(InsertError) {
        try insert(hi: key.hi, lo: key.lo, channel: channel)
        adjust(key, by: 1)
    }

    /// Sends whole UDP datagrams from link-level `source` to `channel`
    /// (see the type's comment). Shares the endpoint table and its limit.
    /// The caller keeps `channel` alive until unbound.
    public func bindLinkSource(_ source: EthernetAddress, to channel: FrameChannel) throws(InsertError) {
        try insert(hi: Self.linkSourceKey(source), lo: 0, channel: channel)
        linkSourceCount += 1
    }

    /// Undoes `bindLinkSource`; returns whether `source` was bound.
    @discardableResult
    public func unbindLinkSource(_ source: EthernetAddress) -> Bool {
        guard remove(hi: Self.linkSourceKey(source), lo: 0) else { return false }
        linkSourceCount -= 1
        return true
    }

    /// A link source's key in the endpoint table: the 48-bit address above a
    /// low half-word of 0xFFFF, which no UDP key has (their low half-word is
    /// the protocol number, 17), so the two kinds never collide.
    @inline(__always)
    private static func linkSourceKey(_ a: EthernetAddress) -> UInt64 { a.rawValue << 16 | 0xFFFF }

    private func insert(hi: UInt64, lo: UInt64, channel: FrameChannel) throws(InsertError) {
        if find(hi: hi, lo: lo) != nil { throw .inUse }
        guard count < maxEndpoints else { throw .tableFull }
        var i = slot(hi: hi, lo: lo)
        while keysHi[i] != 0 { i = (i + 1) & mask }
        keysHi[i] = hi
        keysLo[i] = lo
        values[i] = Unmanaged.passUnretained(channel)
        count += 1
    }

    /// Removes `key`; returns whether it was there.
    @discardableResult
    public func remove(_ key: UDPEndpointKey) -> Bool {
        guard remove(hi: key.hi, lo: key.lo) else { return false }
        adjust(key, by: -1)
        return true
    }

    private func remove(hi: UInt64, lo: UInt64) -> Bool {
        var i = slot(hi: hi, lo: lo)
        while true {
            if keysHi[i] == 0 { return false }
            if keysHi[i] == hi && keysLo[i] == lo { break }
            i = (i + 1) & mask
        }
        // Backward-shift deletion: pull later members of the probe run into
        // the hole when their home slot allows it, so lookups never see a gap.
        var hole = i
        var j = (i + 1) & mask
        while keysHi[j] != 0 {
            let home = slot(hi: keysHi[j], lo: keysLo[j])
            // Move j into the hole unless its home lies cyclically in (hole, j].
            let between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !between {
                keysHi[hole] = keysHi[j]
                keysLo[hole] = keysLo[j]
                values[hole] = values[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        keysHi[hole] = 0
        keysLo[hole] = 0
        values[hole] = nil
        count -= 1
        return true
    }

    private func adjust(_ key: UDPEndpointKey, by delta: Int) {
        if key.isConnected {
            connectedCount += delta
        } else if key.local.isUnspecified {
            wildcardCount += delta
        } else {
            specificCount += delta
        }
    }
}
