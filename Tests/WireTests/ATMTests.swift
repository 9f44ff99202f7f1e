// Known answers from ATM-FACTS.md, round trips and bad cases for the ATM
// wire formats: cell header and HEC, CRC-32/AAL5, the AAL5 CPCS-PDU, RFC 2684
// encapsulation. The RFC 4717 pseudowire is in ATMPseudowireTests.swift.

import Testing
@testable import Wire

/// The HEC vectors of ATM-FACTS.md: header word → HEC.
let hecVectors: [(UInt32, UInt8)] = [
    (0x0000_0000, 0x55), (0x0000_0001, 0x52), (0x0000_0050, 0xE2), (0x0000_0100, 0x40),
    (0x0010_0200, 0xDD), (0x0010_0202, 0xD3), (0x0123_4567, 0x95), (0xBAC6_F4CA, 0x99),
    (0xFFFF_FFFE, 0x8C), (0x0FF0_0010, 0x9B),
]

/// CRC-8 bit by bit, straight from the definition (a second opinion on the table).
func bitwiseHEC(_ word: UInt32) -> UInt8 {
    var c: UInt8 = 0
    for i in 0 ..< 32 {
        let bit = UInt8(truncatingIfNeeded: word >> UInt32(31 - i)) & 1
        let top = c >> 7
        c <<= 1
        if top ^ bit == 1 { c ^= 0x07 }
    }
    return c ^ 0x55
}

