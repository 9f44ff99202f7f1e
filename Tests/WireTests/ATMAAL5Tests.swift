// AAL5 CPCS-PDU and RFC 2684 encapsulation: the vectors of ATM-FACTS.md,
// round trips of many sizes, and one test per drop reason.

import Testing
@testable import Wire

/// A PDU for `sdu`, built by `AAL5.writeTrailer`.
func aal5PDU(_ sdu: [UInt8], userToUser: UInt8 = 0, cpi: UInt8 = 0) -> [UInt8] {
    var pdu = [UInt8](repeating: 0xEE, count: AAL5.pduLength(sduLength: sdu.count))
    pdu.replaceSubrange(0 ..< sdu.count, with: sdu)
    pdu.withUnsafeMutableBytes { _ = AAL5.writeTrailer(into: $0, sduLength: sdu.count, userToUser: userToUser, commonPartIndicator: cpi) }
    return pdu
}

/// Rewrites the CRC field of `pdu` so that it verifies whatever else changed.
func refreshCRC(_ pdu: inout [UInt8]) {
    let n = pdu.count
    let crc = pdu.withUnsafeBytes { CRC32.checksum($0.slice(0 ..< n - 4)) }
    for i in 0 ..< 4 { pdu[n - 4 + i] = UInt8(truncatingIfNeeded: crc >> UInt32(24 - 8 * i)) }
}

@Suite struct AAL5Tests {
    /// ATM-FACTS.md: 40-byte SDU, UU, CPI, Length 0x28 → CRC-32.
    static let vectors: [(sdu: [UInt8], uu: UInt8, cpi: UInt8, crc: UInt32)] = [
        ([UInt8](repeating: 0x00, count: 40), 0x00, 0x00, 0x864D_7F99),
        ([UInt8](repeating: 0xFF, count: 40), 0x00, 0x00, 0xC55E_457A),
        (Array(1 ... 40), 0x00, 0x00, 0xBF67_1ED0),
        (Array(1 ... 40), 0x11, 0x22, 0xACBA_602A),
    ]

    @Test(arguments: 0 ..< 4)
    func knownAnswer(_ i: Int) throws {
        let v = AAL5Tests.vectors[i]
        let pdu = aal5PDU(v.sdu, userToUser: v.uu, cpi: v.cpi)
        var crcBytes = [UInt8]()
        for s in stride(from: 24, through: 0, by: -8) { crcBytes.append(UInt8(truncatingIfNeeded: v.crc >> UInt32(s))) }
        #expect(pdu == v.sdu + [v.uu, v.cpi, 0x00, 0x28] + crcBytes)
        try with(pdu) { raw throws in
            let view = try AAL5View(raw)
            #expect(view.trailer == AAL5Trailer(userToUser: v.uu, commonPartIndicator: v.cpi, length: 40, crc: v.crc))
            #expect(Array(view.sdu) == v.sdu && view.pad.count == 0 && view.cellCount == 1)
            #expect(CRC32.update(CRC32.initial, raw) == CRC32.residue)
            #expect(CRC32.checksum(raw.slice(0 ..< 44)) == v.crc)
        }
    }

    @Test func sizes() {
        #expect(AAL5.padLength(sduLength: 40) == 0 && AAL5.pduLength(sduLength: 40) == 48)
        #expect(AAL5.padLength(sduLength: 1) == 39 && AAL5.pduLength(sduLength: 1) == 48)
        #expect(AAL5.padLength(sduLength: 41) == 47 && AAL5.pduLength(sduLength: 41) == 96)
        // RFC 2225 MTUs with LLC/SNAP: the cell counts of ATM-FACTS.md.
        #expect(AAL5.cellCount(sduLength: 9180 + 8) == 192)
        #expect(AAL5.cellCount(sduLength: 1500 + 8) == 32)
        #expect(AAL5.cellCount(sduLength: 576 + 8) == 13)
        #expect(ATMEncapsulation.defaultIPMTU + ATMEncapsulation.llcSNAP.headerLength == 9188)
        #expect(AAL5.maximumPDULength == 65_568 && AAL5.maximumCellCount == 1366)
        for n in 0 ... 2000 {
            let p = AAL5.padLength(sduLength: n)
            #expect((0 ... 47).contains(p) && (n + p + 8) % 48 == 0)
        }
    }

