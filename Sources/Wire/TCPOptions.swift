// TCP options (RFC 9293 §3.2, §3.7.1; RFC 7323; RFC 2018): a non-allocating
// iterator over the option bytes and the fixed-size values a TCPRepr holds.

/// Option kinds and lengths (RFC 9293 §3.2 table; RFC 7323 §2.2, §3.2;
/// RFC 2018 §2, §3).
@usableFromInline
enum TCPOptionKind {
    @usableFromInline static let endOfList: UInt8 = 0
    @usableFromInline static let noOperation: UInt8 = 1
    @usableFromInline static let maximumSegmentSize: UInt8 = 2
    @usableFromInline static let windowScale: UInt8 = 3
    @usableFromInline static let sackPermitted: UInt8 = 4
    @usableFromInline static let sack: UInt8 = 5
    @usableFromInline static let timestamps: UInt8 = 8

    @usableFromInline static let maximumSegmentSizeLength = 4
    @usableFromInline static let windowScaleLength = 3
    @usableFromInline static let sackPermittedLength = 2
    @usableFromInline static let timestampsLength = 10
    /// Kind and length bytes in front of the SACK blocks.
    @usableFromInline static let sackOverhead = 2
    /// Each SACK block is two 32-bit sequence numbers (RFC 2018 §3).
    @usableFromInline static let sackBlockLength = 8
    /// Kind and length bytes: the smallest legal option length field.
    @usableFromInline static let minimumLength = 2
}

/// One SACK block: the left edge and the sequence number just past the
/// right edge of a block of data received (RFC 2018 §3).
public struct TCPSackBlock: Hashable, Sendable {
    public var left: UInt32
    public var right: UInt32
    @inlinable public init(left: UInt32, right: UInt32) { self.left = left; self.right = right }
}

/// Up to four SACK blocks in fixed storage: a SACK option holds at most four
/// (RFC 2018 §3: 40 option bytes ≥ 2 + 4 × 8), so no array is needed.
public struct TCPSackBlocks: RandomAccessCollection, Hashable, Sendable {
    /// RFC 2018 §3: "at most 4 SACK blocks".
    public static let capacity = 4

    @usableFromInline var b0 = TCPSackBlock(left: 0, right: 0)
    @usableFromInline var b1 = TCPSackBlock(left: 0, right: 0)
    @usableFromInline var b2 = TCPSackBlock(left: 0, right: 0)
    @usableFromInline var b3 = TCPSackBlock(left: 0, right: 0)
    @usableFromInline var _count = 0

    @inlinable public init() {}

    /// Convenience for tests and set-up (the variadic argument allocates).
    /// - Precondition: at most four blocks.
    public init(_ blocks: TCPSackBlock...) {
        precondition(blocks.count <= Self.capacity, "TCPSackBlocks: more than four blocks")
        for b in blocks { _ = append(b) }
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { _count }

    @inlinable public subscript(i: Int) -> TCPSackBlock {
        get {
            precondition(i >= 0 && i < _count, "TCPSackBlocks: index out of range")
            switch i {
            case 0: return b0
            case 1: return b1
            case 2: return b2
            default: return b3
            }
        }
        set {
            precondition(i >= 0 && i < _count, "TCPSackBlocks: index out of range")
            switch i {
            case 0: b0 = newValue
            case 1: b1 = newValue
            case 2: b2 = newValue
            default: b3 = newValue
            }
        }
    }

    /// Appends a block; returns false (and changes nothing) when full.
    @inlinable @discardableResult
    public mutating func append(_ block: TCPSackBlock) -> Bool {
        guard _count < Self.capacity else { return false }
        _count &+= 1
        self[_count &- 1] = block
        return true
    }

    @inlinable public mutating func removeAll() { _count = 0 }

    /// Keeps the first `n` blocks.
    @inlinable public mutating func truncate(to n: Int) { _count = Swift.min(_count, Swift.max(0, n)) }

    @inlinable
    public static func == (a: TCPSackBlocks, b: TCPSackBlocks) -> Bool {
        a.elementsEqual(b)
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(_count)
        for b in self { hasher.combine(b) }
    }
}

/// The timestamps option values (RFC 7323 §3.2).
public struct TCPTimestamps: Hashable, Sendable {
    /// TSval: the sender's timestamp clock.
    public var value: UInt32
    /// TSecr: the TSval being echoed (meaningful when ACK is set).
    public var echoReply: UInt32
    @inlinable public init(value: UInt32, echoReply: UInt32) { self.value = value; self.echoReply = echoReply }
}

/// One TCP option as found in a header.
public enum TCPOption {
    case endOfList
    case noOperation
    case maximumSegmentSize(UInt16)
    /// The shift count as sent; RFC 7323 §2.3 says to use 14 for anything
    /// larger, which is the TCP layer's business.
    case windowScale(UInt8)
    case sackPermitted
    case sack(TCPSackBlocks)
    case timestamps(TCPTimestamps)
    /// A kind this parser does not interpret; `data` excludes kind and length.
    case unknown(kind: UInt8, data: UnsafeRawBufferPointer)
}

extension TCPOption: Equatable {
    /// Compares unknown options by their bytes.
    @inlinable
    public static func == (a: TCPOption, b: TCPOption) -> Bool {
        switch (a, b) {
        case (.endOfList, .endOfList), (.noOperation, .noOperation), (.sackPermitted, .sackPermitted): return true
        case let (.maximumSegmentSize(x), .maximumSegmentSize(y)): return x == y
        case let (.windowScale(x), .windowScale(y)): return x == y
        case let (.sack(x), .sack(y)): return x == y
        case let (.timestamps(x), .timestamps(y)): return x == y
        case let (.unknown(k1, d1), .unknown(k2, d2)): return k1 == k2 && d1.elementsEqual(d2)
        default: return false
        }
    }
}

/// Walks the option bytes of a TCP header without allocating.
///
/// Every option but EOL and NOP carries a length that covers kind and length
/// bytes (RFC 9293 §3.2); unknown kinds are skipped by it. Iteration ends
/// after an EOL (returned once; what follows is padding) or at the end of the
/// bytes. A malformed option ends iteration with `.badOption`.
public struct TCPOptionIterator {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var offset = 0