@Suite struct ATMCellTests {
    @Test(arguments: hecVectors)
    func hecVector(word: UInt32, hec: UInt8) {
        #expect(HEC.compute(word) == hec)
        #expect(bitwiseHEC(word) == hec)
        #expect(HEC.isValid(word, hec: hec) && HEC.syndrome(word, hec: hec) == 0)
        let bytes: [UInt8] = [UInt8(word >> 24), UInt8(word >> 16 & 0xFF), UInt8(word >> 8 & 0xFF), UInt8(word & 0xFF)]
        bytes.withUnsafeBytes { #expect(HEC.compute($0) == hec) }
    }

    @Test func hecCatalogueCheck() {
        Array("123456789".utf8).withUnsafeBytes { #expect(HEC.compute($0) == 0xA1) }
    }

    @Test func hecTableMatchesDefinition() {
        var rng = SeededRandom(seed: 8)
        for _ in 0 ..< 2000 {
            let w = UInt32(truncatingIfNeeded: rng.next())
            #expect(HEC.compute(w) == bitwiseHEC(w))
        }
    }

    @Test func singleBitErrorsAreCorrected() {
        for (word, hec) in hecVectors {
            #expect(HEC.correct(word, hec: hec)! == (word, false))
            for bit in 0 ..< 32 {
                let bad = word ^ (UInt32(0x8000_0000) >> UInt32(bit))
                #expect(!HEC.isValid(bad, hec: hec))
                let fixed = HEC.correct(bad, hec: hec)
                #expect(fixed?.word == word && fixed?.corrected == true, "bit \(bit) of \(word)")
            }
            for bit in 0 ..< 8 {
                let fixed = HEC.correct(word, hec: hec ^ (0x80 >> UInt8(bit)))
                #expect(fixed?.word == word && fixed?.corrected == true)
            }
        }
    }

    @Test func doubleBitErrorsAreNotMiscorrected() {
        // Distance 4 over 40 bits: every double error is detected, none is
        // mistaken for a single one.
        let (word, hec) = (UInt32(0x0010_0202), UInt8(0xD3))
        let codeword = UInt64(word) << 8 | UInt64(hec)
        for i in 0 ..< 40 {
            for j in i + 1 ..< 40 {
                let bad = codeword ^ (1 << UInt64(i)) ^ (1 << UInt64(j))
                #expect(HEC.correct(UInt32(truncatingIfNeeded: bad >> 8), hec: UInt8(truncatingIfNeeded: bad)) == nil)
            }
        }
    }

    @Test func viewFields() throws {
        // 00 10 02 02: VPI 1, VCI 32, PTI 1 (last cell of a PDU), CLP 0.
        var cell = [UInt8](repeating: 0xA5, count: 53)
        cell[0] = 0x00; cell[1] = 0x10; cell[2] = 0x02; cell[3] = 0x02; cell[4] = 0xD3
        try with(cell) { raw throws in
            let v = try ATMCellView(raw)
            #expect(v.word == 0x0010_0202 && v.hec == 0xD3 && v.hecIsValid)
            #expect(v.gfc == 0 && v.vpi == 1 && v.vci == 32 && v.payloadType == .userDataEnd && !v.cellLossPriority)
            #expect(v.virtualChannel == ATMVirtualChannel(vpi: 1, vci: 32) && !v.virtualChannel.isReserved)
            #expect(v.payloadType.isUserData && v.payloadType.isEndOfPDU && !v.payloadType.congestionExperienced)
            #expect(v.payload.count == 48 && v.payload.allSatisfy { $0 == 0xA5 })
            #expect(!v.isIdle && !v.isUnassigned && !v.isPhysicalLayerOrUnassigned)
            #expect(ATMCellRepr.parse(v) == ATMCellRepr(vpi: 1, vci: 32, payloadType: .userDataEnd))
        }
        // 0F F0 00 10: VPI 255, VCI 1 (reserved), PTI 0.
        let r = ATMCellRepr(word: 0x0FF0_0010)
        #expect(r.vpi == 255 && r.vci == 1 && r.payloadType == .userData && r.virtualChannel.isReserved)
        // FF FF FF FE: every field at its maximum but CLP.
        let m = ATMCellRepr(word: 0xFFFF_FFFE)
        #expect(m.gfc == 15 && m.vpi == 255 && m.vci == 0xFFFF && m.payloadType == .reserved && !m.cellLossPriority)
        #expect(!m.payloadType.isUserData && !m.payloadType.isEndOfPDU)
    }

    @Test func idleAndUnassigned() throws {
        #expect(ATMCellRepr.idle.word == 1 && ATMCellRepr.idle.hec == 0x52 && ATMCellRepr.idle.isIdle)
        #expect(ATMCellRepr.unassigned.word == 0 && ATMCellRepr.unassigned.hec == 0x55 && ATMCellRepr.unassigned.isUnassigned)
        #expect(!ATMCellRepr.idle.isUnassigned && ATMCellRepr.idle.isPhysicalLayerOrUnassigned)
        #expect(!ATMCellRepr.unassigned.isIdle && ATMCellRepr.unassigned.isPhysicalLayerOrUnassigned)
        var cell = [UInt8](repeating: 0x6A, count: 53)  // I.432 idle payload
        cell[0] = 0; cell[1] = 0; cell[2] = 0; cell[3] = 0x01; cell[4] = 0x52
        try with(cell) { raw throws in
            let v = try ATMCellView(raw)
            #expect(v.isIdle && v.hecIsValid && v.isPhysicalLayerOrUnassigned)
        }
        #expect(!ATMCellRepr(vpi: 0, vci: 32).isPhysicalLayerOrUnassigned)
        #expect(!ATMCellRepr(vpi: 1, vci: 0).isUnassigned)
    }

    @Test func emitRoundTrip() throws {
        var rng = SeededRandom(seed: 53)
        for _ in 0 ..< 500 {
            let r = ATMCellRepr(gfc: UInt8(rng.next() & 0xF), vpi: UInt8(rng.next() & 0xFF), vci: UInt16(rng.next() & 0xFFFF),
                                payloadType: ATMPayloadType(rawValue: UInt8(rng.next() & 7)),
                                cellLossPriority: rng.next() & 1 == 1)
            #expect(ATMCellRepr(word: r.word) == r)
            try withScratch(r.bufferLength) { out throws in
                r.emit(into: out)
                let v = try ATMCellView(out.readOnly)
                #expect(v.hecIsValid && v.header == r && v.hec == HEC.compute(r.word))
            }
        }
        withScratch(5) { out in
            ATMCellRepr(vpi: 1, vci: 32, payloadType: .userDataEnd).emit(into: out)
            #expect(Array(out) == [0x00, 0x10, 0x02, 0x02, 0xD3])
        }
        withScratch(4) { out in
            ATMCellRepr(vpi: 0, vci: 0, cellLossPriority: true).emitWithoutHEC(into: out)
            #expect(Array(out) == [0, 0, 0, 1])
        }
    }

    @Test func payloadTypes() {
        #expect(ATMPayloadType.userData(endOfPDU: false) == .userData)
        #expect(ATMPayloadType.userData(endOfPDU: true) == .userDataEnd)
        #expect(ATMPayloadType.userData(endOfPDU: true, congestion: true) == .congestedUserDataEnd)
        #expect(ATMPayloadType.congestedUserData.congestionExperienced && !ATMPayloadType.congestedUserData.isEndOfPDU)
        #expect(ATMPayloadType.congestedUserDataEnd.isEndOfPDU)
        for p in [ATMPayloadType.oamSegment, .oamEndToEnd, .resourceManagement, .reserved] {
            #expect(!p.isUserData && !p.isEndOfPDU && !p.congestionExperienced)
        }
    }

    @Test func badCell() {
        with([UInt8](repeating: 0, count: 52)) { raw in #expect(throws: WireError.truncated) { try ATMCellView(raw) } }
        with([]) { raw in #expect(throws: WireError.truncated) { try ATMCellView(raw) } }
        with([UInt8](repeating: 0, count: 60)) { raw in #expect((try? ATMCellView(raw))?.bytes.count == 53) }
        // A bad HEC is visible, not thrown.
        var cell = [UInt8](repeating: 0, count: 53)
        cell[2] = 0x02; cell[4] = 0x00
        with(cell) { raw in #expect((try? ATMCellView(raw))?.hecIsValid == false) }
    }
}

@Suite struct CRC32Tests {
    @Test func catalogueCheck() {
        Array("123456789".utf8).withUnsafeBytes { b in
            #expect(CRC32.checksum(b) == 0xFC89_1918)
            #expect(~CRC32.updateBytewise(CRC32.initial, b) == 0xFC89_1918)
            #expect(~CRC32.updateBitwise(CRC32.initial, b) == 0xFC89_1918)
        }
    }

    @Test func slicingMatchesBitwiseAtEveryLengthAndAlignment() {
        var rng = SeededRandom(seed: 32)
        let data = (0 ..< 1200).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { all in
            for offset in 0 ..< 8 {
                for n in 0 ..< 120 {
                    let b = all.slice(offset ..< offset + n)
                    #expect(CRC32.update(CRC32.initial, b) == CRC32.updateBitwise(CRC32.initial, b))
                }
            }
            let big = all.slice(3 ..< 1200)
            #expect(CRC32.update(0x1234_5678, big) == CRC32.updateBitwise(0x1234_5678, big))
            #expect(CRC32.update(0x1234_5678, big) == CRC32.updateBytewise(0x1234_5678, big))
        }
    }

    @Test func incrementalEqualsWhole() {
        var rng = SeededRandom(seed: 5)
        let data = (0 ..< 48 * 7).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        data.withUnsafeBytes { all in
            var r = CRC32.initial
            for cell in 0 ..< 7 { r = CRC32.update(r, all.slice(cell * 48 ..< cell * 48 + 48)) }
            #expect(r == CRC32.update(CRC32.initial, all))
        }
    }
}
