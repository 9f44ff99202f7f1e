import CShims
import SharedRings
import Testing

/// The application's end over two in-process rings; the test plays the core.
@Suite struct DatagramEndpointTests {
    let rx: MessageRing
    let tx: MessageRing
    let endpoint: DatagramEndpoint
    let peer = DatagramPeer(address: 0xC612_0002, port: 4000)

    init() throws {
        rx = try MessageRing(capacity: 4096)
        tx = try MessageRing(capacity: 4096)
        endpoint = DatagramEndpoint(rx: rx, tx: tx)
    }

    func send(_ payloads: [[UInt8]], timeout: Int64 = 0) throws -> Int {
        // Pointers into `payloads`' storage, valid while it lives (the call below).
        let batch = payloads.map { p in
            OutgoingDatagram(payload: p.withUnsafeBytes { UnsafeRawBufferPointer($0) }, peer: peer)
        }
        return try batch.withUnsafeBufferPointer { b in
            try endpoint.send(b, timeout: timeout, isClosed: { false })
        }
    }

    @Test func aBatchIsQueuedAsTheLongestPrefixThatFits() throws {
        let payloads = (0..<10).map { pattern(600, seed: UInt8($0)) }   // 16 + 8 + 600 → 624 bytes each
        #expect(try send(payloads) == 6, "4096 / 624")
        #expect(throws: DatagramSendError.wouldBlock) { try send(Array(payloads[6...])) }
        var seen = 0
        while let (header, bytes) = try tx.peek() {
            #expect(Array(bytes.dropFirst(8)) == payloads[seen])
            #expect(header.address == peer.address && header.port == peer.port)
            tx.release()
            seen += 1
        }
        #expect(seen == 6)
    }

    @Test func aFullRingRefusesAtOnceOrWaitsForRoom() throws {
        let big = pattern(2000, seed: 0)
        #expect(try send([big, big]) == 2)
        #expect(throws: DatagramSendError.wouldBlock) { try send([big]) }
        let core = TestThread {
            _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 20_000_000)
            _ = try? tx.peek()
            tx.release()
        }
        defer { core.join() }
        #expect(try send([big], timeout: 5_000_000_000) == 1)
    }

    @Test func tooLargeIsRefusedFirstOrEndsThePrefix() throws {
        let small = pattern(10, seed: 0), huge = pattern(endpoint.maxDatagram + 1, seed: 0)
        #expect(endpoint.maxDatagram == tx.maxPayload - DatagramEndpoint.headroom)
        #expect(throws: DatagramSendError.tooLarge(limit: endpoint.maxDatagram)) { try send([huge, small]) }
        #expect(try send([small, huge, small]) == 1)
    }

    /// Closed before the call, an endpoint refuses at once; closed while a
    /// call waits for good (timeout -1: for data on an empty RX ring, for
    /// room in a full TX ring), the doorbell the owner rings on closing
    /// (`wakeConsumer`, the TX space doorbell, as `SocketRegion.markClosed`)
    /// ends the wait and the call throws `.closed`.
    @Test(.timeLimit(.minutes(1))) func aClosedEndpointRefusesAndStopsWaiting() throws {
        let one = pattern(10, seed: 0)
        #expect(throws: DatagramSendError.closed) {
            try one.withUnsafeBytes { b in
                try endpoint.send(b, to: peer, timeout: 0, isClosed: { true })
            }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        #expect(throws: DatagramReceiveError.closed) {
            try endpoint.receive(into: buffer, timeout: -1, isClosed: { true })
        }

        let rx = rx, tx = tx
        let receiveClosed = Flag()
        let receiving = whileAnotherThreadCloses({ receiveClosed.set(); rx.wakeConsumer() },
                                                 unblock: { _ = one.withUnsafeBytes { rx.push($0, RecordHeader(kind: .datagram)) } }) {
            _ = try endpoint.receive(into: buffer, timeout: -1, isClosed: { receiveClosed.isSet })
        }
        #expect(receiving.error as? DatagramReceiveError == .closed)
        #expect(!receiving.unblocked, "the wake-up on closing did not end the receive's wait")

        let big = pattern(2000, seed: 0)
        #expect(try send([big, big]) == 2)
        let sendClosed = Flag()
        let sending = whileAnotherThreadCloses({ sendClosed.set(); _ = rtu_sched_eventfd_ring(tx.spaceDoorbell) },
                                               unblock: { _ = try? tx.peek(); tx.release() }) {
            try big.withUnsafeBytes { b in
                try endpoint.send(b, to: peer, timeout: -1, isClosed: { sendClosed.isSet })
            }
        }
        #expect(sending.error as? DatagramSendError == .closed)
        #expect(!sending.unblocked, "the wake-up on closing did not end the send's wait")
    }

    @Test func aReceiveBatchStopsBeforeAnICMPErrorWhichTheNextCallThrows() throws {
        for i in 0..<3 {
            #expect(pattern(100 + i, seed: UInt8(i)).withUnsafeBytes { rx.push($0, RecordHeader(kind: .datagram, address: 1, port: UInt16(i))) })
        }
        #expect(rx.push(UnsafeRawBufferPointer(start: nil, count: 0),
                        RecordHeader(kind: .icmpError, address: peer.address, port: peer.port, detail: 3 << 8 | 3)))
        #expect(pattern(50, seed: 9).withUnsafeBytes { rx.push($0, RecordHeader(kind: .datagram, address: 1, port: 9)) })

        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * 64, alignment: 8)
        defer { storage.deallocate() }
        var slots = (0..<8).map { IncomingDatagram(buffer: UnsafeMutableRawBufferPointer(rebasing: storage[$0 * 64 ..< $0 * 64 + 64])) }
        func receive() throws -> Int {
            try slots.withUnsafeMutableBufferPointer { b in
                try endpoint.receive(b, timeout: 0, isClosed: { false })
            }
        }
        #expect(try receive() == 3)
        for i in 0..<3 {
            #expect(slots[i].received.length == 100 + i && slots[i].received.stored == 64, "truncated to its buffer")
            #expect(slots[i].received.peer == DatagramPeer(address: 1, port: UInt16(i)))
            #expect(Array(slots[i].buffer) == Array(pattern(100 + i, seed: UInt8(i))[0..<64]))
        }
        #expect(throws: DatagramReceiveError.icmp(peer: peer, type: 3, code: 3)) { try receive() }
        #expect(try receive() == 1)
        #expect(slots[0].received.length == 50)
        #expect(try receive() == 0, "empty, no wait")
        #expect(rx.load(RingWord.head) == rx.load(RingWord.tail), "all the room was given back")
    }
}
