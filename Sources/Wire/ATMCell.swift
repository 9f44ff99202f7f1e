// The ATM cell at the UNI (ITU-T I.361 §2.2) and its header error control
// (ITU-T I.432.1 §4.3). ATM-FACTS.md holds the layout and the known answers.
//
// A cell is 53 bytes: a 4-byte header word (GFC, VPI, VCI, PTI, CLP), the HEC
// byte, then 48 bytes of payload. On the RFC 4717 pseudowire the HEC is not
// carried (PseudowireCell.swift); the emulated PHY computes and checks it.

/// Field offsets, masks and sizes of a UNI cell (I.361 §2.2, figure 2).
@usableFromInline
enum ATMCellField {
    /// The big-endian header word: GFC, VPI, VCI, PTI, CLP.
    @usableFromInline static let headerWord = 0
    @usableFromInline static let hec = 4
    @usableFromInline static let payload = 5
    /// The header word without the HEC, as the pseudowire carries it.
    @usableFromInline static let headerWordLength = 4
    /// Header word plus HEC.
    @usableFromInline static let headerLength = 5
    @usableFromInline static let payloadLength = 48
    @usableFromInline static let cellLength = 53

    @usableFromInline static let gfcMask: UInt32 = 0xF000_0000
    @usableFromInline static let gfcShift: UInt32 = 28
    @usableFromInline static let vpiMask: UInt32 = 0x0FF0_0000
    @usableFromInline static let vpiShift: UInt32 = 20
    @usableFromInline static let vciMask: UInt32 = 0x000F_FFF0
    @usableFromInline static let vciShift: UInt32 = 4
    @usableFromInline static let ptiMask: UInt32 = 0x0000_000E
    @usableFromInline static let ptiShift: UInt32 = 1
    @usableFromInline static let clpMask: UInt32 = 0x0000_0001

    /// I.432.1 §4.3.2: the idle cell, a physical-layer cell the transmitter
    /// sends when it has nothing else (GFC, VPI, VCI, PTI all 0, CLP 1).
    @usableFromInline static let idleWord: UInt32 = 0x0000_0001
}

/// The payload type identifier (I.361 §2.2.4, table 4): 3 bits. Open, so a
/// value this code does not name survives a round trip.
public struct ATMPayloadType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    /// - Precondition: `rawValue < 8`.
    @inlinable public init(rawValue: UInt8) {
        precondition(rawValue < 8, "ATMPayloadType: PTI is 3 bits")
        self.rawValue = rawValue
    }

    /// User data, no congestion, SDU type 0 (for AAL5: not the last cell).
    public static let userData = ATMPayloadType(rawValue: 0)
    /// User data, no congestion, SDU type 1 (for AAL5: the last cell of a PDU).
    public static let userDataEnd = ATMPayloadType(rawValue: 1)
    /// User data, congestion experienced (EFCI), SDU type 0.
    public static let congestedUserData = ATMPayloadType(rawValue: 2)
    /// User data, congestion experienced (EFCI), SDU type 1 (AAL5 last cell).
    public static let congestedUserDataEnd = ATMPayloadType(rawValue: 3)
    /// F5 OAM, segment.
    public static let oamSegment = ATMPayloadType(rawValue: 4)
    /// F5 OAM, end to end.
    public static let oamEndToEnd = ATMPayloadType(rawValue: 5)
    /// Resource management (ABR RM cells).
    public static let resourceManagement = ATMPayloadType(rawValue: 6)
    /// Reserved for future use.
    public static let reserved = ATMPayloadType(rawValue: 7)

    /// PTI 0–3: a user cell, part of an AAL5 PDU; 4–7 never are.
    @inlinable public var isUserData: Bool { rawValue & 0b100 == 0 }
    /// A user cell whose SDU-type bit is set: the last cell of an AAL5 PDU
    /// (I.363.5 §9.2: the ATM-user-to-ATM-user indication).
    @inlinable public var isEndOfPDU: Bool { rawValue & 0b101 == 0b001 }
    /// A user cell that met congestion on the way (EFCI bit).
    @inlinable public var congestionExperienced: Bool { rawValue & 0b110 == 0b010 }

    /// The user-data PTI for a cell, given whether it ends a PDU and whether
    /// congestion was experienced.
    @inlinable
    public static func userData(endOfPDU: Bool, congestion: Bool = false) -> ATMPayloadType {
        ATMPayloadType(rawValue: (congestion ? 0b010 : 0) | (endOfPDU ? 0b001 : 0))
    }
}

