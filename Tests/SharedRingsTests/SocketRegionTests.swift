import CShims
import Glibc
@testable import SharedRings
import Testing

/// A region and its client view in one process: `daemon` is what rtud keeps
/// (RX producer, TX consumer), `client` what an application maps from the
/// descriptors it was sent, used through a `DatagramEndpoint`.
struct RegionPair {
    let daemon: SocketRegion
    let client: SocketRegion
    let endpoint: DatagramEndpoint

    init(rxCapacity: Int = 4096, txCapacity: Int = 4096) throws {
        daemon = try SocketRegion.create(name: "test", rxCapacity: rxCapacity, txCapacity: txCapacity)
        client = try daemon.clientView()
        endpoint = DatagramEndpoint(rx: client.rx, tx: client.tx)
    }

    /// Client: sends `payload` to `peer` without waiting.
    func send(_ payload: [UInt8], to peer: DatagramPeer = DatagramPeer(address: 0xC612_0002, port: 9)) throws {
        try payload.withUnsafeBytes { bytes in
            try endpoint.send(bytes, to: peer, timeout: 0, isClosed: { false })
        }
    }

    /// Client: the next datagram's bytes and peer, if any.
    func receive() throws -> ([UInt8], DatagramPeer)? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let got = try buffer.withUnsafeMutableBytes { b in
            try endpoint.receive(into: b, timeout: 0, isClosed: { false })
        }
        return got.map { (Array(buffer[0 ..< $0.stored]), $0.peer) }
    }

    /// Daemon: takes the oldest TX record (payload without the 8 bytes of
    /// UDP-header room) and frees it.
    func take() throws -> ([UInt8], RecordHeader)? {
        guard let (header, bytes) = try daemon.tx.peek() else { return nil }
        defer { daemon.tx.release() }
        return (Array(bytes.dropFirst(DatagramEndpoint.headroom)), header)
    }

    /// Daemon: delivers `payload` from `peer` on RX.
    func deliver(_ payload: [UInt8], from peer: DatagramPeer) -> Bool {
        payload.withUnsafeBytes { daemon.rx.push($0, RecordHeader(kind: .datagram, address: peer.address, port: peer.port)) }
    }
}

