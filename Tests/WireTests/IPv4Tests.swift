import Testing
@testable import Wire

@Suite struct IPv4Tests {
    @Test func parsePing() throws {
        try with(ipBytes(Fixture.ping)) { raw throws in
            let v = try IPv4View(raw)
            #expect(v.version == 4 && v.headerLength == 20 && v.totalLength == 84)
            #expect(v.dontFragment && !v.moreFragments && v.fragmentOffset == 0 && !v.isFragment)
            #expect(v.timeToLive == 64 && v.protocol == .icmp)
            #expect(v.identification == 0x5B3A && v.checksum == 0x5347)
            #expect(v.source == Fixture.ipA && v.destination == Fixture.ipB)
            #expect(v.dscp == 0 && v.ecn == 0)
            #expect(v.verifyChecksum())
            let r = try IPv4Repr.parse(v)
            #expect(r == IPv4Repr(source: Fixture.ipA, destination: Fixture.ipB, protocol: .icmp, payloadLength: 64,
                                  identification: 0x5B3A))
        }
    }

    @Test func ethernetPaddingIsTrimmed() throws {
        // The UDP fixture is padded to 60 bytes; total length says 38.
        try with(ipBytes(Fixture.udp)) { raw throws in
            #expect(raw.count == 46)
            let v = try IPv4View(raw)
            #expect(v.bytes.count == 38 && v.payload.count == 18)
        }
    }

    @Test func buildMatchesFixture() {
        let r = IPv4Repr(source: Fixture.ipA, destination: Fixture.ipB, protocol: .tcp, payloadLength: 40,
                         identification: 0)
        withScratch(r.headerLength) { out in
            r.emit(into: out)
            #expect(Array(out) == Array(ipBytes(Fixture.tcpSYN)[..<20]))
        }
    }

    @Test func roundTripAllFields() throws {
        let r = IPv4Repr(source: IPv4Address(198, 18, 5, 6), destination: IPv4Address(198, 19, 255, 254),
                         protocol: IPProtocol(rawValue: 253), payloadLength: 1480, timeToLive: 1, dscp: 46, ecn: 2,
                         identification: 0xBEEF, dontFragment: false, moreFragments: true, fragmentOffset: 1480)
        try withScratch(r.bufferLength) { out throws in
            r.emit(into: out)
            let v = try IPv4View(out.readOnly)
            #expect(v.isFragment && v.fragmentOffset == 1480)
            #expect(try IPv4Repr.parse(v) == r)
        }
    }

    @Test func optionsAreSkipped() throws {
        // IHL 6 with a 4-byte Router Alert option (RFC 2113), 10 data bytes,
        // then 2 bytes of link padding.
        var b = hex("4600 0022 0001 0000 40 11 0000 c6120002 c6120001 94040000 aabbccdd deadbeef 0000 1122")
        let c = with(Array(b[..<24])) { Checksum.compute($0) }
        b[10] = UInt8(c >> 8); b[11] = UInt8(c & 0xFF)
        try with(b) { raw throws in
            let v = try IPv4View(raw)
            #expect(v.headerLength == 24 && Array(v.options) == [0x94, 0x04, 0x00, 0x00])
            #expect(Array(v.payload) == [0xAA, 0xBB, 0xCC, 0xDD, 0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x00])
            let r = try IPv4Repr.parse(v)
            #expect(r.payloadLength == 10 && r.headerLength == 20)
        }
    }

    @Test func badChecksum() throws {
        var b = ipBytes(Fixture.ping)
        b[8] = 63  // TTL changed, checksum not
        try with(b) { raw throws in
            let v = try IPv4View(raw)
            #expect(!v.verifyChecksum())
            #expect(throws: WireError.badChecksum) { try IPv4Repr.parse(v) }
            #expect(try IPv4Repr.parse(v, verifyChecksum: false).timeToLive == 63)
        }
    }

    @Test func badHeaders() {
        let good = ipBytes(Fixture.ping)
        func expect(_ error: WireError, _ mutate: (inout [UInt8]) -> Void) {
            var b = good
            mutate(&b)
            with(b) { raw in #expect(throws: error) { try IPv4View(raw) } }
        }
        expect(.truncated) { $0 = Array($0[..<19]) }
        expect(.badVersion) { $0[0] = 0x65 }
        expect(.badLength) { $0[0] = 0x44 }                     // IHL 4
        expect(.badLength) { $0[0] = 0x4F; $0 = Array($0[..<40]) } // IHL 15 > buffer
        expect(.badLength) { $0[2] = 0; $0[3] = 19 }            // total < header
        expect(.badLength) { $0[2] = 0; $0[3] = 85 }            // total > buffer
    }

    @Test func quotedHeaderAcceptsLongTotalLength() throws {
        let quote = Array(ipBytes(Fixture.udp)[..<28])
        try with(quote) { raw throws in
            #expect(throws: WireError.badLength) { try IPv4View(raw) }
            let v = try IPv4View(quoted: raw)
            #expect(v.totalLength == 38 && v.payload.count == 8 && v.protocol == .udp)
        }
    }

    @Test func mutableViewTTLIncremental() throws {
        var b = ipBytes(Fixture.ping)
        try b.withUnsafeMutableBytes { raw throws in
            let m = try IPv4MutableView(raw)
            for ttl in stride(from: 64, through: 0, by: -1) {
                m.setTimeToLive(UInt8(ttl))
                #expect(m.view.timeToLive == UInt8(ttl) && m.view.verifyChecksum())
            }
            raw[10] = 0; raw[11] = 0
            m.fillChecksum()
            #expect(m.view.verifyChecksum())
        }
    }
}