/// A virtual channel at the UNI: an 8-bit VPI and a 16-bit VCI (I.361 §2.2.3).
/// The key of the adaptor's VC table.
public struct ATMVirtualChannel: Hashable, Sendable, CustomStringConvertible {
    public var vpi: UInt8
    public var vci: UInt16

    @inlinable public init(vpi: UInt8, vci: UInt16) {
        self.vpi = vpi
        self.vci = vci
    }

    /// VCI 0–31 are reserved for signalling, OAM and other functions (I.361
    /// §2.2.3, table 2); user VCs use 32 and above.
    @inlinable public var isReserved: Bool { vci < 32 }

    public var description: String { "\(vpi)/\(vci)" }
}

/// The header error control: CRC-8 over the 4 header bytes, generator
/// x⁸+x²+x+1, initial 0, MSB first, the remainder XOR 0x55 (I.432.1 §4.3.2;
/// catalogue name CRC-8/I-432-1).
public enum HEC {
    /// The value I.432.1 adds to the remainder "to improve cell delineation
    /// performance when the number of consecutive zeros is large".
    public static let coset: UInt8 = 0x55

    /// The HEC of a header word.
    @inlinable
    public static func compute(_ word: UInt32) -> UInt8 {
        var c = HECTables.crc[Int(word >> 24)]
        c = HECTables.crc[Int(c ^ UInt8(truncatingIfNeeded: word >> 16))]
        c = HECTables.crc[Int(c ^ UInt8(truncatingIfNeeded: word >> 8))]
        c = HECTables.crc[Int(c ^ UInt8(truncatingIfNeeded: word))]
        return c ^ coset
    }

    /// The CRC-8/I-432-1 of arbitrary bytes (the HEC when `bytes` are the 4
    /// header bytes). Kept for the catalogue check value; cells use `compute`.
    @inlinable
    public static func compute(_ bytes: UnsafeRawBufferPointer) -> UInt8 {
        var c: UInt8 = 0
        for b in bytes { c = HECTables.crc[Int(c ^ b)] }
        return c ^ coset
    }

    /// The syndrome: 0 when `hec` matches `word`, otherwise a value that for a
    /// single-bit error names the bit (see `correct`).
    @inlinable
    public static func syndrome(_ word: UInt32, hec: UInt8) -> UInt8 { compute(word) ^ hec }

    @inlinable
    public static func isValid(_ word: UInt32, hec: UInt8) -> Bool { compute(word) == hec }

    /// Single-bit error correction (I.432.1 §4.3.3, "correction mode").
    ///
    /// Returns the header word with the erroneous bit flipped back and
    /// `corrected: true`; a header that was already valid comes back unchanged
    /// with `corrected: false`; an error in the HEC byte itself leaves the word
    /// as it was, with `corrected: true`. Returns nil when the syndrome names no
    /// single bit: a multi-bit error, which the receiver must discard. Whether
    /// to correct at all (I.432.1 switches to detection mode after one
    /// correction) is the receiver's state machine, not this function's.
    @inlinable
    public static func correct(_ word: UInt32, hec: UInt8) -> (word: UInt32, corrected: Bool)? {
        let s = syndrome(word, hec: hec)
        if s == 0 { return (word, false) }
        let bit = HECTables.syndromeBit[Int(s)]
        if bit == HECTables.noBit { return nil }
        // Bits are numbered 0–39 from the first transmitted (the MSB of the
        // header word); 32–39 are the HEC's own.
        if bit >= 32 { return (word, true) }
        return (word ^ (UInt32(0x8000_0000) >> UInt32(bit)), true)
    }
}

