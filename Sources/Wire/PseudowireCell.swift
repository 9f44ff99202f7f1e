// ATM cells over an MPLS pseudowire, N-to-one cell mode with control word
// (RFC 4717 §5.1, §6.1): on Ethernet with EtherType 0x8847, an MPLS label
// stack (RFC 3032 §2.1), a 4-byte control word with a sequence number
// (RFC 4385 §3, RFC 4717 §6.1), then k ≥ 1 cells of 52 bytes each — the
// 4-byte header word without HEC, then the 48-byte payload. The HEC is not
// carried; the emulated PHY computes it (`PseudowireCell.copyCell`).
// Wireshark decodes these frames with `-d mpls.label==L,mplspwatmn1cw`.

/// Field offsets and constants of the pseudowire frame.
@usableFromInline
enum PseudowireField {
    /// RFC 3032 §2.1: Label 20 bits | TC 3 | S 1 | TTL 8.
    @usableFromInline static let labelEntryLength = 4
    @usableFromInline static let labelShift: UInt32 = 12
    @usableFromInline static let labelMask: UInt32 = 0xFFFF_F000
    @usableFromInline static let trafficClassShift: UInt32 = 9
    @usableFromInline static let trafficClassMask: UInt32 = 0x0000_0E00
    @usableFromInline static let bottomOfStackBit: UInt32 = 0x0000_0100
    @usableFromInline static let ttlMask: UInt32 = 0x0000_00FF
    /// How many label entries the view looks through for the bottom of the
    /// stack: the emulated link sends one; a tunnel label above the PW label
    /// makes two. The bound keeps the parse O(1) on a hostile frame.
    @usableFromInline static let maximumLabelDepth = 4

    /// RFC 4385 §3: 0000 | flags 4 | res 2 | length 6 | sequence 16.
    @usableFromInline static let controlWordLength = 4
    @usableFromInline static let cwFirstNibbleMask: UInt32 = 0xF000_0000
    @usableFromInline static let cwFlagsShift: UInt32 = 24
    @usableFromInline static let cwFlagsMask: UInt32 = 0x0F00_0000
    @usableFromInline static let cwLengthShift: UInt32 = 16
    @usableFromInline static let cwLengthMask: UInt32 = 0x003F_0000
    @usableFromInline static let cwSequenceMask: UInt32 = 0x0000_FFFF

    /// RFC 4717 §6.1: a cell on the wire, header word plus payload, no HEC.
    @usableFromInline static let cellLength = 52
    @usableFromInline static let cellHeaderWord = 0
    @usableFromInline static let cellPayload = 4
}

/// One MPLS label stack entry (RFC 3032 §2.1; TC per RFC 5462).
public struct MPLSLabelStackEntry: Hashable, Sendable {
    /// 20 bits.
    public var label: UInt32
    /// Traffic class, 3 bits.
    public var trafficClass: UInt8
    public var bottomOfStack: Bool
    public var timeToLive: UInt8

    /// - Precondition: `label < 1 << 20`, `trafficClass < 8`.
    @inlinable
    public init(label: UInt32, trafficClass: UInt8 = 0, bottomOfStack: Bool = true, timeToLive: UInt8 = 255) {
        precondition(label < 1 << 20 && trafficClass < 8, "MPLSLabelStackEntry: field out of range")
        self.label = label
        self.trafficClass = trafficClass
        self.bottomOfStack = bottomOfStack
        self.timeToLive = timeToLive
    }

    @inlinable
    public init(rawValue w: UInt32) {
        label = w >> PseudowireField.labelShift
        trafficClass = UInt8(truncatingIfNeeded: (w & PseudowireField.trafficClassMask) >> PseudowireField.trafficClassShift)
        bottomOfStack = w & PseudowireField.bottomOfStackBit != 0
        timeToLive = UInt8(truncatingIfNeeded: w & PseudowireField.ttlMask)
    }

    @inlinable public var rawValue: UInt32 {
        label << PseudowireField.labelShift | UInt32(trafficClass) << PseudowireField.trafficClassShift
            | (bottomOfStack ? PseudowireField.bottomOfStackBit : 0) | UInt32(timeToLive)
    }
}

/// The control word of an N-to-one cell-mode packet (RFC 4717 §6.1 after
/// RFC 4385 §3). Sent with flags 0 and length 0 (ATM-FACTS.md).
public struct PseudowireControlWord: Hashable, Sendable {
    /// 4 bits, reserved in N-to-one mode: sent 0, not checked on receipt.
    public var flags: UInt8
    /// 6 bits; 0 in this mode (RFC 4385 sets it only for a PW packet shorter
    /// than 64 bytes, and on Ethernet a cell frame never needs padding).
    public var length: UInt8
    /// 0 means "not used"; otherwise 1…65535, wrapping to 1 (RFC 4385 §4).
    public var sequence: UInt16

    @inlinable
    public init(flags: UInt8 = 0, length: UInt8 = 0, sequence: UInt16) {
        self.flags = flags & 0x0F
        self.length = length & 0x3F
        self.sequence = sequence
    }

