// libFuzzer target for every Wire parser. Built by scripts/fuzz.sh in one
// module with Sources/Wire/*.swift (hence no `import Wire`), with ASan, so an
// out-of-bounds read behind a view's "validated once" promise is a crash.
//
// Besides "does not crash", it checks invariants that tie the views to the
// reprs:
// - every repr that parses emits into a buffer of exactly `bufferLength`
//   bytes (ASan catches a write past it) and parses back to an equal repr,
//   with a checksum that verifies;
// - the option iterator and TCPRepr.parse agree on whether options are
//   malformed; the iterator ends within 40 steps;
// - the fast checksum equals the simple reference and the end-around-carry
//   variant; RFC 1624 TTL updates keep a valid header valid.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    checkChecksum(input)
    // The whole input as an Ethernet frame, and also as each inner layer
    // directly, so the fuzzer need not build the outer headers to reach them.
    fuzzEthernet(input)
    fuzzIPv4(input)
    let a = IPv4Address(198, 18, 0, 2), b = IPv4Address(198, 18, 0, 1)
    fuzzICMP(input)
    fuzzUDP(input, source: a, destination: b)
    fuzzTCP(input, source: a, destination: b)
    fuzzATM(input)
    return 0
}

func check(_ condition: Bool, _ what: StaticString) {
    if !condition { fatalError("invariant failed: \(what)") }
}

/// An exactly-sized, zeroed scratch buffer, so ASan sees any overrun.
func withExact(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    body(buffer)
}

func referenceSum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    var s: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count { s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
    if i < bytes.count { s += UInt32(bytes[i]) << 8 }
    while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
    return UInt16(s)
}

func checkChecksum(_ input: UnsafeRawBufferPointer) {
    let s = Checksum.sum(input)
    check(s == referenceSum(input), "Checksum.sum matches reference")
    check(s == Checksum.sumEndAroundCarry(input), "Checksum.sum matches end-around-carry")
}

func fuzzEthernet(_ input: UnsafeRawBufferPointer) {
    guard let eth = try? EthernetView(input) else { return }
    let repr = EthernetRepr.parse(eth)
    check(repr.headerLength == eth.headerLength, "Ethernet header length")
    withExact(repr.bufferLength) { out in
        repr.emit(into: out)
        check((try? EthernetView(out.readOnly)).map(EthernetRepr.parse) == repr, "Ethernet round trip")
    }
    let payload = eth.payload
    switch eth.etherType {
    case .arp: fuzzARP(payload)
    case .ipv4: fuzzIPv4(payload)
    default: break
    }
}

func fuzzARP(_ input: UnsafeRawBufferPointer) {
    guard let arp = try? ARPView(input) else { return }
    let repr = ARPRepr.parse(arp)
    withExact(repr.bufferLength) { out in
        repr.emit(into: out)
        check(out.elementsEqual(arp.bytes), "ARP emit reproduces the packet")
    }
}

func fuzzIPv4(_ input: UnsafeRawBufferPointer) {
    _ = try? IPv4View(quoted: input).payload
    guard let ip = try? IPv4View(input) else { return }
    check(ip.bytes.count == ip.totalLength && ip.payload.count == ip.totalLength - ip.headerLength, "IPv4 trim")
    let valid = ip.verifyChecksum()
    check((try? IPv4Repr.parse(ip)) != nil || !valid, "IPv4 parse agrees with verifyChecksum")
    guard let repr = try? IPv4Repr.parse(ip, verifyChecksum: false) else { fatalError("IPv4 parse without verify threw") }

    // Emit header + payload (fragment offsets are always multiples of 8 in a
    // parsed header, so emit's preconditions hold).
    withExact(repr.bufferLength) { out in
        out.copy(ip.payload, to: repr.headerLength)
        repr.emit(into: out)
        guard let again = try? IPv4View(out.readOnly) else { fatalError("IPv4 emitted header does not parse") }
        check(again.verifyChecksum(), "IPv4 emitted checksum verifies")
        check((try? IPv4Repr.parse(again)) == repr, "IPv4 round trip")
        check(again.payload.elementsEqual(ip.payload), "IPv4 payload preserved")

        // RFC 1624: an incremental TTL change keeps a valid header valid.
        if let m = try? IPv4MutableView(out) {
            m.setTimeToLive(~repr.timeToLive)
            check(m.view.verifyChecksum(), "IPv4 TTL incremental update")
        }
    }

    switch ip.protocol {
    case .icmp: fuzzICMP(ip.payload)
    case .udp: fuzzUDP(ip.payload, source: ip.source, destination: ip.destination)
    case .tcp: fuzzTCP(ip.payload, source: ip.source, destination: ip.destination)
    default: break
    }
}

func fuzzICMP(_ input: UnsafeRawBufferPointer) {
    guard let icmp = try? ICMPv4View(input) else { return }
    guard let repr = try? ICMPv4Repr.parse(icmp, verifyChecksum: false) else { return }
    _ = repr.quotedHeader?.payload
    check(repr.bufferLength == icmp.bytes.count, "ICMP repr covers the whole message")
    withExact(repr.bufferLength) { out in
        repr.emit(into: out)
        guard let again = try? ICMPv4View(out.readOnly) else { fatalError("ICMP emitted message does not parse") }
        check((try? ICMPv4Repr.parse(again)) == repr, "ICMP round trip")
    }
}

