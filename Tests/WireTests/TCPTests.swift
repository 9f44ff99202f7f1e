import Testing
@testable import Wire

@Suite struct TCPTests {
    static let syn = Array(ipBytes(Fixture.tcpSYN)[20...])
    static let ackSACK = Array(ipBytes(Fixture.tcpAckSACK)[20...])

    @Test func parseLinuxSYN() throws {
        try with(Self.syn) { raw throws in
            let v = try TCPView(raw)
            #expect(v.sourcePort == 45678 && v.destinationPort == 80)
            #expect(v.sequenceNumber == 0x6B8B_4567 && v.acknowledgmentNumber == 0)
            #expect(v.headerLength == 40 && v.flags == .syn && v.window == 64240 && v.urgentPointer == 0)
            #expect(v.payload.count == 0 && v.segmentLength == 1)
            #expect(v.verifyChecksum(source: Fixture.ipA, destination: Fixture.ipB))

            var options = [TCPOption]()
            var it = v.makeOptionIterator()
            while let o = try it.next() { options.append(o) }
            #expect(options == [.maximumSegmentSize(1460), .sackPermitted,
                                .timestamps(TCPTimestamps(value: 0x9A1C_42E7, echoReply: 0)),
                                .noOperation, .windowScale(7)])

            let r = try TCPRepr.parse(v, source: Fixture.ipA, destination: Fixture.ipB)
            #expect(r == TCPRepr(sourcePort: 45678, destinationPort: 80, sequenceNumber: 0x6B8B_4567, flags: .syn,
                                 window: 64240, maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
                                 timestamps: TCPTimestamps(value: 0x9A1C_42E7, echoReply: 0)))
        }
    }

    @Test func buildLinuxSYNByteForByte() {
        let r = TCPRepr(sourcePort: 45678, destinationPort: 80, sequenceNumber: 0x6B8B_4567, flags: .syn,
                        window: 64240, maximumSegmentSize: 1460, windowScale: 7, sackPermitted: true,
                        timestamps: TCPTimestamps(value: 0x9A1C_42E7, echoReply: 0))
        #expect(r.headerLength == 40)
        withScratch(r.bufferLength) { out in
            r.emit(into: out, source: Fixture.ipA, destination: Fixture.ipB)
            #expect(Array(out) == Self.syn)
        }
    }

    @Test func parseAndBuildSACK() throws {
        try with(Self.ackSACK) { raw throws in
            let v = try TCPView(raw)
            let r = try TCPRepr.parse(v, source: Fixture.ipA, destination: Fixture.ipB)
            #expect(r.flags == .ack && r.acknowledgmentNumber == 0x1000_0001 && r.window == 501)
            #expect(r.sackBlocks == TCPSackBlocks(TCPSackBlock(left: 0x1000_0400, right: 0x1000_0800)))
            #expect(r.timestamps == TCPTimestamps(value: 0x9A1C_4301, echoReply: 0x0012_3456))
            #expect(r.maximumSegmentSize == nil && r.windowScale == nil && !r.sackPermitted)
            withScratch(r.bufferLength) { out in
                r.emit(into: out, source: Fixture.ipA, destination: Fixture.ipB)
                #expect(Array(out) == Self.ackSACK)
            }
        }
    }

    @Test func payloadInPlaceAndChecksum() throws {
        let payload = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        let r = TCPRepr(sourcePort: 45678, destinationPort: 80, sequenceNumber: 1, acknowledgmentNumber: 2,
                        flags: [.ack, .psh], window: 502,
                        timestamps: TCPTimestamps(value: 5, echoReply: 6), payloadLength: payload.count)
        try withScratch(r.bufferLength) { out throws in
            for (i, b) in payload.enumerated() { out[r.headerLength + i] = b }
            r.emit(into: out, source: Fixture.ipA, destination: Fixture.ipB)
            let v = try TCPView(out.readOnly)
            #expect(Array(v.payload) == payload && v.segmentLength == payload.count)
            #expect(try TCPRepr.parse(v, source: Fixture.ipA, destination: Fixture.ipB) == r)
            out[r.headerLength] ^= 1
            #expect(throws: WireError.badChecksum) {
                try TCPRepr.parse(try TCPView(out.readOnly), source: Fixture.ipA, destination: Fixture.ipB)
            }
        }
    }

    @Test func optionLayouts() {
        func bytes(_ r: TCPRepr) -> [UInt8] {
            withScratch(r.headerLength) { out in
                r.emit(into: out, source: .any, destination: .any, checksum: false)
                return Array(out[20...])
            }
        }
        let base = TCPRepr(sourcePort: 1, destinationPort: 2, sequenceNumber: 0, flags: .syn, window: 0)
        #expect(bytes(base) == [])
        var r = base; r.maximumSegmentSize = 1460; r.sackPermitted = true; r.windowScale = 7
        // Linux SYN without timestamps: mss, nop, nop, sackOK, nop, wscale.
        #expect(bytes(r) == hex("020405b4 01010402 01030307"))
        r = base; r.windowScale = 14
        #expect(bytes(r) == hex("0103030e"))
        r = base; r.maximumSegmentSize = 536
        #expect(bytes(r) == hex("02040218"))

        // Four SACK blocks alone: 2 + 32 + NOP NOP = 36 bytes.
        var four = TCPSackBlocks()
        for i in 0 ..< 4 { four.append(TCPSackBlock(left: UInt32(i) * 100, right: UInt32(i) * 100 + 50)) }
        r = base; r.sackBlocks = four
        #expect(r.headerLength == 56)
        // With timestamps, three blocks fit aligned (12 + 28 = 40); four cannot.
        r.timestamps = TCPTimestamps(value: 1, echoReply: 2)
        #expect(r.headerLength == 60)
        let emitted = bytes(r)
        #expect(Array(emitted[..<4]) == hex("0101080a") && Array(emitted[12 ..< 16]) == hex("0101051a"))
    }

    @Test func packedLayoutKeepsEverythingParsed() throws {
        // MSS + TS + 3 SACK blocks fill exactly 40 bytes without NOPs; aligned
        // they would need 44, so emit must pack them.
        let opts = hex("020405b4 080a00000001 00000002 051a 00000010 00000020 00000030 00000040 00000050 00000060")
        let hdr = hex("0001 0002 00000000 00000000 f0 10 0100 0000 0000") + opts
        #expect(hdr.count == 60)
        try with(hdr) { raw throws in
            let r = try TCPRepr.parse(try TCPView(raw), source: .any, destination: .any, verifyChecksum: false)
            #expect(r.sackBlocks.count == 3 && r.maximumSegmentSize == 1460 && r.timestamps != nil)
            #expect(r.headerLength == 60)
            try withScratch(r.bufferLength) { out throws in
                r.emit(into: out, source: .any, destination: .any)
                #expect(try TCPRepr.parse(try TCPView(out.readOnly), source: .any, destination: .any) == r)
            }
        }
    }

    @Test func unknownOptionsSkipped() throws {
        // Kind 30 (MPTCP) with 4 data bytes, then MSS; EOL ends parsing even
        // though garbage follows it.
        let opts = hex("1e06aabbccdd 020405b4 00ff ff00")
        try with(opts) { raw throws in
            var it = TCPOptionIterator(raw)
            guard case .unknown(30, let data)? = try it.next() else { Issue.record("no unknown option"); return }
            #expect(Array(data) == [0xAA, 0xBB, 0xCC, 0xDD])
            #expect(try it.next() == .maximumSegmentSize(1460))
            #expect(try it.next() == .endOfList)
            #expect(try it.next() == nil)
        }
    }

    @Test(arguments: [
        "0201",                  // length below 2
        "0200",                  // length 0 (would loop forever if trusted)
        "02",                    // kind without length
        "020605b4",              // overruns the options
        "0205 05b400 00",        // MSS with length 5
        "0302",                  // window scale with length 2
        "040301",                // SACK-permitted with length 3
        "080900000000000000 00", // timestamps with length 9
        "050a 00000001 00",      // SACK overrunning
        "0509 0000000100000002 00 000000", // SACK length not 2 + 8n
        "0502 0000",             // SACK with no blocks
    ])
    func malformedOptions(optionHex: String) throws {
        var opts = hex(optionHex)
        while opts.count % 4 != 0 { opts.append(0) }
        let hdr = hex("0001 0002 00000000 00000000") + [UInt8((20 + opts.count) / 4) << 4, 0x10]
            + hex("0100 0000 0000") + opts
        try with(hdr) { raw throws in
            let v = try TCPView(raw)
            #expect(throws: WireError.badOption) {
                _ = try TCPRepr.parse(v, source: .any, destination: .any, verifyChecksum: false)
            }
            var it = v.makeOptionIterator()
            while true {
                do { if try it.next() == nil { break } } catch { break }
            }
            #expect(try it.next() == nil)
        }
    }

    @Test func badHeaders() {
        with(Array(Self.syn[..<19])) { raw in #expect(throws: WireError.truncated) { try TCPView(raw) } }
        var b = Self.syn
        b[12] = 0x40  // data offset 4
        with(b) { raw in #expect(throws: WireError.badLength) { try TCPView(raw) } }
        b[12] = 0xB0  // 44 bytes of header in 40
        with(b) { raw in #expect(throws: WireError.badLength) { try TCPView(raw) } }
        var c = Self.syn
        c[15] ^= 1
        with(c) { raw in
            #expect(throws: WireError.badChecksum) {
                try TCPRepr.parse(try TCPView(raw), source: Fixture.ipA, destination: Fixture.ipB)
            }
        }
    }

    @Test func sackBlocksCollection() {
        var s = TCPSackBlocks()
        #expect(s.isEmpty)
        for i in 0 ..< 4 {
            let added = s.append(TCPSackBlock(left: UInt32(i), right: UInt32(i + 1)))
            #expect(added)
        }
        let added = s.append(TCPSackBlock(left: 9, right: 9))
        #expect(!added && s.count == 4)
        #expect(s.map(\.left) == [0, 1, 2, 3])
        s.truncate(to: 2)
        var t = TCPSackBlocks(TCPSackBlock(left: 0, right: 1), TCPSackBlock(left: 1, right: 2))
        #expect(s == t && s.hashValue == t.hashValue)
        t[1] = TCPSackBlock(left: 7, right: 8)
        #expect(s != t)
    }

    @Test func mutableViewFillsChecksum() throws {
        var b = Self.syn
        b[16] = 0; b[17] = 0
        try b.withUnsafeMutableBytes { raw throws in
            let m = try TCPMutableView(raw)
            m.fillChecksum(source: Fixture.ipA, destination: Fixture.ipB)
            #expect(m.view.verifyChecksum(source: Fixture.ipA, destination: Fixture.ipB))
        }
        #expect(b == Self.syn)
    }
}
