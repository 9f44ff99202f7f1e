import Testing
@testable import Wire

@Suite struct EthernetTests {
    @Test func parseUntagged() throws {
        try with(Fixture.arpRequest) { raw throws in
            let v = try EthernetView(raw)
            #expect(v.destination == .broadcast)
            #expect(v.source == Fixture.macA)
            #expect(v.etherType == .arp)
            #expect(v.vlanID == nil && !v.isTagged)
            #expect(v.headerLength == 14)
            #expect(v.payload.count == 46)  // ARP plus padding; ARP trims it
        }
    }

    @Test func parseVLAN() throws {
        try with(Fixture.vlanUDP) { raw throws in
            let v = try EthernetView(raw)
            #expect(v.isTagged && v.vlanID == 100 && v.vlanTCI == 100)
            #expect(v.etherType == .ipv4)
            #expect(v.headerLength == 18)
            #expect(v.payload.first == 0x45)
        }
    }

    @Test func reprRoundTrip() throws {
        for frame in [Fixture.arpRequest, Fixture.vlanUDP, Fixture.tcpSYN] {
            try with(frame) { raw throws in
                let repr = EthernetRepr.parse(try EthernetView(raw))
                withScratch(repr.bufferLength) { out in
                    repr.emit(into: out)
                    #expect(Array(out) == Array(frame[..<repr.headerLength]))
                    #expect(EthernetRepr.parse(try! EthernetView(out.readOnly)) == repr)
                }
            }
        }
    }

    @Test func vlanIDIsMaskedOnEmit() {
        let repr = EthernetRepr(destination: Fixture.macB, source: Fixture.macA, etherType: .ipv4, vlanID: 0xF123)
        withScratch(18) { out in
            repr.emit(into: out)
            #expect(Array(out[12 ..< 18]) == [0x81, 0x00, 0x01, 0x23, 0x08, 0x00])
        }
    }

    @Test func truncated() {
        with(Array(Fixture.arpRequest[..<13])) { raw in
            #expect(throws: WireError.truncated) { try EthernetView(raw) }
        }
        // A VLAN TPID with the tag cut off.
        with(Array(Fixture.vlanUDP[..<16])) { raw in
            #expect(throws: WireError.truncated) { try EthernetView(raw) }
        }
    }
}

@Suite struct ARPTests {
    @Test func parseRequest() throws {
        try with(Fixture.arpRequest) { raw throws in
            let arp = try ARPView(try EthernetView(raw).payload)
            #expect(arp.bytes.count == 28)
            let r = ARPRepr.parse(arp)
            #expect(r == ARPRepr(operation: .request, senderHardwareAddress: Fixture.macA, senderProtocolAddress: Fixture.ipA,
                                 targetHardwareAddress: .zero, targetProtocolAddress: Fixture.ipB))
        }
    }

    @Test func buildRequestMatchesFixture() {
        let r = ARPRepr(operation: .request, senderHardwareAddress: Fixture.macA, senderProtocolAddress: Fixture.ipA,
                        targetHardwareAddress: .zero, targetProtocolAddress: Fixture.ipB)
        withScratch(r.bufferLength) { out in
            r.emit(into: out)
            #expect(Array(out) == Array(Fixture.arpRequest[14 ..< 42]))
        }
    }

    @Test func replyRoundTrip() throws {
        let r = ARPRepr(operation: .reply, senderHardwareAddress: Fixture.macB, senderProtocolAddress: Fixture.ipB,
                        targetHardwareAddress: Fixture.macA, targetProtocolAddress: Fixture.ipA)
        try withScratch(r.bufferLength) { out throws in
            r.emit(into: out)
            #expect(ARPRepr.parse(try ARPView(out.readOnly)) == r)
        }
    }

    @Test func unknownOperationSurvives() throws {
        var b = Array(Fixture.arpRequest[14 ..< 42])
        b[7] = 9
        try with(b) { raw throws in #expect(ARPRepr.parse(try ARPView(raw)).operation == ARPOperation(rawValue: 9)) }
    }

    @Test(arguments: [(0, UInt8(6)), (3, 0x86), (4, 8), (5, 16)])
    func unsupportedParameters(offset: Int, value: UInt8) {
        var b = Array(Fixture.arpRequest[14 ..< 42])
        b[offset] = value
        with(b) { raw in #expect(throws: WireError.unsupported) { try ARPView(raw) } }
    }

    @Test func truncated() {
        with(Array(Fixture.arpRequest[14 ..< 41])) { raw in #expect(throws: WireError.truncated) { try ARPView(raw) } }
        with(Array(Fixture.arpRequest[14 ..< 20])) { raw in #expect(throws: WireError.truncated) { try ARPView(raw) } }
    }
}
