import CShims
import SharedRings
import XCTest

final class MessageRingTests: XCTestCase {
    func bytes(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0) } }

    func testRecordsComeOutInOrderAcrossManyWraps() throws {
        let ring = try MessageRing(capacity: 4096)
        XCTAssertEqual(ring.maxPayload, 2048 - 16)
        var expected: [(Int, UInt8)] = []
        var seed: UInt8 = 0
        var pushedBytes = 0
        func drain() throws {
            while let (header, payload) = try ring.peek() {
                let (n, s) = expected.removeFirst()
                XCTAssertEqual(payload.count, n)
                XCTAssertEqual(Int(header.port), n)
                XCTAssertEqual(Array(payload), bytes(n, seed: s))
                ring.release()
            }
        }
        for round in 0..<2_000 {
            let n = (round * 37) % 700
            let data = bytes(n, seed: seed)
            if data.withUnsafeBytes({ ring.push($0, RecordHeader(kind: .datagram, address: UInt32(round), port: UInt16(n))) }) {
                expected.append((n, seed))
                seed &+= 1
                pushedBytes += n
            }
            // Drain now and then so the ring wraps with records of every size.
            if round % 5 == 4 { try drain() }
        }
        try drain()
        XCTAssertTrue(expected.isEmpty, "\(expected.count) records never came out")
        XCTAssertTrue(ring.isEmpty)
        XCTAssertGreaterThan(pushedBytes, 100 * ring.capacity, "the ring should have wrapped many times")
    }

    func testFullRingRefusesAndOversizeIsRefused() throws {
        let ring = try MessageRing(capacity: 4096)
        XCTAssertNil(ring.reserve(ring.maxPayload + 1))
        var pushed = 0
        let data = bytes(1000, seed: 1)
        while data.withUnsafeBytes({ ring.push($0, RecordHeader(kind: .datagram)) }) { pushed += 1 }
        XCTAssertEqual(pushed, 4)   // 4 × (16 + 1000 → 1024) fill 4096
        _ = try ring.peek()
        ring.release()
        XCTAssertTrue(data.withUnsafeBytes { ring.push($0, RecordHeader(kind: .datagram)) })
    }

    func testAHostileProducerIsDetectedNotTrusted() throws {
        let ring = try MessageRing(capacity: 4096)
        let data = bytes(100, seed: 0)
        data.withUnsafeBytes { _ = ring.push($0, RecordHeader(kind: .datagram)) }
        // Scribble the record's length beyond what was published.
        let record = ring.region + MessageRing.headerBytes
        record.storeBytes(of: UInt32(5000), as: UInt32.self)
        XCTAssertThrowsError(try ring.peek()) { XCTAssertEqual($0 as? RingViolation, .recordTooLong(length: 5000, room: 112)) }
        // A tail far beyond the head.
        let other = try MessageRing(capacity: 4096)
        rtu_atomic_store_release(other.region, 1 << 40)
        XCTAssertThrowsError(try other.peek()) {
            XCTAssertEqual($0 as? RingViolation, .indexOutOfRange(head: 0, tail: 1 << 40))
        }
        // An unknown record kind.
        let third = try MessageRing(capacity: 4096)
        data.withUnsafeBytes { _ = third.push($0, RecordHeader(kind: RecordKind(rawValue: 77))) }
        XCTAssertThrowsError(try third.peek()) { XCTAssertEqual($0 as? RingViolation, .unknownKind(77)) }
    }

    func testDoorbellWakesABlockedConsumerAcrossThreads() throws {
        let ring = try MessageRing(capacity: 1 << 16)
        let count = 20_000
        let producer = Thread {
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
        producer.start()
        var received = 0
        while received < count {
            if let (header, _) = try ring.peek() {
                XCTAssertEqual(Int(header.address), received)
                ring.release()
                received += 1
            } else {
                XCTAssertTrue(ring.waitForData(timeoutNanoseconds: 5_000_000_000), "lost wake-up at \(received)")
            }
        }
    }
}
