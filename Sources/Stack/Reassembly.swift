import Glibc
import Wire

/// IPv4 reassembly (RFC 791 §3.2, RFC 815 hole tracking) in bounded memory.
///
/// A fixed number of contexts, each with a 64 KiB payload buffer and a bitmap
/// of received 8-byte blocks, all allocated at `init`: at most
/// `contexts × 65,535` bytes whatever arrives. A datagram not complete within
/// `timeout` is dropped (RFC 1122 §3.3.2 suggests 60 s; Linux uses 30 s).
/// Fragments that overlap earlier ones with different bytes drop the whole
/// datagram (the reasoning of RFC 5722 and Linux since CVE-2018-5391); exact
/// duplicates are ignored.
public final class Reassembler {
    /// Identifies a datagram being reassembled (RFC 791: source, destination, protocol, identification).
    public struct Key: Hashable {
        public var source: IPv4Address
        public var destination: IPv4Address
        public var protocolNumber: IPProtocol
        public var identification: UInt16
        public init(source: IPv4Address, destination: IPv4Address, protocolNumber: IPProtocol, identification: UInt16) {
            self.source = source
            self.destination = destination
            self.protocolNumber = protocolNumber
            self.identification = identification
        }
    }

    public enum Outcome: Equatable {
        /// Stored; more fragments are needed.
        case incomplete
        /// The datagram is whole: `payload(of:)` gives its bytes until `release(_:)`.
        case complete(context: Int, length: Int)
        /// Ignored: the very same bytes were already here.
        case duplicate
        /// Dropped with its whole datagram: overlapping fragments disagree.
        case overlap
        /// Dropped: offset + length beyond 65,535 bytes, or data past a known end.
        case tooLarge
        /// Stored, but every context was busy: the oldest incomplete
        /// datagram was dropped to make room (as Linux evicts under memory
        /// pressure). More fragments are needed.
        case evictedOldest
    }

    /// The largest IPv4 payload: 65,535 minus a 20-byte header, but fragments
    /// are placed by offset so the buffer takes the whole range (RFC 791).
    public static let maximumPayload = 65_535

    struct Context {
        var inUse = false
        var key = Key(source: .any, destination: .any, protocolNumber: .icmp, identification: 0)
        var expires = Instant.zero
        /// Payload length once the last fragment (MF = 0) arrived, else nil.
        var totalLength: Int?
        var receivedBytes = 0
        var ttl: UInt8 = 0
    }

    public let timeout: Interval
    private var contexts: [Context]
    private let buffers: UnsafeMutableRawPointer
    /// One bit per 8-byte block, 8,192 blocks per context.
    private let bitmaps: UnsafeMutablePointer<UInt64>
    private static let wordsPerBitmap = 65_536 / 8 / 64

    public init(contexts: Int = 8, timeout: Interval = .seconds(30)) {
        precondition(contexts > 0)
        self.timeout = timeout
        self.contexts = Array(repeating: Context(), count: contexts)
        buffers = UnsafeMutableRawPointer.allocate(byteCount: contexts * 65_536, alignment: 64)
        bitmaps = UnsafeMutablePointer<UInt64>.allocate(capacity: contexts * Self.wordsPerBitmap)
        bitmaps.initialize(repeating: 0, count: contexts * Self.wordsPerBitmap)
    }

    deinit {
        buffers.deallocate()
        bitmaps.deallocate()
    }

    public var contextsInUse: Int { contexts.reduce(0) { $0 + ($1.inUse ? 1 : 0) } }