    @Test func roundTripManySizes() throws {
        var rng = SeededRandom(seed: 2684)
        let sizes = Array(1 ... 200) + [1000, 1500, 1508, 9188, 65_487, 65_488, 65_535]
        for n in sizes {
            let sdu = (0 ..< n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let pdu = aal5PDU(sdu, userToUser: UInt8(n & 0xFF))
            #expect(pdu.count == AAL5.pduLength(sduLength: n))
            try with(pdu) { raw throws in
                let v = try AAL5View(raw)
                #expect(v.trailer.length == n && v.trailer.userToUser == UInt8(n & 0xFF) && v.sdu.elementsEqual(sdu))
                #expect(v.pad.allSatisfy { $0 == 0 })
                // The reassembler's way: a register cell by cell, then validate.
                var r = CRC32.initial
                for c in 0 ..< v.cellCount { r = CRC32.update(r, raw.slice(c * 48 ..< c * 48 + 48)) }
                let t = try AAL5.validate(pduLength: raw.count, trailer: raw.slice(raw.count - 8 ..< raw.count), crcRegister: r)
                #expect(t == v.trailer)
            }
        }
    }

    @Test func writeTailMatchesWriteTrailer() {
        // The segmenter's way: CRC the SDU as it goes, then write the tail.
        let sdu = [UInt8](repeating: 0x42, count: 100)
        let whole = aal5PDU(sdu)
        var tail = [UInt8](repeating: 0xEE, count: AAL5.padLength(sduLength: 100) + 8)
        let r = sdu.withUnsafeBytes { CRC32.update(CRC32.initial, $0) }
        let crc = tail.withUnsafeMutableBytes { AAL5.writeTail(into: $0, sduLength: 100, crcRegister: r) }
        #expect(sdu + tail == whole)
        #expect(crc == UInt32(whole[140]) << 24 | UInt32(whole[141]) << 16 | UInt32(whole[142]) << 8 | UInt32(whole[143]))
    }

    @Test func badCRC() {
        var pdu = aal5PDU(Array(1 ... 40))
        pdu[7] ^= 0x10
        with(pdu) { raw in #expect(throws: AAL5Error.badCRC) { try AAL5View(raw) } }
        var pdu2 = aal5PDU(Array(1 ... 40))
        pdu2[47] ^= 0x01
        with(pdu2) { raw in #expect(throws: AAL5Error.badCRC) { try AAL5View(raw) } }
        #expect(AAL5Error.badCRC.wireError == .badChecksum)
    }

    @Test func abort() {
        var pdu = aal5PDU(Array(1 ... 40))
        pdu[42] = 0; pdu[43] = 0
        refreshCRC(&pdu)
        with(pdu) { raw in #expect(throws: AAL5Error.aborted) { try AAL5View(raw) } }
    }

    @Test func lengthExceedsPDU() {
        var pdu = aal5PDU(Array(1 ... 40))
        pdu[43] = 41
        refreshCRC(&pdu)
        with(pdu) { raw in #expect(throws: AAL5Error.lengthExceedsPDU) { try AAL5View(raw) } }
        pdu[42] = 0xFF; pdu[43] = 0xFF
        refreshCRC(&pdu)
        with(pdu) { raw in #expect(throws: AAL5Error.lengthExceedsPDU) { try AAL5View(raw) } }
    }

    @Test func padTooLong() {
        // Two cells, room 88: Length 41 means 47 bytes of pad (fine), 40 means 48.
        var pdu = aal5PDU([UInt8](repeating: 7, count: 41))
        with(pdu) { raw in #expect((try? AAL5View(raw))?.pad.count == 47) }
        pdu[95 - 4] = 40
        refreshCRC(&pdu)
        with(pdu) { raw in #expect(throws: AAL5Error.padTooLong) { try AAL5View(raw) } }
        #expect(AAL5Error.padTooLong.wireError == .badLength)
    }

    @Test func notWholeCells() {
        let pdu = aal5PDU(Array(1 ... 40))
        with([]) { raw in #expect(throws: AAL5Error.notWholeCells) { try AAL5View(raw) } }
        with(Array(pdu[..<47])) { raw in #expect(throws: AAL5Error.notWholeCells) { try AAL5View(raw) } }
        with(pdu + [0]) { raw in #expect(throws: AAL5Error.notWholeCells) { try AAL5View(raw) } }
        #expect(throws: AAL5Error.notWholeCells) {
            try AAL5.validate(pduLength: 0, trailer: UnsafeRawBufferPointer(start: nil, count: 0), crcRegister: CRC32.residue)
        }
    }

    @Test func oversize() {
        // One cell more than the largest PDU, otherwise well formed.
        var pdu = [UInt8](repeating: 0, count: AAL5.maximumPDULength + 48)
        pdu[pdu.count - 6] = 0xFF; pdu[pdu.count - 5] = 0xFF
        refreshCRC(&pdu)
        with(pdu) { raw in #expect(throws: AAL5Error.oversize) { try AAL5View(raw) } }
        let largest = aal5PDU([UInt8](repeating: 1, count: 65_535))
        with(largest) { raw in #expect((try? AAL5View(raw))?.trailer.length == 65_535) }
    }
}

@Suite struct LLCSNAPTests {
    static let header: [UInt8] = [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00]

    @Test func knownHeader() throws {
        withScratch(8) { out in
            LLCSNAPRepr(etherType: .ipv4).emit(into: out)
            #expect(Array(out) == LLCSNAPTests.header)
        }
        let ip = ipBytes(Fixture.ping)
        try with(LLCSNAPTests.header + ip) { raw throws in
            let v = try LLCSNAPView(raw)
            #expect(v.etherType == .ipv4 && Array(v.payload) == ip)
            #expect(LLCSNAPRepr.parse(v) == LLCSNAPRepr(etherType: .ipv4))
            let ipv = try IPv4View(v.payload)
            #expect(ipv.source == Fixture.ipA && ipv.verifyChecksum())
        }
    }

    @Test func encapsulations() throws {
        let ip = ipBytes(Fixture.ping)
        #expect(ATMEncapsulation.llcSNAP.headerLength == 8 && ATMEncapsulation.vcMultiplexed(.ipv4).headerLength == 0)
        try with(LLCSNAPTests.header + ip) { raw throws in
            let (t, p) = try ATMEncapsulation.llcSNAP.decapsulate(raw)
            #expect(t == .ipv4 && Array(p) == ip)
        }
        try with(ip) { raw throws in
            let (t, p) = try ATMEncapsulation.vcMultiplexed(.ipv4).decapsulate(raw)
            #expect(t == .ipv4 && Array(p) == ip)
        }
        withScratch(8) { out in
            ATMEncapsulation.llcSNAP.emit(into: out, etherType: .arp)
            #expect(Array(out) == [0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x06])
        }
        withScratch(0) { out in ATMEncapsulation.vcMultiplexed(.ipv4).emit(into: out, etherType: .ipv4) }
    }

    @Test func badHeaders() {
        with(Array(LLCSNAPTests.header[..<7])) { raw in #expect(throws: WireError.truncated) { try LLCSNAPView(raw) } }
        // Bridged Ethernet (RFC 2684 §5.2, OUI 00-80-C2) is not spoken.
        with([0xAA, 0xAA, 0x03, 0x00, 0x80, 0xC2, 0x00, 0x07, 0, 0]) { raw in
            #expect(throws: WireError.unsupported) { try LLCSNAPView(raw) }
        }
        for i in 0 ..< 6 {
            var h = LLCSNAPTests.header
            h[i] ^= 0x01
            with(h) { raw in #expect(throws: WireError.unsupported) { try LLCSNAPView(raw) } }
        }
        with(Array(LLCSNAPTests.header[..<4])) { raw in
            #expect(throws: WireError.truncated) { try ATMEncapsulation.llcSNAP.decapsulate(raw) }
        }
    }
}
