// The emulated 155 Mbps ATM adaptor as a `LinkDevice` decorator: the stack
// above keeps speaking Ethernet/IPv4 (Sources/Stack/Interface.swift runs
// unchanged), the carrier below carries RFC 4717 cell frames.
//
//   transmit: Ethernet/IPv4 frame → VC (bound to its UDP source port, else
//             by destination MAC, else the destination's default VC) →
//             RFC 2684 SDU in place → per-VC queue;
//             the cell clock and the VC's contract then release its cells
//             into carrier frames (Transmitter.swift).
//   receive:  carrier frame → cells → per-VC AAL5 reassembly with the
//             header/data split (Reassembler.swift) → Ethernet frame to the
//             stack's MAC, from the VC's synthetic MAC, EtherType IPv4.
//   ARP:      a PVC needs no address resolution (RFC 2225 §8), so the
//             adaptor answers the stack's ARP requests for PVC peers itself,
//             with the VC's synthetic MAC (ATMVirtualChannel.syntheticHardwareAddress).
//
// Time: the owner calls `poll(now:)` at least by the deadline it returns and
// before `transmit`/`receive` whenever time has moved; those use the last `now`.
import Links
import Wire

/// How an adaptor is set up (besides its PVCs).
public struct ATMAdaptorConfiguration: Sendable {
    /// The IP MTU the stack sees: RFC 2225 §5's 9180 by default.
    public var mtu = ATMEncapsulation.defaultIPMTU
    /// The pseudowire's MPLS label (RFC 3032; 16 and above are free for
    /// use). Both ends must agree; tshark decodes with `-d mpls.label==4717,mplspwatmn1cw`.
    public var label: UInt32 = 4717
    /// The Ethernet destination of carrier frames: the peer's carrier MAC,
    /// or broadcast on a point-to-point carrier.
    public var peerCarrierAddress = EthernetAddress.broadcast
    /// Cells per carrier frame at most; nil: as many as the carrier MTU and
    /// the pool's slots allow (28 at 1500). Fewer cells cut the latency a
    /// frame adds (the first cell waits for the last) and cost carrier frames.
    public var cellsPerFrame: Int?
    /// SDUs queued per VC before `txVCQueueFull` drops.
    public var queueLimit = 128
    /// How long a partly filled carrier frame waits for more cells (ns);
    /// nil: 28 cell slots (79 µs).
    public var frameHold: UInt64?
    /// A PDU whose next cell does not come within this is dropped (ns).
    public var reassemblyTimeout: UInt64 = 100_000_000
    /// Frames held for the stack (reassembled PDUs, answered ARP).
    public var receiveQueue = 512

    public init() {}
}

/// An ATM adaptor over an Ethernet carrier. Single-owner (one thread calls
/// everything), no locks; buffers come from one `BufferPool`, which must be
/// the pool passed to `transmit` and `receive` (queued SDUs and PDUs being
/// reassembled are held across calls). Nothing is allocated per packet or cell.
///
/// A UDP port may be bound to a VC (`bindTransmit`): the datagrams it sends
/// to that VC's peer go on that VC (a socket's reserved VC), while the
/// peer's other traffic takes its default VC, the one ARP resolves to.
///
/// Which VC a received frame came from (for the LRP demux, ARCHITECTURE.md
/// "VCI on the ATM link"): after `receive`, `receivedChannel(i)` names the VC
/// of the i-th frame it appended; and every frame it hands up carries the
/// VC in its Ethernet source address (02:41:54:VPI:VCI), which
/// `ATMVirtualChannel(syntheticHardwareAddress:)` decodes, so a demux that
/// reads only the frame can classify it without a side channel.
public final class ATMAdaptor<Carrier: LinkDevice>: LinkDevice, ReassemblySink {
    public let carrier: Carrier
    public let table: ATMVCTable
    public let configuration: ATMAdaptorConfiguration
    public let pool: BufferPool
    public let transmitter: ATMTransmitter
    public let reassembler: ATMReassembler
    /// A capture of whole PDUs (ERF type 4); nil: none.
    public var pduCapture: ATMPDUCapture? {
        didSet { transmitter.cellObserver = pduCapture.map(Self.transmitObserver) }
    }

