// TCP header (RFC 9293 §3.1), options in TCPOptions.swift.

/// Field offsets of the TCP header (RFC 9293 §3.1).
@usableFromInline
enum TCPField {
    @usableFromInline static let sourcePort = 0
    @usableFromInline static let destinationPort = 2
    @usableFromInline static let sequenceNumber = 4
    @usableFromInline static let acknowledgmentNumber = 8
    /// Data offset in the high 4 bits (32-bit words), then reserved bits.
    @usableFromInline static let dataOffset = 12
    /// CWR ECE URG ACK PSH RST SYN FIN, high to low (RFC 9293 §3.1, RFC 3168 §6.1).
    @usableFromInline static let flags = 13
    @usableFromInline static let window = 14
    @usableFromInline static let checksum = 16
    @usableFromInline static let urgentPointer = 18
    /// Data offset 5: no options.
    @usableFromInline static let minimumHeaderLength = 20
    /// Data offset 15: 40 bytes of options at most.
    @usableFromInline static let maximumHeaderLength = 60
    @usableFromInline static let maximumOptionsLength = 40
}

/// The eight TCP control bits of byte 13 (RFC 9293 §3.1; ECE and CWR from
/// RFC 3168 §6.1). The retired NS bit is not represented.
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)
}

/// A validated, non-owning view of a TCP segment (the IPv4 payload, already
/// trimmed to the IP total length, so everything after the header is data).
///
/// The initialiser checks the data offset only; options are checked as they
/// are iterated (`makeOptionIterator`, `TCPRepr.parse`) and the checksum by
/// `verifyChecksum`, so the demux can read ports cheaply.
public struct TCPView {
    public let bytes: UnsafeRawBufferPointer
    /// Data offset × 4.
    public let headerLength: Int

    /// - Throws: `.truncated` below 20 bytes; `.badLength` if the data offset
    ///   is below 5 or the header overruns the buffer.
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= TCPField.minimumHeaderLength else { throw .truncated }
        let headerLength = Int(bytes.readU8(TCPField.dataOffset) >> 4) &* 4
        guard headerLength >= TCPField.minimumHeaderLength, headerLength <= bytes.count else { throw .badLength }
        self.bytes = bytes
        self.headerLength = headerLength
    }

    @inlinable public var sourcePort: UInt16 { bytes.readU16(TCPField.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes.readU16(TCPField.destinationPort) }
    @inlinable public var sequenceNumber: UInt32 { bytes.readU32(TCPField.sequenceNumber) }
    @inlinable public var acknowledgmentNumber: UInt32 { bytes.readU32(TCPField.acknowledgmentNumber) }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.readU8(TCPField.flags)) }
    /// The window field as sent (not scaled).
    @inlinable public var window: UInt16 { bytes.readU16(TCPField.window) }
    @inlinable public var checksum: UInt16 { bytes.readU16(TCPField.checksum) }
    @inlinable public var urgentPointer: UInt16 { bytes.readU16(TCPField.urgentPointer) }

    @inlinable public var optionBytes: UnsafeRawBufferPointer {
        bytes.slice(TCPField.minimumHeaderLength ..< headerLength)
    }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(headerLength ..< bytes.count) }

    /// Sequence space the segment occupies: data plus one each for SYN and
    /// FIN (RFC 9293 §3.4).
    @inlinable public var segmentLength: Int {
        let f = flags
        return (bytes.count &- headerLength) &+ (f.contains(.syn) ? 1 : 0) &+ (f.contains(.fin) ? 1 : 0)
    }

    @inlinable public func makeOptionIterator() -> TCPOptionIterator { TCPOptionIterator(optionBytes) }

    /// Whether the checksum over pseudo-header, header and data verifies
    /// (RFC 9293 §3.1 "Checksum").
    @inlinable
    public func verifyChecksum(source: IPv4Address, destination: IPv4Address) -> Bool {
        let pseudo = Checksum.pseudoHeaderSum(source: source, destination: destination, protocol: .tcp, length: bytes.count)
        return Checksum.verify(bytes, initial: pseudo)
    }
}

/// A mutable view for refilling a TCP checksum in place.
public struct TCPMutableView {
    public let bytes: UnsafeMutableRawBufferPointer

    /// Validates exactly as `TCPView.init(_:)`.
    @inlinable
    public init(_ bytes: UnsafeMutableRawBufferPointer) throws(WireError) {
        _ = try TCPView(bytes.readOnly)
        self.bytes = bytes
    }

    @inlinable public var view: TCPView {
        TCPView(unchecked: bytes.readOnly, headerLength: Int(bytes.readOnly.readU8(TCPField.dataOffset) >> 4) &* 4)
    }

    /// Computes the checksum over pseudo-header, header and data and stores it.
    @inlinable
    public func fillChecksum(source: IPv4Address, destination: IPv4Address) {
        bytes.writeU16(TCPField.checksum, 0)
        let pseudo = Checksum.pseudoHeaderSum(source: source, destination: destination, protocol: .tcp, length: bytes.count)
        bytes.writeU16(TCPField.checksum, Checksum.compute(bytes.readOnly, initial: pseudo))
    }
}

