// Multiprotocol encapsulation over AAL5 (RFC 2684), routed PDUs only:
// LLC/SNAP (§5.1: LLC AA-AA-03, OUI 00-00-00, then the EtherType) or VC
// multiplexing (§6.1: nothing; the VC says what the SDU is). Bridged PDUs
// (OUI 00-80-C2) are not spoken.

/// Field offsets and constants of the RFC 2684 §5.1 routed LLC/SNAP header.
@usableFromInline
enum LLCSNAPField {
    /// LLC: DSAP 0xAA, SSAP 0xAA, control 0x03 (unnumbered information).
    @usableFromInline static let llc = 0
    @usableFromInline static let oui = 3
    /// The SNAP protocol identifier: an EtherType when the OUI is 00-00-00.
    @usableFromInline static let pid = 6
    @usableFromInline static let headerLength = 8
    /// AA AA 03 00 00 00 read as one big-endian word: LLC and a zero OUI.
    @usableFromInline static let llcAndOUI: UInt32 = 0xAAAA_0300
    /// The first 4 bytes are AA AA 03 and the OUI's first byte; the
    /// remaining two OUI bytes sit in the high half of bytes 4–7.
    @usableFromInline static let ouiLowMask: UInt32 = 0xFFFF_0000
}

/// A validated, non-owning view of an RFC 2684 routed LLC/SNAP SDU.
public struct LLCSNAPView {
    /// The whole SDU, header included.
    public let bytes: UnsafeRawBufferPointer

    /// - Throws: `.truncated` below 8 bytes; `.unsupported` unless the header
    ///   is LLC AA-AA-03 with OUI 00-00-00 (bridged and other OUIs).
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= LLCSNAPField.headerLength else { throw .truncated }
        guard bytes.readU32(LLCSNAPField.llc) == LLCSNAPField.llcAndOUI,
              bytes.readU32(LLCSNAPField.llc &+ 4) & LLCSNAPField.ouiLowMask == 0 else { throw .unsupported }
        self.bytes = bytes
    }

    @inlinable public var etherType: EtherType { EtherType(rawValue: bytes.readU16(LLCSNAPField.pid)) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(LLCSNAPField.headerLength ..< bytes.count) }
}

/// What a routed LLC/SNAP header says; emits `AA AA 03 00 00 00` and the EtherType.
public struct LLCSNAPRepr: Hashable, Sendable {
    public var etherType: EtherType

    @inlinable public init(etherType: EtherType) { self.etherType = etherType }

    @inlinable public static func parse(_ view: LLCSNAPView) -> LLCSNAPRepr { LLCSNAPRepr(etherType: view.etherType) }

    @inlinable public var headerLength: Int { LLCSNAPField.headerLength }
    @inlinable public var bufferLength: Int { LLCSNAPField.headerLength }

    /// Writes the 8-byte header.
    /// - Precondition: `buffer.count >= 8`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= LLCSNAPField.headerLength, "LLCSNAPRepr.emit: buffer too small")
        buffer.writeU32(LLCSNAPField.llc, LLCSNAPField.llcAndOUI)
        buffer.writeU16(LLCSNAPField.oui &+ 1, 0)
        buffer.writeU16(LLCSNAPField.pid, etherType.rawValue)
    }
}

/// How routed packets sit in an AAL5 SDU on a VC (RFC 2684 §5, §6).
public enum ATMEncapsulation: Hashable, Sendable {
    /// RFC 2684 §5.1: an 8-byte LLC/SNAP header names the protocol; the
    /// default of RFC 2225 (classical IP over ATM).
    case llcSNAP
    /// RFC 2684 §6.1: no header; every SDU on the VC is of this protocol.
    case vcMultiplexed(EtherType)

    /// RFC 2225 §5: the default IP MTU over ATM, 9180 bytes (SDU 9188 with LLC/SNAP).
    public static let defaultIPMTU = 9180

    /// 8 for LLC/SNAP, 0 for VC multiplexing.
    @inlinable public var headerLength: Int {
        switch self {
        case .llcSNAP: LLCSNAPField.headerLength
        case .vcMultiplexed: 0
        }
    }

    /// Writes the encapsulation header (nothing for VC multiplexing) for a
    /// packet of `etherType`.
    /// - Precondition: `buffer.count >= headerLength`; for VC multiplexing,
    ///   `etherType` is the VC's protocol.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer, etherType: EtherType) {
        switch self {
        case .llcSNAP: LLCSNAPRepr(etherType: etherType).emit(into: buffer)
        case .vcMultiplexed(let p): precondition(p == etherType, "ATMEncapsulation: protocol is not the VC's")
        }
    }

    /// The protocol and the packet of an SDU.
    /// - Throws: as `LLCSNAPView.init` for LLC/SNAP; never for VC multiplexing.
    @inlinable
    public func decapsulate(_ sdu: UnsafeRawBufferPointer) throws(WireError) -> (etherType: EtherType, payload: UnsafeRawBufferPointer) {
        switch self {
        case .llcSNAP:
            let v = try LLCSNAPView(sdu)
            return (v.etherType, v.payload)
        case .vcMultiplexed(let p):
            return (p, sdu)
        }
    }
}
