// The walk of a TPACKET_V2 receive ring: fixed slots, each handed to user
// space on its own, so a lone frame is readable as soon as the kernel has
// written it (PacketSocketDevice's low-latency ring).
import CShims

/// A TPACKET_V2 receive ring as `PacketSocketDevice` reads it: `frameCount`
/// slots of `frameSize` bytes, contiguous from `base`. The kernel fills them
/// in order, sets each one's status to TP_STATUS_USER and wakes poll for each
/// frame; the walk copies every ready frame into a pool buffer and gives the
/// slot back at once (TP_STATUS_KERNEL), so under load one call still takes
/// all the frames that are ready (up to its limit, the batch and the pool).
///
/// The slot header is read as untrusted: a frame whose bytes do not lie
/// whole inside its slot (offset and length past the slot end), that the
/// kernel cut short (snap length below the wire length: the frame was larger
/// than the slot), or that does not fit a pool buffer is dropped and counted
/// in `rxTruncated`; its slot is given back like any other.
struct PacketSlotRing {
    let base: UnsafeMutableRawPointer
    let frameSize: Int
    let frameCount: UInt32
    /// The next slot to read. The kernel's head only moves past slots it
    /// filled, and the walk gives slots back in order, so both stay in step.
    private(set) var index: UInt32 = 0
    /// How many slots ahead the walk prefetches: about one cache miss's
    /// latency of copying at ~2 ns per line (4 and 8 measured alike, 1 no gain).
    private static let prefetchDistance: UInt32 = 8

    init(base: UnsafeMutableRawPointer, frameSize: Int, frameCount: UInt32) {
        self.base = base
        self.frameSize = frameSize
        self.frameCount = frameCount
    }

    /// Copies ready frames until `limit`, a full batch, an empty pool or a
    /// slot the kernel still owns; the counters get frames, bytes and drops.
    /// A frame for which no pool buffer is free stays in its slot until the
    /// next call (`rxNoBuffer`).
    ///
    /// Shaped like the TPACKET_V3 walk (BENCHMARKS.md, "Link drivers"): the
    /// pool's free stack is taken in bulk, and each run of at most
    /// `min(batch room, free slots)` frames is copied by a non-throwing static
    /// function whose loop state stays in registers across the memcpy calls.
    mutating func receive(into batch: FrameBatch, limit: Int, pool: BufferPool,
                          counters: inout LinkCounters) -> Int {
        let room = Swift.min(limit, batch.capacity &- batch.count)
        let slots = batch.storage + batch.count
        var take = pool.beginTake()
        let maxCopy = take.slotSize &- take.headroom
        var index = self.index
        var n = 0
        var dropped: UInt64 = 0
        while n < room {
            if take.top == 0 {
                if rtu_slot_ready(base + Int(index) &* frameSize) != 0 {
                    pool.noteExhausted()
                    counters.rxNoBuffer &+= 1
                }
                break
            }
            // Each frame of the run uses at most one pool slot and one batch entry.
            let run = Swift.min(room &- n, take.top)
            let end = Self.copyRun(base: base, frameSize: frameSize, frameCount: frameCount, index: index,
                                   count: run, into: slots + n, take: take, maxCopy: maxCopy)
            index = end.index
            n = end.next - slots
            take.end = end.freeEnd
            dropped &+= end.dropped
            if end.consumed < run { break }   // reached a slot the kernel still owns
        }
        pool.endTake(take)
        self.index = index
        batch.admitReceived(n, truncated: dropped, counters: &counters)
        return n
    }

    /// Where `copyRun` stopped: the next slot, handle and free-stack end, the
    /// slots it consumed (delivered, dropped or skipped) and those it dropped.
    private struct RunEnd {
        var index: UInt32
        var next: UnsafeMutablePointer<PacketBuffer>
        var freeEnd: UnsafeMutablePointer<Int32>
        var consumed: Int
        var dropped: UInt64
    }

    /// Takes up to `count` ready slots from `index` on, stopping at the first
    /// one the kernel still owns, each frame through `BulkTake.copyFrame`
    /// (one not whole inside its slot is dropped as well). Every consumed
    /// slot is given back to the kernel.
    ///
    /// Static, non-throwing, values in and out, for the reason given at
    /// `PacketSocketDevice.copyRun`.
    @inline(never)
    private static func copyRun(base: UnsafeMutableRawPointer, frameSize: Int, frameCount: UInt32, index: UInt32,
                                count: Int, into next: UnsafeMutablePointer<PacketBuffer>,
                                take: BulkTake, maxCopy: Int) -> RunEnd {
        var i = index, handle = next, t = take
        var consumed = 0
        var dropped: UInt64 = 0
        // Below the ring's size, so one wrap keeps the prefetched slot inside the ring.
        let distance = frameCount > Self.prefetchDistance ? Self.prefetchDistance : 0
        while consumed < count {
            let s = base + Int(i) &* frameSize
            guard rtu_slot_ready(s) != 0 else { break }
            // The header and first frame lines of the slot `distance` ahead (the kernel may
            // still be writing it: a hint only). Nearly halves the walk's cost per frame in a
            // drain (BENCHMARKS.md, "Link drivers").
            let far = i &+ distance
            let ahead = base + Int(far >= frameCount ? far &- frameCount : far) &* frameSize
            rtu_prefetch(ahead)
            rtu_prefetch(ahead + 64)
            rtu_prefetch(ahead + 128)
            let snap = Int(rtu_slot_snaplen(s))
            let mac = Int(rtu_slot_mac_offset(s))
            // A frame offset inside the header (a constant: the call is inlined) is as wrong as one past the end.
            dropped &+= t.copyFrame(s + mac, type: rtu_slot_pkttype(s), snap: snap, wire: Int(rtu_slot_wirelen(s)),
                                    inBounds: mac >= Int(rtu_slot_header_bytes()) && mac &+ snap <= frameSize,
                                    maxCopy: maxCopy, to: &handle)
            rtu_slot_release(s)
            i = i &+ 1 == frameCount ? 0 : i &+ 1
            consumed &+= 1
        }
        return RunEnd(index: i, next: handle, freeEnd: t.end, consumed: consumed, dropped: dropped)
    }
}
