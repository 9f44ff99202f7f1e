// RFC 4717 N-to-one cell mode with control word: build, parse, round trip
// with the AAL5 and cell layers, and the bad cases.

import Testing
@testable import Wire

@Suite struct ATMPseudowireTests {
    /// Label 16 (the first unreserved), TC 0, S, TTL 64; sequence 7; two cells
    /// on VC 0/32, the second ending a PDU.
    static let twoCells: [UInt8] = {
        var b: [UInt8] = [0x00, 0x01, 0x01, 0x40, 0x00, 0x00, 0x00, 0x07]
        b += [0x00, 0x00, 0x02, 0x00] + [UInt8](repeating: 0x11, count: 48)
        b += [0x00, 0x00, 0x02, 0x02] + [UInt8](repeating: 0x22, count: 48)
        return b
    }()

    @Test func parse() throws {
        try with(ATMPseudowireTests.twoCells) { raw throws in
            let v = try PseudowireCellView(raw)
            #expect(v.headerLength == 8 && v.labelDepth == 1 && v.cellCount == 2 && v.cells.count == 2)
            #expect(v.label == MPLSLabelStackEntry(label: 16, trafficClass: 0, bottomOfStack: true, timeToLive: 64))
            #expect(v.outerLabel == v.label)
            #expect(v.controlWord == PseudowireControlWord(sequence: 7))
            let c0 = v.cells[0], c1 = v.cells[1]
            #expect(c0.header == ATMCellRepr(vpi: 0, vci: 32, payloadType: .userData))
            #expect(c1.header == ATMCellRepr(vpi: 0, vci: 32, payloadType: .userDataEnd))
            #expect(c0.payload.allSatisfy { $0 == 0x11 } && c1.payload.allSatisfy { $0 == 0x22 })
            #expect(v.cells.map { $0.header.payloadType.isEndOfPDU } == [false, true])
            // The PHY's view: 53 bytes with the HEC filled in.
            try withScratch(53) { cell throws in
                c1.copyCell(into: cell)
                let cv = try ATMCellView(cell.readOnly)
                #expect(cv.hecIsValid && cv.hec == c1.hec && cv.header == c1.header && cv.payload.elementsEqual(c1.payload))
            }
            #expect(PseudowireCellRepr.parse(v) == PseudowireCellRepr(label: 16, timeToLive: 64, sequence: 7, cellCount: 2))
        }
    }

    @Test func emit() {
        let r = PseudowireCellRepr(label: 16, timeToLive: 64, sequence: 7, cellCount: 2)
        #expect(r.bufferLength == 8 + 2 * 52)
        withScratch(r.bufferLength) { out in
            r.emit(into: out)
            let p0 = [UInt8](repeating: 0x11, count: 48)
            p0.withUnsafeBytes { PseudowireCellRepr.emitCell(ATMCellRepr(vpi: 0, vci: 32), payload: $0, at: 0, into: out) }
            // The second from a 53-byte cell, as the segmenter holds it.
            var cell = [UInt8](repeating: 0x22, count: 53)
            cell.withUnsafeMutableBytes { ATMCellRepr(vpi: 0, vci: 32, payloadType: .userDataEnd).emit(into: $0) }
            cell.withUnsafeBytes { PseudowireCellRepr.emitCell(from: $0, at: 1, into: out) }
            #expect(Array(out) == ATMPseudowireTests.twoCells)
        }
    }

    @Test func framesAnAAL5PDU() throws {
        // IPv4 in LLC/SNAP in AAL5 in cells in a pseudowire packet, and back.
        let ip = ipBytes(Fixture.ping)
        let sdu = LLCSNAPTests.header + ip
        let pdu = aal5PDU(sdu)
        let cells = pdu.count / 48
        let vc = ATMVirtualChannel(vpi: 1, vci: 100)
        let r = PseudowireCellRepr(label: 1000, sequence: 1, cellCount: cells)
        var frame = [UInt8](repeating: 0, count: r.bufferLength)
        frame.withUnsafeMutableBytes { out in
            r.emit(into: out)
            pdu.withUnsafeBytes { p in
                for i in 0 ..< cells {
                    let h = ATMCellRepr(channel: vc, payloadType: .userData(endOfPDU: i == cells - 1))
                    PseudowireCellRepr.emitCell(h, payload: p.slice(i * 48 ..< i * 48 + 48), at: i, into: out)
                }
            }
        }
        var reassembled = [UInt8]()
        try with(frame) { raw throws in
            let v = try PseudowireCellView(raw)
            #expect(v.label.label == 1000 && v.controlWord.sequence == 1)
            for c in v.cells {
                #expect(c.header.virtualChannel == vc)
                reassembled += c.payload
                if c.header.payloadType.isEndOfPDU { break }
            }
        }
        try with(reassembled) { raw throws in
            let (t, p) = try ATMEncapsulation.llcSNAP.decapsulate(try AAL5View(raw).sdu)
            #expect(t == .ipv4 && Array(p) == ip)
        }
    }

