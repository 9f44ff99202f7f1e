// librtuclient.so: the C interface declared in include/rtuclient.h, over
// RTUClient. Handles are retained Swift objects passed as opaque pointers.

import Control
import Glibc
import RTUClient
import SharedRings
import Wire

/// Copies `message` into the caller's `err` buffer (NUL-terminated, truncated to fit).
private func report(_ message: String, _ err: UnsafeMutablePointer<CChar>?, _ length: Int) {
    guard let err, length > 0 else { return }
    let bytes = Array(message.utf8.prefix(length - 1))
    for (i, b) in bytes.enumerated() { err[i] = CChar(bitPattern: b) }
    err[bytes.count] = 0
}

private func socketAddress(_ text: UnsafePointer<CChar>?) -> SocketAddress? {
    text.flatMap { SocketAddress(String(cString: $0)) }
}

/// A handle for the object `make` returns (retained until the matching
/// close or disconnect), or NULL with its error in `err`.
private func retained(_ err: UnsafeMutablePointer<CChar>?, _ errlen: Int,
                      _ make: () throws(RTUClientError) -> AnyObject) -> OpaquePointer? {
    do { return OpaquePointer(Unmanaged.passRetained(try make()).toOpaque()) } catch {
        report(error.description, err, errlen)
        return nil
    }
}

private func milliseconds(_ ms: Int32) -> Int64 { ms < 0 ? -1 : Int64(ms) * 1_000_000 }

/// The errno a socket error is reported as (negated by the callers).
private func errnoValue(_ e: RTUSocketError) -> Int32 {
    switch e {
    case .wouldBlock: return EAGAIN
    case .tooLarge: return EMSGSIZE
    case .notConnected: return ENOTCONN
    case .closed: return EPIPE
    case let .icmp(_, type, code):
        // RFC 1122 §4.1.3.3 / Linux: port unreachable → ECONNREFUSED; others unreachable.
        if type == 3 && code == 3 { return ECONNREFUSED }
        if type == 3 && (code == 0 || code == 6 || code == 7) { return ENETUNREACH }
        return EHOSTUNREACH
    }
}

private func client(_ p: OpaquePointer) -> RTUClient { Unmanaged<RTUClient>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue() }
private func socket(_ p: OpaquePointer) -> RTUSocket { Unmanaged<RTUSocket>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue() }

