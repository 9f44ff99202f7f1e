import Synchronization

// Single-writer counters (see RTUScheduler/Counting.swift, which layers above
// this one use; Stack sits below the scheduler and keeps this internal copy).

extension Atomic where Value == UInt64 {
    /// Adds `n` with a relaxed load and store. Only the counter's single writer may call it.
    @inline(__always)
    func increment(by n: UInt64 = 1) {
        store(load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }
}
