// The control protocol's bytes. One message per SOCK_SEQPACKET packet:
//
//   offset 0  magic       u32  "RTUC" (bytes 52 54 55 43)
//          4  version     u16  ControlCodec.version
//          6  type        u16  requests 0x0001…, replies 0x8001…
//          8  request id  u32  chosen by the client, echoed by the reply;
//                              0 for the daemon's unsolicited messages
//         12  fields of the message, in declaration order
//
// All integers little endian, fixed width. A bool is one byte, 0 or 1. A
// string is a u16 byte count and UTF-8 (at most `maxString` bytes, no NUL:
// names end up in C calls and logs). An optional is a presence bool and then
// the value. An array is a u32 element count and the elements. A socket
// address is the IPv4 address as a u32 (its numeric value) and the port as a
// u16. An ATM VC is the VPI as a u8 and the VCI as a u16. Nothing may follow
// the last field.
//
// The decoder takes hostile input (any local user may connect): it checks
// every length against the bytes left before reading or allocating, and a
// failure is a typed error, never a trap.
import Wire

public enum ControlCodec {
    /// The largest message either side sends or accepts, header included.
    public static let maxMessage = 65_536
    /// The protocol version this code speaks, in every header and in `hello`.
    /// 2: `SocketSpec` and `SocketInfo` end with an optional ATM VC.
    public static let version: UInt16 = 2
    /// "RTUC" read as a little-endian u32.
    public static let magic: UInt32 = 0x4355_5452
    /// The longest string in bytes of UTF-8.
    public static let maxString = 4096

    /// Header field offsets and size.
    enum Header {
        static let magic = 0
        static let version = 4
        static let type = 6
        static let requestID = 8
        static let size = 12
    }

    /// The wire's message types. Requests and replies use separate ranges so
    /// a reply fed to the request decoder (or the reverse) is an unknown type.
    enum MessageType: UInt16 {
        case hello = 0x0001, createSocket, attach, close, delete, listSockets, listRTUs, stats, status
        case helloReply = 0x8001, socket, ok, sockets, rtus, statsReply, statusReply, error, socketClosed
    }

    public static func encode(_ request: ControlRequest, requestID: UInt32) -> [UInt8] {
        switch request {
        case let .hello(version, client):
            return message(.hello, requestID) { $0.integer(version); $0.string(client) }
        case let .createSocket(spec):
            return message(.createSocket, requestID) { spec.encode(to: &$0) }
        case let .attach(name):
            return message(.attach, requestID) { $0.string(name) }
        case let .close(id):
            return message(.close, requestID) { $0.integer(id) }
        case let .delete(name):
            return message(.delete, requestID) { $0.string(name) }
        case let .listSockets(cursor):
            return message(.listSockets, requestID) { $0.integer(cursor) }
        case let .listRTUs(cursor):
            return message(.listRTUs, requestID) { $0.integer(cursor) }
        case .stats:
            return message(.stats, requestID) { _ in }
        case .status:
            return message(.status, requestID) { _ in }
        }
    }

    public static func encode(_ reply: ControlReply, requestID: UInt32) -> [UInt8] {
        switch reply {
        case let .hello(version, daemon, pid):
            return message(.helloReply, requestID) { $0.integer(version); $0.string(daemon); $0.integer(pid) }
        case let .socket(info):
            return message(.socket, requestID) { info.encode(to: &$0) }
        case .ok:
            return message(.ok, requestID) { _ in }
        case let .sockets(list, next):
            return message(.sockets, requestID) { $0.array(list); $0.integer(next) }
        case let .rtus(list, next):
            return message(.rtus, requestID) { $0.array(list); $0.integer(next) }
        case let .stats(groups):
            return message(.statsReply, requestID) { $0.array(groups) }
        case let .status(status):
            return message(.statusReply, requestID) { status.encode(to: &$0) }
        case let .error(code, text):
            return message(.error, requestID) { $0.integer(code.rawValue); $0.string(text) }
        case let .socketClosed(id, code, text):
            return message(.socketClosed, requestID) { $0.integer(id); $0.integer(code.rawValue); $0.string(text) }
        }
    }

    public static func decodeRequest(_ bytes: UnsafeRawBufferPointer) throws(ControlDecodeError)
        -> (requestID: UInt32, ControlRequest) {
        var r = try ControlReader(message: bytes)
        let request: ControlRequest
        switch MessageType(rawValue: r.type) {
        case .hello: request = .hello(version: try r.integer("hello.version"), client: try r.string("hello.client"))
        case .createSocket: request = .createSocket(try SocketSpec(from: &r))
        case .attach: request = .attach(name: try r.string("attach.name"))
        case .close: request = .close(id: try r.integer("close.id"))
        case .delete: request = .delete(name: try r.string("delete.name"))
        case .listSockets: request = .listSockets(cursor: try r.integer("listSockets.cursor"))
        case .listRTUs: request = .listRTUs(cursor: try r.integer("listRTUs.cursor"))
        case .stats: request = .stats
        case .status: request = .status
        default: throw .unknownType(r.type)
        }
        try r.finish()
        return (r.requestID, request)
    }