@_cdecl("rtu_connect")
public func rtu_connect(_ path: UnsafePointer<CChar>?, _ name: UnsafePointer<CChar>?,
                        _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> OpaquePointer? {
    let control = path.map { String(cString: $0) } ?? RTUClient.environmentControlPath
    let client = name.map { String(cString: $0) } ?? "c-client"
    return retained(err, errlen) { () throws(RTUClientError) in try RTUClient(controlPath: control, client: client) }
}

@_cdecl("rtu_disconnect")
public func rtu_disconnect(_ c: OpaquePointer?) {
    guard let c else { return }
    Unmanaged<RTUClient>.fromOpaque(UnsafeRawPointer(c)).release()
}

@_cdecl("rtu_attach")
public func rtu_attach(_ c: OpaquePointer?, _ name: UnsafePointer<CChar>?,
                       _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> OpaquePointer? {
    guard let c, let name else { report("rtu_attach: client and name are required", err, errlen); return nil }
    return retained(err, errlen) { () throws(RTUClientError) in try client(c).attach(String(cString: name)) }
}

@_cdecl("rtu_open")
public func rtu_open(_ c: OpaquePointer?, _ bind: UnsafePointer<CChar>?, _ connect: UnsafePointer<CChar>?,
                     _ rate: UInt64, _ messageSize: UInt32, _ period: UInt64,
                     _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> OpaquePointer? {
    openSocket("rtu_open", c, bind, connect, rate, messageSize, period, vc: nil, err, errlen)
}

@_cdecl("rtu_open_vc")
public func rtu_open_vc(_ c: OpaquePointer?, _ bind: UnsafePointer<CChar>?, _ connect: UnsafePointer<CChar>?,
                        _ rate: UInt64, _ messageSize: UInt32, _ period: UInt64, _ vpi: UInt32, _ vci: UInt32,
                        _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> OpaquePointer? {
    openSocket("rtu_open_vc", c, bind, connect, rate, messageSize, period, vc: (vpi, vci), err, errlen)
}

/// `rtu_open` and `rtu_open_vc` (named `function` in their errors): the
/// arguments checked in order (client, bind, connect, then the VC), then the
/// socket created and attached.
private func openSocket(_ function: String, _ c: OpaquePointer?, _ bind: UnsafePointer<CChar>?,
                        _ connect: UnsafePointer<CChar>?, _ rate: UInt64, _ messageSize: UInt32, _ period: UInt64,
                        vc: (vpi: UInt32, vci: UInt32)?, _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> OpaquePointer? {
    guard let c else { report("\(function): no client", err, errlen); return nil }
    guard let local = socketAddress(bind) else { report("\(function): bind must be \"a.b.c.d:port\"", err, errlen); return nil }
    let peer = socketAddress(connect)
    if connect != nil && peer == nil { report("\(function): connect must be \"a.b.c.d:port\" or NULL", err, errlen); return nil }
    var channel: ATMVirtualChannel?
    if let vc {
        guard let p = UInt8(exactly: vc.vpi), let v = UInt16(exactly: vc.vci) else {
            report("\(function): VPI \(vc.vpi) / VCI \(vc.vci): VPI is 0..255 and VCI 0..65535", err, errlen)
            return nil
        }
        channel = ATMVirtualChannel(vpi: p, vci: v)
    }
    let reserve = rate > 0 ? ReservationSpec(rateBitsPerSecond: rate, messageSize: messageSize,
                                             periodNanoseconds: period == 0 ? 10_000_000 : period) : nil
    return retained(err, errlen) { () throws(RTUClientError) in
        try client(c).openSocket(bind: local, connect: peer, reserve: reserve, vc: channel)
    }
}

@_cdecl("rtu_close")
public func rtu_close(_ s: OpaquePointer?) {
    guard let s else { return }
    let unmanaged = Unmanaged<RTUSocket>.fromOpaque(UnsafeRawPointer(s))
    unmanaged.takeUnretainedValue().close()
    unmanaged.release()
}

@_cdecl("rtu_local_address")
public func rtu_local_address(_ s: OpaquePointer?, _ out: UnsafeMutablePointer<sockaddr_in>?) -> Int32 {
    guard let s, let out else { return -EINVAL }
    out.pointee = socket(s).local.sockaddrIn
    return 0
}

@_cdecl("rtu_max_datagram")
public func rtu_max_datagram(_ s: OpaquePointer?) -> Int {
    guard let s else { return 0 }
    return socket(s).maxDatagram
}

@_cdecl("rtu_send")
public func rtu_send(_ s: OpaquePointer?, _ data: UnsafeRawPointer?, _ length: Int,
                     _ to: UnsafePointer<sockaddr_in>?, _ timeout: Int32) -> Int32 {
    guard let s, data != nil || length == 0, length >= 0 else { return -EINVAL }
    do {
        try socket(s).send(UnsafeRawBufferPointer(start: data, count: length), to: to.map { SocketAddress($0.pointee) },
                           timeout: milliseconds(timeout))
        return 0
    } catch {
        return -errnoValue(error)
    }
}

@_cdecl("rtu_recv")
public func rtu_recv(_ s: OpaquePointer?, _ buffer: UnsafeMutableRawPointer?, _ capacity: Int,
                     _ from: UnsafeMutablePointer<sockaddr_in>?, _ timeout: Int32) -> Int {
    guard let s, buffer != nil || capacity == 0, capacity >= 0 else { return -Int(EINVAL) }
    do {
        guard let r = try socket(s).receive(into: UnsafeMutableRawBufferPointer(start: buffer, count: capacity),
                                            timeout: milliseconds(timeout)) else { return -Int(EAGAIN) }
        from?.pointee = r.source.sockaddrIn
        return r.length
    } catch {
        if case let .icmp(peer, _, _) = error { from?.pointee = peer.sockaddrIn }
        return -Int(errnoValue(error))
    }
}

/// Mirrors `struct rtu_message` in rtuclient.h.
public struct CMessage {
    var data: UnsafeMutableRawPointer?
    var length: Int
    var address: sockaddr_in
}

@_cdecl("rtu_send_batch")
public func rtu_send_batch(_ s: OpaquePointer?, _ messages: UnsafeMutableRawPointer?, _ count: UInt32,
                           _ timeout: Int32) -> Int32 {
    guard let s, let messages else { return -EINVAL }
    let sock = socket(s)
    let list = messages.bindMemory(to: CMessage.self, capacity: Int(count))
    return withUnsafeTemporaryAllocation(of: OutgoingDatagram.self, capacity: Int(count)) { batch in
        do throws(RTUSocketError) {
            for i in 0..<Int(count) {
                let m = list[i]
                let peer = try sock.peer(m.address.sin_port == 0 ? nil : SocketAddress(m.address))
                batch.initializeElement(at: i, to: OutgoingDatagram(payload: UnsafeRawBufferPointer(start: m.data, count: m.length),
                                                                    peer: peer))
            }
            return Int32(try sock.send(batch: UnsafeBufferPointer(batch), timeout: milliseconds(timeout)))
        } catch {
            return -errnoValue(error)
        }
    }
}

@_cdecl("rtu_recv_batch")
public func rtu_recv_batch(_ s: OpaquePointer?, _ messages: UnsafeMutableRawPointer?, _ count: UInt32,
                           _ timeout: Int32) -> Int32 {
    guard let s, let messages else { return -EINVAL }
    let sock = socket(s)
    let list = messages.bindMemory(to: CMessage.self, capacity: Int(count))
    return withUnsafeTemporaryAllocation(of: IncomingDatagram.self, capacity: Int(count)) { batch in
        for i in 0..<Int(count) {
            batch.initializeElement(at: i, to: IncomingDatagram(buffer: UnsafeMutableRawBufferPointer(start: list[i].data,
                                                                                                     count: list[i].length)))
        }
        do throws(RTUSocketError) {
            let n = try sock.receive(batch: batch, timeout: milliseconds(timeout))
            for i in 0..<n {
                list[i].length = batch[i].received.length
                list[i].address = batch[i].received.peer.socketAddress.sockaddrIn
            }
            return n == 0 ? -EAGAIN : Int32(n)
        } catch {
            return -errnoValue(error)
        }
    }
}
