// AF_PACKET on an existing interface (a veth end, a NIC): a TPACKET_V2 or
// TPACKET_V3 receive ring, batched transmit with sendmmsg, a libpcap-compiled
// BPF filter.
import CShims
import Glibc
import Wire

/// An AF_PACKET `SOCK_RAW` socket bound to one interface by index.
///
/// **Receive** is a ring shared with the kernel, of one of two kinds
/// (`ReceiveRing`): TPACKET_V3 (the default), blocks of frames handed over
/// when full or after `retireMilliseconds`, so a lone frame waits up to that
/// long; or TPACKET_V2, fixed slots each handed over as soon as its frame is
/// written. Either way the driver copies each frame into a pool buffer (the
/// ring is the kernel's memory; the stack keeps buffers longer than a slot or
/// block lives), gives the ring space back, and takes every frame that is
/// ready in one call, up to its limit. A frame for which no pool buffer is
/// free stays in the ring until the next call. Frames the kernel could not
/// place in a full ring are counted in `rxKernelDropped`.
///
/// Why V3 stays the default (BENCHMARKS.md, "Link drivers" and "UDP over
/// channels and RTUs"): V2 wakes poll for every frame. rtud's dispatcher
/// watches the socket edge-triggered and its link RTU is released at most
/// once per period, so every frame that arrives while the RTU waits for its
/// next release wakes the dispatcher for nothing: under a kernel sender's
/// flood that took 90 % of the core and cut throughput to 0.3–0.6× of V3.
/// V2 shortens the wait of a lone frame (a request after an idle spell:
/// round trip p50 170 µs against 680 µs, the kernel's 130 µs), not the
/// closed-loop round trip, which the link RTU's 1 ms period bounds as well.
/// The V2 walk itself costs ~20 ns more per frame (a status word per slot,
/// two slots per page).
///
/// **Filter**: a BPF program compiled by libpcap admits only frames to
/// `hardwareAddress`, broadcast, and the multicast groups given, attached
/// before the socket is bound, so nothing else ever reaches the ring. Frames
/// this socket sent itself are ignored (PACKET_IGNORE_OUTGOING, and the
/// `PACKET_OUTGOING` type is checked again in the walk).
///
/// **Our MAC vs the interface's**: when `hardwareAddress` differs from the
/// interface's own MAC, the socket joins `PACKET_MR_PROMISC`. A veth delivers
/// frames for any MAC anyway, but a NIC's hardware filter would drop frames
/// for our MAC. The membership is counted by the kernel and removed when the
/// socket closes, so nothing is left behind, and the interface keeps its own
/// MAC (changing it would change the kernel's identity on that wire, and the
/// kernel may still use the interface itself). The kernel marks frames for our
/// MAC `PACKET_OTHERHOST` and does not process them itself.
///
/// **Transmit**: sendmmsg(2), up to 64 frames per call, with
/// `PACKET_QDISC_BYPASS` (the frame goes straight to the driver; a full
/// device queue is an error instead of a queueing delay).
public final class PacketSocketDevice: LinkDevice {
    /// The kind of receive ring (PACKET_VERSION).
    public enum ReceiveRing: String, Sendable, CaseIterable {
        /// TPACKET_V2: one slot per frame, each handed over on its own; poll
        /// wakes for every frame. A slot holds the link's largest frame, so
        /// the ring holds (ring bytes / slot size) frames of any size.
        case v2
        /// TPACKET_V3: blocks packed with frames, handed over when full or
        /// after the retire timeout; poll wakes per block. Holds more small
        /// frames for the same memory, at up to the retire timeout of latency.
        case v3
    }

    public let name: String
    public let hardwareAddress: EthernetAddress
    public let mtu: Int
    public let interfaceIndex: Int32
    /// Whether the socket joined PACKET_MR_PROMISC (our MAC is not the interface's).
    public let isPromiscuous: Bool
    /// The libpcap expression of the attached filter.
    public let filterExpression: String
    /// The kind of receive ring in use.
    public let receiveRing: ReceiveRing
    /// Frames the receive ring holds at most: slots for V2; for V3 the
    /// kernel's nominal count (ring bytes / 2048), small frames pack tighter.
    public var ringFrames: Int { Int(ring.frame_count) }
    public var pollDescriptor: Int32 { ring.fd }

    public var counters: LinkCounters {
        var p: UInt64 = 0, d: UInt64 = 0
        if !closed, rtu_packet_stats(ring.fd, &p, &d) == 0 {
            _counters.rxKernelDropped &+= d
            _counters.rxDropped &+= d
        }
        return _counters
    }
    private var _counters = LinkCounters()

