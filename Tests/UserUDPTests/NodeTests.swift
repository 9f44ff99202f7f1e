import CShims
import Links
import Node
import RTUScheduler
import Stack
import Synchronization
import UserUDP
import Wire
import XCTest

final class NodeTests: XCTestCase {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
    deinit { buffer.deallocate() }

    /// Sends `count` datagrams of `size(i)` bytes from `from` to `to` in
    /// windows that fit the channel and the ring, receiving each window whole.
    func exchange(_ from: UDPSocket, _ to: UDPSocket, count: Int, window: Int = 128,
                  size: (Int) -> Int, file: StaticString = #filePath, line: UInt = #line) throws {
        var sent = 0
        var received = 0
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { out.deallocate() }
        while sent < count {
            let burst = min(window, count - sent)
            for i in sent..<sent + burst {
                let n = size(i)
                PayloadPattern.fill(out.slice(0 ..< n), seq: UInt64(i))
                try from.send(UnsafeRawBufferPointer(out.slice(0 ..< n)), timeout: 2_000_000_000)
            }
            sent += burst
            while received < sent {
                guard let got = try to.receive(into: buffer, timeout: 5_000_000_000) else {
                    XCTFail("datagram \(received) of \(count) did not arrive", file: file, line: line)
                    return
                }
                XCTAssertEqual(got.length, size(received), file: file, line: line)
                XCTAssertEqual(PayloadPattern.check(UnsafeRawBufferPointer(buffer.slice(0 ..< got.stored))), UInt64(received),
                               "content of datagram \(received)", file: file, line: line)
                received += 1
            }
        }
    }

    func testEachPortAnnouncesItselfOnceFromItsCore() throws {
        let pair = try NodePair()
        func sent(_ node: Node) -> UInt64? {
            node.counters().first?.1.first { $0.0 == "gratuitous_arp_sent" }?.1
        }
        XCTAssertTrue(waitUntil { sent(pair.a) == 1 && sent(pair.b) == 1 },
                      "gratuitous ARP sent: a \(String(describing: sent(pair.a))), b \(String(describing: sent(pair.b)))")
        // Once: no second announcement follows (the stack RTU applies every
        // queued command in one invocation, far shorter than this wait).
        usleep(20_000)
        XCTAssertEqual(sent(pair.a), 1)
        XCTAssertEqual(sent(pair.b), 1)
    }

