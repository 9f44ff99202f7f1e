// The AAL5 CPCS-PDU (ITU-T I.363.5 §9.2): the SDU, 0–47 zero bytes of pad,
// and an 8-byte trailer (CPCS-UU, CPI, Length, CRC-32), the whole a multiple
// of 48 bytes so that it fills whole cells. ATM-FACTS.md has the vectors.
//
// The adaptor rarely holds a PDU in one piece (it segments from the packet
// and reassembles with a header/data split), so besides the contiguous view
// this file offers the two pieces it needs: writing the tail of a PDU and
// judging a reassembled PDU from its length, its trailer and a CRC register.

/// Offsets within the 8-byte trailer, and the size rules (I.363.5 §9.2.2).
@usableFromInline
enum AAL5Field {
    @usableFromInline static let userToUser = 0
    @usableFromInline static let commonPartIndicator = 1
    @usableFromInline static let length = 2
    @usableFromInline static let crc = 4
    @usableFromInline static let trailerLength = 8
    @usableFromInline static let cellPayloadLength = 48
    /// The Length field is 16 bits (I.363.5 §9.2.2.2).
    @usableFromInline static let maximumSDULength = 65_535
    @usableFromInline static let maximumPadLength = 47
}

/// Why a reassembled CPCS-PDU was dropped. One case per reason, so each maps
/// to its own drop counter in the adaptor (ATM-FACTS.md, "A receiver drops a
/// PDU …").
public enum AAL5Error: Error, Hashable, Sendable {
    /// The PDU is empty or not a whole number of 48-byte cell payloads.
    case notWholeCells
    /// The PDU is longer than the largest legal one (1,366 cells, for an SDU
    /// of 65,535 bytes).
    case oversize
    /// The CRC-32 does not verify.
    case badCRC
    /// The Length field is 0: the sender aborted the PDU (I.363.5 §9.2.2.2).
    case aborted
    /// The Length field exceeds the PDU minus its trailer.
    case lengthExceedsPDU
    /// The Length field implies more than 47 bytes of pad.
    case padTooLong

    /// The generic reason, for callers that count by `WireError`.
    @inlinable public var wireError: WireError {
        switch self {
        case .badCRC: .badChecksum
        case .notWholeCells, .oversize, .aborted, .lengthExceedsPDU, .padTooLong: .badLength
        }
    }
}

/// Sizes and the two halves of the adaptor's work: writing a PDU's tail
/// (segmentation) and judging a reassembled PDU.
public enum AAL5 {
    public static let trailerLength = AAL5Field.trailerLength
    public static let cellPayloadLength = AAL5Field.cellPayloadLength
    public static let maximumSDULength = AAL5Field.maximumSDULength
    /// 65,568 bytes: the PDU of a maximum SDU.
    public static let maximumPDULength = pduLength(sduLength: AAL5Field.maximumSDULength)
    /// 1,366 cells.
    public static let maximumCellCount = maximumPDULength / AAL5Field.cellPayloadLength

    /// The pad for an SDU: (−(length + 8)) mod 48, in 0…47.
    @inlinable
    public static func padLength(sduLength: Int) -> Int {
        let r = (sduLength &+ AAL5Field.trailerLength) % AAL5Field.cellPayloadLength
        return r == 0 ? 0 : AAL5Field.cellPayloadLength &- r
    }

    /// SDU + pad + trailer: a multiple of 48.
    /// - Precondition: `0 <= sduLength <= 65_535`.
    @inlinable
    public static func pduLength(sduLength: Int) -> Int {
        precondition(sduLength >= 0 && sduLength <= AAL5Field.maximumSDULength, "AAL5: SDU length out of range")
        return sduLength &+ padLength(sduLength: sduLength) &+ AAL5Field.trailerLength
    }

    /// The number of cells that carry an SDU: ⌈(length + 8) / 48⌉.
    @inlinable
    public static func cellCount(sduLength: Int) -> Int { pduLength(sduLength: sduLength) / AAL5Field.cellPayloadLength }

    /// Completes a PDU whose SDU is already in place: writes the zero pad and
    /// the trailer after it, and returns the CRC-32 it wrote.
    ///
    /// `pdu` is the whole PDU, exactly `pduLength(sduLength:)` bytes, with the
    /// SDU in its first `sduLength` bytes.
    /// - Precondition: `1 <= sduLength <= 65_535` (length 0 means abort, so an
    ///   empty SDU cannot be sent) and `pdu.count == pduLength(sduLength:)`.
    @inlinable @discardableResult
    public static func writeTrailer(into pdu: UnsafeMutableRawBufferPointer, sduLength: Int,
                                    userToUser: UInt8 = 0, commonPartIndicator: UInt8 = 0) -> UInt32 {
        precondition(sduLength >= 1, "AAL5.writeTrailer: an empty SDU reads as an abort")
        precondition(pdu.count == pduLength(sduLength: sduLength), "AAL5.writeTrailer: buffer is not the PDU length")
        let register = CRC32.update(CRC32.initial, pdu.readOnly.slice(0 ..< sduLength))
        return writeTail(into: pdu.slice(sduLength ..< pdu.count), sduLength: sduLength, crcRegister: register,
                         userToUser: userToUser, commonPartIndicator: commonPartIndicator)
    }

