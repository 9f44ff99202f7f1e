/// Why a packet could not be parsed. Each case maps to a drop counter in the
/// stack, so the cases name reasons, not positions in the code.
public enum WireError: Error, Hashable, Sendable {
    /// Fewer bytes than the fixed header needs.
    case truncated
    /// A length field (IHL, total length, UDP length, data offset, option
    /// length, …) disagrees with the bytes present or with the protocol's rules.
    case badLength
    /// A version field other than the one this parser handles.
    case badVersion
    /// A checksum that does not verify.
    case badChecksum
    /// A field value the protocol forbids (e.g. an ARP hardware type we do not speak).
    case unsupported
    /// A malformed option (TCP/IPv4).
    case badOption
}
