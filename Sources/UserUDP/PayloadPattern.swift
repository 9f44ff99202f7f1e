/// The content the tests and benchmarks put in datagrams, shared with
/// bench/c/udptool.c so either end can check the other: bytes 0..7 carry the
/// sequence number, big-endian (udptool puts a stream id in its top 16
/// bits); byte i ≥ 8 is (seq + i) & 0xFF. Shorter payloads carry the low
/// bytes of the sequence only.
public enum PayloadPattern {
    /// Writes the pattern of `seq` over all of `buffer`.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer, seq: UInt64) {
        for i in 0..<min(8, buffer.count) { buffer[i] = UInt8(truncatingIfNeeded: seq >> (56 - 8 * UInt64(i))) }
        if buffer.count > 8 { for i in 8..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: seq &+ UInt64(i)) } }
    }

    /// The sequence number in the first (up to) 8 bytes.
    public static func sequence(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var seq: UInt64 = 0
        for i in 0..<min(8, bytes.count) { seq = seq << 8 | UInt64(bytes[i]) }
        return seq
    }

    /// Whether bytes 8… match `seq`.
    public static func matches(_ bytes: UnsafeRawBufferPointer, seq: UInt64) -> Bool {
        guard bytes.count > 8 else { return true }
        for i in 8..<bytes.count where bytes[i] != UInt8(truncatingIfNeeded: seq &+ UInt64(i)) { return false }
        return true
    }

    /// The sequence number of a whole (≥ 8-byte) payload whose content matches it, else nil.
    public static func check(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard bytes.count >= 8 else { return nil }
        let seq = sequence(bytes)
        return matches(bytes, seq: seq) ? seq : nil
    }
}
