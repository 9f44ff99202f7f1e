// IPv4 header (RFC 791 §3.1). Options are skipped, never interpreted.

/// Field offsets and constants of the IPv4 header (RFC 791 §3.1).
@usableFromInline
enum IPv4Field {
    @usableFromInline static let versionIHL = 0
    /// DSCP (RFC 2474) in the high 6 bits, ECN (RFC 3168) in the low 2.
    @usableFromInline static let dscpECN = 1
    @usableFromInline static let totalLength = 2
    @usableFromInline static let identification = 4
    /// Flags in the high 3 bits, fragment offset (8-byte units) in the low 13.
    @usableFromInline static let flagsFragment = 6
    @usableFromInline static let timeToLive = 8
    @usableFromInline static let proto = 9
    @usableFromInline static let checksum = 10
    @usableFromInline static let source = 12
    @usableFromInline static let destination = 16
    /// The header without options; also the smallest legal IHL × 4.
    @usableFromInline static let minimumHeaderLength = 20
    @usableFromInline static let version: UInt8 = 4
    @usableFromInline static let dontFragment: UInt16 = 0x4000
    @usableFromInline static let moreFragments: UInt16 = 0x2000
    @usableFromInline static let fragmentOffsetMask: UInt16 = 0x1FFF
    /// The fragment offset counts 8-octet units (RFC 791 §3.1).
    @usableFromInline static let fragmentUnit = 8
}

/// A validated, non-owning view of an IPv4 packet.
///
/// The initialiser checks version, IHL and total length once; the view's
/// `bytes` are then trimmed to the total length, so Ethernet padding after the
/// packet never reaches the transport layer. The header checksum is not
/// checked by the initialiser (the LRP demux reads fields before any checksum
/// work, ARCHITECTURE.md); call `verifyChecksum()` or `IPv4Repr.parse`.
public struct IPv4View {
    /// The packet, exactly `totalLength` bytes (or, for a quoted header, what
    /// was quoted).
    public let bytes: UnsafeRawBufferPointer
    /// IHL × 4.
    public let headerLength: Int

