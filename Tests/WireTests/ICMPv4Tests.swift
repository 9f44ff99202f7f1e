import Testing
@testable import Wire

@Suite struct ICMPv4Tests {
    static let pingICMP = Array(ipBytes(Fixture.ping)[20...])

    @Test func parseEchoRequest() throws {
        try with(Self.pingICMP) { raw throws in
            let v = try ICMPv4View(raw)
            #expect(v.type == .echoRequest && v.code == 0 && v.checksum == 0x5CE7)
            #expect(v.identifier == 0x1C46 && v.sequenceNumber == 1 && v.data.count == 56)
            guard case .echoRequest(let id, let seq, let data) = try ICMPv4Repr.parse(v) else {
                Issue.record("not an echo request"); return
            }
            #expect(id == 0x1C46 && seq == 1)
            #expect(Array(data.suffix(40)) == Array(0x10 ... 0x37))
        }
    }

    @Test func replyToPing() throws {
        // Build the reply a host sends: same id, seq and data; check it verifies.
        try with(Self.pingICMP) { raw throws in
            guard case .echoRequest(let id, let seq, let data) = try ICMPv4Repr.parse(try ICMPv4View(raw)) else {
                Issue.record("not an echo request"); return
            }
            let reply = ICMPv4Repr.echoReply(identifier: id, sequenceNumber: seq, data: data)
            try withScratch(reply.bufferLength) { out throws in
                reply.emit(into: out)
                let v = try ICMPv4View(out.readOnly)
                #expect(v.type == .echoReply && v.verifyChecksum())
                #expect(try ICMPv4Repr.parse(v) == reply)
                // Only the type differs, so the checksum differs by 0x0800.
                #expect(v.checksum == 0x5CE7 &+ 0x0800)
            }
        }
    }

    @Test func replyEmittedInPlaceOverTheRequest() throws {
        // The data already sits at out[8...] (emit then skips the copy); the
        // header becomes the reply's and the data is kept.
        var b = Self.pingICMP
        try b.withUnsafeMutableBytes { out throws in
            guard case .echoRequest(let id, let seq, let data) = try ICMPv4Repr.parse(try ICMPv4View(out.readOnly)) else {
                Issue.record("not an echo request"); return
            }
            ICMPv4Repr.echoReply(identifier: id, sequenceNumber: seq, data: data).emit(into: out)
            let v = try ICMPv4View(out.readOnly)
            #expect(v.type == .echoReply && v.identifier == 0x1C46 && v.sequenceNumber == 1)
            #expect(v.verifyChecksum() && v.checksum == 0x5CE7 &+ 0x0800)
        }
        #expect(Array(b[8...]) == Array(Self.pingICMP[8...]))
    }

    @Test func parseFragmentationNeeded() throws {
        try with(ipBytes(Fixture.icmpFragNeeded)) { raw throws in
            let ip = try IPv4View(raw)
            let v = try ICMPv4View(ip.payload)
            let r = try ICMPv4Repr.parse(v)
            guard case .destinationUnreachable(let code, let mtu, let original) = r else {
                Issue.record("not unreachable"); return
            }
            #expect(code == .fragmentationNeeded && mtu == 1400 && original.count == 28)
            let q = try #require(r.quotedHeader)
            #expect(q.protocol == .udp && q.source == Fixture.ipA && q.destination == Fixture.ipB)
            let ports = q.payload
            #expect(ports.count == 8 && ports[0] == 0x9C && ports[1] == 0x40)
        }
    }

    @Test func buildFragNeededMatchesFixture() throws {
        let quote = Array(ipBytes(Fixture.udp)[..<28])
        try with(quote) { q throws in
            let r = ICMPv4Repr.destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: 1400, original: q)
            try withScratch(r.bufferLength) { out throws in
                r.emit(into: out)
                #expect(Array(out) == Array(ipBytes(Fixture.icmpFragNeeded)[20...]))
                #expect(try ICMPv4Repr.parse(try ICMPv4View(out.readOnly)) == r)
            }
        }
    }

    @Test func portUnreachableAndTimeExceededRoundTrip() throws {
        let quote = Array(ipBytes(Fixture.udp)[..<28])
        try with(quote) { q throws in
            for r in [ICMPv4Repr.destinationUnreachable(code: .portUnreachable, nextHopMTU: 0, original: q),
                      .timeExceeded(code: .timeToLiveExceeded, original: q),
                      .timeExceeded(code: .reassemblyTimeExceeded, original: q)] {
                try withScratch(r.bufferLength) { out throws in
                    r.emit(into: out)
                    #expect(try ICMPv4Repr.parse(try ICMPv4View(out.readOnly)) == r)
                }
            }
        }
    }

    @Test func badCases() throws {
        with(Array(Self.pingICMP[..<7])) { raw in #expect(throws: WireError.truncated) { try ICMPv4View(raw) } }
        var b = Self.pingICMP
        b[20] ^= 0xFF
        try with(b) { raw throws in
            #expect(throws: WireError.badChecksum) { try ICMPv4Repr.parse(try ICMPv4View(raw)) }
        }
        // Redirect: a type this stack does not handle.
        var redirect = Self.pingICMP
        redirect[0] = 5
        try redirect.withUnsafeMutableBytes { raw throws in
            let m = try ICMPv4MutableView(raw)
            m.fillChecksum()
            #expect(throws: WireError.unsupported) { try ICMPv4Repr.parse(m.view) }
        }
        // Unreachable quoting garbage instead of an IP header.
        var garbage = hex("0303 0000 00000000 6500 0026 1f2e 4000 4011 8f71 c6120002 c6120001")
        try garbage.withUnsafeMutableBytes { raw throws in
            let m = try ICMPv4MutableView(raw)
            m.fillChecksum()
            #expect(throws: WireError.badLength) { try ICMPv4Repr.parse(m.view) }
        }
    }
}
