// UDP (RFC 768).

/// Field offsets of the UDP header (RFC 768 "Format").
@usableFromInline
enum UDPField {
    @usableFromInline static let sourcePort = 0
    @usableFromInline static let destinationPort = 2
    @usableFromInline static let length = 4
    @usableFromInline static let checksum = 6
    @usableFromInline static let headerLength = 8
}

/// A validated, non-owning view of a UDP datagram (the IPv4 payload).
///
/// The length field must be at least 8 and no more than the bytes given;
/// `bytes` is trimmed to it. The checksum is not checked by the initialiser
/// (see `verifyChecksum`), so the demux can read ports first.
public struct UDPView {
    /// Exactly `length` bytes.
    public let bytes: UnsafeRawBufferPointer

    /// - Throws: `.truncated` below 8 bytes; `.badLength` if the length field
    ///   is below 8 or beyond the buffer.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= UDPField.headerLength else { throw .truncated }
        let length = Int(bytes.readU16(UDPField.length))
        guard length >= UDPField.headerLength, length <= bytes.count else { throw .badLength }
        self.bytes = bytes.slice(0 ..< length)
    }

    @inlinable public var sourcePort: UInt16 { bytes.readU16(UDPField.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes.readU16(UDPField.destinationPort) }
    @inlinable public var length: Int { bytes.count }
    /// The checksum field; 0 means the sender computed none (RFC 768).
    @inlinable public var checksum: UInt16 { bytes.readU16(UDPField.checksum) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(UDPField.headerLength ..< bytes.count) }

    /// Whether the checksum verifies over pseudo-header, header and data. A
    /// zero field means "no checksum" and verifies (RFC 768).
    @inlinable
    public func verifyChecksum(source: IPv4Address, destination: IPv4Address) -> Bool {
        if checksum == 0 { return true }
        let pseudo = Checksum.pseudoHeaderSum(source: source, destination: destination, protocol: .udp, length: bytes.count)
        return Checksum.verify(bytes, initial: pseudo)
    }
}

/// A mutable view for refilling a UDP checksum in place.
public struct UDPMutableView {
    public let bytes: UnsafeMutableRawBufferPointer

    /// Validates exactly as `UDPView.init(_:)`, trimming the same way.
    @inlinable
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        let v = try UDPView(bytes.readOnly)
        self.bytes = bytes.slice(0 ..< v.bytes.count)
    }

    @inlinable public var view: UDPView { UDPView(unchecked: bytes.readOnly) }

    /// Computes the checksum over pseudo-header, header and data and stores
    /// it; a computed 0 is sent as 0xFFFF, since 0 means "none" (RFC 768).
    @inlinable
    public func fillChecksum(source: IPv4Address, destination: IPv4Address) {
        bytes.writeU16(UDPField.checksum, 0)
        let pseudo = Checksum.pseudoHeaderSum(source: source, destination: destination, protocol: .udp, length: bytes.count)
        let c = Checksum.compute(bytes.readOnly, initial: pseudo)
        bytes.writeU16(UDPField.checksum, c == 0 ? 0xFFFF : c)
    }
}

extension UDPView {
    @inlinable init(unchecked bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}

/// What a UDP header says. The payload is not part of the value: it is
/// written once, straight into the frame, by whoever owns it.
public struct UDPRepr: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payloadLength: Int

    @inlinable
    public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadLength = payloadLength
    }

    /// - Throws: `.badChecksum` if `verifyChecksum` and a non-zero checksum fails.
    @inlinable
    public static func parse(_ view: UDPView, source: IPv4Address, destination: IPv4Address,
                             verifyChecksum: Bool = true) throws(WireError) -> UDPRepr {
        if verifyChecksum, !view.verifyChecksum(source: source, destination: destination) { throw .badChecksum }
        return UDPRepr(sourcePort: view.sourcePort, destinationPort: view.destinationPort,
                       payloadLength: view.length &- UDPField.headerLength)
    }

    @inlinable public var headerLength: Int { UDPField.headerLength }
    /// Header plus payload: the length field.
    @inlinable public var bufferLength: Int { UDPField.headerLength &+ payloadLength }

    /// Writes the header into `buffer[0..<8]`. With `checksum` it then
    /// checksums `buffer[0..<bufferLength]`, so the payload must already be
    /// in place at `buffer[8...]`; without, the field is 0 ("none", RFC 768).
    /// - Precondition: `buffer.count >= bufferLength`, `bufferLength` ≤ 65535.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address,
                     checksum: Bool = true) {
        precondition(buffer.count >= bufferLength, "UDPRepr.emit: buffer too small")
        precondition(bufferLength <= Int(UInt16.max), "UDPRepr.emit: datagram too long")
        buffer.writeU16(UDPField.sourcePort, sourcePort)
        buffer.writeU16(UDPField.destinationPort, destinationPort)
        buffer.writeU16(UDPField.length, UInt16(bufferLength))
        buffer.writeU16(UDPField.checksum, 0)
        if checksum {
            UDPMutableView(unchecked: buffer.slice(0 ..< bufferLength)).fillChecksum(source: source, destination: destination)
        }
    }
}

extension UDPMutableView {
    @inlinable init(unchecked bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }
}
