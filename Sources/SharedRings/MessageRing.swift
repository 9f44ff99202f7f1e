import CShims
import Glibc

/// What one record of a `MessageRing` carries besides its bytes: a datagram's
/// peer (address and port, host order), a kind and a word of detail. For a
/// socket's RX ring the peer is the source; for its TX ring the destination.
public struct RecordHeader: Equatable, Sendable {
    public var kind: RecordKind
    public var address: UInt32
    public var port: UInt16
    /// Kind-specific: the ICMP type and code of an error record.
    public var detail: UInt32

    public init(kind: RecordKind, address: UInt32 = 0, port: UInt16 = 0, detail: UInt32 = 0) {
        self.kind = kind
        self.address = address
        self.port = port
        self.detail = detail
    }
}

public struct RecordKind: RawRepresentable, Equatable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let datagram = RecordKind(rawValue: 1)
    /// An ICMP error about something the socket sent (detail = type << 8 | code).
    public static let icmpError = RecordKind(rawValue: 2)
    /// Fills the space up to the end of the data area before a wrap.
    static let pad = RecordKind(rawValue: 0xFFFF)
}

/// Why a consumer refuses what it found in a ring: the other side wrote
/// something no correct producer writes. The ring is unusable from then on.
public enum RingViolation: Error, Equatable, Sendable {
    case indexOutOfRange(head: UInt64, tail: UInt64)
    case recordTooLong(length: UInt32, room: Int)
    case unknownKind(UInt16)
}

/// A single-producer single-consumer ring of variable-length records in one
/// region of memory, laid out so the region can be shared with another
/// process (a memfd, issue 5) as well as another thread:
///
/// ```
/// 0    producer line: tail (bytes published), producer-waiting flag
/// 64   consumer line: head (bytes consumed), consumer-waiting flag
/// 128  data: `capacity` bytes of records, each a 16-byte header
///      (length u32, kind u16, port u16, address u32, detail u32)
///      and its bytes, padded to 16
/// ```
///
/// Indices only grow; a record never wraps (a pad record fills the end).
/// The producer publishes with a release store of `tail`, the consumer frees
/// with a release store of `head`. Doorbells (eventfds) are rung only when
/// the other side said it waits (store flag, full fence, re-check: neither
/// side can miss the other). The consumer treats what it reads as hostile:
/// each index and length is read once and checked before use.
public final class MessageRing: @unchecked Sendable {
    public static let headerBytes = 128
    static let recordHeader = 16

    public let capacity: Int
    /// Largest record payload: half the data area, so a record always fits
    /// once the consumer has caught up, whatever the wrap position.
    public let maxPayload: Int
    public let region: UnsafeMutableRawPointer
    /// Rung by the producer when the consumer waits for data.
    public let dataDoorbell: Int32
    /// Rung by the consumer when the producer waits for room.
    public let spaceDoorbell: Int32
    private let ownsRegion: Bool
    private let data: UnsafeMutableRawPointer

    // Producer-private.
    private var tail: UInt64 = 0
    private var cachedHead: UInt64 = 0
    private var pendingPad = 0
    // Consumer-private.
    private var head: UInt64 = 0
    private var cachedTail: UInt64 = 0
    private var current = 0   // bytes of the record last peeked (0: none)

    /// A ring in fresh anonymous memory of `capacity` data bytes (a power of
    /// two, at least 4096).
    public convenience init(capacity: Int) throws(RingSetupError) {
        precondition(capacity >= 4096 && capacity & (capacity - 1) == 0, "MessageRing: capacity must be a power of two ≥ 4096")
        let bytes = MessageRing.headerBytes + capacity
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else { throw RingSetupError(call: "mmap", errno: errno) }
        try self.init(region: p, capacity: capacity, ownsRegion: true)
    }

    init(region: UnsafeMutableRawPointer, capacity: Int, ownsRegion: Bool) throws(RingSetupError) {
        let data = rtu_sched_eventfd()
        guard data >= 0 else { throw RingSetupError(call: "eventfd", errno: -data) }
        let space = rtu_sched_eventfd()
        guard space >= 0 else { close(data); throw RingSetupError(call: "eventfd", errno: -space) }
        self.region = region
        self.capacity = capacity
        maxPayload = capacity / 2 - MessageRing.recordHeader
        self.ownsRegion = ownsRegion
        self.data = region + MessageRing.headerBytes
        dataDoorbell = data
        spaceDoorbell = space
    }