    /// Writes pad and trailer into `tail` (the bytes after the SDU, exactly
    /// pad + 8), given the CRC register already run over the SDU: the form
    /// for a segmenter that computes the CRC while it copies the SDU into
    /// cells. Returns the CRC-32 it wrote.
    /// - Precondition: `1 <= sduLength <= 65_535`, `tail.count == padLength(sduLength:) + 8`.
    @inlinable @discardableResult
    public static func writeTail(into tail: UnsafeMutableRawBufferPointer, sduLength: Int, crcRegister: UInt32,
                                 userToUser: UInt8 = 0, commonPartIndicator: UInt8 = 0) -> UInt32 {
        precondition(sduLength >= 1 && sduLength <= AAL5Field.maximumSDULength, "AAL5.writeTail: SDU length out of range")
        let pad = padLength(sduLength: sduLength)
        precondition(tail.count == pad &+ AAL5Field.trailerLength, "AAL5.writeTail: tail is not pad + trailer")
        if pad > 0 { tail.slice(0 ..< pad).initializeMemory(as: UInt8.self, repeating: 0) }
        let t = tail.slice(pad ..< tail.count)
        t.writeU8(AAL5Field.userToUser, userToUser)
        t.writeU8(AAL5Field.commonPartIndicator, commonPartIndicator)
        t.writeU16(AAL5Field.length, UInt16(truncatingIfNeeded: sduLength))
        let crc = ~CRC32.update(crcRegister, tail.readOnly.slice(0 ..< pad &+ AAL5Field.crc))
        t.writeU32(AAL5Field.crc, crc)
        return crc
    }

    /// Judges a reassembled PDU from its size, its last 8 bytes and the CRC
    /// register run over all of it, trailer and CRC field included (which an
    /// intact PDU leaves at `CRC32.residue`). Returns the trailer.
    ///
    /// Checks, in this order, so that a corrupted Length field counts as a CRC
    /// failure rather than a length one: whole cells, maximum size, CRC,
    /// abort, Length against the PDU, pad.
    @inlinable
    public static func validate(pduLength: Int, trailer: UnsafeRawBufferPointer,
                                crcRegister: UInt32) throws(AAL5Error) -> AAL5Trailer {
        guard pduLength > 0, pduLength % AAL5Field.cellPayloadLength == 0 else { throw .notWholeCells }
        guard pduLength <= maximumPDULength else { throw .oversize }
        guard crcRegister == CRC32.residue else { throw .badCRC }
        let t = AAL5Trailer(trailer)
        guard t.length != 0 else { throw .aborted }
        let room = pduLength &- AAL5Field.trailerLength
        guard t.length <= room else { throw .lengthExceedsPDU }
        guard room &- t.length <= AAL5Field.maximumPadLength else { throw .padTooLong }
        return t
    }
}

/// What a CPCS-PDU trailer says (I.363.5 §9.2.2).
public struct AAL5Trailer: Hashable, Sendable {
    /// CPCS user-to-user indication, passed transparently.
    public var userToUser: UInt8
    /// Common part indicator; 0 is the only value defined (it aligns the
    /// trailer to 64 bits).
    public var commonPartIndicator: UInt8
    /// The SDU length in bytes; 0 means abort.
    public var length: Int
    public var crc: UInt32

    @inlinable
    public init(userToUser: UInt8 = 0, commonPartIndicator: UInt8 = 0, length: Int, crc: UInt32) {
        self.userToUser = userToUser
        self.commonPartIndicator = commonPartIndicator
        self.length = length
        self.crc = crc
    }

    /// Reads the 8 trailer bytes.
    /// - Precondition: `bytes.count == 8`.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == AAL5Field.trailerLength, "AAL5Trailer: not 8 bytes")
        userToUser = bytes.readU8(AAL5Field.userToUser)
        commonPartIndicator = bytes.readU8(AAL5Field.commonPartIndicator)
        length = Int(bytes.readU16(AAL5Field.length))
        crc = bytes.readU32(AAL5Field.crc)
    }
}

/// A validated, non-owning view of a whole, contiguous CPCS-PDU (captures,
/// tests, a reassembler that keeps the PDU in one buffer).
///
/// Unlike the IPv4 view, the initialiser checks the CRC: it is the only thing
/// that vouches for the Length field, so an SDU is not offered before it.
public struct AAL5View {
    /// The whole PDU: SDU, pad, trailer.
    public let bytes: UnsafeRawBufferPointer
    public let trailer: AAL5Trailer

    /// - Throws: the first failing check of `AAL5.validate`, in its order.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(AAL5Error) {
        let n = bytes.count
        guard n > 0, n % AAL5Field.cellPayloadLength == 0 else { throw .notWholeCells }
        guard n <= AAL5.maximumPDULength else { throw .oversize }
        trailer = try AAL5.validate(pduLength: n, trailer: bytes.slice(n &- AAL5Field.trailerLength ..< n),
                                    crcRegister: CRC32.update(CRC32.initial, bytes))
        self.bytes = bytes
    }

    /// The SDU, `trailer.length` bytes.
    @inlinable public var sdu: UnsafeRawBufferPointer { bytes.slice(0 ..< trailer.length) }
    /// The pad, 0–47 bytes (zero when sent; not checked on receipt, as
    /// I.363.5 leaves the receiver free to ignore it).
    @inlinable public var pad: UnsafeRawBufferPointer {
        bytes.slice(trailer.length ..< bytes.count &- AAL5Field.trailerLength)
    }
    @inlinable public var cellCount: Int { bytes.count / AAL5Field.cellPayloadLength }
}