    /// A jumbo-frame Ethernet port fits on a core beside a reservation (its
    /// RTUs' batches carry the bytes a 1500-byte port's do), and carries
    /// 8,000-byte datagrams unfragmented both ways.
    func testAJumboFramePortStartsAndCarriesJumboDatagrams() throws {
        let mtu = 9000
        let (la, lb) = try SocketPairLink.pair(mtu: mtu, a: NodePair.macA, b: NodePair.macB)
        func node(_ link: LinkDevice, _ address: IPv4Address, _ name: String) throws -> Node {
            let pool = try BufferPool(slotSize: 64 + mtu + 18, count: 1024)
            let ic = InterfaceConfiguration(name: name, hardwareAddress: link.hardwareAddress,
                                            address: IPv4Cidr(address: address, prefixLength: 24)!, mtu: mtu)
            return try Node(configuration: NodePair.configuration(), ports: [PortSpec(name: name, device: link, pool: pool, interface: ic)])
        }
        let a = try node(la, NodePair.addrA, "ja"), b = try node(lb, NodePair.addrB, "jb")
        defer { a.stop(); b.stop() }
        try a.start()
        try b.start()
        let sink = try b.openUDP()
        try b.bind(sink, to: SocketAddress(address: .any, port: 5000))
        let s = try a.openUDP()
        try a.connect(s, to: SocketAddress(address: NodePair.addrB, port: 5000))
        try a.reserve(s, UDPReservation(bitsPerSecond: 40_000_000, messageSize: 8000, period: 10_000_000))
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: 8000, alignment: 16)
        defer { payload.deallocate() }
        let received = UnsafeMutableRawBufferPointer.allocate(byteCount: 9000, alignment: 16)
        defer { received.deallocate() }
        for seq in 0..<50 {
            PayloadPattern.fill(payload, seq: UInt64(seq))
            try s.send(UnsafeRawBufferPointer(payload), timeout: 1_000_000_000)
            guard let got = try sink.receive(into: received, timeout: 2_000_000_000) else { return XCTFail("datagram \(seq) lost") }
            XCTAssertEqual(got.length, 8000)
            XCTAssertEqual(PayloadPattern.check(UnsafeRawBufferPointer(rebasing: received[0..<got.stored])), UInt64(seq))
        }
        let fragments = a.counters().first?.1.first { $0.0 == "fragments_sent" }?.1 ?? 0
        XCTAssertEqual(fragments, 0, "8,000-byte datagrams were fragmented at MTU 9000")
    }

    /// A node stopped while datagrams wait in a socket's channel (its input
    /// RTU busy in a slow handler) gives their buffers back to the pool when
    /// it goes, instead of freeing the channel with them (a trap).
    func testStoppingWithDatagramsInAChannelGivesTheirBuffersBack() throws {
        let (la, lb) = try SocketPairLink.pair(a: NodePair.macA, b: NodePair.macB)
        let pool = try BufferPool(slotSize: 64 + 1518, count: 256)
        var b: Node? = try {
            let ic = InterfaceConfiguration(name: "b", hardwareAddress: lb.hardwareAddress,
                                            address: IPv4Cidr(address: NodePair.addrB, prefixLength: 24)!)
            return try Node(configuration: NodePair.configuration(), ports: [PortSpec(name: "b", device: lb, pool: pool, interface: ic)])
        }()
        let a = try NodePair.node(la, address: NodePair.addrA, name: "a", configure: { _ in })
        defer { a.stop() }
        try a.start()
        try b!.start()
        let handled = Atomic<Int>(0)
        let sink = try b!.openUDP(handler: { _ in
            handled.add(1, ordering: .relaxed)
            usleep(20_000)   // a slow handler: the channel fills behind it
        })
        try b!.bind(sink, to: SocketAddress(address: .any, port: 5000))
        let s = try a.openUDP()
        try a.connect(s, to: SocketAddress(address: NodePair.addrB, port: 5000))
        let data = UnsafeRawBufferPointer(UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 8))
        defer { data.deallocate() }
        for _ in 0..<40 { try s.send(data, timeout: 1_000_000_000) }
        let queued = { (b!.counters().first?.1.first { $0.0 == "demux_to_sockets" }?.1 ?? 0) }
        XCTAssertTrue(waitUntil { queued() >= 20 && handled.load(ordering: .relaxed) >= 1 }, "demuxed \(queued())")
        b!.stop()
        XCTAssertLessThan(handled.load(ordering: .relaxed), 20, "the handler kept up: nothing was left in the channel")
        b = nil
        XCTAssertEqual(pool.available, pool.count, "buffers lost when the node went")
    }

    func testDatagramsBothWaysWithContentChecked() throws {
        let pair = try NodePair()
        let server = try pair.b.openUDP(name: "server")
        try pair.b.bind(server, to: SocketAddress(address: .any, port: 5000))
        let client = try pair.a.openUDP(name: "client")
        try pair.a.connect(client, to: SocketAddress(address: NodePair.addrB, port: 5000))
        XCTAssertEqual(client.local?.address, NodePair.addrA)
        try exchange(client, server, count: 5_000, size: { 8 + $0 % 1465 })
        // Back the other way, to the address the server saw.
        try pair.b.connect(server, to: client.local!)
        try exchange(server, client, count: 5_000, size: { 8 + ($0 * 7) % 1465 })
        XCTAssertEqual(server.counters.received.load(ordering: .relaxed), 5_000)
        XCTAssertEqual(client.counters.received.load(ordering: .relaxed), 5_000)
        XCTAssertEqual(server.counters.droppedBadChecksum.load(ordering: .relaxed), 0)
    }

    func testLargeDatagramsAreFragmentedAndReassembledBothWays() throws {
        let pair = try NodePair()
        let server = try pair.b.openUDP()
        try pair.b.bind(server, to: SocketAddress(address: NodePair.addrB, port: 7000))
        let client = try pair.a.openUDP()
        try pair.a.connect(client, to: SocketAddress(address: NodePair.addrB, port: 7000))
        try exchange(client, server, count: 30, window: 3, size: { [60_000, 65_507, 1473][$0 % 3] })
        try pair.b.connect(server, to: client.local!)
        try exchange(server, client, count: 30, window: 3, size: { [60_000, 65_507, 1473][$0 % 3] })
        let fragmentsB = pair.b.ports[0].interface.counters[.datagramsReassembled]
        XCTAssertEqual(fragmentsB, 30)
    }

    func testPortUnreachableIsReportedToTheSocketThatSent() throws {
        let pair = try NodePair()
        let client = try pair.a.openUDP()
        let peer = SocketAddress(address: NodePair.addrB, port: 6001)
        try pair.a.connect(client, to: peer)
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: 32, alignment: 8)
        defer { data.deallocate() }
        try client.send(UnsafeRawBufferPointer(data))
        XCTAssertThrowsError(try client.receive(into: buffer, timeout: 5_000_000_000)) { error in
            XCTAssertEqual(error as? UDPReceiveError, .icmp(peer: peer, type: 3, code: 3))
        }
        XCTAssertEqual(client.counters.icmpErrors.load(ordering: .relaxed), 1)
    }

    func testBindConflictsAreRefusedAsLinuxDoes() throws {
        let pair = try NodePair()
        let s1 = try pair.a.openUDP()
        try pair.a.bind(s1, to: SocketAddress(address: .any, port: 5000))
        let s2 = try pair.a.openUDP()
        XCTAssertThrowsError(try pair.a.bind(s2, to: SocketAddress(address: NodePair.addrA, port: 5000))) {
            XCTAssertEqual($0 as? NodeError, .addressInUse(SocketAddress(address: NodePair.addrA, port: 5000)))
        }
        XCTAssertThrowsError(try pair.a.bind(s2, to: SocketAddress(address: IPv4Address(198, 18, 9, 9), port: 1))) {
            XCTAssertEqual($0 as? NodeError, .noInterface(IPv4Address(198, 18, 9, 9)))
        }
        try pair.a.bind(s2, to: SocketAddress(address: NodePair.addrA, port: 5001))
        pair.a.close(s1)
        let s3 = try pair.a.openUDP()
        try pair.a.bind(s3, to: SocketAddress(address: NodePair.addrA, port: 5000))
    }

    func testClosingSocketsReleasesTableEntriesRTUsAndBuffers() throws {
        let pair = try NodePair()
        let port = pair.b.ports[0]
        let rtusBefore = pair.b.runtime.model.rtus(onCore: 0).count
        var sockets: [UDPSocket] = []
        for i in 0..<200 {
            let s = try pair.b.openUDP()
            try pair.b.bind(s, to: SocketAddress(address: .any, port: UInt16(20_000 + i)))
            sockets.append(s)
        }
        XCTAssertEqual(port.demux.count, 200)
        // Leave frames in some channels: datagrams to sockets whose RX rings are then never read.
        let client = try pair.a.openUDP()
        try pair.a.bind(client, to: SocketAddress(address: .any, port: 0))
        let data = UnsafeRawBufferPointer(buffer.slice(0 ..< 100))
        for i in 0..<50 { try client.send(data, to: SocketAddress(address: NodePair.addrB, port: UInt16(20_000 + i)), timeout: 1_000_000_000) }
        XCTAssertTrue(waitUntil { sockets.prefix(50).allSatisfy { $0.counters.received.load(ordering: .relaxed) == 1 } })
        for s in sockets { pair.b.close(s) }
        XCTAssertEqual(port.demux.count, 0)
        XCTAssertEqual(pair.b.runtime.model.rtus(onCore: 0).count, rtusBefore)
        XCTAssertTrue(pair.b.sockets.isEmpty)
        XCTAssertThrowsError(try sockets[0].send(data, to: SocketAddress(address: NodePair.addrA, port: 1)))
        // Every buffer is back: nothing is queued anywhere on an idle node.
        XCTAssertTrue(waitUntil { port.interface.pool.available == port.interface.pool.count })
    }

    func testClosingManySocketsAtOnceReleasesEveryOne() throws {
        let pair = try NodePair()
        let port = pair.b.ports[0]
        let entriesBefore = pair.b.runtime.entries().count
        var sockets: [UDPSocket] = []
        for i in 0..<200 {
            let s = try pair.b.openUDP()
            try pair.b.bind(s, to: SocketAddress(address: .any, port: UInt16(20_000 + i)))
            sockets.append(s)
        }
        XCTAssertEqual(pair.b.runtime.entries().count, entriesBefore + 400)
        let client = try pair.a.openUDP()
        try pair.a.bind(client, to: SocketAddress(address: .any, port: 0))
        let data = UnsafeRawBufferPointer(buffer.slice(0 ..< 100))
        for i in 0..<50 { try client.send(data, to: SocketAddress(address: NodePair.addrB, port: UInt16(20_000 + i)), timeout: 1_000_000_000) }
        XCTAssertTrue(waitUntil { sockets.prefix(50).allSatisfy { $0.counters.received.load(ordering: .relaxed) == 1 } })
        // 400 removals in one call: more than a core's command ring holds.
        pair.b.close(sockets)
        XCTAssertEqual(port.demux.count, 0)
        XCTAssertEqual(pair.b.runtime.entries().count, entriesBefore)
        XCTAssertTrue(pair.b.sockets.isEmpty)
        XCTAssertTrue(sockets.allSatisfy { pair.b.handles(of: $0) == nil })
        XCTAssertTrue(waitUntil { port.interface.pool.available == port.interface.pool.count })
        // Their ports are free again.
        let again = try pair.b.openUDP()
        try pair.b.bind(again, to: SocketAddress(address: .any, port: 20_000))
    }

    func testReservationIsAdmittedOrRefusedWithTheReason() throws {
        let pair = try NodePair()
        let s = try pair.a.openUDP(name: "video0")
        try pair.a.bind(s, to: SocketAddress(address: .any, port: 5000))
        // 40 Mbit/s of 8192-byte messages every 10 ms: B = ⌈40e6·0.01/(8·8192)⌉ = 7.
        try pair.a.reserve(s, UDPReservation(bitsPerSecond: 40_000_000, messageSize: 8192, period: 10_000_000))
        XCTAssertEqual(s.plan?.batch, 7)
        let rtus = pair.a.runtime.model.rtus(onCore: 0).map { $0.spec.name }
        XCTAssertTrue(rtus.contains("video0.in") && rtus.contains("video0.out"), "\(rtus)")
        // Far beyond one core, and beyond what the core has left: refused as
        // admission, each saying what would fit; the earlier reservation stays.
        var offers: [Double] = []
        for (rate, reason) in [(UInt64(4_000_000_000), "more than a whole core"), (2_000_000_000, "would")] {
            XCTAssertThrowsError(try pair.a.reserve(s, UDPReservation(bitsPerSecond: rate, messageSize: 1472, period: 10_000_000))) { error in
                guard case .some(.admissionRefused(let why)) = error as? NodeError else { return XCTFail("\(error)") }
                XCTAssertTrue(why.contains(reason), why)
                XCTAssertTrue(why.contains("at 1472-byte messages every 10.00 ms now"), why)
                if let offer = Self.offeredMbit(why) { offers.append(offer) } else { XCTFail("no rate offered: \(why)") }
            }
        }
        XCTAssertEqual(s.plan?.batch, 7)
        XCTAssertEqual(s.reservation?.bitsPerSecond, 40_000_000)
        // What it offers is what it takes (in place of the current
        // reservation), and one message per period more is refused.
        guard offers.count == 2, offers[0] == offers[1], let offer = offers.first, offer > 40 else {
            return XCTFail("offers \(offers)")
        }
        let fitting = UInt64((offer * 1e6).rounded(.down))
        let perMessage: UInt64 = 1472 * 8 * 100   // one more message every 10 ms, in bit/s
        XCTAssertThrowsError(try pair.a.reserve(s, UDPReservation(bitsPerSecond: fitting + perMessage, messageSize: 1472,
                                                                   period: 10_000_000)))
        XCTAssertNoThrow(try pair.a.reserve(s, UDPReservation(bitsPerSecond: fitting - perMessage / 2, messageSize: 1472,
                                                               period: 10_000_000)))
    }

    /// The N of "at most N Mbit/s fits" in a refusal.
    static func offeredMbit(_ why: String) -> Double? {
        guard let start = why.range(of: "at most "), let end = why.range(of: " Mbit/s fits") else { return nil }
        return Double(why[start.upperBound..<end.lowerBound])
    }

    func testReservedOutputNeverExceedsItsRate() throws {
        let pair = try NodePair()
        let sink = try pair.b.openUDP()
        try pair.b.bind(sink, to: SocketAddress(address: .any, port: 5000))
        let s = try pair.a.openUDP()
        try pair.a.connect(s, to: SocketAddress(address: NodePair.addrB, port: 5000))
        // 1000 messages/s of 1000 bytes, 10 per 10 ms period.
        try pair.a.reserve(s, UDPReservation(bitsPerSecond: 8_000_000, messageSize: 1000, period: 10_000_000))
        let start = rtu_sched_monotonic_ns()
        let data = UnsafeRawBufferPointer(buffer.slice(0 ..< 1000))
        for _ in 0..<200 { try s.send(data, timeout: 1_000_000_000) }
        _ = rtu_sched_sleep_until(start + 100_000_000)
        let sent = s.counters.sent.load(ordering: .relaxed)
        let elapsed = Double(rtu_sched_monotonic_ns() - start) / 1e9
        // At most the rate over the time elapsed plus one period's batch (the bucket's depth).
        XCTAssertLessThanOrEqual(Double(sent), elapsed * 1000 + 10 + 1, "sent \(sent) in \(elapsed) s")
        XCTAssertGreaterThan(sent, 0)
        XCTAssertTrue(waitUntil(10) { s.counters.sent.load(ordering: .relaxed) == 200 })
    }
}

