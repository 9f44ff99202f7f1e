import Glibc
import Wire

/// A link made of a Unix SOCK_SEQPACKET socket pair: each end is a device
/// with a real descriptor (so a dispatcher can wait on it), frame boundaries
/// are kept, and the two ends may run on different threads — or one end may
/// be a test writing crafted frames with `inject` and reading with `capture`.
/// No privileges needed: the in-process tests of whole nodes run on it.
public final class SocketPairLink: LinkDevice {
    public let name: String
    public let hardwareAddress: EthernetAddress
    public let mtu: Int
    public var pollDescriptor: Int32 { fd.rawValue }
    public private(set) var counters = LinkCounters()

    private let fd: FileDescriptor

    init(name: String, descriptor: Int32, mtu: Int, address: EthernetAddress) {
        self.name = name
        fd = FileDescriptor(rawValue: descriptor)
        self.mtu = mtu
        hardwareAddress = address
    }

    deinit { fd.close() }

    /// Two connected ends, `sp-a` and `sp-b`. `buffer` is each socket's
    /// send buffer in bytes (how many frames can be in flight).
    public static func pair(mtu: Int = 1500, a: EthernetAddress, b: EthernetAddress,
                            buffer: Int = 4 << 20) throws(LinkError) -> (SocketPairLink, SocketPairLink) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                         0, &fds) == 0 else { throw LinkError("socketpair", errno: errno) }
        for fd in fds {
            var size = Int32(buffer)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return (SocketPairLink(name: "sp-a", descriptor: fds[0], mtu: mtu, address: a),
                SocketPairLink(name: "sp-b", descriptor: fds[1], mtu: mtu, address: b))
    }

    /// recv(2) until EAGAIN, `limit`, a full batch or an empty pool. A
    /// frame longer than the buffer space is dropped (`rxTruncated`).
    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        try counters.receiveEach(into: batch, limit: limit, pool: pool) { space throws(LinkError) in
            // MSG_TRUNC: the length of the whole frame, even one cut to the space.
            try fd.receive(into: space, flags: Int32(MSG_TRUNC), operation: "recv")
        }
    }

    /// send(2) per frame, in order, until the socket would block (EAGAIN,
    /// or ENOBUFS when the kernel is short of memory for the queue).
    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        counters.transmitEach(batch, pool: pool, maximumFrameLength: maximumFrameLength) { frame throws(LinkError) in
            do throws(LinkError) {
                return try fd.send(frame, flags: Int32(MSG_NOSIGNAL), operation: "send") != nil
            } catch {
                if error.errno == ENOBUFS { return false }
                throw error
            }
        }
    }

    /// Writes one raw frame (a test playing the far end); false if it would block.
    @discardableResult
    public func inject(_ frame: UnsafeRawBufferPointer) -> Bool {
        (try? fd.send(frame, flags: Int32(MSG_NOSIGNAL), operation: "send")) == frame.count
    }

    /// Reads one raw frame into `buffer` (a test playing the far end); its length, or nil if none waits.
    public func capture(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        try? fd.receive(into: buffer, flags: 0, operation: "recv")
    }
}
