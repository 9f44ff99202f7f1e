import Glibc
import Wire

/// `SocketAddress` as the kernel's socket calls (and C callers of
/// librtuclient) spell it.
extension SocketAddress {
    public init(_ a: sockaddr_in) {
        self.init(address: IPv4Address(rawValue: UInt32(bigEndian: a.sin_addr.s_addr)), port: UInt16(bigEndian: a.sin_port))
    }

    public var sockaddrIn: sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = address.rawValue.bigEndian
        return a
    }
}