/// Crafted frames injected from the raw end of the link: every bad one is a
/// counted drop, charged to the socket it was classified to.
final class InputCheckTests: XCTestCase {
    func frame(udpChecksum: UInt16? = nil, ipChecksumDelta: UInt16 = 0, udpLength: Int? = nil, port: UInt16 = 5000) -> [UInt8] {
        let payload = [UInt8](repeating: 0x5A, count: 32)
        var f = [UInt8](repeating: 0, count: 14 + 20 + 8 + payload.count)
        f.withUnsafeMutableBytes { b in
            EthernetRepr(destination: NodePair.macB, source: NodePair.macA, etherType: .ipv4).emit(into: b)
            IPv4Repr(source: NodePair.addrA, destination: NodePair.addrB, protocol: .udp, payloadLength: 8 + payload.count)
                .emit(into: b.slice(14 ..< 34))
            payload.withUnsafeBytes { b.copy($0, to: 42) }
            UDPRepr(sourcePort: 4000, destinationPort: port, payloadLength: payload.count)
                .emit(into: b.slice(34 ..< b.count), source: NodePair.addrA, destination: NodePair.addrB)
            if let c = udpChecksum { b.writeU16(40, c) }
            if let l = udpLength { b.writeU16(38, UInt16(l)) }
            if ipChecksumDelta != 0 { b.writeU16(24, b.readOnly.readU16(24) &+ ipChecksumDelta) }
        }
        return f
    }

