// The one protocol every link driver and decorator conforms to, its error
// and its counters.
import Glibc
import Wire

/// A failed system call in a link driver: the operation and its errno.
/// `EAGAIN` is never a `LinkError`; it is a result ("would block").
public struct LinkError: Error, CustomStringConvertible {
    /// What was being done, e.g. "open /dev/net/tun".
    public let operation: String
    public let errno: Int32

    public init(_ operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    /// "open /dev/net/tun: Permission denied (errno 13)"
    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "unknown error"
        return "\(operation): \(text) (errno \(errno))"
    }
}

/// Per-device counters. Every frame a device does not deliver is counted
/// under one reason (ARCHITECTURE.md, rule 7); `rxDropped`/`txDropped` are
/// the totals over the reasons.
public struct LinkCounters: Sendable, Equatable {
    public var rxFrames: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txFrames: UInt64 = 0
    public var txBytes: UInt64 = 0
    /// Received frames not delivered (sum of the rx reasons below).
    public var rxDropped: UInt64 = 0
    /// Frames taken for transmission and not sent (sum of the tx reasons below).
    public var txDropped: UInt64 = 0

    /// Receive stopped because the pool had no free buffer (the frame stays
    /// in the kernel/queue where possible; for rings it is dropped and counted here).
    public var rxNoBuffer: UInt64 = 0
    /// Received frames longer than the buffer space (truncated frames are dropped).
    public var rxTruncated: UInt64 = 0
    /// Frames dropped by the kernel before we saw them (TPACKET_V3 ring
    /// overrun, as reported by PACKET_STATISTICS).
    public var rxKernelDropped: UInt64 = 0
    /// Frames longer than the link's maximum frame size, refused on transmit.
    public var txOversize: UInt64 = 0
    /// Frames the peer queue could not take (MemoryLink), dropped.
    public var txQueueFull: UInt64 = 0
    /// Frames the kernel refused with an error other than "would block" (e.g. EMSGSIZE).
    public var txErrors: UInt64 = 0
    /// Times transmit stopped early because the device would block.
    public var txWouldBlock: UInt64 = 0

    public init() {}

    /// Counts one frame received whole.
    @inline(__always) public mutating func received(bytes: Int) {
        rxFrames &+= 1
        rxBytes &+= UInt64(bytes)
    }
}

extension LinkCounters {
    /// The receive loop of the devices that get one frame per system call
    /// (TAP, the socket pair): up to `limit` frames appended to `batch`,
    /// stopping early when the batch is full, the pool is empty
    /// (`rxNoBuffer`) or nothing waits.
    ///
    /// `read` fills the space from a pool buffer's offset to the end of its
    /// slot and returns the frame's length, or nil when nothing waits. A
    /// length beyond the space means the frame did not fit: it is dropped
    /// (`rxTruncated`). Whatever `read` throws is thrown after the buffer is
    /// given back.
    @inline(__always)
    mutating func receiveEach(into batch: FrameBatch, limit: Int, pool: BufferPool,
                              read: (UnsafeMutableRawBufferPointer) throws(LinkError) -> Int?) throws(LinkError) -> Int {
        var n = 0
        while n < limit, !batch.isFull {
            guard var buffer = pool.take() else {
                rxNoBuffer &+= 1
                break
            }
            let space = buffer.spaceFromOffset
            let got: Int?
            do throws(LinkError) { got = try read(space) } catch {
                pool.give(buffer)
                throw error
            }
            guard let length = got else {
                pool.give(buffer)
                break
            }
            if length > space.count {
                pool.give(buffer)
                rxTruncated &+= 1
                rxDropped &+= 1
                continue
            }
            buffer.length = length
            batch.append(buffer)
            received(bytes: length)
            n &+= 1
        }
        return n
    }

    /// The transmit loop of the devices that send one frame per system call
    /// (TAP, the socket pair), in order. A frame longer than
    /// `maximumFrameLength` is dropped (`txOversize`); one for which `write`
    /// throws is dropped too (`txErrors`: the kernel refused it, e.g. EINVAL,
    /// or EIO on a down interface); the loop stops at the first frame `write`
    /// reports would block (returns false; `txWouldBlock`), which stays at
    /// the front of the batch with those after it. The frames taken, sent or
    /// dropped, are given back to `pool`. Returns the number sent.
    @inline(__always)
    mutating func transmitEach(_ batch: FrameBatch, pool: BufferPool, maximumFrameLength: Int,
                               write: (UnsafeRawBufferPointer) throws(LinkError) -> Bool) -> Int {
        var sent = 0
        var taken = 0
        frames: while taken < batch.count {
            let frame = batch[taken].readable
            if frame.count > maximumFrameLength {
                txOversize &+= 1
                txDropped &+= 1
            } else {
                do throws(LinkError) {
                    guard try write(frame) else {
                        txWouldBlock &+= 1
                        break frames
                    }
                    txFrames &+= 1
                    txBytes &+= UInt64(frame.count)
                    sent &+= 1
                } catch {
                    txErrors &+= 1
                    txDropped &+= 1
                }
            }
            taken &+= 1
        }
        batch.releaseFirst(taken, to: pool)
        return sent
    }
}

/// A link: receives and transmits Ethernet frames in batches through pooled
/// buffers. Conformers: `TapDevice`, `PacketSocketDevice`, `MemoryLink`, and
/// the decorators `PcapCapture` and `FaultInjector`.
///
/// A device is used by one thread at a time (its owner's dispatcher).
public protocol LinkDevice: AnyObject {
    var name: String { get }
    /// The MAC address rtud uses on this link (source of frames it sends,
    /// destination of unicast frames it accepts).
    var hardwareAddress: EthernetAddress { get }
    /// The IP MTU: the largest Ethernet payload this link carries.
    var mtu: Int { get }
    /// A file descriptor that becomes readable when frames wait (poll/epoll), or -1.
    var pollDescriptor: Int32 { get }
    /// Receives up to `limit` frames into buffers taken from `pool`, appended
    /// to `batch` (stops early when batch is full or pool exhausted). Returns
    /// the number received; 0 means nothing waiting (EAGAIN is a result, not
    /// an error).
    func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int
    /// Transmits `batch[0..<count]` in order. Frames taken by the device are
    /// given back to `pool` and removed from the front of the batch — sent,
    /// or dropped and counted (oversize, queue full, refused by the kernel);
    /// frames the device could not take now (EAGAIN, ring full) stay at the
    /// front of the batch. Returns the number of frames sent.
    func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int
    /// Per-device counters (frames/bytes in/out, drops by reason).
    var counters: LinkCounters { get }
}

extension LinkDevice {
    /// The largest Ethernet frame (header + payload, no FCS) this link carries:
    /// MTU plus 14 bytes of header plus 4 for one 802.1Q tag.
    public var maximumFrameLength: Int { mtu + 18 }
}