    @inlinable public init(_ optionBytes: UnsafeRawBufferPointer) { self.bytes = optionBytes }

    /// The next option, or nil when done.
    /// - Throws: `.badOption` for a length below 2 or past the end, or a
    ///   known kind with the wrong length. After a throw, `next()` returns nil.
    @inlinable
    public mutating func next() throws(WireError) -> TCPOption? {
        guard offset < bytes.count else { return nil }
        let kind = bytes.readU8(offset)
        switch kind {
        case TCPOptionKind.endOfList:
            offset = bytes.count
            return .endOfList
        case TCPOptionKind.noOperation:
            offset &+= 1
            return .noOperation
        default:
            break
        }
        guard offset &+ 1 < bytes.count else { return try fail() }
        let length = Int(bytes.readU8(offset &+ 1))
        guard length >= TCPOptionKind.minimumLength, length <= bytes.count &- offset else { return try fail() }
        let start = offset
        let data = start &+ TCPOptionKind.minimumLength
        offset &+= length
        switch kind {
        case TCPOptionKind.maximumSegmentSize:
            guard length == TCPOptionKind.maximumSegmentSizeLength else { return try fail() }
            return .maximumSegmentSize(bytes.readU16(data))
        case TCPOptionKind.windowScale:
            guard length == TCPOptionKind.windowScaleLength else { return try fail() }
            return .windowScale(bytes.readU8(data))
        case TCPOptionKind.sackPermitted:
            guard length == TCPOptionKind.sackPermittedLength else { return try fail() }
            return .sackPermitted
        case TCPOptionKind.timestamps:
            guard length == TCPOptionKind.timestampsLength else { return try fail() }
            return .timestamps(TCPTimestamps(value: bytes.readU32(data), echoReply: bytes.readU32(data &+ 4)))
        case TCPOptionKind.sack:
            let n = (length &- TCPOptionKind.sackOverhead) / TCPOptionKind.sackBlockLength
            guard n >= 1, n <= TCPSackBlocks.capacity,
                  length == TCPOptionKind.sackOverhead &+ n &* TCPOptionKind.sackBlockLength else { return try fail() }
            var blocks = TCPSackBlocks()
            for i in 0 ..< n {
                let at = data &+ i &* TCPOptionKind.sackBlockLength
                blocks.append(TCPSackBlock(left: bytes.readU32(at), right: bytes.readU32(at &+ 4)))
            }
            return .sack(blocks)
        default:
            return .unknown(kind: kind, data: bytes.slice(data ..< start &+ length))
        }
    }

    @inlinable
    mutating func fail() throws(WireError) -> TCPOption? {
        offset = bytes.count
        throw .badOption
    }
}