    func testBadChecksumsAndMalformedDatagramsAreCountedNotDelivered() throws {
        let (raw, lb) = try SocketPairLink.pair(a: NodePair.macA, b: NodePair.macB)
        let b = try NodePair.node(lb, address: NodePair.addrB, name: "b", configure: { _ in })
        try b.start()
        defer { b.stop() }
        let s = try b.openUDP()
        try b.bind(s, to: SocketAddress(address: .any, port: 5000))
        let good = frame()
        var badUDP = good
        badUDP[41] ^= 0xFF
        for f in [good, badUDP, frame(ipChecksumDelta: 1), frame(udpLength: 200), frame(udpLength: 4), good] {
            XCTAssertTrue(f.withUnsafeBytes { raw.inject($0) })
        }
        XCTAssertTrue(waitUntil { s.counters.received.load(ordering: .relaxed) == 2 })
        XCTAssertTrue(waitUntil { s.counters.droppedMalformed.load(ordering: .relaxed) == 3 })
        XCTAssertEqual(s.counters.droppedBadChecksum.load(ordering: .relaxed), 1)
        XCTAssertEqual(b.ports[0].udp.counters.badChecksum.load(ordering: .relaxed), 1)
        XCTAssertEqual(b.ports[0].interface.counters[.ipv4BadChecksum], 1)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 8)
        defer { buffer.deallocate() }
        XCTAssertEqual(try s.receive(into: buffer)?.length, 32)
        XCTAssertEqual(try s.receive(into: buffer)?.length, 32)
        XCTAssertNil(try s.receive(into: buffer))
    }
}

