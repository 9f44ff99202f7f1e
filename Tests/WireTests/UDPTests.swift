import Testing
@testable import Wire

@Suite struct UDPTests {
    @Test func parseFixture() throws {
        try with(Fixture.udp) { raw throws in
            let ip = try IPv4View(try EthernetView(raw).payload)
            let v = try UDPView(ip.payload)
            #expect(v.sourcePort == 40000 && v.destinationPort == 5000 && v.length == 18 && v.checksum == 0x980E)
            #expect(String(decoding: v.payload, as: UTF8.self) == "hello rtud")
            #expect(v.verifyChecksum(source: ip.source, destination: ip.destination))
            let r = try UDPRepr.parse(v, source: ip.source, destination: ip.destination)
            #expect(r == UDPRepr(sourcePort: 40000, destinationPort: 5000, payloadLength: 10))
        }
    }

    @Test func buildInPlace() throws {
        // Payload written first at its final place, then the header.
        let r = UDPRepr(sourcePort: 40000, destinationPort: 5000, payloadLength: 10)
        let expected = Array(ipBytes(Fixture.udp)[20 ..< 38])
        withScratch(r.bufferLength) { out in
            for (i, c) in "hello rtud".utf8.enumerated() { out[8 + i] = c }
            r.emit(into: out, source: Fixture.ipA, destination: Fixture.ipB)
            #expect(Array(out) == expected)
        }
    }

    @Test func zeroChecksumMeansNone() throws {
        var b = ipBytes(Fixture.udp)
        b[26] = 0; b[27] = 0
        try with(Array(b[20 ..< 38])) { raw throws in
            let v = try UDPView(raw)
            #expect(v.verifyChecksum(source: Fixture.ipA, destination: Fixture.ipB))
        }
        let r = UDPRepr(sourcePort: 1, destinationPort: 2, payloadLength: 0)
        withScratch(8) { out in
            r.emit(into: out, source: Fixture.ipA, destination: Fixture.ipB, checksum: false)
            #expect(out[6] == 0 && out[7] == 0)
        }
    }

    @Test func computedZeroIsSentAsFFFF() throws {
        // Choose two payload bytes that make the one's-complement sum 0xFFFF,
        // so the computed checksum is 0 and must go out as 0xFFFF (RFC 768).
        let r = UDPRepr(sourcePort: 1000, destinationPort: 2000, payloadLength: 2)
        try withScratch(r.bufferLength) { out throws in
            r.emit(into: out, source: Fixture.ipA, destination: Fixture.ipB)
            let c = UInt16(out[6]) << 8 | UInt16(out[7])
            // Putting the checksum value into the payload word makes the sum
            // of everything but the checksum 0xFFFF.
            out[8] = UInt8(c >> 8); out[9] = UInt8(c & 0xFF)
            try UDPMutableView(out).fillChecksum(source: Fixture.ipA, destination: Fixture.ipB)
            #expect(out[6] == 0xFF && out[7] == 0xFF)
            #expect(try UDPView(out.readOnly).verifyChecksum(source: Fixture.ipA, destination: Fixture.ipB))
        }
    }

    @Test func badCases() throws {
        let good = Array(ipBytes(Fixture.udp)[20 ..< 38])
        with(Array(good[..<7])) { raw in #expect(throws: WireError.truncated) { try UDPView(raw) } }
        var short = good; short[5] = 7
        with(short) { raw in #expect(throws: WireError.badLength) { try UDPView(raw) } }
        var long = good; long[5] = 19
        with(long) { raw in #expect(throws: WireError.badLength) { try UDPView(raw) } }
        var corrupt = good; corrupt[12] ^= 0x20
        try with(corrupt) { raw throws in
            let v = try UDPView(raw)
            #expect(throws: WireError.badChecksum) {
                try UDPRepr.parse(v, source: Fixture.ipA, destination: Fixture.ipB)
            }
        }
        // The right bytes under the wrong pseudo-header fail too.
        try with(good) { raw throws in
            #expect(throws: WireError.badChecksum) {
                try UDPRepr.parse(try UDPView(raw), source: Fixture.ipB, destination: IPv4Address(198, 18, 0, 3))
            }
        }
    }

    @Test func lengthShorterThanBufferTrims() throws {
        var b = Array(ipBytes(Fixture.udp)[20 ..< 38])
        b[5] = 12  // 4 bytes of payload claimed, 10 present
        try with(b) { raw throws in #expect(try UDPView(raw).payload.count == 4) }
    }
}
