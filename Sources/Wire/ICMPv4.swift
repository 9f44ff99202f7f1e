// ICMPv4 (RFC 792): echo, destination unreachable (with the RFC 1191
// next-hop MTU), time exceeded.

/// Field offsets of the ICMPv4 header (RFC 792).
@usableFromInline
enum ICMPv4Field {
    @usableFromInline static let type = 0
    @usableFromInline static let code = 1
    @usableFromInline static let checksum = 2
    /// Echo: identifier and sequence number.
    @usableFromInline static let identifier = 4
    @usableFromInline static let sequence = 6
    /// Destination unreachable, code 4: the next-hop MTU in the low half of
    /// the "unused" word (RFC 1191 §4).
    @usableFromInline static let nextHopMTU = 6
    /// Type, code, checksum and the 4-byte rest-of-header word.
    @usableFromInline static let headerLength = 8
}

/// The ICMP message type. Open: unknown types survive the view.
public struct ICMPv4Type: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let echoReply = ICMPv4Type(rawValue: 0)
    public static let destinationUnreachable = ICMPv4Type(rawValue: 3)
    public static let sourceQuench = ICMPv4Type(rawValue: 4)
    public static let redirect = ICMPv4Type(rawValue: 5)
    public static let echoRequest = ICMPv4Type(rawValue: 8)
    public static let timeExceeded = ICMPv4Type(rawValue: 11)
    public static let parameterProblem = ICMPv4Type(rawValue: 12)
}

/// Codes of destination unreachable (RFC 792; 4 per RFC 1191; 9–15 RFC 1812 §5.2.7.1).
public struct ICMPv4UnreachableCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let netUnreachable = ICMPv4UnreachableCode(rawValue: 0)
    public static let hostUnreachable = ICMPv4UnreachableCode(rawValue: 1)
    public static let protocolUnreachable = ICMPv4UnreachableCode(rawValue: 2)
    public static let portUnreachable = ICMPv4UnreachableCode(rawValue: 3)
    /// "Fragmentation needed and DF set"; carries the next-hop MTU (RFC 1191 §4).
    public static let fragmentationNeeded = ICMPv4UnreachableCode(rawValue: 4)
    public static let sourceRouteFailed = ICMPv4UnreachableCode(rawValue: 5)
    public static let communicationProhibited = ICMPv4UnreachableCode(rawValue: 13)
}

/// Codes of time exceeded (RFC 792).
public struct ICMPv4TimeExceededCode: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let timeToLiveExceeded = ICMPv4TimeExceededCode(rawValue: 0)
    public static let reassemblyTimeExceeded = ICMPv4TimeExceededCode(rawValue: 1)
}

/// A validated, non-owning view of an ICMPv4 message (the IPv4 payload).
public struct ICMPv4View {
    public let bytes: UnsafeRawBufferPointer

    /// - Throws: `.truncated` below the 8-byte header.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPv4Field.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var type: ICMPv4Type { ICMPv4Type(rawValue: bytes.readU8(ICMPv4Field.type)) }
    @inlinable public var code: UInt8 { bytes.readU8(ICMPv4Field.code) }
    @inlinable public var checksum: UInt16 { bytes.readU16(ICMPv4Field.checksum) }
    /// Echo identifier (meaningful for echo request/reply).
    @inlinable public var identifier: UInt16 { bytes.readU16(ICMPv4Field.identifier) }
    /// Echo sequence number (meaningful for echo request/reply).
    @inlinable public var sequenceNumber: UInt16 { bytes.readU16(ICMPv4Field.sequence) }
    /// Next-hop MTU (meaningful for destination unreachable, code 4).
    @inlinable public var nextHopMTU: UInt16 { bytes.readU16(ICMPv4Field.nextHopMTU) }
    /// Everything after the 8-byte header: echo data, or the quoted datagram.
    @inlinable public var data: UnsafeRawBufferPointer { bytes.slice(ICMPv4Field.headerLength ..< bytes.count) }

    /// Whether the checksum over the whole message verifies (RFC 792).
    @inlinable public func verifyChecksum() -> Bool { Checksum.verify(bytes) }
}

/// A mutable view for refilling an ICMP checksum in place.
public struct ICMPv4MutableView {
    public let bytes: UnsafeMutableRawBufferPointer

    @inlinable
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard bytes.count >= ICMPv4Field.headerLength else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var view: ICMPv4View { ICMPv4View(unchecked: bytes.readOnly) }

    @inlinable
    public func fillChecksum() {
        bytes.writeU16(ICMPv4Field.checksum, 0)
        bytes.writeU16(ICMPv4Field.checksum, Checksum.compute(bytes.readOnly))
    }
}

extension ICMPv4View {
    @inlinable init(unchecked bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}

/// What an ICMPv4 message says, for the types the stack handles.
///
/// Data is borrowed, not copied: the buffers point into the parsed message
/// (or wherever the builder has them) and must outlive the value.
public enum ICMPv4Repr {
    case echoRequest(identifier: UInt16, sequenceNumber: UInt16, data: UnsafeRawBufferPointer)
    case echoReply(identifier: UInt16, sequenceNumber: UInt16, data: UnsafeRawBufferPointer)
    /// `original` is the quoted IP header plus at least the first 8 bytes of
    /// its data (RFC 792; RFC 1812 §4.3.2.3 allows more). `nextHopMTU` is
    /// meaningful for `.fragmentationNeeded` and is 0 otherwise (RFC 1191 §4).
    case destinationUnreachable(code: ICMPv4UnreachableCode, nextHopMTU: UInt16, original: UnsafeRawBufferPointer)
    case timeExceeded(code: ICMPv4TimeExceededCode, original: UnsafeRawBufferPointer)

