// Ethernet II framing (IEEE 802.3 clause 3.2.6 type interpretation) with at
// most one IEEE 802.1Q tag.

/// Field offsets of an Ethernet II header, and of the optional 802.1Q tag.
@usableFromInline
enum EthernetField {
    @usableFromInline static let destination = 0
    @usableFromInline static let source = 6
    @usableFromInline static let etherType = 12
    /// With an 802.1Q tag, offset 12 holds TPID 0x8100, 14 the TCI, 16 the
    /// encapsulated EtherType.
    @usableFromInline static let vlanTCI = 14
    @usableFromInline static let innerEtherType = 16
    @usableFromInline static let headerLength = 14
    @usableFromInline static let taggedHeaderLength = 18
    /// Low 12 bits of the TCI: the VLAN identifier (802.1Q §9.6).
    @usableFromInline static let vlanIDMask: UInt16 = 0x0FFF
}

/// A validated, non-owning view of an Ethernet II frame.
///
/// The frame check sequence is not part of the view (devices strip it). One
/// 802.1Q tag is skipped and its VLAN id exposed; a second tag (QinQ) is not
/// interpreted, so `etherType` is then `.vlan` and the payload starts at the
/// inner tag.
public struct EthernetView {
    /// The whole frame as given, padding included.
    public let bytes: UnsafeRawBufferPointer
    /// 14, or 18 with an 802.1Q tag.
    public let headerLength: Int

    /// Checks that the header (and tag, if announced) is present.
    /// - Throws: `.truncated` when it is not.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= EthernetField.headerLength else { throw .truncated }
        if bytes.readU16(EthernetField.etherType) == EtherType.vlan.rawValue {
            guard bytes.count >= EthernetField.taggedHeaderLength else { throw .truncated }
            headerLength = EthernetField.taggedHeaderLength
        } else {
            headerLength = EthernetField.headerLength
        }
        self.bytes = bytes
    }

    @inlinable public var destination: EthernetAddress { EthernetAddress(loadingFrom: bytes, at: EthernetField.destination) }
    @inlinable public var source: EthernetAddress { EthernetAddress(loadingFrom: bytes, at: EthernetField.source) }
    @inlinable public var isTagged: Bool { headerLength == EthernetField.taggedHeaderLength }

    /// The EtherType of the payload (after the 802.1Q tag, if any).
    @inlinable public var etherType: EtherType {
        EtherType(rawValue: bytes.readU16(isTagged ? EthernetField.innerEtherType : EthernetField.etherType))
    }

    /// The whole 802.1Q tag control information (PCP, DEI, VID), if tagged.
    @inlinable public var vlanTCI: UInt16? { isTagged ? bytes.readU16(EthernetField.vlanTCI) : nil }

    /// The 12-bit VLAN identifier, if tagged.
    @inlinable public var vlanID: UInt16? { vlanTCI.map { $0 & EthernetField.vlanIDMask } }

    /// Everything after the header, including any padding to the 60-byte
    /// minimum: the next layer trims by its own length field.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(headerLength ..< bytes.count) }
}

/// What an Ethernet II header says; emits the 14- or 18-byte header.
public struct EthernetRepr: Hashable, Sendable {
    public var destination: EthernetAddress
    public var source: EthernetAddress
    public var etherType: EtherType
    /// The VLAN id to tag with (low 12 bits), or nil for an untagged frame.
    public var vlanID: UInt16?

    @inlinable
    public init(destination: EthernetAddress, source: EthernetAddress, etherType: EtherType, vlanID: UInt16? = nil) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
        self.vlanID = vlanID
    }

    @inlinable
    public static func parse(_ view: EthernetView) -> EthernetRepr {
        EthernetRepr(destination: view.destination, source: view.source, etherType: view.etherType, vlanID: view.vlanID)
    }

    @inlinable public var headerLength: Int {
        vlanID == nil ? EthernetField.headerLength : EthernetField.taggedHeaderLength
    }

    /// The header alone; the frame length is the caller's (it adds the
    /// payload, and the device pads to the 60-byte minimum).
    @inlinable public var bufferLength: Int { headerLength }

    /// Writes the header into the first `headerLength` bytes of `buffer`.
    /// A tag is written with priority 0 and DEI 0.
    /// - Precondition: `buffer.count >= headerLength`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= headerLength, "EthernetRepr.emit: buffer too small")
        destination.store(into: buffer, at: EthernetField.destination)
        source.store(into: buffer, at: EthernetField.source)
        if let vid = vlanID {
            buffer.writeU16(EthernetField.etherType, EtherType.vlan.rawValue)
            buffer.writeU16(EthernetField.vlanTCI, vid & EthernetField.vlanIDMask)
            buffer.writeU16(EthernetField.innerEtherType, etherType.rawValue)
        } else {
            buffer.writeU16(EthernetField.etherType, etherType.rawValue)
        }
    }
}
