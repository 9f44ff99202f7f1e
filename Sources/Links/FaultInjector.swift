// A decorator that impairs a link deterministically: the same seed and the
// same frames give the same faults, so a failing simulated scenario replays.
import Wire

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to draw
/// fault decisions; no Foundation, no global state.
public struct SplitMix64 {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    @inlinable public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    @inlinable public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in 0 ..< bound (bound > 0).
    @inlinable public mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Counts of the faults a `FaultInjector` applied.
public struct FaultCounters: Sendable, Equatable {
    public var dropped: UInt64 = 0
    public var duplicated: UInt64 = 0
    public var reordered: UInt64 = 0
    public var corrupted: UInt64 = 0
    public init() {}
}

/// Wraps a device and, with the given per-frame probabilities, drops,
/// duplicates, reorders and corrupts frames in both directions.
///
/// Decisions are drawn from a seeded SplitMix64 in a fixed order per frame
/// (drop, corrupt, duplicate, reorder), so equal seeds and equal frame
/// sequences give equal faults. Corruption flips one random bit of the
/// frame. A duplicate is a copy in a buffer taken from the same pool (skipped
/// when the pool or batch is full). Reordering holds a frame back and
/// delivers it after the next frame of the same direction, or at the next
/// call if none follows (so a frame is never held longer than one call).
/// The held frame's buffer belongs to the pool of the call that held it;
/// use one pool per direction, as the stack does. On transmit, faults are
/// applied to each frame once, even if the device leaves it in the batch.
public final class FaultInjector<Inner: LinkDevice>: LinkDevice {
    public let inner: Inner
    public var name: String { inner.name }
    public var hardwareAddress: EthernetAddress { inner.hardwareAddress }
    public var mtu: Int { inner.mtu }
    public var pollDescriptor: Int32 { inner.pollDescriptor }
    public var counters: LinkCounters { inner.counters }
    public private(set) var rxFaults = FaultCounters()
    public private(set) var txFaults = FaultCounters()

    public let dropRate: Double
    public let duplicateRate: Double
    public let reorderRate: Double
    public let corruptRate: Double

    private var random: SplitMix64
    private var heldRx: PacketBuffer?
    private var heldTx: PacketBuffer?
    private let scratch: FrameBatch
    private var txAlreadyFaulted = 0

    /// - Parameters: probabilities in 0...1, each applied per frame.
    public init(wrapping inner: Inner, seed: UInt64, drop: Double = 0, duplicate: Double = 0,
                reorder: Double = 0, corrupt: Double = 0, batchCapacity: Int = 256) {
        precondition([drop, duplicate, reorder, corrupt].allSatisfy { (0 ... 1).contains($0) },
                     "FaultInjector: probabilities must be in 0...1")
        self.inner = inner
        random = SplitMix64(seed: seed)
        dropRate = drop
        duplicateRate = duplicate
        reorderRate = reorder
        corruptRate = corrupt
        scratch = FrameBatch(capacity: batchCapacity)
    }

    /// Applies faults to `batch[start...]`, in place. Returns how many frames
    /// the range now holds.
    private func impair(_ batch: FrameBatch, from start: Int, pool: BufferPool,
                        held: inout PacketBuffer?, faults: inout FaultCounters) -> Int {
        scratch.removeAll()
        for i in start ..< batch.count { scratch.append(batch[i]) }
        batch.removeLast(batch.count - start)
        for i in 0 ..< scratch.count {
            let frame = scratch[i]
            if random.nextUnit() < dropRate {
                pool.give(frame)
                faults.dropped &+= 1
                continue
            }
            if random.nextUnit() < corruptRate, frame.length > 0 {
                let bit = random.next(below: frame.length * 8)
                frame.bytes[bit >> 3] ^= UInt8(1) << UInt8(bit & 7)
                faults.corrupted &+= 1
            }
            let duplicate = random.nextUnit() < duplicateRate
            let reorder = random.nextUnit() < reorderRate
            if reorder, held == nil {
                held = frame
                faults.reordered &+= 1
                continue
            }
            append(frame, to: batch, pool: pool)
            if let h = held {
                append(h, to: batch, pool: pool)
                held = nil
            }
            if duplicate, !batch.isFull, var copy = pool.take() {
                copy.length = frame.length
                copy.bytes.copyMemory(from: frame.readable)
                batch.append(copy)
                faults.duplicated &+= 1
            }
        }
        return batch.count - start
    }

    private func append(_ frame: PacketBuffer, to batch: FrameBatch, pool: BufferPool) {
        if batch.isFull { pool.give(frame) } else { batch.append(frame) }
    }

    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        let start = batch.count
        let n = try inner.receive(into: batch, limit: limit, pool: pool)
        if n == 0 {
            // Nothing followed the held frame: deliver it now (bounded delay).
            if let h = heldRx, !batch.isFull {
                batch.append(h)
                heldRx = nil
                return 1
            }
            return 0
        }
        return impair(batch, from: start, pool: pool, held: &heldRx, faults: &rxFaults)
    }

    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        let already = min(txAlreadyFaulted, batch.count)
        if already < batch.count {
            _ = impair(batch, from: already, pool: pool, held: &heldTx, faults: &txFaults)
        } else if let h = heldTx, !batch.isFull {
            batch.append(h)
            heldTx = nil
        }
        defer { txAlreadyFaulted = batch.count }
        return try inner.transmit(batch, pool: pool)
    }

    /// Gives a held frame back to `pool` (call before dropping the device).
    public func releaseHeld(to pool: BufferPool) {
        if let h = heldRx { pool.give(h) }
        if let h = heldTx { pool.give(h) }
        heldRx = nil
        heldTx = nil
    }
}