extension TCPView {
    @inlinable init(unchecked bytes: UnsafeRawBufferPointer, headerLength: Int) {
        self.bytes = bytes
        self.headerLength = headerLength
    }
}

/// What a TCP header says, options included as fixed-size fields. The
/// payload is not part of the value; it is written once, into the frame, by
/// its owner.
///
/// Options on emit: laid out the way Linux does (MSS; SACK-permitted sharing
/// a word with timestamps, or NOP-padded; NOP + window scale; NOP NOP +
/// SACK), so every option sits on its natural alignment. SACK blocks beyond
/// what fits in the 40 option bytes even without NOPs are dropped from the
/// end (RFC 2018 §3: send as many as fit); if the aligned layout of what is
/// left exceeds 40 bytes, the options are packed without NOPs. Any set parsed
/// from a real header fits packed, so parse → emit → parse is lossless.
public struct TCPRepr: Hashable, Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: UInt32
    /// Meaningful when `flags` contains `.ack`; emitted as given regardless.
    public var acknowledgmentNumber: UInt32
    public var flags: TCPFlags
    /// The window field as sent (already scaled down by the sender).
    public var window: UInt16
    public var urgentPointer: UInt16
    public var maximumSegmentSize: UInt16?
    public var windowScale: UInt8?
    public var sackPermitted: Bool
    public var sackBlocks: TCPSackBlocks
    public var timestamps: TCPTimestamps?
    public var payloadLength: Int

    @inlinable
    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: UInt32,
                acknowledgmentNumber: UInt32 = 0, flags: TCPFlags, window: UInt16, urgentPointer: UInt16 = 0,
                maximumSegmentSize: UInt16? = nil, windowScale: UInt8? = nil, sackPermitted: Bool = false,
                sackBlocks: TCPSackBlocks = TCPSackBlocks(), timestamps: TCPTimestamps? = nil,
                payloadLength: Int = 0) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.urgentPointer = urgentPointer
        self.maximumSegmentSize = maximumSegmentSize
        self.windowScale = windowScale
        self.sackPermitted = sackPermitted
        self.sackBlocks = sackBlocks
        self.timestamps = timestamps
        self.payloadLength = payloadLength
    }

    /// Reads the header and its options; for a repeated option the last wins,
    /// unknown options are skipped.
    /// - Throws: `.badChecksum` (when verifying), `.badOption` for a
    ///   malformed option.
    @inlinable
    public static func parse(_ view: TCPView, source: IPv4Address, destination: IPv4Address,
                             verifyChecksum: Bool = true) throws(WireError) -> TCPRepr {
        if verifyChecksum, !view.verifyChecksum(source: source, destination: destination) { throw .badChecksum }
        var repr = TCPRepr(sourcePort: view.sourcePort, destinationPort: view.destinationPort,
                           sequenceNumber: view.sequenceNumber, acknowledgmentNumber: view.acknowledgmentNumber,
                           flags: view.flags, window: view.window, urgentPointer: view.urgentPointer,
                           payloadLength: view.bytes.count &- view.headerLength)
        var it = view.makeOptionIterator()
        while let option = try it.next() {
            switch option {
            case .maximumSegmentSize(let v): repr.maximumSegmentSize = v
            case .windowScale(let v): repr.windowScale = v
            case .sackPermitted: repr.sackPermitted = true
            case .sack(let b): repr.sackBlocks = b
            case .timestamps(let t): repr.timestamps = t
            case .endOfList, .noOperation, .unknown: break
            }
        }
        return repr
    }

    /// Header length: 20 plus the options padded to a multiple of 4.
    @inlinable public var headerLength: Int { TCPField.minimumHeaderLength &+ optionLayout.length }
    @inlinable public var bufferLength: Int { headerLength &+ payloadLength }

    /// Sequence space the segment occupies: data plus SYN and FIN (RFC 9293 §3.4).
    @inlinable public var segmentLength: Int {
        payloadLength &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
    }

    /// Writes the header and options into `buffer[0..<headerLength]`. With
    /// `checksum` it then checksums `buffer[0..<bufferLength]`, so the payload
    /// must already be in place at `buffer[headerLength...]`; without, the
    /// field is left 0 (for checksum offload).
    /// - Precondition: `buffer.count >= bufferLength`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer, source: IPv4Address, destination: IPv4Address,
                     checksum: Bool = true) {
        let layout = optionLayout
        let headerLength = TCPField.minimumHeaderLength &+ layout.length
        precondition(buffer.count >= headerLength &+ payloadLength, "TCPRepr.emit: buffer too small")
        buffer.writeU16(TCPField.sourcePort, sourcePort)
        buffer.writeU16(TCPField.destinationPort, destinationPort)
        buffer.writeU32(TCPField.sequenceNumber, sequenceNumber)
        buffer.writeU32(TCPField.acknowledgmentNumber, acknowledgmentNumber)
        buffer.writeU8(TCPField.dataOffset, UInt8(headerLength / 4) << 4)
        buffer.writeU8(TCPField.flags, flags.rawValue)
        buffer.writeU16(TCPField.window, window)
        buffer.writeU16(TCPField.checksum, 0)
        buffer.writeU16(TCPField.urgentPointer, urgentPointer)
        emitOptions(into: buffer.slice(TCPField.minimumHeaderLength ..< headerLength), layout: layout)
        if checksum {
            TCPMutableView(unchecked: buffer.slice(0 ..< headerLength &+ payloadLength))
                .fillChecksum(source: source, destination: destination)
        }
    }
}

