// Packet memory: a fixed pool of equally sized slots, handles to those slots,
// and a reusable batch of handles. Nothing here allocates after `init`
// (ARCHITECTURE.md, rule 2 of the hot path).
import Glibc

/// Handle to one slot of a `BufferPool`; trivially copyable, no ARC, no allocation.
///
/// The frame occupies `base[offset ..< offset + length]`; the bytes before
/// `offset` are headroom into which lower layers write their headers
/// (STYLE.md habit 4), so an outgoing frame is built in place.
public struct PacketBuffer {
    /// Start of the slot.
    public let base: UnsafeMutableRawPointer
    /// Slot size in bytes.
    public let capacity: Int
    /// Index of the slot in its pool.
    public let slot: Int32
    /// Start of the frame within the slot (headroom before it).
    public var offset: Int
    /// Frame length in bytes.
    public var length: Int

    @inlinable
    public init(base: UnsafeMutableRawPointer, capacity: Int, slot: Int32, offset: Int, length: Int) {
        self.base = base
        self.capacity = capacity
        self.slot = slot
        self.offset = offset
        self.length = length
    }

    /// The frame bytes, `(base + offset, length)`.
    @inlinable public var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + offset, count: length)
    }

    /// The frame bytes, read-only.
    @inlinable public var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + offset, count: length)
    }

    /// Bytes free before the frame.
    @inlinable public var headroom: Int { offset }

    /// Bytes free after the frame.
    @inlinable public var tailroom: Int { capacity &- offset &- length }

    /// Everything from `offset` to the end of the slot: where a driver
    /// receives a frame of unknown length.
    @inlinable public var spaceFromOffset: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + offset, count: capacity &- offset)
    }

    /// Grows the frame at the front by `count` bytes of headroom (a lower
    /// layer's header) and returns the new first bytes. Precondition: room.
    @inlinable @discardableResult
    public mutating func prepend(_ count: Int) -> UnsafeMutableRawBufferPointer {
        precondition(count >= 0 && count <= offset, "PacketBuffer.prepend: not enough headroom")
        offset &-= count
        length &+= count
        return UnsafeMutableRawBufferPointer(start: base + offset, count: count)
    }

    /// Removes `count` bytes from the front (a header that has been parsed).
    @inlinable public mutating func consumeFront(_ count: Int) {
        precondition(count >= 0 && count <= length, "PacketBuffer.consumeFront: beyond the frame")
        offset &+= count
        length &-= count
    }
}

/// Fixed pool of equally sized slots in one mmap'd (and mlock'ed when
/// permitted) arena; O(1) take/give, no allocation after init.
/// Single-threaded: one owner per pool (ARCHITECTURE.md, rule 1).
public final class BufferPool {
    public let slotSize: Int
    public let count: Int
    public let headroom: Int

    /// Start of the arena: `count * slotSize` bytes.
    public let arena: UnsafeMutableRawPointer
    /// Whether `mlock` succeeded (it needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK).
    public let isLocked: Bool

    private let arenaBytes: Int
    /// Stack of free slot indices; `free[0 ..< freeCount]` are free.
    private let free: UnsafeMutablePointer<Int32>
    private var freeCount: Int
    /// One byte per slot: 1 while the slot is handed out. Catches double gives
    /// and gives of foreign handles without trusting the caller.
    private let out: UnsafeMutablePointer<UInt8>

    /// Times `take()` returned nil.
    public private(set) var exhausted: UInt64 = 0
    /// Times `give` was called with a handle that was not out (a double give
    /// or a handle from another pool); the call is ignored.
    public private(set) var invalidGives: UInt64 = 0

