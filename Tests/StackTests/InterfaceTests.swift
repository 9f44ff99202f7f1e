import Links
@testable import Stack
import Testing
import Wire

@Suite struct ARPAndPingTests {
    @Test func gratuitousARPUpdatesNothingButIsSent() throws {
        let h = try TwoHosts()
        h.a.start(now: h.now)
        #expect(h.a.counters[.gratuitousArpSent] == 1)
        try h.run()
        // B did not ask and the packet was not for B: no entry is created (RFC 826).
        #expect(h.b.neighbour(TwoHosts.addrA, now: h.now) == nil)
        #expect(h.b.counters[.arpRequestsReceived] == 1)
    }

    @Test func pingResolvesThenReplies() throws {
        let h = try TwoHosts()
        let echoes = EchoLog(h.a)
        #expect(h.a.sendEchoRequest(to: TwoHosts.addrB, identifier: 7, sequence: 1, dataLength: 56, now: h.now))
        // The request waits for ARP: nothing but the ARP request is queued.
        #expect(h.a.transmitQueue.count == 1)
        try h.run()
        #expect(h.a.neighbour(TwoHosts.addrB, now: h.now) == TwoHosts.macB)
        #expect(h.b.neighbour(TwoHosts.addrA, now: h.now) == TwoHosts.macA)
        #expect(echoes.replies.count == 1)
        #expect(echoes.replies.first?.1 == 1)
        #expect(echoes.replies.first?.2 == 56)
        #expect(h.b.counters[.icmpEchoRepliesSent] == 1)
        #expect(h.a.counters[.arpRequestsSent] == 1)
        #expect(h.a.counters.totalDrops == 0)
        #expect(h.b.counters.totalDrops == 0)
    }

    @Test func fourThousandBytePingIsFragmentedAndReassembledBothWays() throws {
        let h = try TwoHosts()
        let echoes = EchoLog(h.a)
        h.a.sendEchoRequest(to: TwoHosts.addrB, identifier: 1, sequence: 9, dataLength: 4000, now: h.now)
        try h.run()
        #expect(echoes.replies.count == 1)
        #expect(echoes.replies.first?.2 == 4000)
        // 4008 bytes of ICMP in 1480-byte pieces: 3 fragments each way.
        #expect(h.b.counters[.datagramsReassembled] == 1)
        #expect(h.a.counters[.datagramsReassembled] == 1)
        #expect(h.a.counters[.fragmentsSent] == 3)
        #expect(h.b.counters[.fragmentsSent] == 3)
    }

    @Test func largestDatagramAtSmallestMTU() throws {
        let h = try TwoHosts(mtu: 576)
        let echoes = EchoLog(h.a)
        // 65,507 bytes of ICMP data: a 65,535-byte IPv4 datagram, 119 fragments at MTU 576.
        h.a.sendEchoRequest(to: TwoHosts.addrB, identifier: 1, sequence: 1, dataLength: 65_507, now: h.now)
        try h.run(rounds: 200)
        #expect(echoes.replies.count == 1)
        #expect(echoes.replies.first?.2 == 65_507)
    }

    @Test func unresolvedNeighbourIsRetriedThenDropped() throws {
        let h = try TwoHosts()
        let nobody = IPv4Address(198, 18, 0, 99)
        h.a.sendEchoRequest(to: nobody, identifier: 1, sequence: 1, dataLength: 8, now: h.now)
        try h.run()
        for _ in 0..<4 { try h.advance(.seconds(1)) }
        // One request, three retries, then the waiting packet is dropped and counted.
        #expect(h.a.counters[.arpRequestsSent] == 4)
        #expect(h.a.counters[.arpUnresolved] == 1)
        #expect(h.a.pool.available == h.a.pool.count)
    }

    @Test func entriesAgeOut() throws {
        let h = try TwoHosts { $0.arpLifetime = .seconds(5) }
        h.a.sendEchoRequest(to: TwoHosts.addrB, identifier: 1, sequence: 1, dataLength: 8, now: h.now)
        try h.run()
        #expect(h.a.neighbour(TwoHosts.addrB, now: h.now) != nil)
        try h.advance(.seconds(6))
        #expect(h.a.neighbour(TwoHosts.addrB, now: h.now) == nil)
        // The next packet resolves again.
        h.a.sendEchoRequest(to: TwoHosts.addrB, identifier: 1, sequence: 2, dataLength: 8, now: h.now)
        try h.run()
        #expect(h.a.counters[.arpRequestsSent] == 2)
        #expect(h.a.counters[.icmpEchoRepliesReceived] == 2)
    }

