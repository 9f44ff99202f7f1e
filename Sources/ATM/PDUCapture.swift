// A capture of whole AAL5 CPCS-PDUs, as the adaptor sends and reassembles
// them, in a pcap file of LINKTYPE_ERF (197) records of type 4
// (ERF_TYPE_AAL5): the 4-byte cell header of the PDU's last cell, then the
// whole PDU, pad and trailer included. Wireshark then decodes the trailer
// and says whether each CRC is correct (ATM-FACTS.md, "pcap of reassembled
// PDUs"). The cell frames themselves are captured by `PcapCapture` on the
// carrier.
//
// Every PDU that ends with a last cell is written, good or bad, so a CRC
// failure can be seen in the file. ERF capture interface 0 is receive, 1 transmit.
import Glibc
import Wire

/// Field layout of the files this writer makes.
enum ERFField {
    /// pcap global header (libpcap file format): magic, version 2.4, zone,
    /// sigfigs, snaplen, link type.
    static let pcapMagic: UInt32 = 0xA1B2_C3D4
    static let pcapHeaderLength = 24
    static let pcapRecordHeaderLength = 16
    static let linkTypeERF: UInt32 = 197
    /// The ERF record header: timestamp (8, little-endian, seconds in the
    /// high 32 bits, binary fraction in the low 32), type, flags, rlen (BE),
    /// lctr (BE), wlen (BE).
    static let headerLength = 16
    static let typeAAL5: UInt8 = 4
    /// Flags: bits 0–1 the capture interface, bit 2 "varying record length".
    static let flagVaryingLength: UInt8 = 0x04
    /// rlen is 16 bits: a longer PDU is cut (and flagged truncated, bit 3).
    static let flagTruncated: UInt8 = 0x08
    static let maximumRecordLength = 65_535
    /// The AAL5 record's payload starts with the cell header word, no HEC.
    static let cellHeaderLength = 4
}

/// Writes reassembled and transmitted PDUs to an ERF-in-pcap file. Fed cell
/// by cell by the adaptor; keeps one PDU buffer per VC and direction,
/// allocated at `init`. Not on the data path unless enabled.
public final class ATMPDUCapture {
    public enum Direction: Int { case receive = 0, transmit = 1 }

    public let path: String
    /// Added to the adaptor's `now` to make a wall-clock timestamp (ns).
    public var clockOffset: UInt64
    public private(set) var recordsWritten: UInt64 = 0

    private var file: UnsafeMutablePointer<FILE>?
    private let maximumPDU: Int
    private let buffers: UnsafeMutableRawPointer
    private var fill: [Int]
    private let vcs: Int
    private let record: UnsafeMutableRawPointer