    public var name: String { carrier.name + "+atm" }
    public var hardwareAddress: EthernetAddress { carrier.hardwareAddress }
    public var mtu: Int { configuration.mtu }
    public var pollDescriptor: Int32 { carrier.pollDescriptor }
    /// Frames to and from the stack; drops are the totals of the ATM drop
    /// counters (receive reasons in `rxDropped`, the rest in `txDropped`).
    /// Allocates nothing, so the owner may read it on its core.
    public var counters: LinkCounters {
        var c = linkCounters
        for r in ATMDropReason.receiveReasons { c.rxDropped &+= count(r) }
        for r in ATMDropReason.transmitReasons { c.txDropped &+= count(r) }
        return c
    }
    /// Every ATM counter: the adaptor's, the transmitter's and the
    /// reassembler's. Builds new arrays: for reports off the data path;
    /// `count(_:)` reads one counter without allocating.
    public var atmCounters: ATMCounters { own + transmitter.counters + reassembler.counters }

    /// One drop counter, summed over the adaptor's parts.
    public func count(_ r: ATMDropReason) -> UInt64 { own[r] &+ transmitter.counters[r] &+ reassembler.counters[r] }
    /// One event counter, summed over the adaptor's parts.
    public func count(_ e: ATMEvent) -> UInt64 { own[e] &+ transmitter.counters[e] &+ reassembler.counters[e] }
    /// The last `now` given to `poll`.
    public private(set) var now: UInt64 = 0
    /// Cells per carrier frame at most.
    public var cellsPerFrame: Int { transmitter.cellsPerFrame }

    private var own = ATMCounters()
    private var linkCounters = LinkCounters()
    private let encapsulation: [ATMEncapsulation]
    private let peerAddress: [EthernetAddress]
    private let peer: [IPv4Address]
    /// Per local UDP port, 1 + the VC bound to it, or 0 (65,536 entries, so
    /// the lookup of each transmitted datagram is one load).
    private let boundPorts: UnsafeMutablePointer<UInt16>
    private var boundPortCount = 0
    /// The fragmented datagram whose first fragment took a bound VC: its
    /// later fragments (which carry no port) follow it. One slot: the stack
    /// emits a datagram's fragments together, so one is enough while a
    /// single bound port sends at a time. Should another bound port's
    /// datagram come between a datagram's fragments, it takes the slot, and
    /// the first datagram's remaining fragments go on their peer's default
    /// VC (the receiver reassembles them whatever VC they took, but they
    /// leave the bound VC and its contract).
    private var following: (identification: UInt16, destination: IPv4Address, vc: Int)?
    private var expectedSequence: UInt16 = 0
    /// `now` when the last carrier frame was taken (for telling a peer's
    /// restart from a late frame 1).
    private var lastFrameAt: UInt64 = 0
    /// The carrier frames the transmitter finished, waiting for the carrier.
    private let carrierOut: FrameBatch
    private let carrierIn: FrameBatch
    /// Per VC: the buffer of the PDU being reassembled.
    private var reassembling: [PacketBuffer?]
    /// Frames for the stack: a ring of buffers and the VC each came from.
    private let ready: UnsafeMutablePointer<PacketBuffer>
    private let readyVC: UnsafeMutablePointer<Int32>
    private let readyCapacity: Int
    private var readyHead = 0
    private var readyCount = 0
    /// Most cells a received carrier frame can hold (one pool slot's worth).
    private let cellsPerReceivedFrame: Int
    private var receivedVCs: [Int32]
    /// Frames appended by the last `receive`.
    public private(set) var lastReceiveCount = 0

    /// - Parameters:
    ///   - pool: slots must hold a stack frame (mtu + 18) and a carrier frame.
    /// - Throws: the first PVC admission control refuses.
    public convenience init(carrier: Carrier, pvcs: [ATMPermanentVC], pool: BufferPool,
                            configuration: ATMAdaptorConfiguration = ATMAdaptorConfiguration()) throws(ATMAdmissionError) {
        self.init(carrier: carrier, table: try ATMVCTable(pvcs), pool: pool, configuration: configuration)
    }

