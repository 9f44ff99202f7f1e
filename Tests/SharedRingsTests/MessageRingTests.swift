import CShims
import SharedRings
import Testing

@Suite struct MessageRingTests {
    @Test func recordsComeOutInOrderAcrossManyWraps() throws {
        let ring = try MessageRing(capacity: 4096)
        #expect(ring.maxPayload == 2048 - 16)
        var expected: [(Int, UInt8)] = []
        var seed: UInt8 = 0
        var pushedBytes = 0
        func drain() throws {
            while let (header, payload) = try ring.peek() {
                let (n, s) = expected.removeFirst()
                #expect(payload.count == n)
                #expect(Int(header.port) == n)
                #expect(Array(payload) == pattern(n, seed: s))
                ring.release()
            }
        }
        for round in 0..<2_000 {
            let n = (round * 37) % 700
            let data = pattern(n, seed: seed)
            if data.withUnsafeBytes({ ring.push($0, RecordHeader(kind: .datagram, address: UInt32(round), port: UInt16(n))) }) {
                expected.append((n, seed))
                seed &+= 1
                pushedBytes += n
            }
            // Drain now and then so the ring wraps with records of every size.
            if round % 5 == 4 { try drain() }
        }
        try drain()
        #expect(expected.isEmpty, "\(expected.count) records never came out")
        #expect(ring.isEmpty)
        #expect(pushedBytes > 100 * ring.capacity, "the ring should have wrapped many times")
    }

    @Test func fullRingRefusesAndOversizeIsRefused() throws {
        let ring = try MessageRing(capacity: 4096)
        #expect(ring.reserve(ring.maxPayload + 1) == nil)
        var pushed = 0
        let data = pattern(1000, seed: 1)
        while data.withUnsafeBytes({ ring.push($0, RecordHeader(kind: .datagram)) }) { pushed += 1 }
        #expect(pushed == 4)   // 4 × (16 + 1000 → 1024) fill 4096
        #expect(ring.producerViolation == nil, "full is not a violation")
        _ = try ring.peek()
        ring.release()
        #expect(data.withUnsafeBytes { ring.push($0, RecordHeader(kind: .datagram)) })
    }

    @Test func capacitiesThatAreNotPowersOfTwoAreRefused() {
        for capacity in [0, 2048, 5000, 1 << 31] {
            #expect(throws: RingSetupError.invalidCapacity(capacity)) { try MessageRing(capacity: capacity) }
        }
    }

    @Test func aHostileProducerIsDetectedNotTrusted() throws {
        let ring = try MessageRing(capacity: 4096)
        let data = pattern(100, seed: 0)
        data.withUnsafeBytes { _ = ring.push($0, RecordHeader(kind: .datagram)) }
        // Scribble the record's length beyond what was published.
        ring.record(at: 0).storeBytes(of: UInt32(5000), as: UInt32.self)
        #expect(throws: RingViolation.recordTooLong(length: 5000, room: 112)) { try ring.peek() }
        // A tail far beyond the head.
        let other = try MessageRing(capacity: 4096)
        other.scribble(RingWord.tail, 1 << 40)
        #expect(throws: RingViolation.indexOutOfRange(head: 0, tail: 1 << 40)) { try other.peek() }
        // A tail off the record grid: its last record would end past it.
        let misaligned = try MessageRing(capacity: 4096)
        misaligned.scribble(RingWord.tail, 20)
        #expect(throws: RingViolation.misalignedIndex(20)) { try misaligned.peek() }
        // An unknown record kind.
        let third = try MessageRing(capacity: 4096)
        data.withUnsafeBytes { _ = third.push($0, RecordHeader(kind: RecordKind(rawValue: 77))) }
        #expect(throws: RingViolation.unknownKind(77)) { try third.peek() }
    }

    /// Heads no correct consumer publishes, given what the producer published.
    enum BogusHead: CaseIterable {
        case aheadOfTheTail, moreThanCapacityBehind, offTheRecordGrid

        func value(published: UInt64, capacity: Int) -> UInt64 {
            switch self {
            case .aheadOfTheTail: return published + 4096
            case .moreThanCapacityBehind: return published &- UInt64(capacity) &- 16
            case .offTheRecordGrid: return published &- 8
            }
        }
    }

