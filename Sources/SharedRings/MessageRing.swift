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

/// Why one side refuses what it found in a ring: the other side wrote
/// something no correct peer writes. The ring is unusable from then on.
public enum RingViolation: Error, Equatable, Sendable, CustomStringConvertible {
    /// Seen by the consumer: a tail behind its head or more than `capacity`
    /// ahead of it. Seen by the producer: a head beyond what it published or
    /// behind where the head already was (so more than `capacity` behind).
    case indexOutOfRange(head: UInt64, tail: UInt64)
    /// An index that is not on a record boundary (a multiple of 16).
    case misalignedIndex(UInt64)
    case recordTooLong(length: UInt32, room: Int)
    case unknownKind(UInt16)

    public var description: String {
        switch self {
        case let .indexOutOfRange(head, tail): return "head \(head) and tail \(tail) are not a valid pair of indices"
        case let .misalignedIndex(index): return "index \(index) is not on a 16-byte record boundary"
        case let .recordTooLong(length, room): return "a record of \(length) bytes where \(room) are left"
        case let .unknownKind(kind): return "a record of unknown kind \(kind)"
        }
    }
}

public enum RingSetupError: Error, Equatable, Sendable, CustomStringConvertible {
    case system(call: String, errno: Int32)
    /// Not a power of two from 4096 to 2^30 bytes.
    case invalidCapacity(Int)
    /// The indices already in the memory are not ones correct peers leave
    /// (a ring adopted from a mapping someone scribbled on).
    case inconsistentIndices(RingViolation)

    public var description: String {
        switch self {
        case let .system(call, errno): return "\(call): \(String(cString: strerror(errno)))"
        case let .invalidCapacity(n):
            return "ring capacity \(n): must be a power of two from \(MessageRing.minimumCapacity) to \(MessageRing.maximumCapacity)"
        case let .inconsistentIndices(v): return "ring indices: \(v)"
        }
    }
}

/// Memory and descriptors that rings live in, unmapped and closed when the
/// last ring or region using them goes (a ring keeps its owner alive, so
/// neither can outlive the mapping).
final class RingMemory {
    let base: UnsafeMutableRawPointer
    let bytes: Int
    let descriptors: [Int32]

    init(base: UnsafeMutableRawPointer, bytes: Int, descriptors: [Int32]) {
        self.base = base
        self.bytes = bytes
        self.descriptors = descriptors
    }

    deinit {
        munmap(base, bytes)
        for fd in descriptors { close(fd) }
    }
}

/// A single-producer single-consumer ring of variable-length records in one
/// region of memory, laid out so the region can be shared with another
/// process (a memfd, `SocketRegion`) as well as another thread:
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
/// side can miss the other). Each side treats what the other wrote as
/// hostile: each index and length is read once and checked before use, and
/// the waiting flags are only compared with zero.
///
/// Several records can be staged and then published at once (`stage` …
/// `publish`, `consume` … `releaseConsumed`): one fence and one doorbell
/// check per batch instead of per record.
public final class MessageRing: @unchecked Sendable {
    public static let headerBytes = 128
    static let recordHeader = 16
    static let minimumCapacity = 4096
    static let maximumCapacity = 1 << 30

    public let capacity: Int
    /// Largest record payload: half the data area, so a record always fits
    /// once the consumer has caught up, whatever the wrap position.
    public let maxPayload: Int
    public let region: UnsafeMutableRawPointer
    /// Rung by the producer when the consumer waits for data.
    public let dataDoorbell: Int32
    /// Rung by the consumer when the producer waits for room.
    public let spaceDoorbell: Int32
    /// Keeps the memory and the doorbells alive as long as the ring.
    private let owner: AnyObject
    private let data: UnsafeMutableRawPointer

    // Producer-private.
    private var tail: UInt64        // staged
    private var published: UInt64   // last stored to the tail word
    private var cachedHead: UInt64
    private var pendingPad = 0
    /// Set when the consumer published a head no correct consumer publishes;
    /// `reserve` refuses from then on.
    public private(set) var producerViolation: RingViolation?
    // Consumer-private.
    private var head: UInt64        // consumed
    private var freed: UInt64       // last stored to the head word
    private var cachedTail: UInt64
    private var current = 0   // bytes of the record last peeked (0: none)