    private var ring = rtu_packet_ring()
    private var closed = false
    /// The TPACKET_V2 walk; nil for a V3 ring.
    private var slots: PacketSlotRing?
    /// TPACKET_V3 walk position: the block being read, the frames left in it, the next frame.
    private var block: UInt32 = 0
    private var framesLeft: UInt32 = 0
    private var frame: UnsafeRawPointer? = nil
    /// sendmmsg arguments, allocated once.
    private static let sendChunk = 64
    private let sendFrames: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let sendLengths: UnsafeMutablePointer<UInt32>

    /// Opens the socket on `interface` (which must exist in the calling
    /// thread's network namespace).
    /// - Parameters:
    ///   - hardwareAddress: rtud's MAC; nil uses the interface's own.
    ///   - mtu: nil uses the interface's MTU; a value is this link's MTU for
    ///     rtud (the interface is not changed).
    ///   - multicastGroups: group MACs admitted by the filter (joined on the interface).
    ///   - ring: the kind of receive ring.
    ///   - blockSize, blockCount: ring memory, blockCount blocks of blockSize
    ///     bytes (a multiple of the page size). The default is 4 MiB as 64
    ///     blocks of 64 KiB rather than 16 of 256 KiB: at low rates each V3
    ///     block is retired after the retire timeout holding a few frames, so
    ///     the ring bridges blockCount × 1 ms of the reader being held up (a
    ///     VM stall of 20–40 ms overflowed 16 blocks: frames lost in the
    ///     kernel); at high rates blocks fill and the bytes bound it, as
    ///     before. A block still holds several 9216-byte frames. For V2 the block size is
    ///     rounded down to a multiple of the slot size (the smallest power of
    ///     two holding the largest frame, 2048 at MTU 1500), at least one slot.
    ///   - retireMilliseconds: TPACKET_V3 block retire timeout (V2 has none).
    public init(interface: String, hardwareAddress: EthernetAddress? = nil, mtu: Int? = nil,
                multicastGroups: [EthernetAddress] = [], ring: ReceiveRing = .v3,
                blockSize: Int = 1 << 16, blockCount: Int = 64, retireMilliseconds: Int = 1) throws(LinkError) {
        name = interface
        interfaceIndex = try Interface.index(interface)
        let own = try Interface.hardwareAddress(interface)
        let mac = hardwareAddress ?? own
        self.hardwareAddress = mac
        if let mtu { self.mtu = mtu } else { self.mtu = try Interface.mtu(interface) }
        var expression = "ether dst \(mac) or ether broadcast"
        for g in multicastGroups where g.isMulticast && !g.isBroadcast { expression += " or ether dst \(g)" }
        filterExpression = expression
        receiveRing = ring
        // The slot must hold the largest frame of this link (maximumFrameLength, computed here before self exists).
        let frameSize = Int(rtu_packet_v2_frame_size(UInt32(clamping: self.mtu + 18)))
        let block = ring == .v2 ? Swift.max(frameSize, blockSize - blockSize % frameSize) : blockSize
        var errbuf = [CChar](repeating: 0, count: 256)
        let r = rtu_packet_open(interfaceIndex, ring == .v2 ? Int32(TPACKET_V2.rawValue) : Int32(TPACKET_V3.rawValue),
                                UInt32(clamping: block), UInt32(clamping: blockCount), UInt32(frameSize),
                                UInt32(clamping: retireMilliseconds), expression, &errbuf, &self.ring)
        if r < 0 {
            let detail = errbuf[0] != 0 ? " (\(String(cString: errbuf)))" : ""
            throw LinkError("open AF_PACKET \(ring == .v2 ? "TPACKET_V2" : "TPACKET_V3") socket on \(interface)\(detail)",
                            errno: -r)
        }
        if ring == .v2, let base = self.ring.ring {
            slots = PacketSlotRing(base: base, frameSize: Int(self.ring.frame_size), frameCount: self.ring.frame_count)
        }
        sendFrames = .allocate(capacity: Self.sendChunk)
        sendLengths = .allocate(capacity: Self.sendChunk)
        isPromiscuous = mac != own
        do throws(LinkError) {
            if isPromiscuous {
                _ = try Syscall.check(rtu_packet_set_promisc(self.ring.fd, interfaceIndex, 1),
                                      "PACKET_MR_PROMISC on \(interface)")
            }
            for g in multicastGroups where g.isMulticast && !g.isBroadcast {
                let r = EthernetAddressBytes.with(g) { rtu_packet_add_multicast(self.ring.fd, interfaceIndex, $0) }
                _ = try Syscall.check(r, "join \(g) on \(interface)")
            }
        } catch {
            rtu_packet_close(&self.ring)
            sendFrames.deallocate()
            sendLengths.deallocate()
            throw error
        }
    }