    /// - Throws: `.truncated` below 20 bytes; `.badVersion` unless version 4;
    ///   `.badLength` if IHL < 5, the header overruns the buffer, or the total
    ///   length is shorter than the header or longer than the buffer. A buffer
    ///   longer than the total length is fine (link padding) and is trimmed.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        let headerLength = try IPv4View.checkHeader(bytes)
        let total = Int(bytes.readU16(IPv4Field.totalLength))
        guard total >= headerLength, total <= bytes.count else { throw .badLength }
        self.bytes = bytes.slice(0 ..< total)
        self.headerLength = headerLength
    }

    /// A view of the header quoted inside an ICMP error (RFC 792: the
    /// internet header plus the first 64 bits of data), whose total length
    /// describes the original packet and so exceeds what was quoted. The
    /// payload is what remains of the quote, cut at the total length.
    /// - Throws: as `init(_:)`, except that a total length beyond the buffer
    ///   is accepted.
    @inlinable
    public init(quoted bytes: UnsafeRawBufferPointer) throws(WireError) {
        let headerLength = try IPv4View.checkHeader(bytes)
        let total = Int(bytes.readU16(IPv4Field.totalLength))
        guard total >= headerLength else { throw .badLength }
        self.bytes = bytes.slice(0 ..< min(total, bytes.count))
        self.headerLength = headerLength
    }

    @inlinable
    static func checkHeader(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Int {
        guard bytes.count >= IPv4Field.minimumHeaderLength else { throw .truncated }
        let vi = bytes.readU8(IPv4Field.versionIHL)
        guard vi >> 4 == IPv4Field.version else { throw .badVersion }
        let headerLength = Int(vi & 0x0F) &* 4
        guard headerLength >= IPv4Field.minimumHeaderLength, headerLength <= bytes.count else { throw .badLength }
        return headerLength
    }

    @inlinable public var version: UInt8 { bytes.readU8(IPv4Field.versionIHL) >> 4 }
    /// Differentiated Services code point (RFC 2474 §3).
    @inlinable public var dscp: UInt8 { bytes.readU8(IPv4Field.dscpECN) >> 2 }
    /// Explicit Congestion Notification bits (RFC 3168 §5).
    @inlinable public var ecn: UInt8 { bytes.readU8(IPv4Field.dscpECN) & 0x03 }
    /// The total length field (for a quoted header it may exceed `bytes.count`).
    @inlinable public var totalLength: Int { Int(bytes.readU16(IPv4Field.totalLength)) }
    @inlinable public var identification: UInt16 { bytes.readU16(IPv4Field.identification) }
    @inlinable public var dontFragment: Bool { bytes.readU16(IPv4Field.flagsFragment) & IPv4Field.dontFragment != 0 }
    @inlinable public var moreFragments: Bool { bytes.readU16(IPv4Field.flagsFragment) & IPv4Field.moreFragments != 0 }
    /// The fragment offset in bytes (the field × 8).
    @inlinable public var fragmentOffset: Int {
        Int(bytes.readU16(IPv4Field.flagsFragment) & IPv4Field.fragmentOffsetMask) &* IPv4Field.fragmentUnit
    }
    /// True for any fragment, first included (MF set or offset non-zero).
    @inlinable public var isFragment: Bool {
        bytes.readU16(IPv4Field.flagsFragment) & (IPv4Field.moreFragments | IPv4Field.fragmentOffsetMask) != 0
    }
    @inlinable public var timeToLive: UInt8 { bytes.readU8(IPv4Field.timeToLive) }
    @inlinable public var `protocol`: IPProtocol { IPProtocol(rawValue: bytes.readU8(IPv4Field.proto)) }
    @inlinable public var checksum: UInt16 { bytes.readU16(IPv4Field.checksum) }
    @inlinable public var source: IPv4Address { IPv4Address(loadingFrom: bytes, at: IPv4Field.source) }
    @inlinable public var destination: IPv4Address { IPv4Address(loadingFrom: bytes, at: IPv4Field.destination) }

    /// The header, options included.
    @inlinable public var header: UnsafeRawBufferPointer { bytes.slice(0 ..< headerLength) }
    /// The options (possibly empty), uninterpreted.
    @inlinable public var options: UnsafeRawBufferPointer {
        bytes.slice(IPv4Field.minimumHeaderLength ..< headerLength)
    }
    /// The payload, trimmed to the total length.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(headerLength ..< bytes.count) }

    /// Whether the header checksum verifies (RFC 791 §3.1 "Header Checksum").
    @inlinable public func verifyChecksum() -> Bool { Checksum.verify(header) }
}

/// A validated mutable view, for changing a header in place (forwarding,
/// ICMP quoting) and refilling its checksum.
public struct IPv4MutableView {
    public let bytes: UnsafeMutableRawBufferPointer
    public let headerLength: Int

    /// Validates exactly as `IPv4View.init(_:)`; `bytes` is trimmed the same way.
    @inlinable
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        let v = try IPv4View(bytes.readOnly)
        self.bytes = bytes.slice(0 ..< v.bytes.count)
        self.headerLength = v.headerLength
    }

    @inlinable public var view: IPv4View {
        // Safe without re-validation: the same bytes passed `IPv4View.init`.
        IPv4View(unchecked: bytes.readOnly, headerLength: headerLength)
    }

    /// Recomputes the header checksum over the current header.
    @inlinable
    public func fillChecksum() {
        bytes.writeU16(IPv4Field.checksum, 0)
        bytes.writeU16(IPv4Field.checksum, Checksum.compute(bytes.readOnly.slice(0 ..< headerLength)))
    }

    /// Sets the TTL and updates the checksum incrementally (RFC 1624 §3);
    /// the TTL shares its 16-bit word with the protocol field.
    @inlinable
    public func setTimeToLive(_ ttl: UInt8) {
        let old = bytes.readOnly.readU16(IPv4Field.timeToLive)
        bytes.writeU8(IPv4Field.timeToLive, ttl)
        let new = bytes.readOnly.readU16(IPv4Field.timeToLive)
        bytes.writeU16(IPv4Field.checksum, Checksum.update(bytes.readOnly.readU16(IPv4Field.checksum), old: old, new: new))
    }
}

extension IPv4View {
    @inlinable
    init(unchecked bytes: UnsafeRawBufferPointer, headerLength: Int) {
        self.bytes = bytes
        self.headerLength = headerLength
    }
}