    /// - Parameters:
    ///   - slotSize: bytes per slot; rounded up to a multiple of 64 (cache line).
    ///   - count: number of slots, at least 1.
    ///   - headroom: where `take()` places the frame start; must be < slotSize.
    public init(slotSize: Int, count: Int, headroom: Int = 64) throws(LinkError) {
        precondition(slotSize > 0 && count > 0 && headroom >= 0 && headroom < slotSize,
                     "BufferPool: bad geometry")
        precondition(count <= Int(Int32.max), "BufferPool: too many slots")
        let size = (slotSize + 63) & ~63
        self.slotSize = size
        self.count = count
        self.headroom = headroom
        let bytes = size * count
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        arenaBytes = (bytes + pageSize - 1) / pageSize * pageSize
        guard let p = mmap(nil, arenaBytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0),
              p != MAP_FAILED else {
            throw LinkError("mmap buffer pool", errno: errno)
        }
        arena = p
        isLocked = mlock(p, arenaBytes) == 0
        free = .allocate(capacity: count)
        out = .allocate(capacity: count)
        out.initialize(repeating: 0, count: count)
        // Hand out low slots first, which keeps a lightly used pool in few pages.
        for i in 0 ..< count { free[i] = Int32(count - 1 - i) }
        freeCount = count
    }

    deinit {
        if isLocked { _ = munlock(arena, arenaBytes) }
        _ = munmap(arena, arenaBytes)
        free.deallocate()
        out.deallocate()
    }

    /// Slots currently free.
    public var available: Int { freeCount }

    /// A free slot with `offset = headroom`, `length = 0`; nil when exhausted
    /// (counted in `exhausted`).
    public func take() -> PacketBuffer? {
        guard freeCount > 0 else {
            exhausted &+= 1
            return nil
        }
        freeCount &-= 1
        let slot = free[freeCount]
        out[Int(slot)] = 1
        return PacketBuffer(base: arena + Int(slot) &* slotSize, capacity: slotSize,
                            slot: slot, offset: headroom, length: 0)
    }

    /// Returns a slot to the pool. A handle that is not out (given twice, or
    /// not from this pool) is ignored and counted in `invalidGives`.
    public func give(_ buffer: PacketBuffer) {
        guard isOut(buffer) else {
            invalidGives &+= 1
            return
        }
        out[Int(buffer.slot)] = 0
        free[freeCount] = buffer.slot
        freeCount &+= 1
    }

    /// Gives back `count` handles at `handles` (a batch's storage), with the
    /// same checks as `give(_:)`. Everything the loop reads from `self` is
    /// copied into locals first: the stores through `out` and `free` could
    /// alias `self`'s fields as far as the compiler knows, so otherwise the
    /// count, the pointers and the free count would be reloaded per handle.
    func give(_ handles: UnsafePointer<PacketBuffer>, count n: Int) {
        let out = self.out, free = self.free, arena = self.arena
        let slots = UInt(bitPattern: self.count), slotSize = self.slotSize
        var top = free + freeCount
        var invalid: UInt64 = 0
        // Last handle first: the free stack ends up as it was before these
        // were taken, so the next batch reuses the same slots in the same
        // (ascending) order.
        var p = handles + n
        while p != handles {
            p -= 1
            let slot = p.pointee.slot
            // Zero-extended, so a negative slot fails the range check too.
            let s = Int(UInt32(bitPattern: slot))
            if UInt(bitPattern: s) < slots, out[s] == 1, p.pointee.base == arena + s &* slotSize {
                out[s] = 0
                top.pointee = slot
                top += 1
            } else {
                invalid &+= 1
            }
        }
        freeCount = top - free
        invalidGives &+= invalid
    }

    /// Starts a driver's bulk take: the free stack with its top in a local.
    /// Nothing else may use the pool until `endTake` (single owner, and the
    /// pool's free count is stale meanwhile).
    func beginTake() -> BulkTake {
        BulkTake(free: free, out: out, arena: arena, slotSize: slotSize, headroom: headroom, end: free + freeCount)
    }

    /// Ends a bulk take: publishes the free count once.
    func endTake(_ t: BulkTake) { freeCount = t.top }

    /// A bulk taker found no free slot (counted like a nil `take()`).
    func noteExhausted() { exhausted &+= 1 }