    deinit {
        close()
        sendFrames.deallocate()
        sendLengths.deallocate()
    }

    /// Unmaps the ring and closes the socket (memberships go with it).
    public func close() {
        if closed { return }
        closed = true
        rtu_packet_close(&ring)
    }

    /// Takes the ready frames of the ring until `limit`, a full batch, an
    /// empty pool or a slot or block the kernel still owns.
    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        guard var walk = slots else { return receiveBlocks(into: batch, limit: limit, pool: pool) }
        let n = walk.receive(into: batch, limit: limit, pool: pool, counters: &_counters)
        slots = walk
        return n
    }

    /// TPACKET_V3: walks retired blocks until `limit`, a full batch, an empty
    /// pool or a block still owned by the kernel.
    ///
    /// Shaped for the per-frame cost (BENCHMARKS.md, "Link drivers"): the
    /// walk state and the pool's free stack (`BulkTake`) live in locals and
    /// are written back once; each block is read in runs of
    /// `min(frames left, batch room, free slots)` frames, so the inner loop
    /// checks none of those per frame; the truncation check comes before the
    /// take, so a dropped frame never touches the pool.
    private func receiveBlocks(into batch: FrameBatch, limit: Int, pool: BufferPool) -> Int {
        let base = UnsafeRawPointer(ring.ring!)
        let blockSize = Int(ring.block_size)
        let blockCount = ring.block_count
        var block = self.block
        var framesLeft = self.framesLeft
        var frame = self.frame
        var n = 0
        var truncated: UInt64 = 0
        let room = Swift.min(limit, batch.capacity &- batch.count)
        // Handles go straight into the batch's storage; its count is set once.
        let slots = batch.storage + batch.count
        var take = pool.beginTake()
        let maxCopy = take.slotSize &- take.headroom
        while n < room {
            if framesLeft == 0 {
                if frame != nil {
                    // Finished the block: give it back, move on.
                    rtu_block_release(UnsafeMutableRawPointer(mutating: base + Int(block) &* blockSize))
                    block = block &+ 1 == blockCount ? 0 : block &+ 1
                    frame = nil
                }
                let b = base + Int(block) &* blockSize
                guard rtu_block_ready(b) != 0 else { break }
                framesLeft = rtu_block_packet_count(b)
                frame = b + Int(rtu_block_first_offset(b))
                if framesLeft == 0 { continue }
            }
            if take.top == 0 {
                pool.noteExhausted()
                _counters.rxNoBuffer &+= 1
                break
            }
            // A run of frames that needs no per-frame check of the block, the
            // batch or the pool: each frame uses at most one slot and one entry.
            let run = Swift.min(Int(framesLeft), room &- n, take.top)
            let end = Self.copyRun(frame.unsafelyUnwrapped, count: run, into: slots + n, take: take, maxCopy: maxCopy)
            truncated &+= end.truncated
            n = end.next - slots
            take.end = end.freeEnd
            framesLeft &-= UInt32(truncatingIfNeeded: run)
            frame = end.frame
        }
        pool.endTake(take)
        batch.admitReceived(n, truncated: truncated, counters: &_counters)
        // Hand a fully read block back at once rather than on the next call,
        // so the kernel has the whole ring while we process this batch.
        if framesLeft == 0, frame != nil {
            rtu_block_release(UnsafeMutableRawPointer(mutating: base + Int(block) &* blockSize))
            block = block &+ 1 == blockCount ? 0 : block &+ 1
            frame = nil
        }
        self.block = block
        self.framesLeft = framesLeft
        self.frame = frame
        return n
    }

    /// Where `copyRun` stopped: all four come back in registers.
    private struct RunEnd {
        var frame: UnsafeRawPointer
        var next: UnsafeMutablePointer<PacketBuffer>
        var freeEnd: UnsafeMutablePointer<Int32>
        var truncated: UInt64
    }

    /// Copies the `count` frames from `frame` on (one block) into slots from
    /// `take`, writing their handles at `next` (`BulkTake.copyFrame`: frames
    /// the socket sent itself skipped, truncated ones dropped). Returns where
    /// the walk, the handles and the free stack ended and the frames dropped.
    ///
    /// A separate, non-throwing function taking and returning values (no
    /// `inout`, no `self`): the loop state then lives in the registers a
    /// memcpy call preserves. In the method, `self` and the error register
    /// take two of them, and an `inout` is written back after every copy
    /// because memcpy might have changed it as far as the compiler knows.
    @inline(never)
    private static func copyRun(_ frame: UnsafeRawPointer, count: Int, into next: UnsafeMutablePointer<PacketBuffer>,
                                take: BulkTake, maxCopy: Int) -> RunEnd {
        var f = frame, handle = next, t = take
        var truncated: UInt64 = 0
        for _ in 0 ..< count {
            // The kernel keeps a V3 frame inside its block: no bounds of its own to check.
            truncated &+= t.copyFrame(f + Int(rtu_frame_mac_offset(f)), type: rtu_frame_pkttype(f),
                                      snap: Int(rtu_frame_snaplen(f)), wire: Int(rtu_frame_wirelen(f)),
                                      inBounds: true, maxCopy: maxCopy, to: &handle)
            f = f + Int(rtu_frame_next_offset(f))
        }
        return RunEnd(frame: f, next: handle, freeEnd: t.end, truncated: truncated)
    }

    /// sendmmsg(2) in chunks of up to 64 frames, in order, until the socket
    /// would block.
    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        var sent = 0
        var taken = 0
        let maxFrame = maximumFrameLength
        defer { batch.releaseFirst(taken, to: pool) }
        while taken < batch.count {
            // Gather the run of sendable frames starting at `taken`.
            var k = 0
            while k < Self.sendChunk, taken &+ k < batch.count {
                let b = batch[taken &+ k]
                if b.length > maxFrame { break }
                sendFrames[k] = b.base + b.offset
                sendLengths[k] = UInt32(truncatingIfNeeded: b.length)
                k &+= 1
            }
            if k == 0 {
                _counters.txOversize &+= 1
                _counters.txDropped &+= 1
                taken &+= 1
                continue
            }
            let r = rtu_packet_send_batch(ring.fd, sendFrames, sendLengths, UInt32(k))
            if r > 0 {
                for i in 0 ..< Int(r) { _counters.txBytes &+= UInt64(sendLengths[i]) }
                _counters.txFrames &+= UInt64(r)
                sent &+= Int(r)
                taken &+= Int(r)
                continue
            }
            let e = -r
            if e == EAGAIN {
                _counters.txWouldBlock &+= 1
                break
            }
            if e == EBADF || e == EFAULT { _ = Syscall.failure("sendmmsg", e) }
            // The kernel refused the first frame (ENOBUFS from a full device
            // queue under QDISC_BYPASS, EMSGSIZE, ENETDOWN, ...): drop it, count it.
            _counters.txErrors &+= 1
            _counters.txDropped &+= 1
            taken &+= 1
        }
        return sent
    }
}