/// Tables for `HEC`, as literals so that they are static data (generated
/// from the definition above and checked by ATMTests against a bitwise CRC).
@usableFromInline
enum HECTables {
    /// crc[b] = CRC-8 (poly 0x07, init 0, no XOR) of the single byte b.
    @usableFromInline static let crc: [UInt8] = [
        0x00, 0x07, 0x0E, 0x09, 0x1C, 0x1B, 0x12, 0x15, 0x38, 0x3F, 0x36, 0x31, 0x24, 0x23, 0x2A, 0x2D,
        0x70, 0x77, 0x7E, 0x79, 0x6C, 0x6B, 0x62, 0x65, 0x48, 0x4F, 0x46, 0x41, 0x54, 0x53, 0x5A, 0x5D,
        0xE0, 0xE7, 0xEE, 0xE9, 0xFC, 0xFB, 0xF2, 0xF5, 0xD8, 0xDF, 0xD6, 0xD1, 0xC4, 0xC3, 0xCA, 0xCD,
        0x90, 0x97, 0x9E, 0x99, 0x8C, 0x8B, 0x82, 0x85, 0xA8, 0xAF, 0xA6, 0xA1, 0xB4, 0xB3, 0xBA, 0xBD,
        0xC7, 0xC0, 0xC9, 0xCE, 0xDB, 0xDC, 0xD5, 0xD2, 0xFF, 0xF8, 0xF1, 0xF6, 0xE3, 0xE4, 0xED, 0xEA,
        0xB7, 0xB0, 0xB9, 0xBE, 0xAB, 0xAC, 0xA5, 0xA2, 0x8F, 0x88, 0x81, 0x86, 0x93, 0x94, 0x9D, 0x9A,
        0x27, 0x20, 0x29, 0x2E, 0x3B, 0x3C, 0x35, 0x32, 0x1F, 0x18, 0x11, 0x16, 0x03, 0x04, 0x0D, 0x0A,
        0x57, 0x50, 0x59, 0x5E, 0x4B, 0x4C, 0x45, 0x42, 0x6F, 0x68, 0x61, 0x66, 0x73, 0x74, 0x7D, 0x7A,
        0x89, 0x8E, 0x87, 0x80, 0x95, 0x92, 0x9B, 0x9C, 0xB1, 0xB6, 0xBF, 0xB8, 0xAD, 0xAA, 0xA3, 0xA4,
        0xF9, 0xFE, 0xF7, 0xF0, 0xE5, 0xE2, 0xEB, 0xEC, 0xC1, 0xC6, 0xCF, 0xC8, 0xDD, 0xDA, 0xD3, 0xD4,
        0x69, 0x6E, 0x67, 0x60, 0x75, 0x72, 0x7B, 0x7C, 0x51, 0x56, 0x5F, 0x58, 0x4D, 0x4A, 0x43, 0x44,
        0x19, 0x1E, 0x17, 0x10, 0x05, 0x02, 0x0B, 0x0C, 0x21, 0x26, 0x2F, 0x28, 0x3D, 0x3A, 0x33, 0x34,
        0x4E, 0x49, 0x40, 0x47, 0x52, 0x55, 0x5C, 0x5B, 0x76, 0x71, 0x78, 0x7F, 0x6A, 0x6D, 0x64, 0x63,
        0x3E, 0x39, 0x30, 0x37, 0x22, 0x25, 0x2C, 0x2B, 0x06, 0x01, 0x08, 0x0F, 0x1A, 0x1D, 0x14, 0x13,
        0xAE, 0xA9, 0xA0, 0xA7, 0xB2, 0xB5, 0xBC, 0xBB, 0x96, 0x91, 0x98, 0x9F, 0x8A, 0x8D, 0x84, 0x83,
        0xDE, 0xD9, 0xD0, 0xD7, 0xC2, 0xC5, 0xCC, 0xCB, 0xE6, 0xE1, 0xE8, 0xEF, 0xFA, 0xFD, 0xF4, 0xF3,
    ]

    /// The value of `syndromeBit` for a syndrome no single-bit error produces.
    @usableFromInline static let noBit: UInt8 = 0xFF

