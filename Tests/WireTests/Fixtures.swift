// Byte fixtures shaped like what Linux puts on the wire, produced by
// Fuzz/make_seeds.py (a separate RFC 1071 implementation, so the checksums
// are a second opinion) and shared with the fuzzer's seed corpus.
//
// Hosts: A = 02:00:c6:12:00:02 / 198.18.0.2, B = 02:00:c6:12:00:01 / 198.18.0.1.

@testable import Wire

enum Fixture {
    static let macA = EthernetAddress(0x02, 0x00, 0xC6, 0x12, 0x00, 0x02)
    static let macB = EthernetAddress(0x02, 0x00, 0xC6, 0x12, 0x00, 0x01)
    static let ipA = IPv4Address(198, 18, 0, 2)
    static let ipB = IPv4Address(198, 18, 0, 1)

    /// ARP who-has 198.18.0.1 tell 198.18.0.2, broadcast, padded to 60 bytes.
    static let arpRequest = hex("""
        ffffffffffff 0200c6120002 0806
        0001 0800 06 04 0001 0200c6120002 c6120002 000000000000 c6120001
        000000000000000000000000000000000000
        """)

    /// ping 198.18.0.1: echo request id 0x1c46 seq 1, 56 data bytes
    /// (struct timeval, then 0x10…0x37), DF, TTL 64.
    static let ping = hex("""
        0200c6120001 0200c6120002 0800
        4500 0054 5b3a 4000 40 01 5347 c6120002 c6120001
        08 00 5ce7 1c46 0001
        e04a206900000000 b94a060000000000
        101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637
        """)

    /// UDP 198.18.0.2:40000 → 198.18.0.1:5000 "hello rtud", padded to 60.
    static let udp = hex("""
        0200c6120001 0200c6120002 0800
        4500 0026 1f2e 4000 40 11 8f71 c6120002 c6120001
        9c40 1388 0012 980e 68656c6c6f2072747564
        0000000000000000
        """)

    /// The same datagram in an 802.1Q frame, VLAN 100.
    static let vlanUDP = hex("""
        0200c6120001 0200c6120002 8100 0064 0800
        4500 0026 1f2e 4000 40 11 8f71 c6120002 c6120001
        9c40 1388 0012 980e 68656c6c6f2072747564
        00000000
        """)

    /// A Linux SYN: 45678 → 80, win 64240,
    /// <mss 1460, sackOK, TS val 0x9a1c42e7 ecr 0, nop, wscale 7>.
    static let tcpSYN = hex("""
        0200c6120001 0200c6120002 0800
        4500 003c 0000 4000 40 06 ae94 c6120002 c6120001
        b26e 0050 6b8b4567 00000000 a0 02 faf0 8032 0000
        020405b4 0402 080a 9a1c42e7 00000000 01 030307
        """)

    /// An ACK with <nop, nop, TS, nop, nop, sack 1 {0x10000400:0x10000800}>.
    static let tcpAckSACK = hex("""
        0200c6120001 0200c6120002 0800
        4500 0040 3c1d 4000 40 06 7273 c6120002 c6120001
        b26e 0050 6b8b4568 10000001 b0 10 01f5 0150 0000
        0101 080a 9a1c4301 00123456 0101 050a 10000400 10000800
        """)

    /// From B: fragmentation needed, next-hop MTU 1400, quoting the UDP
    /// datagram's IP header and first 8 bytes.
    static let icmpFragNeeded = hex("""
        0200c6120002 0200c6120001 0800
        4500 0038 0a0b 0000 40 01 e492 c6120001 c6120002
        03 04 af9a 0000 0578
        4500 0026 1f2e 4000 40 11 8f71 c6120002 c6120001 9c40 1388 0012 980e
        """)
}

/// Bytes from hex digits; whitespace is ignored.
func hex(_ text: String) -> [UInt8] {
    var out = [UInt8]()
    var high: UInt8?
    for c in text.unicodeScalars {
        guard let v = UInt8(String(c), radix: 16) else { continue }
        if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
    }
    precondition(high == nil, "odd number of hex digits")
    return out
}

/// A deterministic generator (SplitMix64) for seeded random tests.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs `body` with a view of `bytes` (copied into exactly-sized storage).
@discardableResult
func with<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try bytes.withUnsafeBytes(body)
}

/// Runs `body` with a zeroed mutable buffer of `count` bytes.
@discardableResult
func withScratch<R>(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    var storage = [UInt8](repeating: 0, count: count)
    return try storage.withUnsafeMutableBytes(body)
}

/// The network-layer payload of an Ethernet fixture.
func ipBytes(_ frame: [UInt8], tagged: Bool = false) -> [UInt8] {
    Array(frame[(tagged ? 18 : 14)...])
}
