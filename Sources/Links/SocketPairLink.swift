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
    public let pollDescriptor: Int32
    public private(set) var counters = LinkCounters()

    init(name: String, descriptor: Int32, mtu: Int, address: EthernetAddress) {
        self.name = name
        pollDescriptor = descriptor
        self.mtu = mtu
        hardwareAddress = address
    }

    deinit { close(pollDescriptor) }

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

    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        var n = 0
        while n < limit, !batch.isFull {
            guard var buffer = pool.take() else { counters.rxNoBuffer &+= 1; break }
            let room = buffer.spaceFromOffset
            let got = recv(pollDescriptor, room.baseAddress, room.count, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC))
            if got < 0 {
                let e = errno
                pool.give(buffer)
                if e == EAGAIN || e == EINTR { break }
                throw LinkError("recv", errno: e)
            }
            if got > room.count || got < 14 {
                pool.give(buffer)
                counters.rxTruncated &+= got > room.count ? 1 : 0
                counters.rxDropped &+= 1
                continue
            }
            buffer.length = got
            batch.append(buffer)
            counters.received(bytes: got)
            n &+= 1
        }
        return n
    }

    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        var sent = 0
        var taken = 0
        let maxFrame = maximumFrameLength
        while taken < batch.count {
            let b = batch[taken]
            if b.length > maxFrame {
                counters.txOversize &+= 1
                counters.txDropped &+= 1
            } else {
                let r = send(pollDescriptor, b.base + b.offset, b.length, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                if r < 0 {
                    let e = errno
                    if e == EAGAIN || e == ENOBUFS { counters.txWouldBlock &+= 1; break }
                    counters.txErrors &+= 1
                    counters.txDropped &+= 1
                } else {
                    counters.txFrames &+= 1
                    counters.txBytes &+= UInt64(b.length)
                    sent &+= 1
                }
            }
            taken &+= 1
        }
        batch.releaseFirst(taken, to: pool)
        return sent
    }

    /// Writes one raw frame (a test playing the far end); false if it would block.
    @discardableResult
    public func inject(_ frame: UnsafeRawBufferPointer) -> Bool {
        send(pollDescriptor, frame.baseAddress, frame.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) == frame.count
    }

    /// Reads one raw frame into `buffer` (a test playing the far end); its length, or nil if none waits.
    public func capture(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        let got = recv(pollDescriptor, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
        return got >= 0 ? got : nil
    }
}