    /// Decodes the 32-bit word; the first nibble is the caller's to check.
    @inlinable
    public init(rawValue w: UInt32) {
        flags = UInt8(truncatingIfNeeded: (w & PseudowireField.cwFlagsMask) >> PseudowireField.cwFlagsShift)
        length = UInt8(truncatingIfNeeded: (w & PseudowireField.cwLengthMask) >> PseudowireField.cwLengthShift)
        sequence = UInt16(truncatingIfNeeded: w & PseudowireField.cwSequenceMask)
    }

    @inlinable public var rawValue: UInt32 {
        UInt32(flags) << PseudowireField.cwFlagsShift | UInt32(length) << PseudowireField.cwLengthShift
            | UInt32(sequence)
    }

    /// The sequence number after `s`: 65535 wraps to 1, since 0 means the
    /// sender does not number its packets (RFC 4385 §4.1).
    @inlinable
    public static func nextSequence(after s: UInt16) -> UInt16 { s == .max ? 1 : s &+ 1 }
}

/// One 52-byte cell inside a pseudowire frame.
public struct PseudowireCell {
    /// Header word and payload, 52 bytes.
    public let bytes: UnsafeRawBufferPointer

    @inlinable init(unchecked bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    @inlinable public var word: UInt32 { bytes.readU32(PseudowireField.cellHeaderWord) }
    @inlinable public var header: ATMCellRepr { ATMCellRepr(word: word) }
    /// The 48 payload bytes.
    @inlinable public var payload: UnsafeRawBufferPointer {
        bytes.slice(PseudowireField.cellPayload ..< PseudowireField.cellLength)
    }
    /// The HEC the PHY would have sent with this header.
    @inlinable public var hec: UInt8 { HEC.compute(word) }

    /// Writes the 53-byte cell as the adaptor sees it: header word, computed
    /// HEC, payload.
    /// - Precondition: `cell.count >= 53`.
    @inlinable
    public func copyCell(into cell: UnsafeMutableRawBufferPointer) {
        precondition(cell.count >= ATMCellField.cellLength, "PseudowireCell.copyCell: buffer too small")
        cell.writeU32(ATMCellField.headerWord, word)
        cell.writeU8(ATMCellField.hec, hec)
        cell.copy(payload, to: ATMCellField.payload)
    }
}

/// The cells of a frame, in order.
public struct PseudowireCells: RandomAccessCollection {
    /// A whole number of 52-byte cells.
    public let bytes: UnsafeRawBufferPointer

    @inlinable init(unchecked bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { bytes.count / PseudowireField.cellLength }

    @inlinable
    public subscript(i: Int) -> PseudowireCell {
        precondition(i >= 0 && i < endIndex, "PseudowireCells: index out of range")
        let o = i &* PseudowireField.cellLength
        return PseudowireCell(unchecked: bytes.slice(o ..< o &+ PseudowireField.cellLength))
    }
}

/// A validated, non-owning view of an N-to-one cell-mode packet: the MPLS
/// payload of an Ethernet frame (EtherType 0x8847).
public struct PseudowireCellView {
    /// The packet, label stack first.
    public let bytes: UnsafeRawBufferPointer
    /// Bytes before the first cell: label entries plus the control word.
    public let headerLength: Int

    /// - Throws: `.truncated` when the stack, the control word or one cell
    ///   is missing; `.unsupported` when no bottom-of-stack entry appears in
    ///   the first 4 entries, or the control word's first nibble is not 0
    ///   (no control word: this parser speaks only the CW variant);
    ///   `.badLength` when the control word's length is not 0 or the cells
    ///   are not a whole number of 52 bytes.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        var o = 0
        while true {
            guard bytes.count >= o &+ PseudowireField.labelEntryLength else { throw .truncated }
            let bottom = bytes.readU32(o) & PseudowireField.bottomOfStackBit != 0
            o &+= PseudowireField.labelEntryLength
            if bottom { break }
            guard o < PseudowireField.maximumLabelDepth &* PseudowireField.labelEntryLength else { throw .unsupported }
        }
        guard bytes.count >= o &+ PseudowireField.controlWordLength &+ PseudowireField.cellLength else { throw .truncated }
        let cw = bytes.readU32(o)
        guard cw & PseudowireField.cwFirstNibbleMask == 0 else { throw .unsupported }
        guard cw & PseudowireField.cwLengthMask == 0 else { throw .badLength }
        o &+= PseudowireField.controlWordLength
        guard (bytes.count &- o) % PseudowireField.cellLength == 0 else { throw .badLength }
        self.bytes = bytes
        self.headerLength = o
    }

