import Testing
@testable import Wire

/// The obvious RFC 1071 §4.1 loop: big-endian 16-bit words into 32 bits, folded.
func referenceSum(_ bytes: [UInt8]) -> UInt16 {
    var s: UInt32 = 0
    var i = 0
    while i + 1 < bytes.count { s += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
    if i < bytes.count { s += UInt32(bytes[i]) << 8 }
    while s >> 16 != 0 { s = (s & 0xFFFF) + (s >> 16) }
    return UInt16(s)
}

@Suite struct ChecksumTests {
    @Test func rfc1071Example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let b: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        with(b) { raw in
            #expect(Checksum.sum(raw) == 0xDDF2)
            #expect(Checksum.sumEndAroundCarry(raw) == 0xDDF2)
            #expect(Checksum.compute(raw) == 0x220D)
        }
    }

    @Test func emptyAndOddLengths() {
        with([]) { #expect(Checksum.sum($0) == 0) }
        with([0xAB]) { #expect(Checksum.sum($0) == 0xAB00) }
        with([0x12, 0x34, 0x56]) { #expect(Checksum.sum($0) == 0x6834) }
    }

    @Test(arguments: [UInt64(1), 2, 3, 0xDEAD_BEEF])
    func matchesReferenceOnRandomData(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        for length in Array(0 ... 80) + [511, 1023, 1472, 1500, 9001, 65535] {
            let bytes = (0 ..< length).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            // Also at an odd start address, to exercise unaligned loads.
            let shifted = [0] + bytes
            with(bytes) { raw in
                #expect(Checksum.sum(raw) == referenceSum(bytes), "length \(length)")
                #expect(Checksum.sumEndAroundCarry(raw) == referenceSum(bytes), "length \(length)")
            }
            with(shifted) { raw in
                let inner = UnsafeRawBufferPointer(rebasing: raw[1...])
                #expect(Checksum.sum(inner) == referenceSum(bytes), "unaligned length \(length)")
            }
        }
    }

    @Test func allOnesDoesNotOverflow() {
        let bytes = [UInt8](repeating: 0xFF, count: 65535)
        with(bytes) { #expect(Checksum.sum($0) == referenceSum(bytes)) }
    }

    @Test func piecesCombine() {
        var rng = SeededRandom(seed: 7)
        let bytes = (0 ..< 301).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
        with(bytes) { raw in
            let whole = Checksum.sum(raw)
            for cut in stride(from: 0, through: 300, by: 2) {
                let a = Checksum.sum(UnsafeRawBufferPointer(rebasing: raw[..<cut]))
                let b = Checksum.sum(UnsafeRawBufferPointer(rebasing: raw[cut...]))
                #expect(Checksum.add(a, b) == whole)
            }
        }
    }

    @Test func pseudoHeader() {
        let src = IPv4Address(198, 18, 0, 2), dst = IPv4Address(198, 18, 0, 1)
        let explicit: [UInt8] = [198, 18, 0, 2, 198, 18, 0, 1, 0, 17, 0x05, 0xDC]
        #expect(Checksum.pseudoHeaderSum(source: src, destination: dst, protocol: .udp, length: 1500)
                == referenceSum(explicit))
    }

    @Test func verifyIncludesField() {
        var bytes: [UInt8] = [0x45, 0x00, 0x12, 0x34, 0x00, 0x00, 0xAB, 0xCD]
        let c = with(bytes) { Checksum.compute($0) }
        bytes[4] = UInt8(c >> 8); bytes[5] = UInt8(c & 0xFF)
        with(bytes) { #expect(Checksum.verify($0)) }
        bytes[7] ^= 1
        with(bytes) { #expect(!Checksum.verify($0)) }
    }

    @Test func incrementalUpdateMatchesRecompute() {
        // RFC 1624: updating one word incrementally equals recomputing.
        var rng = SeededRandom(seed: 1624)
        for _ in 0 ..< 2000 {
            var bytes = (0 ..< 40).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
            bytes[10] = 0; bytes[11] = 0
            let c = with(bytes) { Checksum.compute($0) }
            let w = Int.random(in: 0 ..< 20, using: &rng) * 2
            guard w != 10 else { continue }
            let old = UInt16(bytes[w]) << 8 | UInt16(bytes[w + 1])
            let new = UInt16.random(in: 0 ... 0xFFFF, using: &rng)
            bytes[w] = UInt8(new >> 8); bytes[w + 1] = UInt8(new & 0xFF)
            let recomputed = with(bytes) { Checksum.compute($0) }
            let updated = Checksum.update(c, old: old, new: new)
            // Both are valid encodings; they may differ only as ±0 (0x0000 vs 0xFFFF).
            #expect(updated == recomputed || (updated ^ recomputed) == 0xFFFF && (updated == 0 || recomputed == 0))
            bytes[10] = UInt8(updated >> 8); bytes[11] = UInt8(updated & 0xFF)
            with(bytes) { #expect(Checksum.verify($0)) }
        }
    }

    @Test func rfc1624Example() {
        // RFC 1624 §4: HC = 0xDD2F, m = 0x5555 → m' = 0x3285 gives HC' = 0x0000.
        #expect(Checksum.update(0xDD2F, old: 0x5555, new: 0x3285) == 0x0000)
    }

    @Test func incrementalUpdateOf32BitField() {
        var bytes = hex("4500 0026 1f2e 4000 4011 0000 c6120002 c6120001")
        let c = with(bytes) { Checksum.compute($0) }
        let updated = Checksum.update(c, old32: IPv4Address(198, 18, 0, 1).rawValue, new32: IPv4Address(198, 19, 7, 9).rawValue)
        bytes.replaceSubrange(16 ..< 20, with: [198, 19, 7, 9])
        bytes[10] = UInt8(updated >> 8); bytes[11] = UInt8(updated & 0xFF)
        with(bytes) { #expect(Checksum.verify($0)) }
    }
}
