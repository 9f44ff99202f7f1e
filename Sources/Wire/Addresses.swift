// Addresses and protocol numbers shared by every layer.
//
// Protocol numbers are open RawRepresentable structs (STYLE.md habit 3): an
// unknown value survives parsing and can be counted or forwarded.

/// A 48-bit IEEE 802 MAC address, stored in the low 48 bits of a UInt64 in
/// wire order (first byte most significant), so comparison and hashing are
/// single-word operations.
public struct EthernetAddress: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    @inlinable public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        rawValue = UInt64(b0) << 40 | UInt64(b1) << 32 | UInt64(b2) << 24
            | UInt64(b3) << 16 | UInt64(b4) << 8 | UInt64(b5)
    }

    public static let broadcast = EthernetAddress(rawValue: 0xFFFF_FFFF_FFFF)
    public static let zero = EthernetAddress(rawValue: 0)

    @inlinable public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }
    /// The I/G bit of the first byte: group (multicast or broadcast) address.
    @inlinable public var isMulticast: Bool { (rawValue >> 40) & 1 == 1 }
    @inlinable public var isUnicast: Bool { !isMulticast }

    /// Reads six bytes at `offset` of `bytes` (caller has checked the length).
    @inlinable public init(loadingFrom bytes: UnsafeRawBufferPointer, at offset: Int) {
        var v: UInt64 = 0
        for i in 0..<6 { v = v << 8 | UInt64(bytes[offset &+ i]) }
        rawValue = v
    }

    /// Writes six bytes at `offset` of `bytes` (caller has checked the length).
    @inlinable public func store(into bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        for i in 0..<6 { bytes[offset &+ i] = UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64(i))) }
    }

    /// Parses "aa:bb:cc:dd:ee:ff" (also accepts '-').
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var v: UInt64 = 0
        for p in parts {
            guard p.count == 2, let b = UInt8(p, radix: 16) else { return nil }
            v = v << 8 | UInt64(b)
        }
        rawValue = v
    }

    public var description: String {
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(17)
        for i in 0..<6 {
            let b = UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64(i)))
            if i > 0 { out.append(UInt8(ascii: ":")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// An IPv4 address as a host-order integer: 198.18.0.1 is 0xC612_0001.
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    public static let any = IPv4Address(rawValue: 0)
    public static let broadcast = IPv4Address(rawValue: 0xFFFF_FFFF)

    @inlinable public var isUnspecified: Bool { rawValue == 0 }
    @inlinable public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF }
    /// 224.0.0.0/4
    @inlinable public var isMulticast: Bool { rawValue >> 28 == 0xE }
    /// 127.0.0.0/8
    @inlinable public var isLoopback: Bool { rawValue >> 24 == 127 }

    /// Reads four bytes in network order at `offset` (caller has checked the length).
    @inlinable public init(loadingFrom bytes: UnsafeRawBufferPointer, at offset: Int) {
        rawValue = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// Writes four bytes in network order at `offset` (caller has checked the length).
    @inlinable public func store(into bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBytes(of: rawValue.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    /// Parses dotted-quad "198.18.0.1"; nothing else (no shorthand forms).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var v: UInt32 = 0
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let b = UInt8(p) else { return nil }
            v = v << 8 | UInt32(b)
        }
        rawValue = v
    }

    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }

    @inlinable public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.rawValue < b.rawValue }
}

/// An IPv4 address with a prefix length, as configured on an interface.
public struct IPv4Cidr: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int

    public init?(address: IPv4Address, prefixLength: Int) {
        guard (0...32).contains(prefixLength) else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Parses "198.18.0.1/24".
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(parts[0]),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]) else { return nil }
        self.init(address: a, prefixLength: p)
    }

    @inlinable public var netmask: UInt32 { prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength) }
    @inlinable public var network: IPv4Address { IPv4Address(rawValue: address.rawValue & netmask) }
    /// The directed broadcast address of the subnet (none for /31 and /32).
    public var directedBroadcast: IPv4Address? {
        prefixLength >= 31 ? nil : IPv4Address(rawValue: address.rawValue | ~netmask)
    }
    @inlinable public func contains(_ a: IPv4Address) -> Bool { a.rawValue & netmask == address.rawValue & netmask }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// The EtherType field of an Ethernet II frame.
public struct EtherType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let ipv4 = EtherType(rawValue: 0x0800)
    public static let arp = EtherType(rawValue: 0x0806)
    public static let vlan = EtherType(rawValue: 0x8100)
    public static let ipv6 = EtherType(rawValue: 0x86DD)
    /// MPLS unicast: the carrier of RFC 4717 cell-mode pseudowires (emulated ATM link).
    public static let mplsUnicast = EtherType(rawValue: 0x8847)
}

/// The IPv4 Protocol field.
public struct IPProtocol: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let icmp = IPProtocol(rawValue: 1)
    public static let tcp = IPProtocol(rawValue: 6)
    public static let udp = IPProtocol(rawValue: 17)
}

/// An IPv4 address and port, written "198.18.0.1:5000".
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(address: IPv4Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = IPv4Address(parts[0]), !parts[1].isEmpty, parts[1].count <= 5,
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = UInt16(parts[1]) else { return nil }
        self.init(address: a, port: p)
    }

    public var description: String { "\(address):\(port)" }
}