    public static func decodeReply(_ bytes: UnsafeRawBufferPointer) throws(ControlDecodeError)
        -> (requestID: UInt32, ControlReply) {
        var r = try ControlReader(message: bytes)
        let reply: ControlReply
        switch MessageType(rawValue: r.type) {
        case .helloReply:
            reply = .hello(version: try r.integer("hello.version"), daemon: try r.string("hello.daemon"),
                           pid: try r.integer("hello.pid"))
        case .socket: reply = .socket(try SocketInfo(from: &r))
        case .ok: reply = .ok
        case .sockets: reply = .sockets(try r.array("sockets"), next: try r.integer("sockets.next"))
        case .rtus: reply = .rtus(try r.array("rtus"), next: try r.integer("rtus.next"))
        case .statsReply: reply = .stats(try r.array("stats"))
        case .statusReply: reply = .status(try DaemonStatus(from: &r))
        case .error: reply = .error(try r.code("error.code"), try r.string("error.message"))
        case .socketClosed:
            reply = .socketClosed(id: try r.integer("socketClosed.id"), try r.code("socketClosed.code"),
                                  try r.string("socketClosed.message"))
        default: throw .unknownType(r.type)
        }
        try r.finish()
        return (r.requestID, reply)
    }

    public static func decodeRequest(_ bytes: [UInt8]) throws(ControlDecodeError) -> (requestID: UInt32, ControlRequest) {
        try withBytes(bytes) { b throws(ControlDecodeError) in try decodeRequest(b) }
    }

    public static func decodeReply(_ bytes: [UInt8]) throws(ControlDecodeError) -> (requestID: UInt32, ControlReply) {
        try withBytes(bytes) { b throws(ControlDecodeError) in try decodeReply(b) }
    }

    /// The request id of a message whose header is at least present, whatever
    /// else is wrong with it: the daemon answers an undecodable request with
    /// an `error` carrying this id, so the client can match the answer.
    public static func peekRequestID(_ bytes: [UInt8]) -> UInt32? {
        guard bytes.count >= Header.size else { return nil }
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: Header.requestID, as: UInt32.self)) }
    }

    /// The items `items[start...]` that fit one `sockets` reply of at most
    /// `maxMessage` bytes, as many as fit from `start` on. Empty when
    /// `start` is past the end, or when `items[start]` alone is too large
    /// (the server then has to answer with an error rather than loop).
    public static func pageFitting(_ items: [SocketInfo], from start: Int) -> Range<Int> {
        fitting(items, from: start)
    }

    /// As `pageFitting` for sockets, for an `rtus` reply.
    public static func pageFitting(_ items: [RTUInfo], from start: Int) -> Range<Int> {
        fitting(items, from: start)
    }

    private static func fitting<T: ControlField>(_ items: [T], from start: Int) -> Range<Int> {
        let first = min(max(start, 0), items.count)
        // Header, the array's count, the `next` cursor.
        var room = maxMessage - Header.size - 4 - 4
        var end = first
        while end < items.count {
            var w = ControlWriter()
            items[end].encode(to: &w)
            room -= w.bytes.count
            if room < 0 { break }
            end += 1
        }
        return first ..< end
    }

    private static func message(_ type: MessageType, _ requestID: UInt32,
                                _ fields: (inout ControlWriter) -> Void) -> [UInt8] {
        var w = ControlWriter()
        w.integer(magic)
        w.integer(version)
        w.integer(type.rawValue)
        w.integer(requestID)
        fields(&w)
        return w.bytes
    }

    private static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ControlDecodeError) -> R)
        throws(ControlDecodeError) -> R {
        // withUnsafeBytes rethrows untyped; the typed error is carried out by hand.
        let result: Result<R, ControlDecodeError> = bytes.withUnsafeBytes { b in
            do throws(ControlDecodeError) { return .success(try body(b)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

/// Why bytes are not a valid control message. The daemon answers with
/// `code` and `description`.
public enum ControlDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// More than `ControlCodec.maxMessage` bytes.
    case tooLarge(size: Int)
    /// The message ends inside `field`, which needs `needed` bytes where
    /// `left` remain (for an array, `needed` is its count: each element
    /// takes at least a byte).
    case truncated(field: String, needed: Int, left: Int)
    case badMagic(UInt32)
    case unsupportedVersion(UInt16)
    case unknownType(UInt16)
    /// A bool or an optional's presence byte other than 0 or 1.
    case badBool(field: String, value: UInt8)
    /// A protocol, kind or error code this version does not define.
    case unknownCode(field: String, value: UInt16)
    case invalidUTF8(field: String)
    case stringTooLong(field: String, length: Int)
    case nulInString(field: String)
    /// Bytes after the last field.
    case trailingBytes(count: Int)

    public var code: ControlErrorCode {
        switch self {
        case .tooLarge: .tooLarge
        case .unsupportedVersion: .unsupportedVersion
        default: .badMessage
        }
    }

    public var description: String {
        switch self {
        case let .tooLarge(size): "message of \(size) bytes exceeds \(ControlCodec.maxMessage)"
        case let .truncated(field, needed, left): "truncated at \(field): needs \(needed) bytes, \(left) left"
        case let .badMagic(value): "bad magic 0x\(String(value, radix: 16)) (not a control message)"
        case let .unsupportedVersion(v): "unsupported protocol version \(v) (this side speaks \(ControlCodec.version))"
        case let .unknownType(t): "unknown message type 0x\(String(t, radix: 16))"
        case let .badBool(field, value): "\(field): bool byte \(value), must be 0 or 1"
        case let .unknownCode(field, value): "\(field): unknown code \(value)"
        case let .invalidUTF8(field): "\(field): invalid UTF-8"
        case let .stringTooLong(field, length): "\(field): string of \(length) bytes exceeds \(ControlCodec.maxString)"
        case let .nulInString(field): "\(field): string contains NUL"
        case let .trailingBytes(count): "\(count) trailing bytes after the last field"
        }
    }
}