    public init(carrier: Carrier, table: ATMVCTable, pool: BufferPool,
                configuration: ATMAdaptorConfiguration = ATMAdaptorConfiguration()) {
        let room = pool.slotSize - pool.headroom
        precondition(room >= configuration.mtu + 18, "ATMAdaptor: pool slots smaller than a stack frame")
        precondition(room >= carrier.maximumFrameLength, "ATMAdaptor: pool slots smaller than a carrier frame")
        precondition(configuration.mtu >= 68 && configuration.mtu <= AAL5.maximumSDULength - ATMEncapsulation.llcSNAP.headerLength,
                     "ATMAdaptor: MTU")
        self.carrier = carrier
        self.table = table
        self.configuration = configuration
        self.pool = pool
        let slotCells = ATMTransmitter.cellsFitting(slotRoom: room)
        let fits = min(PseudowireCellRepr.maximumCellCount(mtu: carrier.mtu), slotCells)
        precondition((configuration.cellsPerFrame ?? 1) >= 1, "ATMAdaptor: cells per frame")
        let perFrame = min(fits, configuration.cellsPerFrame ?? fits)
        transmitter = ATMTransmitter(table: table, pool: pool, source: carrier.hardwareAddress,
                                     destination: configuration.peerCarrierAddress, label: configuration.label,
                                     cellsPerFrame: perFrame, queueLimit: configuration.queueLimit,
                                     frameHold: configuration.frameHold)
        encapsulation = table.pvcs.map(\.encapsulation)
        peerAddress = table.pvcs.map(\.channel.syntheticHardwareAddress)
        peer = table.pvcs.map(\.peer)
        boundPorts = .allocate(capacity: 65_536)
        boundPorts.initialize(repeating: 0, count: 65_536)
        reassembler = ATMReassembler(maximumSDU: table.pvcs.map { configuration.mtu + $0.encapsulation.headerLength },
                                     timeout: configuration.reassemblyTimeout)
        carrierOut = FrameBatch(capacity: 64)
        carrierIn = FrameBatch(capacity: 32)
        reassembling = Array(repeating: nil, count: table.count)
        cellsPerReceivedFrame = max(1, slotCells)
        readyCapacity = max(configuration.receiveQueue, 2 * cellsPerReceivedFrame)
        ready = .allocate(capacity: readyCapacity)
        readyVC = .allocate(capacity: readyCapacity)
        receivedVCs = Array(repeating: -1, count: readyCapacity)
        // `counters` reads these lazy statics, whose first use builds their
        // arrays: build them now, on the thread that makes the adaptor, not
        // on the core that first reads the counters.
        _ = ATMDropReason.receiveReasons.count + ATMDropReason.transmitReasons.count
    }

    deinit {
        reassembler.abandonAll(sink: self)
        for i in 0 ..< readyCount { pool.give(ready[(readyHead + i) % readyCapacity]) }
        carrierOut.releaseAll(to: pool)
        carrierIn.releaseAll(to: pool)
        ready.deallocate()
        readyVC.deallocate()
        boundPorts.deallocate()
    }

    /// The VC of the `i`-th frame the last `receive` appended.
    public func receivedChannel(_ i: Int) -> ATMVirtualChannel {
        precondition(i >= 0 && i < lastReceiveCount, "ATMAdaptor.receivedChannel: index out of range")
        return table[Int(receivedVCs[i])].channel
    }

    /// Runs the cell clock up to `now` (cells into carrier frames, frames to
    /// the carrier) and the reassembly timers. Returns when to call again.
    @discardableResult
    public func poll(now: UInt64) throws(LinkError) -> UInt64 {
        self.now = max(self.now, now)
        try service()
        let rx = reassembler.expire(now: self.now, sink: self)
        let floor = self.now &+ CellClock.slotNanosecondsRoundedUp
        return max(min(transmitter.nextDeadline, rx), floor)
    }

    /// When the transmitter next needs `poll` (`UInt64.max`: idle).
    public var nextTransmitDeadline: UInt64 { transmitter.nextDeadline }

    /// Frames waiting for the stack's next `receive` that the carrier's
    /// descriptor does not announce (ARP requests `transmit` answered).
    public var framesReady: Int { readyCount }

    private func service() throws(LinkError) {
        transmitter.run(now: now, into: carrierOut)
        if !carrierOut.isEmpty { _ = try carrier.transmit(carrierOut, pool: pool) }
    }

    // MARK: - Transmit

    /// Sends the UDP datagrams from local port `port` to VC `vc`'s peer on
    /// `vc` (their fragments too), whatever VC their destination MAC names;
    /// datagrams to other stations are not affected. Replaces an earlier
    /// binding of the port.
    public func bindTransmit(localPort port: UInt16, vc: Int) {
        precondition(vc >= 0 && vc < table.count, "ATMAdaptor.bindTransmit: no such VC")
        if boundPorts[Int(port)] == 0 { boundPortCount += 1 }
        boundPorts[Int(port)] = UInt16(vc + 1)
    }

