// Every system call the drivers make on the data path, wrapped once
// (STYLE.md habit 10): errno is read immediately, EINTR is retried, EAGAIN
// is a result ("would block", nil), EBADF/EFAULT trap because they are bugs
// in this process, and anything else is a typed `LinkError`.
import CShims
import Glibc
import Wire

/// An open file descriptor owned by one driver; closed exactly once by `close()`.
struct FileDescriptor {
    let rawValue: Int32

    /// read(2). Returns the byte count, or nil when nothing waits (EAGAIN).
    @inline(__always)
    func read(into buffer: UnsafeMutableRawBufferPointer, operation: StaticString) throws(LinkError) -> Int? {
        try Syscall.retrying(operation) { Glibc.read(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// write(2) of a whole frame. Returns the byte count, or nil when the
    /// device would block (EAGAIN).
    @inline(__always)
    func write(_ buffer: UnsafeRawBufferPointer, operation: StaticString) throws(LinkError) -> Int? {
        try Syscall.retrying(operation) { Glibc.write(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// recv(2) with `flags | MSG_DONTWAIT`. Returns the byte count (with
    /// MSG_TRUNC: the datagram's whole length, even beyond `buffer`), or nil
    /// when nothing waits (EAGAIN).
    @inline(__always)
    func receive(into buffer: UnsafeMutableRawBufferPointer, flags: Int32, operation: StaticString) throws(LinkError) -> Int? {
        try Syscall.retrying(operation) {
            recv(rawValue, buffer.baseAddress, buffer.count, flags | Int32(MSG_DONTWAIT))
        }
    }

    /// send(2) with `flags | MSG_DONTWAIT`. Returns the byte count, or nil
    /// when the socket would block (EAGAIN).
    @inline(__always)
    func send(_ buffer: UnsafeRawBufferPointer, flags: Int32, operation: StaticString) throws(LinkError) -> Int? {
        try Syscall.retrying(operation) {
            Glibc.send(rawValue, buffer.baseAddress, buffer.count, flags | Int32(MSG_DONTWAIT))
        }
    }

    /// close(2); EINTR is not retried (on Linux the descriptor is gone either way).
    func close() { _ = Glibc.close(rawValue) }
}

enum Syscall {
    /// Runs `call` (a system call returning -1 and setting errno on failure)
    /// until it is not interrupted: its result, nil for EAGAIN, or the error.
    @inline(__always)
    static func retrying(_ operation: StaticString, _ call: () -> Int) throws(LinkError) -> Int? {
        while true {
            let n = call()
            if n >= 0 { return n }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN { return nil }
            throw failure(operation, e)
        }
    }

    /// The error for a failed call; EBADF and EFAULT are programming errors
    /// (a closed descriptor, a bad pointer) and stop the process.
    static func failure(_ operation: StaticString, _ e: Int32) -> LinkError {
        if e == EBADF || e == EFAULT {
            fatalError("\(operation): errno \(e): descriptor or buffer misuse is a bug")
        }
        return LinkError(String(describing: operation), errno: e)
    }

    /// Converts a shim's `-errno` result into a `LinkError`; passes values >= 0 through.
    static func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(LinkError) -> Int32 {
        if result >= 0 { return result }
        throw LinkError(operation(), errno: -result)
    }
}

extension EthernetAddressBytes {
    /// Six bytes in wire order, for the C shims.
    static func with<R>(_ address: EthernetAddress, _ body: (UnsafePointer<UInt8>) -> R) -> R {
        var t = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        return withUnsafeMutableBytes(of: &t) { raw in
            address.store(into: raw, at: 0)
            return body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Reads six bytes in wire order.
    static func load(_ body: (UnsafeMutablePointer<UInt8>) -> Int32) -> (EthernetAddress, Int32) {
        var t = (UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0), UInt8(0))
        let r = withUnsafeMutableBytes(of: &t) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
        let a = withUnsafeBytes(of: &t) { EthernetAddress(loadingFrom: $0, at: 0) }
        return (a, r)
    }
}

/// Namespace for converting `EthernetAddress` to and from the shims' `uint8_t[6]`.
enum EthernetAddressBytes {}

/// Interface configuration through the shims, in the calling thread's network namespace.
enum Interface {
    static func index(_ name: String) throws(LinkError) -> Int32 {
        try Syscall.check(rtu_if_index(name), "if_nametoindex \(name)")
    }

    static func setUp(_ name: String) throws(LinkError) {
        _ = try Syscall.check(rtu_if_set_up(name, 1), "set \(name) up")
    }

    static func mtu(_ name: String) throws(LinkError) -> Int {
        Int(try Syscall.check(rtu_if_get_mtu(name), "get MTU of \(name)"))
    }

    static func setMTU(_ name: String, _ mtu: Int) throws(LinkError) {
        _ = try Syscall.check(rtu_if_set_mtu(name, Int32(mtu)), "set MTU of \(name) to \(mtu)")
    }

    static func hardwareAddress(_ name: String) throws(LinkError) -> EthernetAddress {
        let (a, r) = EthernetAddressBytes.load { rtu_if_get_hwaddr(name, $0) }
        _ = try Syscall.check(r, "get MAC of \(name)")
        return a
    }
}