    static func isValidCapacity(_ capacity: Int) -> Bool {
        capacity >= minimumCapacity && capacity <= maximumCapacity && capacity & (capacity - 1) == 0
    }

    /// A ring in fresh anonymous memory of `capacity` data bytes (a power of
    /// two, at least 4096), with doorbells of its own: for threads of one process.
    public convenience init(capacity: Int) throws(RingSetupError) {
        guard Self.isValidCapacity(capacity) else { throw .invalidCapacity(capacity) }
        let bytes = MessageRing.headerBytes + capacity
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else { throw .system(call: "mmap", errno: errno) }
        let data = rtu_sched_eventfd()
        guard data >= 0 else { munmap(p, bytes); throw .system(call: "eventfd", errno: -data) }
        let space = rtu_sched_eventfd()
        guard space >= 0 else { munmap(p, bytes); close(data); throw .system(call: "eventfd", errno: -space) }
        let memory = RingMemory(base: p, bytes: bytes, descriptors: [data, space])
        try self.init(memory: p, capacity: capacity, dataDoorbell: data, spaceDoorbell: space, owner: memory)
    }

    /// A ring over memory and doorbells someone else owns (a `SocketRegion`'s
    /// mapping and eventfds): `headerBytes + capacity` bytes at `memory`,
    /// 64-byte aligned. `owner` is retained for the ring's life and must keep
    /// them valid. Each side starts from the indices already in the memory,
    /// so a client that maps a region after another continues where that one
    /// left off; indices no correct pair of peers leaves are refused.
    public init(memory: UnsafeMutableRawPointer, capacity: Int, dataDoorbell: Int32, spaceDoorbell: Int32,
                owner: AnyObject) throws(RingSetupError) {
        guard Self.isValidCapacity(capacity) else { throw .invalidCapacity(capacity) }
        let t = rtu_atomic_load_acquire(memory), h = rtu_atomic_load_acquire(memory + 64)
        guard t & 15 == 0 else { throw .inconsistentIndices(.misalignedIndex(t)) }
        guard h & 15 == 0 else { throw .inconsistentIndices(.misalignedIndex(h)) }
        guard t &- h <= UInt64(capacity) else { throw .inconsistentIndices(.indexOutOfRange(head: h, tail: t)) }
        region = memory
        self.capacity = capacity
        maxPayload = capacity / 2 - MessageRing.recordHeader
        self.owner = owner
        data = memory + MessageRing.headerBytes
        self.dataDoorbell = dataDoorbell
        self.spaceDoorbell = spaceDoorbell
        tail = t
        published = t
        cachedHead = h
        head = h
        freed = h
        cachedTail = h
    }

    private var tailWord: UnsafeMutableRawPointer { region }
    private var producerWaiting: UnsafeMutableRawPointer { region + 8 }
    private var headWord: UnsafeMutableRawPointer { region + 64 }
    private var consumerWaiting: UnsafeMutableRawPointer { region + 72 }

    @inline(__always) static func footprint(_ length: Int) -> Int { (recordHeader + length + 15) & ~15 }

    // MARK: - Producer

    /// Room for a record of `length` bytes, or nil when the ring is full
    /// (the consumer has not caught up), `length` exceeds `maxPayload`, or
    /// the consumer violated the ring (`producerViolation`). Write the bytes,
    /// then `commit` (or `stage` and later `publish`).
    @inline(__always)
    public func reserve(_ length: Int) -> UnsafeMutableRawBufferPointer? {
        guard length >= 0 && length <= maxPayload else { return nil }
        let (pad, need) = placement(length)
        if !fits(pad + need) {
            guard refreshHead(), fits(pad + need) else { return nil }
        }
        pendingPad = pad
        let start = pad > 0 ? 0 : Int(tail & UInt64(capacity - 1))
        return UnsafeMutableRawBufferPointer(start: data + start + Self.recordHeader, count: length)
    }

