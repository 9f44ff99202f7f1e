import Synchronization

/// A bounded single-producer single-consumer queue, lock-free: the control
/// thread pushes, one dispatcher pops between upcalls.
///
/// Indices grow without wrapping (Int, 2⁶³ operations); a slot is
/// `index & mask`. The producer publishes an element with a release store of
/// `tail`, the consumer takes it after an acquire load, and hands the slot
/// back with a release store of `head`. Exactly one thread may push and one
/// (other) thread may pop at any time; callers serialise their producers.
public final class SPSCRing<Element>: @unchecked Sendable {
    public let capacity: Int
    private let mask: Int
    private let slots: UnsafeMutablePointer<Element?>
    private let head = Atomic<Int>(0)  // next to pop; written by the consumer
    private let tail = Atomic<Int>(0)  // next to push; written by the producer

    /// `capacity` is rounded up to a power of two.
    public init(capacity: Int) {
        precondition(capacity >= 1)
        var c = 1
        while c < capacity { c <<= 1 }
        self.capacity = c
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: nil, count: c)
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Free slots as the producer sees them (the consumer can only add more).
    public var freeCount: Int {
        capacity - (tail.load(ordering: .relaxed) - head.load(ordering: .acquiring))
    }

    /// Producer: appends `element`, or returns false when full ("would block",
    /// not an error: the caller decides).
    @discardableResult
    public func push(_ element: Element) -> Bool {
        let t = tail.load(ordering: .relaxed)
        if t - head.load(ordering: .acquiring) == capacity { return false }
        slots[t & mask] = element
        tail.store(t + 1, ordering: .releasing)
        return true
    }

    /// Consumer: removes the oldest element, or nil when empty.
    public func pop() -> Element? {
        let h = head.load(ordering: .relaxed)
        if h == tail.load(ordering: .acquiring) { return nil }
        let element = slots[h & mask].take()
        head.store(h + 1, ordering: .releasing)
        return element
    }

    /// Consumer or producer: whether nothing is queued (a hint for the other side).
    public var isEmpty: Bool {
        head.load(ordering: .acquiring) == tail.load(ordering: .acquiring)
    }
}