extension FrameBatch {
    /// Ends a ring walk (either kind) that wrote `n` handles after the
    /// batch's last one and dropped `truncated` frames (`BulkTake.copyFrame`):
    /// the handles join the batch and count as received frames and bytes,
    /// the drops as truncated. The bytes are summed here rather than in the
    /// walk, which keeps a register free there.
    @inline(__always)
    func admitReceived(_ n: Int, truncated: UInt64, counters: inout LinkCounters) {
        let added = storage + count
        var bytes: UInt64 = 0
        for i in 0 ..< n { bytes &+= UInt64(truncatingIfNeeded: added[i].length) }
        setCount(count &+ n)
        counters.rxFrames &+= UInt64(n)
        counters.rxBytes &+= bytes
        counters.rxTruncated &+= truncated
        counters.rxDropped &+= truncated
    }
}

extension BulkTake {
    /// The per-frame step of both ring walks (`PacketSocketDevice.copyRun`,
    /// TPACKET_V3; `PacketSlotRing.copyRun`, TPACKET_V2), given what the
    /// frame's header says. A frame the socket sent itself (`type`
    /// PACKET_OUTGOING) is skipped. One that is not where the ring may put
    /// it (`inBounds`, the walk's own check), that the kernel cut short
    /// (`snap` below `wire`: larger than the ring's frame room) or that does
    /// not fit a pool buffer after its headroom (`maxCopy`) is dropped: 1 is
    /// returned, for the walk to count. Any other is copied from `bytes` into
    /// a slot taken here, its handle written at `handle`, which moves on.
    ///
    /// Inlined into each walk, so its locals stay the walk's registers.
    @inline(__always)
    mutating func copyFrame(_ bytes: UnsafeRawPointer, type: UInt8, snap: Int, wire: Int, inBounds: @autoclosure () -> Bool,
                            maxCopy: Int, to handle: inout UnsafeMutablePointer<PacketBuffer>) -> UInt64 {
        if type == UInt8(truncatingIfNeeded: PACKET_OUTGOING) { return 0 }
        guard snap <= maxCopy, snap >= wire, inBounds() else { return 1 }
        let buffer = take(length: snap)
        handle.initialize(to: buffer)
        handle += 1
        (buffer.base + buffer.offset).copyMemory(from: bytes, byteCount: snap)
        return 0
    }
}