    /// Reads the consumer's head once and checks it: it must lie between
    /// where it was and what was published (heads only grow and never pass
    /// the tail), on a record boundary. That keeps `tail - cachedHead` within
    /// `capacity`, so `fits` cannot overflow whatever the consumer writes.
    /// False, for good, once the head was found violated.
    private func refreshHead() -> Bool {
        guard producerViolation == nil else { return false }
        let h = rtu_atomic_load_acquire(headWord)
        guard h &- cachedHead <= published &- cachedHead else {
            producerViolation = .indexOutOfRange(head: h, tail: published)
            return false
        }
        guard h & 15 == 0 else {
            producerViolation = .misalignedIndex(h)
            return false
        }
        cachedHead = h
        return true
    }

    /// Where a record of `length` bytes goes: the pad before it (the rest of
    /// the data area when it would not fit before the end) and its footprint.
    @inline(__always)
    private func placement(_ length: Int) -> (pad: Int, need: Int) {
        let need = Self.footprint(length)
        let contiguous = capacity - Int(tail & UInt64(capacity - 1))
        return (need > contiguous ? contiguous : 0, need)
    }

    /// Whether `bytes` are free as the producer last saw the head (checked by
    /// `refreshHead`, so the subtraction stays within `capacity`).
    @inline(__always)
    private func fits(_ bytes: Int) -> Bool { UInt64(capacity) - (tail &- cachedHead) >= UInt64(bytes) }

    /// Publishes the record last reserved, `length` ≤ the reserved length.
    @inline(__always)
    public func commit(_ length: Int, _ header: RecordHeader) {
        stage(length, header)
        publish()
    }

    /// Writes the record last reserved (`length` ≤ the reserved length)
    /// without making it visible; `publish` shows every staged record at once.
    @inline(__always)
    public func stage(_ length: Int, _ header: RecordHeader) {
        if pendingPad > 0 {
            writeHeader(at: Int(tail & UInt64(capacity - 1)), length: pendingPad - Self.recordHeader, RecordHeader(kind: .pad))
            tail &+= UInt64(pendingPad)
            pendingPad = 0
        }
        writeHeader(at: Int(tail & UInt64(capacity - 1)), length: length, header)
        tail &+= UInt64(Self.footprint(length))
    }

    /// Makes the staged records visible and rings the data doorbell if the
    /// consumer asked for it.
    @inline(__always)
    public func publish() {
        guard tail != published else { return }
        published = tail
        rtu_atomic_store_release(tailWord, tail)
        rtu_atomic_fence()
        if rtu_atomic_load_relaxed(consumerWaiting) != 0, rtu_atomic_exchange(consumerWaiting, 0) != 0 {
            _ = rtu_sched_eventfd_ring(dataDoorbell)
        }
    }

