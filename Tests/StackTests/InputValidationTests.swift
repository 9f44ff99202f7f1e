import Links
@testable import Stack
import Testing
import Wire

/// Frames built by hand and injected: each malformed one is dropped with its own counter.
@Suite struct InputValidationTests {
    /// An Ethernet + IPv4 frame from A to B carrying `payload` as protocol `proto`, checksum filled.
    static func ipv4Frame(proto: UInt8 = 17, ttl: UInt8 = 64, id: UInt16 = 1, flagsOffset: UInt16 = 0,
                          source: IPv4Address = TwoHosts.addrA, destination: IPv4Address = TwoHosts.addrB,
                          payload: [UInt8]) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: 14 + 20 + payload.count)
        f.withUnsafeMutableBytes { b in
            EthernetRepr(destination: TwoHosts.macB, source: TwoHosts.macA, etherType: .ipv4).emit(into: b)
        }
        let total = 20 + payload.count
        let header: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), UInt8(id >> 8), UInt8(id & 0xFF),
                               UInt8(flagsOffset >> 8), UInt8(flagsOffset & 0xFF), ttl, proto, 0, 0]
        f.replaceSubrange(14 ..< 26, with: header)
        f.withUnsafeMutableBytes { b in
            source.store(into: b, at: 26)
            destination.store(into: b, at: 30)
        }
        refill(&f)
        f.replaceSubrange(34..., with: payload)
        return f
    }

    static let udp: [UInt8] = [0x30, 0x39, 0x13, 0x88, 0x00, 0x0A, 0x00, 0x00, 0xAB, 0xCD]

    func host() throws -> (TwoHosts, RecordingTransport) {
        let h = try TwoHosts()
        let t = RecordingTransport(port: 5000)
        h.b.transport = t
        return (h, t)
    }

    @Test func wellFormedFrameIsDelivered() throws {
        let (h, t) = try host()
        h.inject(Self.ipv4Frame(payload: Self.udp), into: h.b)
        #expect(t.datagrams.count == 1)
        #expect(h.b.counters.totalDrops == 0)
    }

    @Test func ethernetPaddingIsTrimmed() throws {
        let (h, t) = try host()
        h.inject(Self.ipv4Frame(payload: Self.udp) + [0, 0, 0, 0, 0, 0, 0, 0], into: h.b)
        #expect(t.datagrams == [Self.udp])
    }

    @Test(arguments: [
        (DropReason.ethernetTruncated, { (f: inout [UInt8]) in f = Array(f[0 ..< 10]) }),
        (.ethernetNotForUs, { f in f[0] = 0x02; f[5] = 0x77 }),
        (.ethernetUnknownType, { f in f[12] = 0x88; f[13] = 0xB5 }),
        (.ipv4Truncated, { f in f = Array(f[0 ..< 30]) }),
        (.ipv4BadVersion, { f in f[14] = 0x65 }),
        (.ipv4BadHeaderLength, { f in f[14] = 0x44 }),
        (.ipv4BadTotalLength, { f in f[16] = 0x04 }),
        (.ipv4BadChecksum, { f in f[24] ^= 0xFF }),
        (.ipv4NotForUs, { f in f[33] = 0x63; InputValidationTests.refill(&f) }),
        (.ipv4ZeroTTL, { f in f[22] = 0; InputValidationTests.refill(&f) }),
        (.ipv4BadSource, { f in f[26] = 0xE0; InputValidationTests.refill(&f) }),
        (.ipv4UnknownProtocol, { f in f[23] = 0x84; InputValidationTests.refill(&f) }),
        // UDP to a port no socket has (5001): no listener, not an unknown protocol.
        (.ipv4NoListener, { f in f[36] = 0x13; f[37] = 0x89 }),
    ] as [(DropReason, @Sendable (inout [UInt8]) -> Void)])
    func malformedIsDroppedAndCounted(_ reason: DropReason, _ damage: @Sendable (inout [UInt8]) -> Void) throws {
        let (h, t) = try host()
        var f = Self.ipv4Frame(payload: Self.udp)
        damage(&f)
        h.inject(f, into: h.b)
        #expect(t.datagrams.isEmpty)
        #expect(h.b.counters[reason] == 1, "expected a drop counted as \(reason.name): \(h.b.counters.nonZero)")
        #expect(h.b.counters.totalDrops == 1)
    }

    /// Computes the IPv4 header checksum anew (after a test changed a field).
    static func refill(_ f: inout [UInt8]) {
        f[24] = 0; f[25] = 0
        f.withUnsafeMutableBytes { b in
            let c = Checksum.compute(UnsafeRawBufferPointer(rebasing: b[14 ..< 34]))
            b[24] = UInt8(c >> 8)
            b[25] = UInt8(c & 0xFF)
        }
    }

    // MARK: Fragments

    /// Fragments of `payload` with the given (offset, length) pieces (offsets in bytes).
    static func fragments(_ payload: [UInt8], pieces: [(Int, Int)], id: UInt16 = 42) -> [[UInt8]] {
        pieces.map { off, len in
            let more = off + len < payload.count
            return ipv4Frame(id: id, flagsOffset: UInt16(off / 8) | (more ? 0x2000 : 0),
                             payload: Array(payload[off ..< off + len]))
        }
    }

    static func datagram(_ n: Int) -> [UInt8] {
        var d = [UInt8](repeating: 0, count: n)
        d[0] = 0x30; d[1] = 0x39; d[2] = 0x13; d[3] = 0x88
        d[4] = UInt8(n >> 8); d[5] = UInt8(n & 0xFF)
        for i in 8 ..< n { d[i] = UInt8(truncatingIfNeeded: i &* 7) }
        return d
    }

    @Test func outOfOrderAndDuplicateFragmentsReassemble() throws {
        let (h, t) = try host()
        let d = Self.datagram(3000)
        let f = Self.fragments(d, pieces: [(0, 1000), (1000, 1000), (2000, 1000)])
        for frame in [f[2], f[0], f[0], f[1]] { h.inject(frame, into: h.b) }
        #expect(t.datagrams == [d])
        #expect(h.b.counters.totalDrops == 0)
        #expect(h.b.reassembler.contextsInUse == 0)
    }

    @Test func conflictingOverlapDropsTheDatagram() throws {
        let (h, t) = try host()
        let d = Self.datagram(3000)
        var other = d
        other[1200] ^= 0xFF
        h.inject(Self.fragments(d, pieces: [(0, 1600)])[0], into: h.b)
        h.inject(Self.fragments(other, pieces: [(1200, 1800)])[0], into: h.b)
        #expect(t.datagrams.isEmpty)
        #expect(h.b.counters[.fragmentOverlap] == 1)
        #expect(h.b.reassembler.contextsInUse == 0)
    }

    @Test func incompleteDatagramTimesOut() throws {
        let (h, t) = try host()
        let d = Self.datagram(3000)
        h.inject(Self.fragments(d, pieces: [(0, 1000)])[0], into: h.b)
        #expect(h.b.reassembler.contextsInUse == 1)
        try h.advance(.seconds(31))
        #expect(h.b.counters[.fragmentTimeout] == 1)
        #expect(h.b.reassembler.contextsInUse == 0)
        #expect(t.datagrams.isEmpty)
    }

    @Test func reassemblyMemoryIsBoundedAndEvictsTheOldest() throws {
        let (h, t) = try host()
        let d = Self.datagram(3000)
        // Nine datagrams' first fragments, 1 s apart: the ninth evicts the first (8 contexts by default).
        for id in 1...9 {
            h.inject(Self.fragments(d, pieces: [(0, 1000)], id: UInt16(id))[0], into: h.b)
            try h.advance(.seconds(1))
        }
        #expect(h.b.reassembler.contextsInUse == 8)
        #expect(h.b.counters[.fragmentEvicted] == 1)
        // The evicted datagram cannot complete; the ninth can.
        for frame in Self.fragments(d, pieces: [(1000, 1000), (2000, 1000)], id: 1) { h.inject(frame, into: h.b) }
        #expect(t.datagrams.isEmpty)
        for frame in Self.fragments(d, pieces: [(1000, 1000), (2000, 1000)], id: 9) { h.inject(frame, into: h.b) }
        #expect(t.datagrams == [d])
    }

    @Test func fragmentBeyondMaximumIsDropped() throws {
        let (h, _) = try host()
        // Offset 65,528 + 16 bytes runs past the largest datagram.
        h.inject(Self.ipv4Frame(id: 5, flagsOffset: UInt16(65_528 / 8), payload: [UInt8](repeating: 1, count: 16)), into: h.b)
        #expect(h.b.counters[.fragmentTooLarge] == 1)
    }

    @Test func lastFragmentContradictingEarlierDataIsDropped() throws {
        let (h, _) = try host()
        let d = Self.datagram(3000)
        h.inject(Self.fragments(d, pieces: [(1000, 1000)])[0], into: h.b)
        // A "last" fragment (MF = 0) at offset 8 that ends before data already received.
        h.inject(Self.ipv4Frame(id: 42, flagsOffset: 1, payload: Array(d[8 ..< 16])), into: h.b)
        #expect(h.b.counters[.fragmentTooLarge] == 1)
        #expect(h.b.reassembler.contextsInUse == 0)
    }
}