func fuzzUDP(_ input: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address) {
    guard let udp = try? UDPView(input) else { return }
    check(udp.length >= 8 && udp.length <= input.count, "UDP length bounds")
    _ = udp.verifyChecksum(source: source, destination: destination)
    guard let repr = try? UDPRepr.parse(udp, source: source, destination: destination, verifyChecksum: false) else {
        fatalError("UDP parse without verify threw")
    }
    withExact(repr.bufferLength) { out in
        out.copy(udp.payload, to: repr.headerLength)
        repr.emit(into: out, source: source, destination: destination)
        guard let again = try? UDPView(out.readOnly) else { fatalError("UDP emitted datagram does not parse") }
        check(again.checksum != 0, "UDP computed checksum is never sent as 0")
        check((try? UDPRepr.parse(again, source: source, destination: destination)) == repr, "UDP round trip")
        check(again.payload.elementsEqual(udp.payload), "UDP payload preserved")
    }
}

func fuzzTCP(_ input: UnsafeRawBufferPointer, source: IPv4Address, destination: IPv4Address) {
    guard let tcp = try? TCPView(input) else { return }
    // Walk the options: it must end (each step consumes ≥ 1 byte of ≤ 40).
    var it = tcp.makeOptionIterator()
    var steps = 0, malformed = false
    while true {
        do {
            guard try it.next() != nil else { break }
        } catch {
            malformed = true
            break
        }
        steps += 1
        check(steps <= 40, "TCP option iterator terminates")
    }
    let repr: TCPRepr
    do {
        repr = try TCPRepr.parse(tcp, source: source, destination: destination, verifyChecksum: false)
    } catch {
        check(error == .badOption && malformed, "TCPRepr.parse throws only badOption, when the iterator does")
        return
    }
    check(!malformed, "TCPRepr.parse accepts only what the iterator accepts")
    check(repr.headerLength <= 60 && repr.headerLength % 4 == 0, "TCP emitted header length")
    withExact(repr.bufferLength) { out in
        out.copy(tcp.payload, to: repr.headerLength)
        repr.emit(into: out, source: source, destination: destination)
        guard let again = try? TCPView(out.readOnly) else { fatalError("TCP emitted segment does not parse") }
        check((try? TCPRepr.parse(again, source: source, destination: destination)) == repr, "TCP round trip")
        check(again.payload.elementsEqual(tcp.payload), "TCP payload preserved")
    }
}

/// The emulated ATM link's formats (issue 6): RFC 4717 frames, cells, HEC
/// correction, AAL5 PDUs and RFC 2684 headers.
func fuzzATM(_ input: UnsafeRawBufferPointer) {
    if let pw = try? PseudowireCellView(input) {
        // The repr models one label (the bottom one); the view may have walked a deeper stack.
        check(pw.headerLength + pw.cellCount * 52 == input.count, "pseudowire length is header + whole cells")
        let repr = PseudowireCellRepr.parse(pw)
        check(repr.cellCount == pw.cellCount, "repr keeps the cell count")
        var n = 0
        for cell in pw.cells {
            withExact(53) { out in
                cell.copyCell(into: out)
                let view = try? ATMCellView(UnsafeRawBufferPointer(out))
                check(view?.hecIsValid == true, "a rebuilt cell carries a valid HEC")
            }
            n += 1
        }
        check(n == pw.cellCount, "cell iteration covers every cell")
    }
    if let cell = try? ATMCellView(input) {
        // An intact header is left alone; a corrected one differs from the
        // received header in at most one bit (the error may be in the HEC itself).
        if let fixed = HEC.correct(cell.word, hec: cell.hec) {
            check(fixed.corrected == !cell.hecIsValid, "corrected exactly when the HEC was wrong")
            check((fixed.word ^ cell.word).nonzeroBitCount <= 1, "correction flips at most one bit")
        } else {
            check(!cell.hecIsValid, "an intact header is always accepted")
        }
        let repr = ATMCellRepr(word: cell.word)
        withExact(5) { out in
            repr.emit(into: out)
            check(HEC.isValid(repr.word, hec: out[4]), "emitted HEC verifies")
        }
    }
    if let pdu = try? AAL5View(input) {
        check(pdu.sdu.count == pdu.trailer.length, "SDU is the trailer's length")
        check(pdu.pad.count <= 47, "pad below one cell")
        // Re-framing the SDU yields the same PDU length and a PDU that validates.
        let length = AAL5.pduLength(sduLength: pdu.sdu.count)
        check(length == input.count, "pdu length recomputed")
        withExact(length) { out in
            out.copyMemory(from: pdu.sdu)
            _ = AAL5.writeTrailer(into: out, sduLength: pdu.sdu.count, userToUser: pdu.trailer.userToUser,
                              commonPartIndicator: pdu.trailer.commonPartIndicator)
            check((try? AAL5View(UnsafeRawBufferPointer(out))) != nil, "re-framed PDU validates")
        }
    }
    if let llc = try? LLCSNAPView(input) {
        withExact(8) { out in
            LLCSNAPRepr(etherType: llc.etherType).emit(into: out)
            check(out.elementsEqual(input.prefix(8)), "LLC/SNAP header round-trips")
        }
    }
}