/// The layer's output hands its frames to the owner's flush with the time
/// it was given (an upcall's `now`), so the owner's device, an ATM adaptor
/// running a cell clock, needs no clock read of its own on the core.
final class OutputFlushTests: XCTestCase {
    func testOutputFlushesWithItsOwnNow() throws {
        let pool = try BufferPool(slotSize: 2048, count: 64)
        let address = IPv4Cidr(address: IPv4Address(198, 18, 254, 1), prefixLength: 24)!
        let interface = Interface(configuration: InterfaceConfiguration(
            name: "flush", hardwareAddress: EthernetAddress(rawValue: 0x02_00_00_00_00_01), address: address), pool: pool)
        let demux = Demux(hardwareAddress: interface.hardwareAddress, stackChannel: FrameChannel(id: -1, capacity: 4),
                          fragmentChannel: FrameChannel(id: -2, capacity: 4), maxEndpoints: 4)
        let layer = UDPLayer(interface: interface, demux: demux)
        let socket = try UDPSocket(id: 0, name: "flush", channelCapacity: 8, ringCapacity: 1 << 16, handler: nil)
        socket.coreLocal = SocketAddress(address: address.address, port: 9)
        var flushed: [Instant] = []
        layer.flush = { now in
            flushed.append(now)
            interface.transmitQueue.releaseAll(to: pool)
        }
        let payload = [UInt8](repeating: 7, count: 100)
        let to = SocketAddress(address: address.directedBroadcast!, port: 9)
        for _ in 0 ..< 3 { try payload.withUnsafeBytes { try socket.send($0, to: to) } }
        let now = Instant(nanoseconds: 123_456_789)
        XCTAssertEqual(layer.output(socket, limit: 8, now: now, pacing: nil).sent, 3)
        XCTAssertFalse(flushed.isEmpty)
        XCTAssertTrue(flushed.allSatisfy { $0 == now }, "\(flushed)")
    }
}
