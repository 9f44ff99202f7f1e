import Synchronization

// Counters with a single writer (the core that owns them) and readers on any
// thread: a relaxed load and store, not a read-modify-write, is enough, and
// costs no more than a plain increment. Public: the protocol layers above
// count the same way. (Stack, below the scheduler, has its own internal copy.)

extension Atomic where Value == UInt64 {
    /// Adds `n`. Only the counter's single writer may call it.
    @inlinable @inline(__always)
    public func increment(by n: UInt64 = 1) {
        store(load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }
}

extension Atomic where Value == Int64 {
    /// Adds `n`. Only the counter's single writer may call it.
    @inlinable @inline(__always)
    public func increment(by n: Int64) {
        store(load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }
}