    /// Adds one fragment: `data` at byte `offset` of the datagram's payload,
    /// `more` the MF flag.
    public func add(_ key: Key, offset: Int, more: Bool, data: UnsafeRawBufferPointer,
                             ttl: UInt8, now: Instant) -> Outcome {
        let end = offset + data.count
        guard end <= Self.maximumPayload - 20 else { return .tooLarge }
        // RFC 791: every fragment but the last carries a multiple of 8 bytes.
        guard !more || data.count % 8 == 0, data.count > 0 || !more else { return .tooLarge }
        let (c, evicted) = context(for: key, now: now)

        if let total = contexts[c].totalLength {
            if end > total || (!more && end != total) { release(c); return .tooLarge }
        }
        if !more {
            if contexts[c].receivedBytes > 0, let highest = highestReceived(c), highest > (end + 7) / 8 * 8 {
                release(c); return .tooLarge
            }
            contexts[c].totalLength = end
        }

        let base = buffers + c * 65_536
        switch coverage(c, from: offset, to: end) {
        case .none:
            break
        case .all:
            if memcmp(base + offset, data.baseAddress!, data.count) == 0 { return .duplicate }
            release(c); return .overlap
        case .some:
            release(c); return .overlap
        }
        if data.count > 0 { (base + offset).copyMemory(from: data.baseAddress!, byteCount: data.count) }
        mark(c, from: offset, to: end)
        contexts[c].receivedBytes += data.count
        if offset == 0 { contexts[c].ttl = ttl }

        if let total = contexts[c].totalLength, contexts[c].receivedBytes == total {
            return .complete(context: c, length: total)
        }
        return evicted ? .evictedOldest : .incomplete
    }

    /// The payload of a completed datagram; valid until `release(context)`.
    public func payload(of context: Int, length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffers + context * 65_536, count: length)
    }

    /// Frees a context (after delivery of a complete datagram, or on error).
    public func release(_ context: Int) {
        contexts[context] = Context()
        (bitmaps + context * Self.wordsPerBitmap).update(repeating: 0, count: Self.wordsPerBitmap)
    }

    /// Drops datagrams past their timeout; returns how many, and the next expiry.
    public func expire(now: Instant) -> (expired: Int, next: Instant) {
        var expired = 0
        var next = Instant.never
        for c in contexts.indices where contexts[c].inUse {
            if now >= contexts[c].expires {
                release(c)
                expired += 1
            } else if contexts[c].expires < next {
                next = contexts[c].expires
            }
        }
        return (expired, next)
    }

    // MARK: - Contexts and block bitmaps

    /// The context of `key`, else a free one, else the oldest (evicted; the
    /// second result says so). Under sustained loss a fixed pool that refused
    /// new datagrams would stall every fragmented flow until the timeout;
    /// evicting the oldest keeps fresh datagrams completing.
    private func context(for key: Key, now: Instant) -> (Int, evicted: Bool) {
        var free: Int?
        var oldest = 0
        for c in contexts.indices {
            if contexts[c].inUse {
                if contexts[c].key == key { return (c, false) }
                if now >= contexts[c].expires { release(c) }
            }
            if !contexts[c].inUse {
                if free == nil { free = c }
            } else if contexts[c].expires < contexts[oldest].expires || !contexts[oldest].inUse {
                oldest = c
            }
        }
        let chosen = free ?? oldest
        let evicted = free == nil
        if evicted { release(chosen) }
        contexts[chosen].inUse = true
        contexts[chosen].key = key
        contexts[chosen].expires = now + timeout
        return (chosen, evicted)
    }

    private enum Coverage { case none, some, all }

    /// Whether the 8-byte blocks touched by [from, to) are already received.
    /// Fragment boundaries are multiples of 8 except the end of the last one,
    /// so whole blocks describe coverage exactly.
    private func coverage(_ c: Int, from: Int, to: Int) -> Coverage {
        guard to > from else { return .none }
        let words = bitmaps + c * Self.wordsPerBitmap
        var seen = 0, total = 0
        for block in (from / 8)...((to - 1) / 8) {
            total += 1
            if words[block >> 6] & (1 << UInt64(block & 63)) != 0 { seen += 1 }
        }
        return seen == 0 ? .none : (seen == total ? .all : .some)
    }

    private func mark(_ c: Int, from: Int, to: Int) {
        guard to > from else { return }
        let words = bitmaps + c * Self.wordsPerBitmap
        for block in (from / 8)...((to - 1) / 8) { words[block >> 6] |= 1 << UInt64(block & 63) }
    }

    /// One past the last byte received so far, to the block (nil if none).
    private func highestReceived(_ c: Int) -> Int? {
        let words = bitmaps + c * Self.wordsPerBitmap
        for w in stride(from: Self.wordsPerBitmap - 1, through: 0, by: -1) where words[w] != 0 {
            let bit = 63 - words[w].leadingZeroBitCount
            return (w * 64 + bit + 1) * 8
        }
        return nil
    }
}