    /// The producer reads the consumer's head only when its cached view is
    /// full; each case fills the ring until it does.
    @Test(arguments: BogusHead.allCases)
    func aHostileConsumerHeadIsRefusedByTheProducer(_ head: BogusHead) throws {
        let ring = try MessageRing(capacity: 4096)
        let data = pattern(240, seed: 3)
        // Wrap once so the head is well away from zero.
        for _ in 0..<20 {
            #expect(data.withUnsafeBytes { ring.push($0, RecordHeader(kind: .datagram)) })
            _ = try ring.peek()
            ring.release()
        }
        #expect(data.withUnsafeBytes { ring.push($0, RecordHeader(kind: .datagram)) })   // refreshes the cached head
        while data.withUnsafeBytes({ ring.push($0, RecordHeader(kind: .datagram)) }) {}
        #expect(ring.producerViolation == nil)
        let published = ring.load(RingWord.tail)
        let bogus = head.value(published: published, capacity: ring.capacity)
        ring.scribble(RingWord.head, bogus)
        #expect(ring.reserve(16) == nil)
        let expected: RingViolation = bogus & 15 != 0 ? .misalignedIndex(bogus) : .indexOutOfRange(head: bogus, tail: published)
        #expect(ring.producerViolation == expected)
        // For good: even a head that looks right later is not trusted again.
        ring.scribble(RingWord.head, published)
        #expect(ring.reserve(16) == nil)
        #expect(!ring.waitForSpace(16, timeoutNanoseconds: -1), "a violated ring does not wait")
    }

    @Test func stagedRecordsAppearTogetherAndConsumedOnesAreFreedTogether() throws {
        let ring = try MessageRing(capacity: 4096)
        for i in 0..<3 {
            #expect(pattern(50, seed: UInt8(i)).withUnsafeBytes { ring.append($0, RecordHeader(kind: .datagram, port: UInt16(i))) })
        }
        #expect(ring.isEmpty, "staged records are not visible yet")
        #expect(try ring.peek() == nil)
        ring.publish()
        for i in 0..<3 {
            let record = try #require(try ring.peek())
            #expect(record.0.port == UInt16(i))
            #expect(Array(record.1) == pattern(50, seed: UInt8(i)))
            ring.consume()
        }
        #expect(try ring.peek() == nil)
        // The producer still sees the three records' room as taken.
        #expect(ring.load(RingWord.head) == 0)
        ring.releaseConsumed()
        #expect(ring.load(RingWord.head) == 3 * 80)
    }

    @Test func armingForDataAsksTheProducerToRingOnce() throws {
        let ring = try MessageRing(capacity: 4096)
        let one = pattern(8, seed: 0)
        #expect(!ring.armForData(), "empty: the caller may sleep")
        one.withUnsafeBytes { _ = ring.push($0, RecordHeader(kind: .datagram)) }
        #expect(rtu_sched_wait_readable(ring.dataDoorbell, 0) > 0, "the publish rang the doorbell")
        _ = rtu_sched_eventfd_drain(ring.dataDoorbell)
        one.withUnsafeBytes { _ = ring.push($0, RecordHeader(kind: .datagram)) }
        #expect(rtu_sched_wait_readable(ring.dataDoorbell, 0) == 0, "rung only once per request")
        #expect(ring.armForData(), "data already there: keep consuming")
        one.withUnsafeBytes { _ = ring.push($0, RecordHeader(kind: .datagram)) }
        #expect(rtu_sched_wait_readable(ring.dataDoorbell, 0) == 0, "a withdrawn request is not answered")
    }

    @Test func doorbellWakesABlockedConsumerAcrossThreads() throws {
        let ring = try MessageRing(capacity: 1 << 16)
        let count = 20_000
        let producer = TestThread {
            let data = [UInt8](repeating: 7, count: 64)
            var sent = 0
            while sent < count {
                if data.withUnsafeBytes({ ring.push($0, RecordHeader(kind: .datagram, address: UInt32(sent))) }) {
                    sent += 1
                } else {
                    _ = ring.waitForSpace(64, timeoutNanoseconds: 1_000_000_000)
                }
            }
        }
        defer { producer.join() }
        var received = 0
        while received < count {
            if let (header, _) = try ring.peek() {
                #expect(Int(header.address) == received)
                ring.release()
                received += 1
            } else {
                let woken = ring.waitForData(timeoutNanoseconds: 5_000_000_000)
                #expect(woken, "lost wake-up at \(received)")
                if !woken { return }
            }
        }
    }
}
