// A TAP device: the kernel's view of an Ethernet wire whose far end is this
// process. Frames the kernel sends out of the interface are read here; frames
// written here arrive at the kernel as if received from the wire.
import CShims
import Glibc
import Wire

/// `/dev/net/tun` with `IFF_TAP | IFF_NO_PI`, non-blocking.
///
/// The interface's own (kernel-side) MAC is the kernel's address on this
/// wire; rtud is the other station and uses `hardwareAddress` on its frames,
/// which must differ from the kernel's. The kernel delivers every frame it
/// sends to the interface (unicast to rtud, broadcast, multicast) to the
/// reader, so no filter is needed.
public final class TapDevice: LinkDevice {
    public let name: String
    public let hardwareAddress: EthernetAddress
    public let mtu: Int
    public var pollDescriptor: Int32 { fd.rawValue }
    public private(set) var counters = LinkCounters()
    /// The interface's own MAC (the kernel's station on this wire).
    public let kernelHardwareAddress: EthernetAddress

    private let fd: FileDescriptor
    private var closed = false

    /// Opens the TAP device `name`.
    /// - Parameters:
    ///   - create: if true, the device is created when absent; if false, it
    ///     must already exist (a persistent device made by `ip tuntap add`
    ///     or an earlier run) and `ENODEV` is thrown otherwise.
    ///   - mtu: set on the interface when it differs from the current one.
    ///   - hardwareAddress: rtud's own MAC on this link.
    ///   - persistent: when creating, keep the device after the descriptor
    ///     closes (TUNSETPERSIST). Attaching never changes persistence.
    ///   - setUp: bring the kernel-side interface up.
    public init(name: String, create: Bool = true, mtu: Int = 1500, hardwareAddress: EthernetAddress,
                persistent: Bool = false, setUp: Bool = true) throws(LinkError) {
        let existed = rtu_if_index(name) > 0
        if !create && !existed { throw LinkError("attach to TAP \(name)", errno: ENODEV) }
        var kernelName = [CChar](repeating: 0, count: 16)
        let raw = rtu_tap_open(name, (persistent && !existed) ? 1 : 0, &kernelName)
        let descriptor = try Syscall.check(raw, "open /dev/net/tun as TAP \(name)")
        fd = FileDescriptor(rawValue: descriptor)
        self.name = String(decoding: kernelName.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.hardwareAddress = hardwareAddress
        self.mtu = mtu
        do throws(LinkError) {
            if try Interface.mtu(self.name) != mtu { try Interface.setMTU(self.name, mtu) }
            kernelHardwareAddress = try Interface.hardwareAddress(self.name)
            if setUp { try Interface.setUp(self.name) }
        } catch {
            fd.close()
            throw error
        }
    }

    deinit { close() }

    /// Closes the descriptor; a non-persistent device disappears with it.
    public func close() {
        if closed { return }
        closed = true
        fd.close()
    }

    /// read(2) until EAGAIN, `limit`, a full batch or an empty pool.
    /// A frame longer than the buffer space is dropped (`rxTruncated`).
    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        try counters.receiveEach(into: batch, limit: limit, pool: pool) { space throws(LinkError) in
            guard let length = try fd.read(into: space, operation: "read TAP") else { return nil }
            // TAP reads truncate silently: a frame that filled the space may
            // have been cut, so it counts as longer than the space.
            return length < space.count ? length : space.count &+ 1
        }
    }

    /// write(2) per frame, in order, until the device would block.
    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        counters.transmitEach(batch, pool: pool, maximumFrameLength: maximumFrameLength) { frame throws(LinkError) in
            try fd.write(frame, operation: "write TAP") != nil
        }
    }
}