@Suite struct SocketRegionTests {
    @Test func theLayoutPutsEachRingOnItsOwnPages() throws {
        let region = try SocketRegion.create(name: "layout", rxCapacity: 1 << 16, txCapacity: 4096)
        let page = SocketRegion.pageSize
        #expect(region.descriptors.count == 5)
        #expect(region.rx.capacity == 1 << 16 && region.tx.capacity == 4096)
        #expect(region.size % page == 0)
        #expect(region.size >= page + (MessageRing.headerBytes + (1 << 16)) + (MessageRing.headerBytes + 4096))
        #expect(Int(bitPattern: region.rx.region) % page == 0 && Int(bitPattern: region.tx.region) % page == 0)
        #expect(throws: RingSetupError.invalidCapacity(3000)) {
            try SocketRegion.create(name: "bad", rxCapacity: 3000, txCapacity: 4096)
        }
    }

    @Test func recordsFlowBothWaysWithContentCheckedAcrossWraps() throws {
        let pair = try RegionPair()
        var wrapped = (rx: 0, tx: 0)
        for round in 0..<1_500 {
            let n = (round * 53) % 900
            let peer = DatagramPeer(address: 0xC612_0000 | UInt32(round), port: UInt16(round))
            let data = pattern(n, seed: UInt8(truncatingIfNeeded: round))
            // Client → daemon.
            try pair.send(data, to: peer)
            let (sent, header) = try #require(try pair.take())
            #expect(sent == data)
            #expect(header.kind == .datagram && header.address == peer.address && header.port == peer.port)
            // Daemon → client.
            #expect(pair.deliver(data, from: peer))
            let (got, from) = try #require(try pair.receive())
            #expect(got == data)
            #expect(from == peer)
            wrapped.tx += n + 16 + DatagramEndpoint.headroom
            wrapped.rx += n + 16
        }
        #expect(wrapped.tx > 50 * pair.daemon.tx.capacity && wrapped.rx > 50 * pair.daemon.rx.capacity)
        #expect(try pair.take() == nil)
        #expect(try pair.receive() == nil)
    }

    /// The daemon's way of waiting: TX consumed by a thread released by the
    /// data doorbell (`armForData`, then the eventfd), RX produced by one that
    /// waits for space; the client sends and receives with timeouts on two
    /// more threads. Small rings, so every side waits many times.
    @Test func doorbellsWakeEachSideAcrossThreads() throws {
        let pair = try RegionPair(rxCapacity: 4096, txCapacity: 4096)
        let count = 20_000
        let daemonTX = pair.daemon.tx, daemonRX = pair.daemon.rx
        let failures = Failures()
        let consumer = TestThread {
            var next = 0
            while true {
                do {
                    while let (header, bytes) = try daemonTX.peek() {
                        if Int(header.port) != next || bytes.count != 8 + 32 {
                            return failures.record("TX record \(next): port \(header.port), \(bytes.count) bytes")
                        }
                        daemonTX.consume()
                        next += 1
                    }
                } catch {
                    return failures.record("TX: \(error)")
                }
                if next == count { return daemonTX.releaseConsumed() }
                if !daemonTX.armForData() {
                    guard rtu_sched_wait_readable(daemonTX.dataDoorbell, 5_000_000_000) > 0 else {
                        return failures.record("the TX doorbell never rang, at \(next)")
                    }
                    _ = rtu_sched_eventfd_drain(daemonTX.dataDoorbell)
                }
            }
        }
        let producer = TestThread {
            let data = pattern(200, seed: 0)
            for i in 0..<count {
                let header = RecordHeader(kind: .datagram, address: UInt32(i))
                while !data.withUnsafeBytes({ daemonRX.push($0, header) }) {
                    guard daemonRX.waitForSpace(200, timeoutNanoseconds: 5_000_000_000) else {
                        return failures.record("RX space never came, at \(i)")
                    }
                }
            }
        }
        let endpoint = pair.endpoint
        let sender = TestThread {
            let data = pattern(32, seed: 1)
            for i in 0..<count {
                do {
                    try data.withUnsafeBytes { b in
                        try endpoint.send(b, to: DatagramPeer(address: 1, port: UInt16(i)), timeout: 5_000_000_000,
                                          isClosed: { false })
                    }
                } catch {
                    return failures.record("send \(i): \(error)")
                }
            }
        }
        defer {
            [consumer, producer, sender].forEach { $0.join() }
            #expect(failures.all.isEmpty, "\(failures.all)")
        }
        var buffer = [UInt8](repeating: 0, count: 256)
        for i in 0..<count {
            let got = try buffer.withUnsafeMutableBytes { b in
                try endpoint.receive(into: b, timeout: 5_000_000_000, isClosed: { false })
            }
            guard let got else {
                Issue.record("datagram \(i) did not arrive")
                return
            }
            #expect(got.peer.address == UInt32(i) && got.length == 200)
            if i % 997 == 0 { #expect(Array(buffer[0..<200]) == pattern(200, seed: 0)) }
        }
    }

    /// `markClosed` (the daemon closing the socket) ends a client's wait
    /// for good wherever it waits, for data on an empty RX ring or for room
    /// in a full TX ring, and the call throws `.closed`.
    @Test(.timeLimit(.minutes(1))) func markingClosedEndsTheClientsWaits() throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        let idle = try RegionPair()
        let receiving = whileAnotherThreadCloses({ idle.daemon.markClosed() },
                                                 unblock: { _ = idle.deliver(pattern(10, seed: 0), from: DatagramPeer(address: 1, port: 1)) }) {
            _ = try idle.endpoint.receive(into: buffer, timeout: -1, isClosed: { idle.client.closedByDaemon })
        }
        #expect(receiving.error as? DatagramReceiveError == .closed)
        #expect(!receiving.unblocked, "markClosed did not end the receive's wait")

        let full = try RegionPair()
        let big = pattern(2000, seed: 0)
        try full.send(big)
        try full.send(big)
        let sending = whileAnotherThreadCloses({ full.daemon.markClosed() }, unblock: { _ = try? full.take() }) {
            try big.withUnsafeBytes { b in
                try full.endpoint.send(b, to: DatagramPeer(address: 1, port: 1), timeout: -1,
                                       isClosed: { full.client.closedByDaemon })
            }
        }
        #expect(sending.error as? DatagramSendError == .closed)
        #expect(!sending.unblocked, "markClosed did not end the send's wait")
    }

    @Test func theMemfdIsSealedAgainstResizing() throws {
        let region = try SocketRegion.create(name: "sealed", rxCapacity: 4096, txCapacity: 4096)
        let memfd = dup(region.descriptors[0])
        defer { close(memfd) }
        for size in [region.size - 4096, region.size + 4096, 0] {
            #expect(ftruncate(memfd, off_t(size)) == -1)
            #expect(errno == EPERM)
        }
        #expect(rtu_shm_seal_size(memfd) == -EPERM, "F_SEAL_SEAL: no seal can be added either")
        var info = stat()
        #expect(fstat(memfd, &info) == 0 && Int(info.st_size) == region.size)
    }

    /// What a hostile client does to the TX ring after sending three
    /// datagrams the daemon consumed (head = tail = 384).
    enum TXScribble: CaseIterable {
        case tailBeyondCapacity, tailBehindHead, tailOffTheRecordGrid, recordTooLong, unknownKind, bogusPad

        var violation: RingViolation {
            switch self {
            case .tailBeyondCapacity: return .indexOutOfRange(head: 384, tail: 384 + 4096 + 16)
            case .tailBehindHead: return .indexOutOfRange(head: 384, tail: 256)
            case .tailOffTheRecordGrid: return .misalignedIndex(392)
            case .recordTooLong: return .recordTooLong(length: 5000, room: 112)
            case .unknownKind: return .unknownKind(77)
            case .bogusPad: return .recordTooLong(length: 4000, room: 112)
            }
        }

        func apply(to pair: RegionPair) throws {
            let tx = pair.client.tx
            switch self {
            case .tailBeyondCapacity: tx.scribble(RingWord.tail, 384 + 4096 + 16)
            case .tailBehindHead: tx.scribble(RingWord.tail, 256)
            case .tailOffTheRecordGrid: tx.scribble(RingWord.tail, 392)
            case .recordTooLong:
                try pair.send(pattern(100, seed: 9))
                tx.record(at: 384).storeBytes(of: UInt32(5000), as: UInt32.self)
            case .unknownKind:
                try pair.send(pattern(100, seed: 9))
                tx.record(at: 384).storeBytes(of: UInt16(77), toByteOffset: 4, as: UInt16.self)
            case .bogusPad:
                tx.record(at: 384).storeBytes(of: UInt32(4000), as: UInt32.self)
                tx.record(at: 384).storeBytes(of: UInt16(0xFFFF), toByteOffset: 4, as: UInt16.self)
                tx.scribble(RingWord.tail, 384 + 128)
            }
        }
    }

    @Test(arguments: TXScribble.allCases)
    func aScribbledTXRingIsReportedByTheDaemonNeverTrusted(_ scribble: TXScribble) throws {
        let pair = try RegionPair()
        for i in 0..<3 { try pair.send(pattern(100, seed: UInt8(i))) }   // 16 + 8 + 100 → 128 bytes each
        for _ in 0..<3 { #expect(try pair.take() != nil) }
        try scribble.apply(to: pair)
        for _ in 0..<3 {   // as often as it is asked
            #expect(throws: scribble.violation) { try pair.daemon.tx.peek() }
        }
    }

    enum RXScribble: CaseIterable {
        case headAheadOfTail, headFarBehind

        func head(published: UInt64) -> UInt64 {
            switch self {
            case .headAheadOfTail: return published + 8192
            case .headFarBehind: return published &- 4096 &- 16
            }
        }
    }

    @Test(arguments: RXScribble.allCases)
    func aScribbledRXHeadMakesTheDaemonProducerRefuse(_ scribble: RXScribble) throws {
        let pair = try RegionPair()
        let peer = DatagramPeer(address: 1, port: 2)
        for i in 0..<40 {   // wrap once, the client keeping up
            #expect(pair.deliver(pattern(200, seed: UInt8(i)), from: peer))
            #expect(try pair.receive()?.0 == pattern(200, seed: UInt8(i)))
        }
        let published = pair.client.rx.load(RingWord.tail)
        pair.client.rx.scribble(RingWord.head, scribble.head(published: published))
        var delivered = 0
        while pair.deliver(pattern(200, seed: 0), from: peer) { delivered += 1 }
        #expect(delivered <= 4096 / 224, "refused once the cached room ran out")
        #expect(pair.daemon.rx.producerViolation
                == .indexOutOfRange(head: scribble.head(published: published), tail: pair.client.rx.load(RingWord.tail)))
        #expect(!pair.deliver([], from: peer), "refused for good")
    }

    @Test func aSecondClientContinuesWhereTheFirstLeftOff() throws {
        let daemon = try SocketRegion.create(name: "two-clients", rxCapacity: 4096, txCapacity: 4096)
        let peer = DatagramPeer(address: 7, port: 7)
        var sent = 0, taken = 0, delivered = 0, received = 0
        // Clients in turn, each leaving two records in flight both ways for the next.
        for round in 0..<60 {
            let pair = try RegionPair(daemon: daemon)
            for _ in 0..<(round == 0 ? 5 : 3) {
                try pair.send(pattern(150, seed: UInt8(truncatingIfNeeded: sent)), to: peer)
                sent += 1
            }
            for _ in 0..<3 {
                let (bytes, _) = try #require(try pair.take())
                #expect(bytes == pattern(150, seed: UInt8(truncatingIfNeeded: taken)))
                taken += 1
            }
            for _ in 0..<(round == 0 ? 5 : 3) {
                #expect(pair.deliver(pattern(90, seed: UInt8(truncatingIfNeeded: delivered)), from: peer))
                delivered += 1
            }
            for _ in 0..<3 {
                let (bytes, _) = try #require(try pair.receive())
                #expect(bytes == pattern(90, seed: UInt8(truncatingIfNeeded: received)))
                received += 1
            }
        }
        let last = try RegionPair(daemon: daemon)
        while let (bytes, _) = try last.take() {
            #expect(bytes == pattern(150, seed: UInt8(truncatingIfNeeded: taken)))
            taken += 1
        }
        while let (bytes, _) = try last.receive() {
            #expect(bytes == pattern(90, seed: UInt8(truncatingIfNeeded: received)))
            received += 1
        }
        #expect(taken == sent && received == delivered)
        #expect(sent * 176 > 4 * daemon.tx.capacity, "the clients' records wrapped the ring")
    }
}

extension RegionPair {
    /// Another client of an existing region.
    init(daemon: SocketRegion) throws {
        self.daemon = daemon
        client = try daemon.clientView()
        endpoint = DatagramEndpoint(rx: client.rx, tx: client.tx)
    }
}