    /// Reserve, copy `bytes`, stage. False when it does not fit.
    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer, _ header: RecordHeader) -> Bool {
        guard let room = reserve(bytes.count) else { return false }
        if bytes.count > 0 { room.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        stage(bytes.count, header)
        return true
    }

    /// Convenience: `append`, then `publish`. False when it does not fit.
    @discardableResult
    public func push(_ bytes: UnsafeRawBufferPointer, _ header: RecordHeader) -> Bool {
        guard append(bytes, header) else { return false }
        publish()
        return true
    }

    /// Producer: publishes what is staged, then blocks until a record of
    /// `length` may fit, the space doorbell rings, or `timeoutNanoseconds`
    /// pass (< 0: forever). True when it fits or the doorbell rang (the
    /// consumer freed room, perhaps not enough; or the owner rang it to say
    /// the socket closed): the caller looks again. False on timeout, or at
    /// once when the consumer violated the ring.
    public func waitForSpace(_ length: Int, timeoutNanoseconds: Int64) -> Bool {
        publish()
        let (pad, need) = placement(min(max(0, length), maxPayload))
        let deadline = WaitDeadline(timeout: timeoutNanoseconds)
        while true {
            rtu_atomic_store_relaxed(producerWaiting, 1)
            rtu_atomic_fence()
            guard refreshHead() else { rtu_atomic_store_relaxed(producerWaiting, 0); return false }
            if fits(pad + need) {
                rtu_atomic_store_relaxed(producerWaiting, 0)
                return true
            }
            guard let left = deadline.remaining else { rtu_atomic_store_relaxed(producerWaiting, 0); return false }
            if rtu_sched_wait_readable(spaceDoorbell, left) > 0 {
                _ = rtu_sched_eventfd_drain(spaceDoorbell)
                rtu_atomic_store_relaxed(producerWaiting, 0)
                return true
            }
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

    /// The oldest record (its header and bytes, valid until it is released),
    /// nil when empty, or a violation when the producer wrote nonsense.
    @inline(__always)
    public func peek() throws(RingViolation) -> (RecordHeader, UnsafeRawBufferPointer)? {
        while true {
            if head == cachedTail {
                // Read once, checked once (and kept only when good): the
                // producer may be another process. On a record boundary and
                // at most `capacity` ahead, every footprint below ends at or
                // before it.
                let t = rtu_atomic_load_acquire(tailWord)
                if head == t { return nil }
                guard t &- head <= UInt64(capacity) else { throw .indexOutOfRange(head: head, tail: t) }
                guard t & 15 == 0 else { throw .misalignedIndex(t) }
                cachedTail = t
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
        consume()
        releaseConsumed()
    }

    /// Moves past the record last returned by `peek` without freeing it yet
    /// (its bytes stay valid); `releaseConsumed` frees every consumed record at once.
    @inline(__always)
    public func consume() {
        precondition(current > 0, "MessageRing.consume without a peeked record")
        head &+= UInt64(current)
        current = 0
    }

    /// Gives the consumed records' room back and rings the space doorbell if
    /// the producer asked for it.
    @inline(__always)
    public func releaseConsumed() {
        guard head != freed else { return }
        freed = head
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

    /// Consumer released by the data doorbell (an RTU watching the eventfd)
    /// rather than polling: frees what it consumed, asks the producer to ring
    /// on its next publish, then looks again. True when data is already there
    /// (the request is withdrawn and the caller keeps consuming); false when
    /// the ring is empty and the doorbell will ring for the next record.
    public func armForData() -> Bool {
        releaseConsumed()
        rtu_atomic_store_relaxed(consumerWaiting, 1)
        rtu_atomic_fence()
        if rtu_atomic_load_acquire(tailWord) != head {
            rtu_atomic_store_relaxed(consumerWaiting, 0)
            return true
        }
        return false
    }

    /// Consumer: frees what it consumed, then blocks until a record is
    /// published, the data doorbell rings, or `timeoutNanoseconds` pass
    /// (< 0: forever). True when a record is there or the doorbell rang (a
    /// publish, or `wakeConsumer`): the caller looks again. False on timeout.
    public func waitForData(timeoutNanoseconds: Int64) -> Bool {
        releaseConsumed()
        let deadline = WaitDeadline(timeout: timeoutNanoseconds)
        while true {
            rtu_atomic_store_relaxed(consumerWaiting, 1)
            rtu_atomic_fence()
            if rtu_atomic_load_acquire(tailWord) != head {
                rtu_atomic_store_relaxed(consumerWaiting, 0)
                return true
            }
            guard let left = deadline.remaining else { rtu_atomic_store_relaxed(consumerWaiting, 0); return false }
            if rtu_sched_wait_readable(dataDoorbell, left) > 0 {
                _ = rtu_sched_eventfd_drain(dataDoorbell)
                rtu_atomic_store_relaxed(consumerWaiting, 0)
                return true
            }
        }
    }
}

/// When a wait gives up: `timeout` nanoseconds from now on the monotonic
/// clock (0: at once, without reading the clock; < 0: never). One rule for
/// every blocking call of the rings and the endpoint.
struct WaitDeadline {
    /// `.max`: never; 0: already passed.
    private let at: Int64

    init(timeout: Int64) {
        at = timeout < 0 ? .max : timeout == 0 ? 0 : rtu_sched_monotonic_ns() &+ timeout
    }

    /// What is left, in `rtu_sched_wait_readable`'s terms (-1: forever), or
    /// nil once the deadline has passed.
    var remaining: Int64? {
        if at == .max { return -1 }
        if at == 0 { return nil }
        let left = at - rtu_sched_monotonic_ns()
        return left > 0 ? left : nil
    }
}
