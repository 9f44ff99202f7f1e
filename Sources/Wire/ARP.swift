// ARP (RFC 826) for IPv4 over Ethernet only.

/// Field offsets and the only parameters spoken (RFC 826 "Packet format").
@usableFromInline
enum ARPField {
    @usableFromInline static let hardwareType = 0
    @usableFromInline static let protocolType = 2
    @usableFromInline static let hardwareLength = 4
    @usableFromInline static let protocolLength = 5
    @usableFromInline static let operation = 6
    @usableFromInline static let senderHardwareAddress = 8
    @usableFromInline static let senderProtocolAddress = 14
    @usableFromInline static let targetHardwareAddress = 18
    @usableFromInline static let targetProtocolAddress = 24
    /// Length of the fixed part before the addresses.
    @usableFromInline static let fixedLength = 8
    /// Total length with 6-byte hardware and 4-byte protocol addresses.
    @usableFromInline static let packetLength = 28

    /// ar$hrd for Ethernet (IANA ARP parameters: 1).
    @usableFromInline static let ethernetHardware: UInt16 = 1
    @usableFromInline static let ethernetAddressLength: UInt8 = 6
    @usableFromInline static let ipv4AddressLength: UInt8 = 4
}

/// The ARP opcode (ar$op). Open: unknown values survive parsing.
public struct ARPOperation: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let request = ARPOperation(rawValue: 1)
    public static let reply = ARPOperation(rawValue: 2)
}

/// A validated, non-owning view of an Ethernet/IPv4 ARP packet.
public struct ARPView {
    /// Exactly the 28 bytes of the packet (Ethernet padding dropped).
    public let bytes: UnsafeRawBufferPointer

    /// - Throws: `.truncated` if fewer than 28 bytes (8 to read the type
    ///   fields); `.unsupported` for any hardware/protocol other than
    ///   Ethernet (1, length 6) and IPv4 (0x0800, length 4).
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= ARPField.fixedLength else { throw .truncated }
        guard bytes.readU16(ARPField.hardwareType) == ARPField.ethernetHardware,
              bytes.readU16(ARPField.protocolType) == EtherType.ipv4.rawValue,
              bytes.readU8(ARPField.hardwareLength) == ARPField.ethernetAddressLength,
              bytes.readU8(ARPField.protocolLength) == ARPField.ipv4AddressLength
        else { throw .unsupported }
        guard bytes.count >= ARPField.packetLength else { throw .truncated }
        self.bytes = bytes.slice(0 ..< ARPField.packetLength)
    }

    @inlinable public var operation: ARPOperation { ARPOperation(rawValue: bytes.readU16(ARPField.operation)) }
    @inlinable public var senderHardwareAddress: EthernetAddress {
        EthernetAddress(loadingFrom: bytes, at: ARPField.senderHardwareAddress)
    }
    @inlinable public var senderProtocolAddress: IPv4Address {
        IPv4Address(loadingFrom: bytes, at: ARPField.senderProtocolAddress)
    }
    @inlinable public var targetHardwareAddress: EthernetAddress {
        EthernetAddress(loadingFrom: bytes, at: ARPField.targetHardwareAddress)
    }
    @inlinable public var targetProtocolAddress: IPv4Address {
        IPv4Address(loadingFrom: bytes, at: ARPField.targetProtocolAddress)
    }
}

/// What an Ethernet/IPv4 ARP packet says. The operation is kept even when it
/// is neither request nor reply; the stack decides what to do with it.
public struct ARPRepr: Hashable, Sendable {
    public var operation: ARPOperation
    public var senderHardwareAddress: EthernetAddress
    public var senderProtocolAddress: IPv4Address
    public var targetHardwareAddress: EthernetAddress
    public var targetProtocolAddress: IPv4Address

    @inlinable
    public init(operation: ARPOperation,
                senderHardwareAddress: EthernetAddress, senderProtocolAddress: IPv4Address,
                targetHardwareAddress: EthernetAddress, targetProtocolAddress: IPv4Address) {
        self.operation = operation
        self.senderHardwareAddress = senderHardwareAddress
        self.senderProtocolAddress = senderProtocolAddress
        self.targetHardwareAddress = targetHardwareAddress
        self.targetProtocolAddress = targetProtocolAddress
    }

    @inlinable
    public static func parse(_ view: ARPView) -> ARPRepr {
        ARPRepr(operation: view.operation,
                senderHardwareAddress: view.senderHardwareAddress, senderProtocolAddress: view.senderProtocolAddress,
                targetHardwareAddress: view.targetHardwareAddress, targetProtocolAddress: view.targetProtocolAddress)
    }

    @inlinable public var headerLength: Int { ARPField.packetLength }
    @inlinable public var bufferLength: Int { ARPField.packetLength }

    /// Writes the 28-byte packet into the start of `buffer`.
    /// - Precondition: `buffer.count >= bufferLength`.
    @inlinable
    public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= bufferLength, "ARPRepr.emit: buffer too small")
        buffer.writeU16(ARPField.hardwareType, ARPField.ethernetHardware)
        buffer.writeU16(ARPField.protocolType, EtherType.ipv4.rawValue)
        buffer.writeU8(ARPField.hardwareLength, ARPField.ethernetAddressLength)
        buffer.writeU8(ARPField.protocolLength, ARPField.ipv4AddressLength)
        buffer.writeU16(ARPField.operation, operation.rawValue)
        senderHardwareAddress.store(into: buffer, at: ARPField.senderHardwareAddress)
        senderProtocolAddress.store(into: buffer, at: ARPField.senderProtocolAddress)
        targetHardwareAddress.store(into: buffer, at: ARPField.targetHardwareAddress)
        targetProtocolAddress.store(into: buffer, at: ARPField.targetProtocolAddress)
    }
}