    @Test func addressConflictIsCountedAndReported() throws {
        let h = try TwoHosts()
        var conflicts: [EthernetAddress] = []
        h.a.addressConflictObserver = { conflicts.append($0) }
        // B announces A's address as its own.
        var frame = [UInt8](repeating: 0, count: 42)
        frame.withUnsafeMutableBytes { b in
            EthernetRepr(destination: .broadcast, source: TwoHosts.macB, etherType: .arp).emit(into: b)
            ARPRepr(operation: .request, senderHardwareAddress: TwoHosts.macB, senderProtocolAddress: TwoHosts.addrA,
                    targetHardwareAddress: .zero, targetProtocolAddress: TwoHosts.addrA)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: b[14...]))
        }
        h.inject(frame, into: h.a)
        #expect(h.a.counters[.arpAddressConflict] == 1)
        #expect(conflicts == [TwoHosts.macB])
        #expect(h.a.transmitQueue.isEmpty)   // no reply to a claim on our own address
    }

    @Test func noRouteOffSubnetWithoutGateway() throws {
        let h = try TwoHosts()
        [UInt8](repeating: 0, count: 8).withUnsafeBytes { p in
            #expect(throws: SendError.noRoute) { try h.a.send(to: IPv4Address(198, 19, 0, 1), protocol: .udp, payload: p, now: h.now) }
        }
        #expect(h.a.counters[.noRoute] == 1)
    }

    @Test func dontFragmentTooBigIsRefused() throws {
        let h = try TwoHosts()
        [UInt8](repeating: 0, count: 2000).withUnsafeBytes { p in
            #expect(throws: SendError.fragmentationNeeded(mtu: 1500)) {
                try h.a.send(to: TwoHosts.addrB, protocol: .udp, payload: p, dontFragment: true, now: h.now)
            }
        }
    }

    @Test func udpWithoutSocketGetsPortUnreachableAndTransportSeesIt() throws {
        let h = try TwoHosts()
        let sender = RecordingTransport(port: 1)
        h.a.transport = sender
        // A UDP datagram to a port nobody listens on at B (checksum 0: none).
        let udp: [UInt8] = [0x30, 0x39, 0x13, 0x88, 0x00, 0x0C, 0x00, 0x00, 1, 2, 3, 4]
        udp.withUnsafeBytes { try? h.a.send(to: TwoHosts.addrB, protocol: .udp, payload: $0, now: h.now) }
        try h.run()
        #expect(h.b.counters[.icmpErrorsSent] == 1)
        #expect(h.a.counters[.icmpErrorsReceived] == 1)
        #expect(sender.errors.count == 1)
        #expect(sender.errors.first?.0 == .destinationUnreachable)
        #expect(sender.errors.first?.1 == ICMPv4UnreachableCode.portUnreachable.rawValue)
    }

    @Test func icmpErrorsAreRateLimited() throws {
        let h = try TwoHosts { $0.icmpErrorBurst = 3; $0.icmpErrorsPerSecond = 1 }
        let udp: [UInt8] = [0x30, 0x39, 0x13, 0x88, 0x00, 0x08, 0x00, 0x00]
        for _ in 0..<10 {
            udp.withUnsafeBytes { try? h.a.send(to: TwoHosts.addrB, protocol: .udp, payload: $0, now: h.now) }
        }
        try h.run()
        #expect(h.b.counters[.icmpErrorsSent] == 3)
        #expect(h.b.counters[.icmpRateLimited] == 7)
    }

    @Test func deliveredToTransport() throws {
        let h = try TwoHosts()
        let receiver = RecordingTransport(port: 5000)
        h.b.transport = receiver
        let udp: [UInt8] = [0x30, 0x39, 0x13, 0x88, 0x00, 0x0A, 0x00, 0x00, 0xAB, 0xCD]
        udp.withUnsafeBytes { try? h.a.send(to: TwoHosts.addrB, protocol: .udp, payload: $0, now: h.now) }
        try h.run()
        #expect(receiver.datagrams == [udp])
        #expect(h.b.counters[.ipv4Delivered] == 1)
    }
}
