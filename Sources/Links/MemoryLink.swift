// An in-memory Ethernet cable for tests: two ends, each direction a bounded
// queue of frame-sized slots allocated once.
import Glibc
import Wire

/// One direction of a `MemoryLink` pair: a ring of `limit` slots of
/// `slotSize` bytes, filled by one end's `transmit` and drained by the other
/// end's `receive`. Allocated once; copying in and out allocates nothing.
final class MemoryQueue {
    let limit: Int
    let slotSize: Int
    let data: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<Int>
    var head = 0   // next slot to read
    var count = 0

    init(limit: Int, slotSize: Int) {
        self.limit = limit
        self.slotSize = slotSize
        data = .allocate(byteCount: limit * slotSize, alignment: 64)
        lengths = .allocate(capacity: limit)
        lengths.initialize(repeating: 0, count: limit)
    }

    deinit {
        data.deallocate()
        lengths.deallocate()
    }

    /// Copies a frame in; false when the queue is full.
    func push(_ frame: UnsafeRawBufferPointer) -> Bool {
        guard count < limit else { return false }
        var tail = head &+ count
        if tail >= limit { tail &-= limit }
        if frame.count > 0 {
            (data + tail &* slotSize).copyMemory(from: frame.baseAddress!, byteCount: frame.count)
        }
        lengths[tail] = frame.count
        count &+= 1
        return true
    }

    /// The frame at the head of the queue (valid until `pop`).
    func peek() -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: data + head &* slotSize, count: lengths[head])
    }

    func pop() {
        head &+= 1
        if head == limit { head = 0 }
        count &-= 1
    }
}

/// In-memory pair for tests: frames transmitted on one end are received on
/// the other (copied into the receiver's pool buffers); each direction is a
/// bounded queue (a frame sent to a full queue is dropped and counted in the
/// sender's `txQueueFull`). Frames longer than `maximumFrameLength` are
/// refused (`txOversize`). There is no descriptor to poll (`pollDescriptor`
/// is -1); use `pending`.
public final class MemoryLink: LinkDevice {
    public let name: String
    public let hardwareAddress: EthernetAddress
    public let mtu: Int
    public var pollDescriptor: Int32 { -1 }
    public private(set) var counters = LinkCounters()

    private let inbound: MemoryQueue
    private let outbound: MemoryQueue

    init(name: String, mtu: Int, address: EthernetAddress, inbound: MemoryQueue, outbound: MemoryQueue) {
        self.name = name
        self.mtu = mtu
        self.hardwareAddress = address
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Two connected ends, "mem-a" (address `a`) and "mem-b" (address `b`).
    public static func pair(mtu: Int = 1500, a: EthernetAddress, b: EthernetAddress,
                            queueLimit: Int = 1024) -> (MemoryLink, MemoryLink) {
        precondition(mtu > 0 && queueLimit > 0, "MemoryLink.pair: bad geometry")
        let slot = (mtu + 18 + 63) & ~63
        let ab = MemoryQueue(limit: queueLimit, slotSize: slot)
        let ba = MemoryQueue(limit: queueLimit, slotSize: slot)
        return (MemoryLink(name: "mem-a", mtu: mtu, address: a, inbound: ba, outbound: ab),
                MemoryLink(name: "mem-b", mtu: mtu, address: b, inbound: ab, outbound: ba))
    }

    /// Frames waiting to be received on this end.
    public var pending: Int { inbound.count }

    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        var n = 0
        while n < limit, inbound.count > 0, !batch.isFull {
            guard var buffer = pool.take() else {
                counters.rxNoBuffer &+= 1
                break
            }
            let frame = inbound.peek()
            inbound.pop()
            guard frame.count <= buffer.capacity &- buffer.offset else {
                pool.give(buffer)
                counters.rxTruncated &+= 1
                counters.rxDropped &+= 1
                continue
            }
            if frame.count > 0 {
                (buffer.base + buffer.offset).copyMemory(from: frame.baseAddress!, byteCount: frame.count)
            }
            buffer.length = frame.count
            batch.append(buffer)
            counters.received(bytes: frame.count)
            n &+= 1
        }
        return n
    }

    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        var sent = 0
        let maxFrame = maximumFrameLength
        for i in 0 ..< batch.count {
            let b = batch[i]
            if b.length > maxFrame {
                counters.txOversize &+= 1
                counters.txDropped &+= 1
            } else if outbound.push(b.readable) {
                counters.txFrames &+= 1
                counters.txBytes &+= UInt64(b.length)
                sent &+= 1
            } else {
                counters.txQueueFull &+= 1
                counters.txDropped &+= 1
            }
        }
        batch.releaseAll(to: pool)
        return sent
    }
}