    /// syndromeBit[s] = the bit (0 = MSB of the header word … 39 = LSB of the
    /// HEC) whose flip yields syndrome s, or `noBit`. The 40 single-bit
    /// syndromes are distinct and non-zero, which is what makes the code
    /// single-error-correcting over a 40-bit codeword.
    @usableFromInline static let syndromeBit: [UInt8] = [
        0xFF, 0x27, 0x26, 0xFF, 0x25, 0xFF, 0xFF, 0x1F, 0x24, 0xFF, 0xFF, 0x08, 0xFF, 0xFF, 0x1E, 0xFF,
        0x23, 0xFF, 0xFF, 0xFF, 0xFF, 0x17, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1D, 0xFF, 0xFF, 0xFF,
        0x22, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x16, 0xFF, 0x06, 0xFF, 0xFF, 0xFF,
        0xFF, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x1C, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x21, 0xFF, 0xFF, 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0x0C, 0xFF, 0xFF, 0x15, 0xFF, 0xFF, 0x13, 0x05, 0xFF, 0xFF, 0x11, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x03, 0xFF, 0xFF, 0xFF, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF,
        0x1B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x09, 0xFF, 0xFF, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x14, 0xFF, 0xFF, 0x0D, 0xFF, 0xFF, 0x12, 0xFF,
        0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x19, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]
}

/// A validated, non-owning view of one 53-byte cell.
///
/// Like `IPv4View` and its checksum, the initialiser checks only the length:
/// the HEC is the PHY's to check (`hecIsValid`, `HEC.correct`), and a cell
/// whose header was corrected is read through `ATMCellRepr(word:)`.
public struct ATMCellView {
    /// The cell, exactly 53 bytes.
    public let bytes: UnsafeRawBufferPointer

    /// - Throws: `.truncated` below 53 bytes. Longer buffers are cut to the
    ///   first cell.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ATMCellField.cellLength else { throw .truncated }
        self.bytes = bytes.slice(0 ..< ATMCellField.cellLength)
    }

    /// The 32-bit header word (GFC, VPI, VCI, PTI, CLP).
    @inlinable public var word: UInt32 { bytes.readU32(ATMCellField.headerWord) }
    @inlinable public var hec: UInt8 { bytes.readU8(ATMCellField.hec) }
    @inlinable public var header: ATMCellRepr { ATMCellRepr(word: word) }
    @inlinable public var gfc: UInt8 { header.gfc }
    @inlinable public var vpi: UInt8 { header.vpi }
    @inlinable public var vci: UInt16 { header.vci }
    @inlinable public var virtualChannel: ATMVirtualChannel { header.virtualChannel }
    @inlinable public var payloadType: ATMPayloadType { header.payloadType }
    @inlinable public var cellLossPriority: Bool { header.cellLossPriority }
    /// The 48 payload bytes.
    @inlinable public var payload: UnsafeRawBufferPointer {
        bytes.slice(ATMCellField.payload ..< ATMCellField.cellLength)
    }

    @inlinable public var hecIsValid: Bool { HEC.isValid(word, hec: hec) }
    @inlinable public var isIdle: Bool { header.isIdle }
    @inlinable public var isUnassigned: Bool { header.isUnassigned }
    /// Idle, unassigned or other physical-layer cells: none belongs to a VC,
    /// and a receiver discards them before any VC lookup.
    @inlinable public var isPhysicalLayerOrUnassigned: Bool { header.isPhysicalLayerOrUnassigned }
}

/// What a UNI cell header says; emits the 5-byte header (with HEC) or the
/// 4-byte header word (for the pseudowire).
public struct ATMCellRepr: Hashable, Sendable {
    /// Generic flow control, 4 bits; 0 on an uncontrolled UNI (I.361 §2.2.1).
    public var gfc: UInt8
    public var vpi: UInt8
    public var vci: UInt16
    public var payloadType: ATMPayloadType
    /// CLP: set on cells the network may discard first (I.361 §2.2.5).
    public var cellLossPriority: Bool

    /// - Precondition: `gfc < 16`.
    @inlinable
    public init(gfc: UInt8 = 0, vpi: UInt8, vci: UInt16, payloadType: ATMPayloadType = .userData,
                cellLossPriority: Bool = false) {
        precondition(gfc < 16, "ATMCellRepr: GFC is 4 bits")
        self.gfc = gfc
        self.vpi = vpi
        self.vci = vci
        self.payloadType = payloadType
        self.cellLossPriority = cellLossPriority
    }