    /// Creates (truncates) `path`. `vcCount` and `maximumPDU` size the buffers.
    public init(path: String, vcCount: Int, maximumPDU: Int = AAL5.maximumPDULength, clockOffset: UInt64 = 0) throws(ATMCaptureError) {
        guard let f = fopen(path, "wb") else { throw ATMCaptureError(path: path, errno: errno) }
        self.path = path
        self.clockOffset = clockOffset
        file = f
        vcs = max(1, vcCount)
        self.maximumPDU = min(maximumPDU, AAL5.maximumPDULength)
        buffers = .allocate(byteCount: 2 * vcs * self.maximumPDU, alignment: 64)
        fill = Array(repeating: 0, count: 2 * vcs)
        record = .allocate(byteCount: ERFField.pcapRecordHeaderLength + ERFField.maximumRecordLength, alignment: 8)
        // The global header, little-endian like the records, built in the record buffer.
        let h = UnsafeMutableRawBufferPointer(start: record, count: ERFField.pcapHeaderLength)
        h.initializeMemory(as: UInt8.self, repeating: 0)
        h.storeBytes(of: ERFField.pcapMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
        h.storeBytes(of: UInt16(2).littleEndian, toByteOffset: 4, as: UInt16.self)   // version 2.4
        h.storeBytes(of: UInt16(4).littleEndian, toByteOffset: 6, as: UInt16.self)
        h.storeBytes(of: UInt32(ERFField.maximumRecordLength).littleEndian, toByteOffset: 16, as: UInt32.self)   // snaplen
        h.storeBytes(of: ERFField.linkTypeERF.littleEndian, toByteOffset: 20, as: UInt32.self)
        fwrite(h.baseAddress, 1, h.count, f)
    }

    deinit {
        close()
        buffers.deallocate()
        record.deallocate()
    }

    public func flush() { if let f = file { fflush(f) } }

    public func close() {
        if let f = file { fclose(f) }
        file = nil
    }

    /// One cell of VC `vc`; writes a record when `word` marks the end of a PDU.
    public func cell(_ direction: Direction, vc: Int, word: UInt32, payload: UnsafeRawBufferPointer, now: UInt64) {
        guard file != nil, vc < vcs else { return }
        let slot = direction.rawValue * vcs + vc
        let base = buffers + slot * maximumPDU
        let at = fill[slot]
        if at + ATMCell.payloadLength <= maximumPDU {
            (base + at).copyMemory(from: payload.baseAddress!, byteCount: ATMCell.payloadLength)
            fill[slot] = at + ATMCell.payloadLength
        }
        guard ATMCellRepr(word: word).payloadType.isEndOfPDU else { return }
        write(direction, word: word, pdu: UnsafeRawBufferPointer(start: base, count: fill[slot]), now: now)
        fill[slot] = 0
    }

    private func write(_ direction: Direction, word: UInt32, pdu: UnsafeRawBufferPointer, now: UInt64) {
        guard let f = file else { return }
        let whole = ERFField.headerLength + ERFField.cellHeaderLength + pdu.count
        let length = min(whole, ERFField.maximumRecordLength)
        let r = UnsafeMutableRawBufferPointer(start: record, count: ERFField.pcapRecordHeaderLength + length)
        let t = now &+ clockOffset
        let seconds = t / 1_000_000_000, nanos = t % 1_000_000_000
        // pcap record header, little-endian (the magic says so).
        r.storeBytes(of: UInt32(truncatingIfNeeded: seconds).littleEndian, toByteOffset: 0, as: UInt32.self)
        r.storeBytes(of: UInt32(nanos / 1000).littleEndian, toByteOffset: 4, as: UInt32.self)
        r.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 8, as: UInt32.self)
        r.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 12, as: UInt32.self)
        let e = r.slice(ERFField.pcapRecordHeaderLength ..< r.count)
        let fraction = (nanos << 32) / 1_000_000_000
        e.storeBytes(of: (seconds << 32 | fraction).littleEndian, toByteOffset: 0, as: UInt64.self)
        e[8] = ERFField.typeAAL5
        e[9] = UInt8(direction.rawValue) | ERFField.flagVaryingLength | (length < whole ? ERFField.flagTruncated : 0)
        e.storeBytes(of: UInt16(length).bigEndian, toByteOffset: 10, as: UInt16.self)
        e.storeBytes(of: UInt16(0).bigEndian, toByteOffset: 12, as: UInt16.self)
        let wire = min(whole - ERFField.headerLength, Int(UInt16.max))
        e.storeBytes(of: UInt16(wire).bigEndian, toByteOffset: 14, as: UInt16.self)
        e.storeBytes(of: word.bigEndian, toByteOffset: ERFField.headerLength, as: UInt32.self)
        let body = ERFField.headerLength + ERFField.cellHeaderLength
        e.copy(pdu.slice(0 ..< length - body), to: body)
        fwrite(r.baseAddress, 1, r.count, f)
        recordsWritten &+= 1
    }
}

/// The capture file could not be opened.
public struct ATMCaptureError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String {
        "open \(path): " + (strerror(errno).map { String(cString: $0) } ?? "error \(errno)")
    }
}
