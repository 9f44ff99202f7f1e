// The AAL5 CRC-32 (ITU-T I.363.5 §10.2.1.3): generator 0x04C11DB7, register
// preset to all ones, MSB first (not reflected), the remainder complemented.
// Catalogue name CRC-32/BZIP2, a.k.a. CRC-32/AAL5; check("123456789") =
// 0xFC891918. Not the reflected zlib/Ethernet CRC.
//
// Representation: a *register* is the running CRC state before the final
// complement. Start from `CRC32.initial`, feed pieces in order with `update`
// (the adaptor feeds one 48-byte cell payload at a time), then complement to
// get the field value, or compare a register run over a whole PDU, CRC field
// included, with `CRC32.residue`.

/// CRC-32/AAL5 arithmetic. Pure; never allocates after the tables are built.
public enum CRC32 {
    /// The register preset (I.363.5 §10.2.1.3).
    public static let initial: UInt32 = 0xFFFF_FFFF
    /// The register after running over a whole intact PDU, CRC field
    /// included, before the final complement (ATM-FACTS.md).
    public static let residue: UInt32 = 0xC704_DD7B
    /// The generator polynomial, x³² implicit, MSB first.
    public static let polynomial: UInt32 = 0x04C1_1DB7

    /// The CRC field value for `bytes`.
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 { ~update(initial, bytes) }

    /// Runs `register` over `bytes` and returns the new register.
    ///
    /// Why it is shaped this way: slicing-by-8 (Kounavis and Berry, 2005) —
    /// eight bytes per step through eight 256-entry tables, whose lookups are
    /// independent, against one dependent lookup per byte. A 48-byte cell
    /// payload is exactly six steps. Measured on the 2-vCPU development
    /// machine (release, under a load average of 5): ~1.5 GB/s from 48 bytes
    /// (~30–45 ns a cell) to 64 KiB, against ~0.3 GB/s for `updateBytewise`;
    /// the OC-3c line needs 19 MB/s.
    public static func update(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return register }
        return CRC32Tables.slices.withUnsafeBufferPointer { t -> UInt32 in
            var crc = register
            var i = 0
            while i &+ 8 <= count {
                let hi = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ crc
                let lo = UInt32(bigEndian: base.loadUnaligned(fromByteOffset: i &+ 4, as: UInt32.self))
                // Table k advances a byte through k further zero bytes, so the
                // first byte of the eight (hi >> 24) uses table 7.
                crc = t[7 &* 256 &+ Int(hi >> 24)] ^ t[6 &* 256 &+ Int((hi >> 16) & 0xFF)]
                    ^ t[5 &* 256 &+ Int((hi >> 8) & 0xFF)] ^ t[4 &* 256 &+ Int(hi & 0xFF)]
                    ^ t[3 &* 256 &+ Int(lo >> 24)] ^ t[2 &* 256 &+ Int((lo >> 16) & 0xFF)]
                    ^ t[256 &+ Int((lo >> 8) & 0xFF)] ^ t[Int(lo & 0xFF)]
                i &+= 8
            }
            while i < count {
                let b = base.load(fromByteOffset: i, as: UInt8.self)
                crc = (crc << 8) ^ t[Int(UInt8(truncatingIfNeeded: crc >> 24) ^ b)]
                i &+= 1
            }
            return crc
        }
    }

    /// The classic one-table, one-byte-per-step loop. Same contract as
    /// `update`; kept as a second implementation for tests and benchmarks.
    public static func updateBytewise(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        CRC32Tables.slices.withUnsafeBufferPointer { t -> UInt32 in
            var crc = register
            for b in bytes { crc = (crc << 8) ^ t[Int(UInt8(truncatingIfNeeded: crc >> 24) ^ b)] }
            return crc
        }
    }

    /// The bit-at-a-time definition, table-free: the reference the tables are
    /// checked against. Slow; tests only.
    public static func updateBitwise(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = register
        for b in bytes {
            crc ^= UInt32(b) << 24
            for _ in 0 ..< 8 { crc = crc & 0x8000_0000 != 0 ? (crc << 1) ^ polynomial : crc << 1 }
        }
        return crc
    }
}

/// The slicing-by-8 tables, 8 × 256 entries in one array: entry k·256 + b is
/// the register contribution of byte b followed by k zero bytes. Built once,
/// on first use (2,048 words; computing them costs less than shipping them).
enum CRC32Tables {
    static let slices: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0 ..< 256 {
            var c = UInt32(b) << 24
            for _ in 0 ..< 8 { c = c & 0x8000_0000 != 0 ? (c << 1) ^ CRC32.polynomial : c << 1 }
            t[b] = c
        }
        for k in 1 ..< 8 {
            for b in 0 ..< 256 {
                let prev = t[(k - 1) * 256 + b]
                t[k * 256 + b] = (prev << 8) ^ t[Int(prev >> 24)]
            }
        }
        return t
    }()
}