    @inlinable
    public init(channel: ATMVirtualChannel, payloadType: ATMPayloadType = .userData, cellLossPriority: Bool = false) {
        self.init(vpi: channel.vpi, vci: channel.vci, payloadType: payloadType, cellLossPriority: cellLossPriority)
    }

    /// Every 32-bit value is a header word, so this cannot fail.
    @inlinable
    public init(word: UInt32) {
        gfc = UInt8(truncatingIfNeeded: (word & ATMCellField.gfcMask) >> ATMCellField.gfcShift)
        vpi = UInt8(truncatingIfNeeded: (word & ATMCellField.vpiMask) >> ATMCellField.vpiShift)
        vci = UInt16(truncatingIfNeeded: (word & ATMCellField.vciMask) >> ATMCellField.vciShift)
        payloadType = ATMPayloadType(rawValue: UInt8(truncatingIfNeeded: (word & ATMCellField.ptiMask) >> ATMCellField.ptiShift))
        cellLossPriority = word & ATMCellField.clpMask != 0
    }

    @inlinable
    public static func parse(_ view: ATMCellView) -> ATMCellRepr { view.header }

    /// The idle cell (I.432.1 §4.3.2), header `00 00 00 01`, HEC 0x52.
    public static let idle = ATMCellRepr(word: ATMCellField.idleWord)
    /// The unassigned cell (I.361 §2.2.3, table 2), header `00 00 00 00`, HEC 0x55.
    public static let unassigned = ATMCellRepr(word: 0)

    @inlinable public var word: UInt32 {
        UInt32(gfc) << ATMCellField.gfcShift | UInt32(vpi) << ATMCellField.vpiShift
            | UInt32(vci) << ATMCellField.vciShift | UInt32(payloadType.rawValue) << ATMCellField.ptiShift
            | (cellLossPriority ? ATMCellField.clpMask : 0)
    }
    @inlinable public var hec: UInt8 { HEC.compute(word) }
    @inlinable public var virtualChannel: ATMVirtualChannel { ATMVirtualChannel(vpi: vpi, vci: vci) }

    /// Exactly the idle cell header (I.432.1 §4.3.2).
    @inlinable public var isIdle: Bool { word == ATMCellField.idleWord }
    /// VPI 0, VCI 0, CLP 0; GFC and PTI are not looked at (I.361 table 2).
    @inlinable public var isUnassigned: Bool { vpi == 0 && vci == 0 && !cellLossPriority }
    /// VPI 0 and VCI 0: unassigned, idle or another physical-layer cell
    /// (I.361 table 2). None belongs to a VC.
    @inlinable public var isPhysicalLayerOrUnassigned: Bool { vpi == 0 && vci == 0 }

    /// Header word plus HEC.
    @inlinable public var headerLength: Int { ATMCellField.headerLength }
    /// A whole cell; the caller writes the payload at `payloadOffset`.
    @inlinable public var bufferLength: Int { ATMCellField.cellLength }
    @inlinable public static var payloadOffset: Int { ATMCellField.payload }

    /// Writes the 4-byte header word and the HEC into the first 5 bytes.
    /// - Precondition: `buffer.count >= 5`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= ATMCellField.headerLength, "ATMCellRepr.emit: buffer too small")
        let w = word
        buffer.writeU32(ATMCellField.headerWord, w)
        buffer.writeU8(ATMCellField.hec, HEC.compute(w))
    }

    /// Writes the 4-byte header word alone, as an RFC 4717 cell carries it.
    /// - Precondition: `buffer.count >= 4`.
    @inlinable
    public func emitWithoutHEC(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= ATMCellField.headerWordLength, "ATMCellRepr.emitWithoutHEC: buffer too small")
        buffer.writeU32(ATMCellField.headerWord, word)
    }
}

/// Sizes of a cell, for callers outside Wire.
public enum ATMCell {
    /// 53: header word, HEC, payload.
    public static let length = ATMCellField.cellLength
    /// 5: header word plus HEC.
    public static let headerLength = ATMCellField.headerLength
    /// 48.
    public static let payloadLength = ATMCellField.payloadLength
}