    @Test func limits() {
        // ATM-FACTS.md: at a 1500-byte MTU, k ≤ 28.
        #expect(PseudowireCellRepr.maximumCellCount(mtu: 1500) == 28)
        #expect(PseudowireCellRepr.maximumCellCount(mtu: 60) == 1)
        #expect(PseudowireCellRepr.maximumCellCount(mtu: 59) == 0)
        #expect(PseudowireCellRepr.cellOffset(27) + 52 <= 1500 && PseudowireCellRepr.cellOffset(28) + 52 > 1500)
    }

    @Test func labelAndControlWordFields() {
        let e = MPLSLabelStackEntry(label: 0xFFFFF, trafficClass: 5, bottomOfStack: false, timeToLive: 1)
        #expect(e.rawValue == 0xFFFF_FA01 && MPLSLabelStackEntry(rawValue: e.rawValue) == e)
        let cw = PseudowireControlWord(flags: 0xA, length: 0x15, sequence: 0xBEEF)
        #expect(cw.rawValue == 0x0A15_BEEF && PseudowireControlWord(rawValue: cw.rawValue) == cw)
        #expect(PseudowireControlWord.nextSequence(after: 1) == 2)
        #expect(PseudowireControlWord.nextSequence(after: 0xFFFF) == 1)
    }

    @Test func twoLabels() throws {
        // A tunnel label above the PW label: the view finds the bottom of stack.
        let frame: [UInt8] = [0x00, 0x02, 0x00, 0x40] + ATMPseudowireTests.twoCells
        try with(frame) { raw throws in
            let v = try PseudowireCellView(raw)
            #expect(v.labelDepth == 2 && v.outerLabel.label == 32 && !v.outerLabel.bottomOfStack)
            #expect(v.label.label == 16 && v.controlWord.sequence == 7 && v.cellCount == 2)
        }
    }

    @Test func badCases() {
        let good = ATMPseudowireTests.twoCells
        // Short: no label, no control word, no whole cell.
        with(Array(good[..<3])) { raw in #expect(throws: WireError.truncated) { try PseudowireCellView(raw) } }
        with(Array(good[..<8])) { raw in #expect(throws: WireError.truncated) { try PseudowireCellView(raw) } }
        with(Array(good[..<59])) { raw in #expect(throws: WireError.truncated) { try PseudowireCellView(raw) } }
        // Not a multiple of 52 after the headers.
        for n in [61, 100, 111] {
            with(Array(good[..<n])) { raw in #expect(throws: WireError.badLength) { try PseudowireCellView(raw) } }
        }
        with(good + [0]) { raw in #expect(throws: WireError.badLength) { try PseudowireCellView(raw) } }
        // Control word with a length.
        var withLength = good
        withLength[5] = 60
        with(withLength) { raw in #expect(throws: WireError.badLength) { try PseudowireCellView(raw) } }
        // First nibble not 0 (an IPv4 packet where a control word belongs).
        var ipNibble = good
        ipNibble[4] = 0x45
        with(ipNibble) { raw in #expect(throws: WireError.unsupported) { try PseudowireCellView(raw) } }
        // No bottom of stack within 4 entries.
        let deep = [UInt8](repeating: 0, count: 16) + good
        with(deep) { raw in #expect(throws: WireError.unsupported) { try PseudowireCellView(raw) } }
        let notBottom = [UInt8](repeating: 0, count: 12) + good
        with(notBottom) { raw in #expect((try? PseudowireCellView(raw))?.labelDepth == 4) }
    }
}
