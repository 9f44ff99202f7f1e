import Links
@testable import Stack
import Testing
import Wire

/// The LRP demux: which channel each class of frame lands on, table
/// collisions and deletions, and drops on a full channel.
@Suite struct DemuxTests {
    final class Fixture {
        let pool: BufferPool
        let stack = FrameChannel(id: -1, capacity: 16)
        let fragments = FrameChannel(id: -2, capacity: 16)
        let demux: Demux

        init(maxEndpoints: Int = 64) throws {
            pool = try BufferPool(slotSize: 2048, count: 256)
            demux = Demux(hardwareAddress: TwoHosts.macB, stackChannel: stack, fragmentChannel: fragments,
                          maxEndpoints: maxEndpoints)
        }

        /// Dispatches a copy of `frame` (as a driver would, from the pool).
        func dispatch(_ frame: [UInt8]) {
            var buffer = pool.take()!
            buffer.length = frame.count
            frame.withUnsafeBytes { buffer.bytes.copy($0, to: 0) }
            demux.dispatch(buffer, pool: pool)
        }

        deinit {
            stack.drain(to: pool)
            fragments.drain(to: pool)
        }
    }

    /// A UDP datagram from `source:sourcePort` to `destination:port` (B's MAC).
    static func udp(from source: IPv4Address = TwoHosts.addrA, sourcePort: UInt16 = 12_345,
                    to destination: IPv4Address = TwoHosts.addrB, port: UInt16 = 5000,
                    flagsOffset: UInt16 = 0) -> [UInt8] {
        let udp: [UInt8] = [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), UInt8(port >> 8), UInt8(port & 0xFF),
                            0x00, 0x0A, 0x00, 0x00, 0xAB, 0xCD]
        return InputValidationTests.ipv4Frame(flagsOffset: flagsOffset, source: source, destination: destination, payload: udp)
    }

    @Test func eachClassOfFrameLandsOnItsChannel() throws {
        let f = try Fixture()
        let bound = FrameChannel(id: 1, capacity: 16)
        let wildcard = FrameChannel(id: 2, capacity: 16)
        let connected = FrameChannel(id: 3, capacity: 16)
        defer { for c in [bound, wildcard, connected] { c.drain(to: f.pool) } }
        try f.demux.insert(UDPEndpointKey(local: TwoHosts.addrB, localPort: 5000), channel: bound)
        try f.demux.insert(UDPEndpointKey(local: .any, localPort: 6000), channel: wildcard)
        try f.demux.insert(UDPEndpointKey(local: TwoHosts.addrB, localPort: 5000, remote: TwoHosts.addrA, remotePort: 999),
                           channel: connected)

        f.dispatch(Self.udp(port: 5000))                      // bound (address, port)
        f.dispatch(Self.udp(sourcePort: 999, port: 5000))     // exact 5-tuple wins over the bound socket
        f.dispatch(Self.udp(port: 6000))                      // wildcard address
        f.dispatch(Self.udp(port: 7000))                      // no socket: the stack answers (port unreachable)
        f.dispatch(Self.udp(port: 5000, flagsOffset: 0x2000)) // more fragments: the fragment channel
        f.dispatch(Self.udp(port: 5000, flagsOffset: 0x0010)) // a later fragment, too
        f.dispatch(InputValidationTests.ipv4Frame(proto: 1, payload: [8, 0, 0, 0, 0, 0, 0, 0]))   // ICMP
        var arp = [UInt8](repeating: 0, count: 42)
        arp.withUnsafeMutableBytes { EthernetRepr(destination: .broadcast, source: TwoHosts.macA, etherType: .arp).emit(into: $0) }
        f.dispatch(arp)                                       // ARP
        var other = Self.udp(port: 5000)
        other.withUnsafeMutableBytes { TwoHosts.macA.store(into: $0, at: 0) }
        f.dispatch(other)                                     // unicast to another MAC: dropped

        #expect(bound.count == 1)
        #expect(connected.count == 1)
        #expect(wildcard.count == 1)
        #expect(f.fragments.count == 2)
        #expect(f.stack.count == 3)
        #expect(f.demux.counters.toSockets.load(ordering: .relaxed) == 3)
        #expect(f.demux.counters.droppedNotForUs.load(ordering: .relaxed) == 1)
        #expect(f.pool.available == f.pool.count - 8)
    }

    @Test func aFullChannelDropsAndCountsWithoutTouchingOthers() throws {
        let f = try Fixture()
        let small = FrameChannel(id: 1, capacity: 4)
        let other = FrameChannel(id: 2, capacity: 4)
        defer { small.drain(to: f.pool); other.drain(to: f.pool) }
        try f.demux.insert(UDPEndpointKey(local: .any, localPort: 5000), channel: small)
        try f.demux.insert(UDPEndpointKey(local: .any, localPort: 5001), channel: other)
        final class Waker: ChannelWaker {
            var calls = 0
            func channelBecameNonEmpty() { calls += 1 }
        }
        let waker = Waker()
        small.waker = waker
        for _ in 0..<10 { f.dispatch(Self.udp(port: 5000)) }
        f.dispatch(Self.udp(port: 5001))
        #expect(small.count == 4)
        #expect(small.droppedFull.load(ordering: .relaxed) == 6)
        #expect(f.demux.counters.droppedFull.load(ordering: .relaxed) == 6)
        #expect(other.count == 1)
        #expect(waker.calls == 1, "released once, on empty → non-empty")
        // Dropped frames went straight back to the pool.
        #expect(f.pool.available == f.pool.count - 5)
        _ = small.pop().map { f.pool.give($0) }
        f.dispatch(Self.udp(port: 5000))
        #expect(small.count == 4)
    }

    @Test func collidingKeysStayFindableThroughInsertAndRemove() throws {
        // A table of 16 slots holding 8 endpoints: long probe runs, wrap-around included.
        let f = try Fixture(maxEndpoints: 8)
        let channels = (0..<8).map { FrameChannel(id: $0, capacity: 1) }
        let keys = (0..<8).map { UDPEndpointKey(local: .any, localPort: UInt16(1000 + $0 * 16)) }
        for (k, c) in zip(keys, channels) { try f.demux.insert(k, channel: c) }
        #expect(throws: Demux.InsertError.tableFull) {
            try f.demux.insert(UDPEndpointKey(local: .any, localPort: 9), channel: channels[0])
        }
        #expect(throws: Demux.InsertError.inUse) { try f.demux.insert(keys[3], channel: channels[0]) }
        // Remove every other one; the rest must still be found (backward-shift deletion).
        for i in stride(from: 0, to: 8, by: 2) { #expect(f.demux.remove(keys[i])) }
        #expect(!f.demux.remove(keys[0]))
        for i in 0..<8 {
            let found = f.demux.channel(destination: TwoHosts.addrB, destinationPort: keys[i].localPort,
                                        source: TwoHosts.addrA, sourcePort: 1)
            #expect(found === (i % 2 == 1 ? channels[i] : nil), "key \(i)")
        }
        #expect(f.demux.count == 4)
        // And the freed slots are usable again.
        for i in stride(from: 0, to: 8, by: 2) { try f.demux.insert(keys[i], channel: channels[i]) }
        #expect(f.demux.count == 8)
    }

    @Test func randomInsertRemoveAgreesWithASet() throws {
        let f = try Fixture(maxEndpoints: 64)
        let channel = FrameChannel(id: 1, capacity: 1)
        var model = Set<UDPEndpointKey>()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            let remotePort = UInt16.random(in: 0...3, using: &rng)
            let key = UDPEndpointKey(local: Bool.random(using: &rng) ? .any : TwoHosts.addrB,
                                     localPort: UInt16.random(in: 1...40, using: &rng),
                                     remote: remotePort == 0 ? .any : TwoHosts.addrA, remotePort: remotePort)
            if model.contains(key) {
                #expect(f.demux.remove(key))
                model.remove(key)
            } else if model.count < 64 {
                try f.demux.insert(key, channel: channel)
                model.insert(key)
            }
        }
        #expect(f.demux.count == model.count)
        for port in UInt16(1)...40 {
            for remotePort in UInt16(0)...3 {
                for local in [IPv4Address.any, TwoHosts.addrB] {
                    let key = UDPEndpointKey(local: local, localPort: port, remote: remotePort == 0 ? .any : TwoHosts.addrA,
                                             remotePort: remotePort)
                    #expect(f.demux.remove(key) == model.contains(key))
                }
            }
        }
    }
}