    /// - Throws: `.badChecksum` (when verifying); `.unsupported` for other
    ///   message types; `.badLength` if an error message does not quote a
    ///   well-formed IPv4 header (checked with `IPv4View(quoted:)`).
    @inlinable
    public static func parse(_ view: ICMPv4View, verifyChecksum: Bool = true) throws(WireError) -> ICMPv4Repr {
        if verifyChecksum, !view.verifyChecksum() { throw .badChecksum }
        switch view.type {
        case .echoRequest:
            return .echoRequest(identifier: view.identifier, sequenceNumber: view.sequenceNumber, data: view.data)
        case .echoReply:
            return .echoReply(identifier: view.identifier, sequenceNumber: view.sequenceNumber, data: view.data)
        case .destinationUnreachable:
            try checkQuote(view.data)
            let code = ICMPv4UnreachableCode(rawValue: view.code)
            let mtu = code == .fragmentationNeeded ? view.nextHopMTU : 0
            return .destinationUnreachable(code: code, nextHopMTU: mtu, original: view.data)
        case .timeExceeded:
            try checkQuote(view.data)
            return .timeExceeded(code: ICMPv4TimeExceededCode(rawValue: view.code), original: view.data)
        default:
            throw .unsupported
        }
    }

    @inlinable
    static func checkQuote(_ data: UnsafeRawBufferPointer) throws(WireError) {
        do { _ = try IPv4View(quoted: data) } catch { throw .badLength }
    }

    /// For an error message, the quoted header as a view (nil for echo).
    @inlinable public var quotedHeader: IPv4View? {
        switch self {
        case .destinationUnreachable(_, _, let original), .timeExceeded(_, let original):
            return try? IPv4View(quoted: original)
        default:
            return nil
        }
    }

    @inlinable public var headerLength: Int { ICMPv4Field.headerLength }

    @inlinable public var data: UnsafeRawBufferPointer {
        switch self {
        case .echoRequest(_, _, let d), .echoReply(_, _, let d), .destinationUnreachable(_, _, let d), .timeExceeded(_, let d):
            return d
        }
    }

    /// Header plus data: the whole message.
    @inlinable public var bufferLength: Int { ICMPv4Field.headerLength &+ data.count }

    /// Writes the whole message, copying the data, with its checksum.
    /// The data may already sit at `buffer[8...]` (then the copy is skipped).
    /// - Precondition: `buffer.count >= bufferLength`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= bufferLength, "ICMPv4Repr.emit: buffer too small")
        let type: ICMPv4Type, code: UInt8, rest: UInt32
        switch self {
        case .echoRequest(let id, let seq, _):
            (type, code, rest) = (.echoRequest, 0, UInt32(id) << 16 | UInt32(seq))
        case .echoReply(let id, let seq, _):
            (type, code, rest) = (.echoReply, 0, UInt32(id) << 16 | UInt32(seq))
        case .destinationUnreachable(let c, let mtu, _):
            (type, code, rest) = (.destinationUnreachable, c.rawValue, UInt32(mtu))
        case .timeExceeded(let c, _):
            (type, code, rest) = (.timeExceeded, c.rawValue, 0)
        }
        buffer.writeU8(ICMPv4Field.type, type.rawValue)
        buffer.writeU8(ICMPv4Field.code, code)
        buffer.writeU16(ICMPv4Field.checksum, 0)
        buffer.writeU32(ICMPv4Field.identifier, rest)
        let d = data
        if d.count > 0, d.baseAddress != UnsafeRawPointer(buffer.baseAddress! + ICMPv4Field.headerLength) {
            buffer.copy(d, to: ICMPv4Field.headerLength)
        }
        buffer.writeU16(ICMPv4Field.checksum, Checksum.compute(buffer.readOnly.slice(0 ..< bufferLength)))
    }
}

extension ICMPv4Repr: Equatable {
    /// Equal when the fields and the data bytes (not their addresses) match.
    @inlinable
    public static func == (a: ICMPv4Repr, b: ICMPv4Repr) -> Bool {
        switch (a, b) {
        case let (.echoRequest(i1, s1, d1), .echoRequest(i2, s2, d2)),
             let (.echoReply(i1, s1, d1), .echoReply(i2, s2, d2)):
            return i1 == i2 && s1 == s2 && d1.elementsEqual(d2)
        case let (.destinationUnreachable(c1, m1, d1), .destinationUnreachable(c2, m2, d2)):
            return c1 == c2 && m1 == m2 && d1.elementsEqual(d2)
        case let (.timeExceeded(c1, d1), .timeExceeded(c2, d2)):
            return c1 == c2 && d1.elementsEqual(d2)
        default:
            return false
        }
    }
}