extension TCPMutableView {
    @inlinable init(unchecked bytes: UnsafeMutableRawBufferPointer) { self.bytes = bytes }
}

/// How the options of a repr are laid out: aligned with NOPs or packed, and
/// how many SACK blocks fit.
@usableFromInline
struct TCPOptionLayout {
    @usableFromInline var aligned: Bool
    @usableFromInline var sackCount: Int
    /// Option bytes including trailing EOL padding; a multiple of 4.
    @usableFromInline var length: Int

    @inlinable init(aligned: Bool, sackCount: Int, length: Int) {
        self.aligned = aligned
        self.sackCount = sackCount
        self.length = length
    }
}

extension TCPRepr {
    /// Option bytes (padded to 4) for a given layout choice.
    @inlinable
    func optionLength(aligned: Bool, sackCount: Int) -> Int {
        var n = 0
        if maximumSegmentSize != nil { n &+= TCPOptionKind.maximumSegmentSizeLength }
        // Aligned: each option is preceded by NOPs up to a 4-byte boundary,
        // except SACK-permitted, which fills the two bytes before timestamps.
        let nopPad = aligned ? 1 : 0
        if timestamps != nil {
            n &+= TCPOptionKind.timestampsLength &+ 2 &* nopPad
            if sackPermitted && !aligned { n &+= TCPOptionKind.sackPermittedLength }
        } else if sackPermitted {
            n &+= TCPOptionKind.sackPermittedLength &+ 2 &* nopPad
        }
        if windowScale != nil { n &+= TCPOptionKind.windowScaleLength &+ nopPad }
        if sackCount > 0 {
            n &+= TCPOptionKind.sackOverhead &+ sackCount &* TCPOptionKind.sackBlockLength &+ 2 &* nopPad
        }
        return (n &+ 3) & ~3
    }

    /// The most SACK blocks that fit packed; then aligned if that still fits.
    @inlinable
    var optionLayout: TCPOptionLayout {
        var n = sackBlocks.count
        while n > 0 && optionLength(aligned: false, sackCount: n) > TCPField.maximumOptionsLength { n &-= 1 }
        let aligned = optionLength(aligned: true, sackCount: n)
        if aligned <= TCPField.maximumOptionsLength {
            return TCPOptionLayout(aligned: true, sackCount: n, length: aligned)
        }
        return TCPOptionLayout(aligned: false, sackCount: n, length: optionLength(aligned: false, sackCount: n))
    }

    /// Writes the options into `out` (exactly `layout.length` bytes), padding
    /// the end with EOL (0), which RFC 9293 §3.1 "Padding" requires be zero.
    @inlinable
    func emitOptions(into out: UnsafeMutableRawBufferPointer, layout: TCPOptionLayout) {
        var at = 0
        @inline(__always) func byte(_ v: UInt8) { out.writeU8(at, v); at &+= 1 }
        @inline(__always) func nops(_ n: Int) { if layout.aligned { for _ in 0 ..< n { byte(TCPOptionKind.noOperation) } } }

        if let mss = maximumSegmentSize {
            byte(TCPOptionKind.maximumSegmentSize); byte(UInt8(TCPOptionKind.maximumSegmentSizeLength))
            out.writeU16(at, mss); at &+= 2
        }
        if let ts = timestamps {
            if sackPermitted {
                byte(TCPOptionKind.sackPermitted); byte(UInt8(TCPOptionKind.sackPermittedLength))
            } else {
                nops(2)
            }
            byte(TCPOptionKind.timestamps); byte(UInt8(TCPOptionKind.timestampsLength))
            out.writeU32(at, ts.value); out.writeU32(at &+ 4, ts.echoReply); at &+= 8
        } else if sackPermitted {
            nops(2)
            byte(TCPOptionKind.sackPermitted); byte(UInt8(TCPOptionKind.sackPermittedLength))
        }
        if let ws = windowScale {
            nops(1)
            byte(TCPOptionKind.windowScale); byte(UInt8(TCPOptionKind.windowScaleLength)); byte(ws)
        }
        if layout.sackCount > 0 {
            nops(2)
            byte(TCPOptionKind.sack)
            byte(UInt8(TCPOptionKind.sackOverhead &+ layout.sackCount &* TCPOptionKind.sackBlockLength))
            for i in 0 ..< layout.sackCount {
                out.writeU32(at, sackBlocks[i].left); out.writeU32(at &+ 4, sackBlocks[i].right); at &+= 8
            }
        }
        while at < layout.length { byte(TCPOptionKind.endOfList) }
    }
}