    /// Undoes `bindTransmit`: the port's datagrams take their peer's default VC again.
    public func unbindTransmit(localPort port: UInt16) {
        guard boundPorts[Int(port)] != 0 else { return }
        boundPorts[Int(port)] = 0
        boundPortCount -= 1
        following = nil
    }

    /// The VC bound to the datagram's UDP source port when it goes to that
    /// VC's peer; a later fragment follows its first fragment's VC.
    @inline(__always)
    private func boundVC(_ ip: IPv4View) -> Int? {
        guard boundPortCount > 0, ip.protocol == .udp else { return nil }
        if ip.fragmentOffset != 0 {
            guard let f = following, f.identification == ip.identification, f.destination == ip.destination else { return nil }
            if !ip.moreFragments { following = nil }
            return f.vc
        }
        let udp = ip.payload
        guard udp.count >= 2 else { return nil }
        let entry = Int(boundPorts[Int(udp.readU16(0))])
        guard entry > 0, peer[entry - 1] == ip.destination else { return nil }
        following = ip.moreFragments ? (ip.identification, ip.destination, entry - 1) : nil
        return entry - 1
    }

    /// Takes every frame of `batch`: IPv4 frames are queued on their VC (the
    /// buffer is held until its last cell is sent), ARP requests for PVC
    /// peers are answered locally, anything else is dropped and counted.
    /// Returns the number of frames queued. Then runs the cell clock.
    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        precondition(pool === self.pool, "ATMAdaptor: transmit with a foreign pool")
        var queued = 0
        for i in 0 ..< batch.count {
            if take(batch[i]) { queued += 1 }
        }
        batch.removeAll()
        try service()
        return queued
    }

    /// Queues one stack frame, or gives it back; true when queued.
    private func take(_ frame: PacketBuffer) -> Bool {
        linkCounters.txFrames &+= 1
        linkCounters.txBytes &+= UInt64(frame.length)
        guard let eth = try? EthernetView(frame.readable) else { return refuse(frame, .txMalformed) }
        switch eth.etherType {
        case .ipv4:
            guard let ip = try? IPv4View(eth.payload) else { return refuse(frame, .txMalformed) }
            let byMAC = ATMVirtualChannel(syntheticHardwareAddress: eth.destination).flatMap { table.index(of: $0) }
            guard let vc = boundVC(ip) ?? byMAC ?? table.index(forPeer: ip.destination) else { return refuse(frame, .txNoVC) }
            var sdu = frame
            sdu.consumeFront(eth.headerLength)
            sdu.length = ip.bytes.count
            let e = encapsulation[vc]
            if e.headerLength > 0 { e.emit(into: sdu.prepend(e.headerLength), etherType: .ipv4) }
            guard sdu.length <= configuration.mtu + e.headerLength else { return refuse(frame, .txTooLong) }
            guard transmitter.enqueue(vc: vc, sdu: sdu, now: now) else {
                pool.give(frame)
                return false
            }
            return true
        case .arp:
            answerARP(eth.payload)
            pool.give(frame)
            return false
        default:
            return refuse(frame, .txNotIPv4)
        }
    }

    private func refuse(_ frame: PacketBuffer, _ reason: ATMDropReason) -> Bool {
        own.drop(reason)
        pool.give(frame)
        return false
    }

    /// Answers an ARP request for a PVC peer with the VC's synthetic MAC, as
    /// if the peer had replied (RFC 826 reply format); the reply is handed to
    /// the stack by the next `receive`.
    private func answerARP(_ bytes: UnsafeRawBufferPointer) {
        guard let arp = try? ARPView(bytes), arp.operation == .request,
              arp.targetProtocolAddress != arp.senderProtocolAddress else { own.drop(.arpNotNeeded); return }
        guard let vc = table.index(forPeer: arp.targetProtocolAddress) else { own.drop(.arpNoPVC); return }
        guard readyCount < readyCapacity else { own.drop(.arpReplyQueueFull); return }
        guard var reply = pool.take() else { own.drop(.txNoBuffer); return }
        let r = ARPRepr(operation: .reply, senderHardwareAddress: peerAddress[vc],
                        senderProtocolAddress: arp.targetProtocolAddress,
                        targetHardwareAddress: arp.senderHardwareAddress,
                        targetProtocolAddress: arp.senderProtocolAddress)
        reply.length = 14 + r.bufferLength
        EthernetRepr(destination: arp.senderHardwareAddress, source: peerAddress[vc], etherType: .arp).emit(into: reply.bytes)
        r.emit(into: reply.bytes.slice(14 ..< reply.length))
        push(reply, vc: vc)
        own.count(.arpAnswered)
    }

    // MARK: - Receive

    /// Appends up to `limit` frames for the stack: answered ARP and
    /// reassembled PDUs first, then as many carrier frames as there is room
    /// for their PDUs. `receivedChannel(_:)` names each frame's VC.
    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        precondition(pool === self.pool, "ATMAdaptor: receive with a foreign pool")
        var n = 0
        defer { lastReceiveCount = n }
        while n < limit, !batch.isFull, n < receivedVCs.count {
            if readyCount > 0 {
                let b = ready[readyHead]
                receivedVCs[n] = readyVC[readyHead]
                readyHead = readyHead + 1 == readyCapacity ? 0 : readyHead + 1
                readyCount -= 1
                batch.append(b)
                linkCounters.rxFrames &+= 1
                linkCounters.rxBytes &+= UInt64(b.length)
                n += 1
                continue
            }
            let frames = min(carrierIn.capacity, (readyCapacity - readyCount) / cellsPerReceivedFrame)
            guard frames > 0 else { break }
            defer { carrierIn.releaseAll(to: pool) }
            guard try carrier.receive(into: carrierIn, limit: frames, pool: pool) > 0 else { break }
            for i in 0 ..< carrierIn.count { carrierFrame(carrierIn[i].readable) }
        }
        return n
    }

    /// One RFC 4717 frame: checks label and sequence, then each cell.
    private func carrierFrame(_ bytes: UnsafeRawBufferPointer) {
        guard let eth = try? EthernetView(bytes), eth.etherType == .mplsUnicast else {
            own.drop(.rxNotPseudowire); return
        }
        guard let pw = try? PseudowireCellView(eth.payload) else { own.drop(.rxMalformedFrame); return }
        guard pw.label.label == configuration.label else { own.drop(.rxWrongLabel); return }
        let s = pw.controlWord.sequence
        if s != 0 {   // 0: the sender does not number its frames (RFC 4385 §4.1)
            if expectedSequence != 0 {
                let d = Self.sequenceDistance(from: expectedSequence, to: s)
                if s == 1 && (d <= -Self.restartDistance || now > lastFrameAt &+ configuration.reassemblyTimeout) {
                    // A sender numbers from 1 when it starts (RFC 4385 §4.1): a
                    // frame 1 far behind the expected one, or after a silence,
                    // is the peer starting over (rtud restarted there), not a
                    // late frame; follow it, and what was being reassembled
                    // from before is lost.
                    own.count(.rxPeerRestart)
                    reassembler.noteCellLoss()
                } else if d < 0 {
                    own.drop(.rxOutOfSequence)
                    return
                } else if d > 0 {
                    own.count(.rxFramesLost, UInt64(d))
                    reassembler.noteCellLoss()
                }
            }
            expectedSequence = PseudowireControlWord.nextSequence(after: s)
        }
        lastFrameAt = now
        own.count(.rxFrames)
        // By index, not `for c in`: an unoptimised build runs the generic
        // IndexingIterator, whose subscript call allocates a coroutine frame per cell.
        let cells = pw.cells
        for i in cells.indices { cell(word: cells[i].word, payload: cells[i].payload) }
    }

    /// How far behind the expected sequence number a frame numbered 1 must
    /// be to be read as the peer starting over rather than as a late or
    /// duplicated frame 1 (besides a frame 1 after a silence longer than the
    /// reassembly timeout, which is a restart however few frames the peer
    /// sent before: a frame is not held back that long behind its
    /// successors, and no PDU under way outlives the silence anyway). A
    /// frame arrives late only by the frames that overtake it on the
    /// carrier; the carriers here (a veth, a TAP, an Ethernet segment) keep
    /// order, so a late frame 1 comes within a few frames of its place, and
    /// 256 frames (2,048 cells at 8 per frame, 5.8 ms of a full line) is
    /// well past any reordering an Ethernet path makes. The cost the other
    /// way is bounded: a peer that restarts after sending fewer than 256
    /// frames, and within the timeout, has its new frames dropped as out of
    /// sequence until its numbers reach the expected one, at most 255.
    static var restartDistance: Int { 256 }

    /// How far `s` is ahead of `expected` in the sequence space 1…65535
    /// (negative: behind; RFC 4385 §4.2 compares within half the space).
    static func sequenceDistance(from expected: UInt16, to s: UInt16) -> Int {
        var d = Int(s) - Int(expected)
        if d > 32_767 { d -= 65_535 } else if d < -32_767 { d += 65_535 }
        return d
    }

    /// Cells as the emulated PHY delivers them when they carry their HEC:
    /// 53 bytes each (header word, HEC, payload). Each header is checked
    /// and, with a single-bit error, corrected (I.432.1 §4.3.3); then the
    /// cell goes where a pseudowire cell goes. (RFC 4717 §6.1 leaves the HEC
    /// off the pseudowire, so cells from the carrier have nothing to check.)
    public func receiveCells(_ cells: UnsafeRawBufferPointer) {
        var o = 0
        while o + ATMCell.length <= cells.count {
            let v = try! ATMCellView(cells.slice(o ..< o + ATMCell.length))
            o += ATMCell.length
            guard let fixed = HEC.correct(v.word, hec: v.hec) else { own.drop(.rxHECUncorrectable); continue }
            if fixed.corrected { own.count(.rxHECCorrected) }
            cell(word: fixed.word, payload: v.payload)
        }
    }

    /// One cell whose header is good: physical-layer cells and OAM are
    /// discarded, the rest goes to its VC's reassembly.
    @inline(__always)
    private func cell(word: UInt32, payload: UnsafeRawBufferPointer) {
        own.count(.rxCells)
        let h = ATMCellRepr(word: word)
        guard !h.isPhysicalLayerOrUnassigned else { own.count(.rxIdleCells); return }
        guard h.payloadType.isUserData else { own.drop(.rxOAMCell); return }
        guard let vc = table.index(of: h.virtualChannel) else { own.drop(.rxUnknownVC); return }
        if h.payloadType.congestionExperienced { own.count(.rxCongestionExperienced) }
        pduCapture?.cell(.receive, vc: vc, word: word, payload: payload, now: now)
        reassembler.cell(vc: vc, endOfPDU: h.payloadType.isEndOfPDU, payload: payload, now: now, sink: self)
    }

    private func push(_ b: PacketBuffer, vc: Int) {
        let at = (readyHead + readyCount) % readyCapacity
        ready[at] = b
        readyVC[at] = Int32(vc)
        readyCount += 1
    }

    // MARK: - ReassemblySink

    /// The SDU goes straight into a stack frame: the encapsulation header
    /// into the 8 bytes before the IP packet (overwritten by the Ethernet
    /// header once checked), the IP packet after a 14-byte Ethernet header.
    public func reassemblyTarget(vc: Int) -> ReassemblyTarget? {
        guard let b = pool.take() else { return nil }
        reassembling[vc] = b
        let space = b.spaceFromOffset
        let h = encapsulation[vc].headerLength
        return ReassemblyTarget(header: space.slice(14 - h ..< 14), payload: space.slice(14 ..< 14 + configuration.mtu))
    }

    public func reassembled(vc: Int, sduLength: Int, trailer: AAL5Trailer) {
        guard var b = reassembling[vc] else { return }
        reassembling[vc] = nil
        let space = b.spaceFromOffset
        let e = encapsulation[vc]
        let h = e.headerLength
        guard sduLength > h, let d = try? e.decapsulate(space.readOnly.slice(14 - h ..< 14)), d.etherType == .ipv4 else {
            own.drop(.rxBadEncapsulation)
            pool.give(b)
            return
        }
        guard readyCount < readyCapacity else {
            own.drop(.rxQueueFull)
            pool.give(b)
            return
        }
        EthernetRepr(destination: hardwareAddress, source: peerAddress[vc], etherType: .ipv4).emit(into: space)
        b.length = 14 + sduLength - h
        push(b, vc: vc)
    }

    public func reassemblyFailed(vc: Int, reason: ATMDropReason) {
        if let b = reassembling[vc] { pool.give(b) }
        reassembling[vc] = nil
    }

    /// Transmitted cells go to the capture stamped with their slot time.
    private static func transmitObserver(_ capture: ATMPDUCapture) -> (Int, UInt32, UnsafeRawBufferPointer, UInt64) -> Void {
        { vc, word, payload, t in capture.cell(.transmit, vc: vc, word: word, payload: payload, now: t) }
    }
}