    deinit {
        close(dataDoorbell)
        close(spaceDoorbell)
        if ownsRegion { munmap(region, MessageRing.headerBytes + capacity) }
    }

    private var tailWord: UnsafeMutableRawPointer { region }
    private var producerWaiting: UnsafeMutableRawPointer { region + 8 }
    private var headWord: UnsafeMutableRawPointer { region + 64 }
    private var consumerWaiting: UnsafeMutableRawPointer { region + 72 }

    @inline(__always) static func footprint(_ length: Int) -> Int { (recordHeader + length + 15) & ~15 }

    // MARK: - Producer

    /// Room for a record of `length` bytes, or nil when the ring is full
    /// (the consumer has not caught up) or `length` exceeds `maxPayload`.
    /// Write the bytes, then `commit`.
    @inline(__always)
    public func reserve(_ length: Int) -> UnsafeMutableRawBufferPointer? {
        guard length >= 0 && length <= maxPayload else { return nil }
        let (pad, need) = placement(length)
        if !fits(pad + need) {
            cachedHead = rtu_atomic_load_acquire(headWord)
            if !fits(pad + need) { return nil }
        }
        pendingPad = pad
        let start = pad > 0 ? 0 : Int(tail & UInt64(capacity - 1))
        return UnsafeMutableRawBufferPointer(start: data + start + Self.recordHeader, count: length)
    }

    /// Where a record of `length` bytes goes: the pad before it (the rest of
    /// the data area when it would not fit before the end) and its footprint.
    @inline(__always)
    private func placement(_ length: Int) -> (pad: Int, need: Int) {
        let need = Self.footprint(length)
        let contiguous = capacity - Int(tail & UInt64(capacity - 1))
        return (need > contiguous ? contiguous : 0, need)
    }

    /// Whether `bytes` are free as the producer last saw the head.
    @inline(__always)
    private func fits(_ bytes: Int) -> Bool { UInt64(capacity) - (tail &- cachedHead) >= UInt64(bytes) }

    /// Publishes the record last reserved, `length` ≤ the reserved length.
    @inline(__always)
    public func commit(_ length: Int, _ header: RecordHeader) {
        if pendingPad > 0 {
            writeHeader(at: Int(tail & UInt64(capacity - 1)), length: pendingPad - Self.recordHeader, RecordHeader(kind: .pad))
            tail &+= UInt64(pendingPad)
            pendingPad = 0
        }
        writeHeader(at: Int(tail & UInt64(capacity - 1)), length: length, header)
        tail &+= UInt64(Self.footprint(length))
        rtu_atomic_store_release(tailWord, tail)
        rtu_atomic_fence()
        if rtu_atomic_load_relaxed(consumerWaiting) != 0, rtu_atomic_exchange(consumerWaiting, 0) != 0 {
            _ = rtu_sched_eventfd_ring(dataDoorbell)
        }
    }