    /// The number of label stack entries, 1…4.
    @inlinable public var labelDepth: Int {
        (headerLength &- PseudowireField.controlWordLength) / PseudowireField.labelEntryLength
    }
    /// The bottom-of-stack entry: the pseudowire label.
    @inlinable public var label: MPLSLabelStackEntry {
        MPLSLabelStackEntry(rawValue: bytes.readU32(headerLength &- PseudowireField.controlWordLength &- PseudowireField.labelEntryLength))
    }
    /// The outermost entry (the same as `label` when there is one).
    @inlinable public var outerLabel: MPLSLabelStackEntry { MPLSLabelStackEntry(rawValue: bytes.readU32(0)) }
    @inlinable public var controlWord: PseudowireControlWord {
        PseudowireControlWord(rawValue: bytes.readU32(headerLength &- PseudowireField.controlWordLength))
    }
    @inlinable public var cells: PseudowireCells { PseudowireCells(unchecked: bytes.slice(headerLength ..< bytes.count)) }
    @inlinable public var cellCount: Int { (bytes.count &- headerLength) / PseudowireField.cellLength }
}

/// What an N-to-one packet header says (one label, the control word); emits
/// them, and places cells after them.
public struct PseudowireCellRepr: Hashable, Sendable {
    public var label: MPLSLabelStackEntry
    public var controlWord: PseudowireControlWord
    /// k ≥ 1.
    public var cellCount: Int

    /// - Precondition: `cellCount >= 1`.
    @inlinable
    public init(label: UInt32, trafficClass: UInt8 = 0, timeToLive: UInt8 = 255, sequence: UInt16, cellCount: Int) {
        precondition(cellCount >= 1, "PseudowireCellRepr: at least one cell")
        self.label = MPLSLabelStackEntry(label: label, trafficClass: trafficClass, bottomOfStack: true, timeToLive: timeToLive)
        self.controlWord = PseudowireControlWord(sequence: sequence)
        self.cellCount = cellCount
    }

    /// The fields as they are; a parsed view satisfies the preconditions of
    /// the public initialiser already.
    @inlinable
    init(label: MPLSLabelStackEntry, controlWord: PseudowireControlWord, cellCount: Int) {
        self.label = label
        self.controlWord = controlWord
        self.cellCount = cellCount
    }

    /// The header of a single-label packet (the view accepts deeper stacks;
    /// only the bottom, pseudowire, label is kept), its control word as
    /// received, and the cell count.
    @inlinable
    public static func parse(_ view: PseudowireCellView) -> PseudowireCellRepr {
        PseudowireCellRepr(label: view.label, controlWord: view.controlWord, cellCount: view.cellCount)
    }

    /// Label entry plus control word: 8.
    public static let headerLength = PseudowireField.labelEntryLength + PseudowireField.controlWordLength
    /// 52: a cell without its HEC.
    public static let cellLength = PseudowireField.cellLength

    @inlinable public var headerLength: Int { PseudowireCellRepr.headerLength }
    @inlinable public var bufferLength: Int { PseudowireCellRepr.headerLength &+ cellCount &* PseudowireField.cellLength }

    /// Where cell `i` starts in the packet.
    @inlinable
    public static func cellOffset(_ i: Int) -> Int { headerLength &+ i &* PseudowireField.cellLength }

    /// The most cells a packet of at most `mtu` bytes carries: ⌊(mtu − 8) / 52⌋
    /// (28 at 1500).
    @inlinable
    public static func maximumCellCount(mtu: Int) -> Int { max(0, (mtu &- headerLength) / PseudowireField.cellLength) }

    /// Writes the label entry and the control word into the first 8 bytes.
    /// The cells are the caller's (`emitCell`).
    /// - Precondition: `buffer.count >= bufferLength`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= bufferLength, "PseudowireCellRepr.emit: buffer too small")
        buffer.writeU32(0, label.rawValue)
        buffer.writeU32(PseudowireField.labelEntryLength, controlWord.rawValue)
    }

    /// Writes cell `index` of a packet: the header word, then the 48 payload bytes.
    /// - Precondition: `payload.count == 48`, the packet has room for the cell.
    @inlinable
    public static func emitCell(_ header: ATMCellRepr, payload: UnsafeRawBufferPointer, at index: Int,
                                into buffer: UnsafeMutableRawBufferPointer) {
        precondition(payload.count == ATMCellField.payloadLength, "PseudowireCellRepr.emitCell: payload is not 48 bytes")
        let o = cellOffset(index)
        precondition(buffer.count >= o &+ PseudowireField.cellLength, "PseudowireCellRepr.emitCell: buffer too small")
        let cell = buffer.slice(o ..< o &+ PseudowireField.cellLength)
        header.emitWithoutHEC(into: cell)
        cell.copy(payload, to: PseudowireField.cellPayload)
    }

    /// Writes cell `index` from a 53-byte cell, dropping its HEC.
    /// - Precondition: `cell.count == 53`, the packet has room for the cell.
    @inlinable
    public static func emitCell(from cell: UnsafeRawBufferPointer, at index: Int, into buffer: UnsafeMutableRawBufferPointer) {
        precondition(cell.count == ATMCellField.cellLength, "PseudowireCellRepr.emitCell: not a 53-byte cell")
        let o = cellOffset(index)
        precondition(buffer.count >= o &+ PseudowireField.cellLength, "PseudowireCellRepr.emitCell: buffer too small")
        buffer.writeU32(o, cell.readU32(ATMCellField.headerWord))
        buffer.copy(cell.slice(ATMCellField.payload ..< ATMCellField.cellLength), to: o &+ PseudowireField.cellPayload)
    }
}
