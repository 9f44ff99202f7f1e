import CShims
import Glibc
import Node
import SharedRings
import Stack
import UserUDP
import Wire
import XCTest

/// Sockets whose application is a client in another process: the rings are a
/// `SocketRegion`'s, and the client's view is the region mapped again from
/// duplicated descriptors, as a client would map what the daemon sent it.
final class RegionSocketTests: XCTestCase {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
    deinit { buffer.deallocate() }

    func clientView(of region: SocketRegion) throws -> SocketRegion {
        try SocketRegion.map(descriptors: region.descriptors.map { dup($0) })
    }

    func testAScribbledRXHeadBreaksThatSocketOnlyWithCountedDrops() throws {
        let pair = try NodePair()
        let region = try SocketRegion.create(name: "victim", rxCapacity: 4096, txCapacity: 4096)
        let victim = try pair.b.openUDP(name: "victim", region: region)
        try pair.b.bind(victim, to: SocketAddress(address: .any, port: 5000))
        let healthy = try pair.b.openUDP(name: "healthy")
        try pair.b.bind(healthy, to: SocketAddress(address: .any, port: 5001))
        let sender = try pair.a.openUDP()
        try pair.a.bind(sender, to: SocketAddress(address: .any, port: 0))

        // The client claims to have consumed far more than was ever published.
        let client = try clientView(of: region)
        rtu_atomic_store_release(client.rx.region + 64, 1 << 20)
        let data = UnsafeRawBufferPointer(buffer.slice(0 ..< 100))   // 16 + 100 → 128 ring bytes: 32 fit
        for _ in 0..<60 { try sender.send(data, to: SocketAddress(address: NodePair.addrB, port: 5000), timeout: 1_000_000_000) }

        let counters = victim.counters, layer = pair.b.ports[0].udp.counters
        XCTAssertTrue(waitUntil {
            counters.received.load(ordering: .relaxed) + counters.droppedRingViolation.load(ordering: .relaxed) == 60
        })
        // The core trusted its cached view of the head until the ring looked
        // full, then read the head, refused it and broke the socket.
        XCTAssertEqual(counters.received.load(ordering: .relaxed), 32)
        XCTAssertEqual(counters.droppedRingViolation.load(ordering: .relaxed), 28)
        XCTAssertEqual(counters.droppedRingFull.load(ordering: .relaxed), 0)
        XCTAssertEqual(layer.droppedRingViolation.load(ordering: .relaxed), 28)
        XCTAssertEqual(layer.ringViolations.load(ordering: .relaxed), 1)
        let why = try XCTUnwrap(victim.ringViolation)
        XCTAssertTrue(why.hasPrefix("RX ring: head 1048576"), why)

        // The other socket of the node is untouched.
        XCTAssertNil(healthy.ringViolation)
        let to = SocketAddress(address: NodePair.addrB, port: 5001)
        for i in 0..<200 {
            PayloadPattern.fill(buffer.slice(0 ..< 300), seq: UInt64(i))
            try sender.send(UnsafeRawBufferPointer(buffer.slice(0 ..< 300)), to: to, timeout: 1_000_000_000)
            let got = try XCTUnwrap(try healthy.receive(into: buffer, timeout: 5_000_000_000), "datagram \(i)")
            XCTAssertEqual(got.length, 300)
            XCTAssertEqual(PayloadPattern.check(UnsafeRawBufferPointer(buffer.slice(0 ..< got.stored))), UInt64(i))
        }
        XCTAssertEqual(layer.ringViolations.load(ordering: .relaxed), 1)
    }

    func testAScribbledTXRingBreaksTheSocketWhichThenDropsItsDatagrams() throws {
        let pair = try NodePair()
        let region = try SocketRegion.create(name: "hostile", rxCapacity: 4096, txCapacity: 4096)
        let socket = try pair.b.openUDP(name: "hostile", region: region)
        try pair.b.bind(socket, to: SocketAddress(address: .any, port: 5000))
        let client = try clientView(of: region)
        rtu_atomic_store_release(client.tx.region, 1 << 40)   // a tail far beyond any record
        socket.outputTrigger?.signal()
        XCTAssertTrue(waitUntil { socket.ringViolation != nil })
        XCTAssertEqual(socket.ringViolation, "TX ring: head 0 and tail 1099511627776 are not a valid pair of indices")

        let sender = try pair.a.openUDP()
        try pair.a.bind(sender, to: SocketAddress(address: .any, port: 0))
        try sender.send(UnsafeRawBufferPointer(buffer.slice(0 ..< 10)), to: SocketAddress(address: NodePair.addrB, port: 5000))
        XCTAssertTrue(waitUntil { socket.counters.droppedRingViolation.load(ordering: .relaxed) == 1 })
        XCTAssertEqual(socket.counters.received.load(ordering: .relaxed), 0)
        XCTAssertEqual(pair.b.ports[0].udp.counters.ringViolations.load(ordering: .relaxed), 1)
    }

    /// The daemon's wiring for a client's socket: the output RTU is released
    /// by the TX data doorbell, which the client rings only when the RTU found
    /// the ring empty and armed it. Bursts with pauses make the RTU go idle
    /// (and arm) many times; without the doorbell the datagrams would stay queued.
    func testAClientsSendsReleaseTheOutputRTUThroughTheDoorbell() throws {
        let pair = try NodePair()
        let sink = try pair.a.openUDP()
        try pair.a.bind(sink, to: SocketAddress(address: .any, port: 6000))
        let region = try SocketRegion.create(name: "remote", rxCapacity: 1 << 16, txCapacity: 1 << 16)
        let socket = try pair.b.openUDP(name: "remote", region: region)
        try pair.b.connect(socket, to: SocketAddress(address: NodePair.addrA, port: 6000))
        // The node watches a region socket's TX doorbell for its best-effort output RTU itself.
        XCTAssertNotNil(pair.b.handles(of: socket))

        let client = try clientView(of: region)
        let endpoint = DatagramEndpoint(rx: client.rx, tx: client.tx)
        let peer = DatagramPeer(address: NodePair.addrA.rawValue, port: 6000)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 500, alignment: 16)
        defer { out.deallocate() }
        var received = 0
        for i in 0..<300 {
            PayloadPattern.fill(out, seq: UInt64(i))
            try endpoint.send(UnsafeRawBufferPointer(out), to: peer, timeout: 1_000_000_000, isClosed: { false })
            guard i % 30 == 29 else { continue }
            while received <= i {
                let got = try XCTUnwrap(try sink.receive(into: buffer, timeout: 5_000_000_000), "datagram \(received)")
                XCTAssertEqual(got.length, 500)
                XCTAssertEqual(PayloadPattern.check(UnsafeRawBufferPointer(buffer.slice(0 ..< got.stored))), UInt64(received))
                received += 1
            }
        }
        XCTAssertEqual(socket.counters.sent.load(ordering: .relaxed), 300)
        XCTAssertNil(socket.ringViolation)
    }
}