    /// Whether `buffer` is currently handed out by this pool.
    public func isOut(_ buffer: PacketBuffer) -> Bool {
        let s = Int(buffer.slot)
        return s >= 0 && s < count && out[s] == 1 && buffer.base == arena + s &* slotSize
    }
}

/// A driver's view of a `BufferPool`'s free stack while it fills a batch
/// (`BufferPool.beginTake`/`endTake`): the pool's pointers and geometry and
/// the stack top in locals, so a receive loop keeps them in registers instead
/// of reloading the pool's fields after every frame copy (which, as far as
/// the compiler knows, could have written them). Takes mark the slot out,
/// exactly as `BufferPool.take()`, so gives are checked the same way.
struct BulkTake {
    let free: UnsafeMutablePointer<Int32>
    let out: UnsafeMutablePointer<UInt8>
    let arena: UnsafeMutableRawPointer
    let slotSize: Int
    let headroom: Int
    /// One past the top free slot: `free ..< end` are free.
    var end: UnsafeMutablePointer<Int32>

    /// Free slots left.
    var top: Int { end - free }

    /// Takes the top free slot and returns a handle of `length` bytes at
    /// `headroom`. Precondition (the caller bounds its loop by `top`): top > 0.
    @inline(__always)
    mutating func take(length: Int) -> PacketBuffer {
        end -= 1
        let slot = end.pointee
        out[Int(slot)] = 1
        return PacketBuffer(base: arena + Int(slot) &* slotSize, capacity: slotSize,
                            slot: slot, offset: headroom, length: length)
    }
}

/// A reusable batch of buffer handles (allocated once, reused forever).
public final class FrameBatch {
    public let capacity: Int
    public private(set) var count: Int = 0
    @usableFromInline let storage: UnsafeMutablePointer<PacketBuffer>

    public init(capacity: Int) {
        precondition(capacity > 0, "FrameBatch: capacity must be positive")
        self.capacity = capacity
        storage = .allocate(capacity: capacity)
    }

    deinit { storage.deallocate() }

    public subscript(i: Int) -> PacketBuffer {
        get {
            precondition(i >= 0 && i < count, "FrameBatch: index out of range")
            return storage[i]
        }
        set {
            precondition(i >= 0 && i < count, "FrameBatch: index out of range")
            storage[i] = newValue
        }
    }

    public var isFull: Bool { count == capacity }
    public var isEmpty: Bool { count == 0 }

    /// Precondition: `count < capacity`.
    public func append(_ b: PacketBuffer) {
        precondition(count < capacity, "FrameBatch: full")
        (storage + count).initialize(to: b)
        count &+= 1
    }

    /// count = 0; does NOT give buffers back.
    public func removeAll() { count = 0 }

    /// Gives every buffer back to `pool`; count = 0.
    public func releaseAll(to pool: BufferPool) {
        pool.give(storage, count: count)
        count = 0
    }

    /// For drivers: the count after writing handles straight into `storage`.
    func setCount(_ n: Int) {
        precondition(n >= 0 && n <= capacity, "FrameBatch: count beyond capacity")
        count = n
    }

    /// Drops the last `n` handles (does not give them back).
    public func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= count, "FrameBatch: removeLast beyond count")
        count &-= n
    }

    /// Gives the first `n` buffers back to `pool` (in bulk) and removes
    /// them: what a driver does with the frames it has taken for transmit.
    public func releaseFirst(_ n: Int, to pool: BufferPool) {
        precondition(n >= 0 && n <= count, "FrameBatch: releaseFirst beyond count")
        if n == 0 { return }
        pool.give(storage, count: n)
        removeFirst(n)
    }

    /// Drops the first `n` handles (does not give them back) and shifts the rest down.
    public func removeFirst(_ n: Int) {
        precondition(n >= 0 && n <= count, "FrameBatch: removeFirst beyond count")
        if n == 0 { return }
        let rest = count &- n
        if rest > 0 { memmove(storage, storage + n, rest &* MemoryLayout<PacketBuffer>.stride) }
        count = rest
    }
}