/// What an IPv4 header says. Emitting always writes a 20-byte header without
/// options; parsing a header with options keeps everything but the options.
public struct IPv4Repr: Hashable, Sendable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var `protocol`: IPProtocol
    /// The length of the payload in bytes (total length − header length).
    public var payloadLength: Int
    public var timeToLive: UInt8
    public var dscp: UInt8
    public var ecn: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// In bytes; must be a multiple of 8 to be emitted (RFC 791 §3.1).
    public var fragmentOffset: Int

    /// 64: the TTL Linux uses by default (RFC 1700 recommended value).
    public static let defaultTimeToLive: UInt8 = 64

    /// Defaults follow Linux: TTL 64, DF set (path MTU discovery, RFC 1191),
    /// identification 0 (the caller picks one when a packet may be fragmented).

    @inlinable
    public init(source: IPv4Address, destination: IPv4Address, protocol proto: IPProtocol, payloadLength: Int,
                timeToLive: UInt8 = IPv4Repr.defaultTimeToLive, dscp: UInt8 = 0, ecn: UInt8 = 0,
                identification: UInt16 = 0, dontFragment: Bool = true, moreFragments: Bool = false,
                fragmentOffset: Int = 0) {
        self.source = source
        self.destination = destination
        self.protocol = proto
        self.payloadLength = payloadLength
        self.timeToLive = timeToLive
        self.dscp = dscp
        self.ecn = ecn
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
    }

    /// - Throws: `.badChecksum` if `verifyChecksum` and the header checksum fails.
    @inlinable
    public static func parse(_ view: IPv4View, verifyChecksum: Bool = true) throws(WireError) -> IPv4Repr {
        if verifyChecksum, !view.verifyChecksum() { throw .badChecksum }
        return IPv4Repr(source: view.source, destination: view.destination, protocol: view.protocol,
                        payloadLength: view.bytes.count &- view.headerLength, timeToLive: view.timeToLive,
                        dscp: view.dscp, ecn: view.ecn, identification: view.identification,
                        dontFragment: view.dontFragment, moreFragments: view.moreFragments,
                        fragmentOffset: view.fragmentOffset)
    }

    @inlinable public var headerLength: Int { IPv4Field.minimumHeaderLength }
    /// Header plus payload: the total length field.
    @inlinable public var bufferLength: Int { headerLength &+ payloadLength }

    /// Writes the 20-byte header, checksum included, into the start of
    /// `buffer`. The payload is not touched (it does not enter the header
    /// checksum), so it may be written before or after.
    /// - Precondition: `buffer.count >= headerLength`; `bufferLength` ≤ 65535;
    ///   `fragmentOffset` a multiple of 8 below 65536; dscp < 64, ecn < 4.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= headerLength, "IPv4Repr.emit: buffer too small")
        precondition(bufferLength <= Int(UInt16.max), "IPv4Repr.emit: packet too long")
        precondition(fragmentOffset >= 0 && fragmentOffset % IPv4Field.fragmentUnit == 0
                     && fragmentOffset / IPv4Field.fragmentUnit <= Int(IPv4Field.fragmentOffsetMask),
                     "IPv4Repr.emit: bad fragment offset")
        precondition(dscp < 64 && ecn < 4, "IPv4Repr.emit: bad DSCP/ECN")
        buffer.writeU8(IPv4Field.versionIHL, IPv4Field.version << 4 | UInt8(IPv4Field.minimumHeaderLength / 4))
        buffer.writeU8(IPv4Field.dscpECN, dscp << 2 | ecn)
        buffer.writeU16(IPv4Field.totalLength, UInt16(bufferLength))
        buffer.writeU16(IPv4Field.identification, identification)
        var ff = UInt16(fragmentOffset / IPv4Field.fragmentUnit)
        if dontFragment { ff |= IPv4Field.dontFragment }
        if moreFragments { ff |= IPv4Field.moreFragments }
        buffer.writeU16(IPv4Field.flagsFragment, ff)
        buffer.writeU8(IPv4Field.timeToLive, timeToLive)
        buffer.writeU8(IPv4Field.proto, self.protocol.rawValue)
        buffer.writeU16(IPv4Field.checksum, 0)
        source.store(into: buffer, at: IPv4Field.source)
        destination.store(into: buffer, at: IPv4Field.destination)
        buffer.writeU16(IPv4Field.checksum, Checksum.compute(buffer.readOnly.slice(0 ..< IPv4Field.minimumHeaderLength)))
    }
}