    /// Convenience: reserve, copy `bytes`, commit. False when full.
    @discardableResult
    public func push(_ bytes: UnsafeRawBufferPointer, _ header: RecordHeader) -> Bool {
        guard let room = reserve(bytes.count) else { return false }
        if bytes.count > 0 { room.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        commit(bytes.count, header)
        return true
    }

    /// Producer: blocks until a record of `length` may fit or `timeoutNanoseconds` pass.
    /// Returns false on timeout.
    public func waitForSpace(_ length: Int, timeoutNanoseconds: Int64) -> Bool {
        let (pad, need) = placement(min(max(0, length), maxPayload))
        let deadline = rtu_sched_monotonic_ns() &+ timeoutNanoseconds
        while true {
            rtu_atomic_store_relaxed(producerWaiting, 1)
            rtu_atomic_fence()
            cachedHead = rtu_atomic_load_acquire(headWord)
            if fits(pad + need) {
                rtu_atomic_store_relaxed(producerWaiting, 0)
                return true
            }
            let left = deadline - rtu_sched_monotonic_ns()
            if left <= 0 { rtu_atomic_store_relaxed(producerWaiting, 0); return false }
            if rtu_sched_wait_readable(spaceDoorbell, left) > 0 { _ = rtu_sched_eventfd_drain(spaceDoorbell) }
        }
    }

    private func writeHeader(at offset: Int, length: Int, _ h: RecordHeader) {
        let p = data + offset
        p.storeBytes(of: UInt32(length), as: UInt32.self)
        p.storeBytes(of: h.kind.rawValue, toByteOffset: 4, as: UInt16.self)
        p.storeBytes(of: h.port, toByteOffset: 6, as: UInt16.self)
        p.storeBytes(of: h.address, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: h.detail, toByteOffset: 12, as: UInt32.self)
    }

    // MARK: - Consumer

    /// The oldest record (its header and bytes, valid until `release`), nil
    /// when empty, or a violation when the producer wrote nonsense.
    @inline(__always)
    public func peek() throws(RingViolation) -> (RecordHeader, UnsafeRawBufferPointer)? {
        while true {
            if head == cachedTail {
                cachedTail = rtu_atomic_load_acquire(tailWord)
                if head == cachedTail { return nil }
                // Read once, checked once: the producer may be another process.
                guard cachedTail &- head <= UInt64(capacity), cachedTail > head else {
                    throw .indexOutOfRange(head: head, tail: cachedTail)
                }
            }
            let position = Int(head & UInt64(capacity - 1))
            let p = UnsafeRawPointer(data + position)
            let length = p.loadUnaligned(as: UInt32.self)
            let room = min(capacity - position, Int(cachedTail &- head)) - Self.recordHeader
            guard Int(length) <= room else { throw .recordTooLong(length: length, room: room) }
            let kind = RecordKind(rawValue: p.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
            if kind == .pad {
                head &+= UInt64(Self.footprint(Int(length)))
                continue
            }
            guard kind == .datagram || kind == .icmpError else { throw .unknownKind(kind.rawValue) }
            let header = RecordHeader(kind: kind, address: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
                                      port: p.loadUnaligned(fromByteOffset: 6, as: UInt16.self),
                                      detail: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            current = Self.footprint(Int(length))
            return (header, UnsafeRawBufferPointer(start: p + Self.recordHeader, count: Int(length)))
        }
    }

    /// Frees the record last returned by `peek` and wakes a waiting producer.
    @inline(__always)
    public func release() {
        precondition(current > 0, "MessageRing.release without a peeked record")
        head &+= UInt64(current)
        current = 0
        rtu_atomic_store_release(headWord, head)
        rtu_atomic_fence()
        if rtu_atomic_load_relaxed(producerWaiting) != 0, rtu_atomic_exchange(producerWaiting, 0) != 0 {
            _ = rtu_sched_eventfd_ring(spaceDoorbell)
        }
    }

    /// Consumer: whether nothing is left to read.
    public var isEmpty: Bool { head == rtu_atomic_load_acquire(tailWord) }

    /// Wakes a consumer blocked in `waitForData` whatever it asked for (it
    /// then re-checks its state; used when the socket is closed under it).
    public func wakeConsumer() { _ = rtu_sched_eventfd_ring(dataDoorbell) }

    /// Consumer: blocks until a record is published or `timeoutNanoseconds`
    /// pass (< 0: forever). Returns false on timeout.
    public func waitForData(timeoutNanoseconds: Int64) -> Bool {
        let deadline = timeoutNanoseconds < 0 ? Int64.max : rtu_sched_monotonic_ns() &+ timeoutNanoseconds
        while true {
            rtu_atomic_store_relaxed(consumerWaiting, 1)
            rtu_atomic_fence()
            if rtu_atomic_load_acquire(tailWord) != head {
                rtu_atomic_store_relaxed(consumerWaiting, 0)
                return true
            }
            let left = deadline == .max ? -1 : deadline - rtu_sched_monotonic_ns()
            if deadline != .max && left <= 0 { rtu_atomic_store_relaxed(consumerWaiting, 0); return false }
            if rtu_sched_wait_readable(dataDoorbell, left) > 0 { _ = rtu_sched_eventfd_drain(dataDoorbell) }
        }
    }
}

public struct RingSetupError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
}
