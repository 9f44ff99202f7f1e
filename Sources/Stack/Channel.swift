import Links
import Synchronization

/// Told when a channel goes from empty to non-empty (LRP: that releases the
/// channel's reactive RTU). Called once per transition, not per frame.
public protocol ChannelWaker: AnyObject {
    func channelBecameNonEmpty()
}

/// An LRP channel: a bounded FIFO of received frames waiting for their
/// owner's protocol processing (ARCHITECTURE.md, "LRP, as this project
/// applies it"). The demux pushes; the RTU that owns the channel pops.
///
/// Both ends run on the one core that owns the interface (rule 1 of the hot
/// path), so the ring itself needs no atomics. Its counters are atomics with
/// a single writer, so the control thread can read them while the core runs.
public final class FrameChannel {
    /// Identifies the channel's owner (a socket id) to the layer above.
    public let id: Int
    public let capacity: Int
    public weak var waker: ChannelWaker?

    private let slots: UnsafeMutablePointer<PacketBuffer>
    private let mask: Int
    private var head = 0   // next to pop
    private var tail = 0   // next to push

    /// Frames placed on the channel.
    public let accepted = Atomic<UInt64>(0)
    /// Frames dropped because the channel was full (before any protocol work).
    public let droppedFull = Atomic<UInt64>(0)

    /// `capacity` is rounded up to a power of two.
    public init(id: Int, capacity: Int) {
        precondition(capacity >= 1, "FrameChannel: capacity must be at least 1")
        var c = 1
        while c < capacity { c <<= 1 }
        self.id = id
        self.capacity = c
        mask = c - 1
        slots = .allocate(capacity: c)
    }

    deinit {
        precondition(head == tail, "FrameChannel freed with frames in it (drain it to its pool first)")
        slots.deallocate()
    }

    @inlinable public var isEmpty: Bool { count == 0 }
    public var count: Int { tail &- head }

    /// Places `frame` on the channel, or returns false when it is full (the
    /// caller gives the buffer back; the drop is counted here).
    @inline(__always)
    public func push(_ frame: PacketBuffer) -> Bool {
        let n = tail &- head
        if n == capacity {
            droppedFull.increment()
            return false
        }
        (slots + (tail & mask)).initialize(to: frame)
        tail &+= 1
        accepted.increment()
        if n == 0 { waker?.channelBecameNonEmpty() }
        return true
    }

    /// The oldest frame, or nil.
    @inline(__always)
    public func pop() -> PacketBuffer? {
        guard head != tail else { return nil }
        let frame = (slots + (head & mask)).move()
        head &+= 1
        return frame
    }

    /// Gives every queued frame back to `pool` (closing the channel's owner).
    public func drain(to pool: BufferPool) {
        while let frame = pop() { pool.give(frame) }
    }
}
