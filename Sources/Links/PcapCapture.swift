// A decorator that records every frame a device receives and transmits in a
// libpcap capture file (LINKTYPE_ETHERNET), for tshark/Wireshark.
import CShims
import Wire

/// Wraps a device and writes each frame it receives (after `receive`) and
/// each frame handed to it for transmission (before `transmit`) to a pcap
/// file through libpcap's `pcap_dump`, timestamped with CLOCK_REALTIME (one
/// clock read per call). The file is flushed by `flush()`, `close()` and deinit.
///
/// A frame the device could not take (it stays at the front of the batch)
/// is recorded once: the decorator remembers how many frames at the front of
/// the batch it has already written, so the caller must only append to a
/// batch it retries, as the `LinkDevice` contract expects anyway.
public final class PcapCapture<Inner: LinkDevice>: LinkDevice {
    public let inner: Inner
    public let path: String
    public var name: String { inner.name }
    public var hardwareAddress: EthernetAddress { inner.hardwareAddress }
    public var mtu: Int { inner.mtu }
    public var pollDescriptor: Int32 { inner.pollDescriptor }
    public var counters: LinkCounters { inner.counters }
    /// Frames written to the file.
    public private(set) var framesWritten: UInt64 = 0

    private var handle: UnsafeMutableRawPointer?
    private let snapLength: Int
    private var txAlreadyWritten = 0

    /// Creates (truncates) the capture file at `path`.
    public init(wrapping inner: Inner, path: String, snapLength: Int = 65535) throws(LinkError) {
        self.inner = inner
        self.path = path
        self.snapLength = snapLength
        var errbuf = [CChar](repeating: 0, count: 256)
        guard let h = rtu_pcap_open(path, Int32(snapLength), &errbuf) else {
            throw LinkError("pcap_dump_open \(path) (\(String(cString: errbuf)))", errno: 5 /* EIO */)
        }
        handle = h
    }

    deinit { close() }

    /// Writes buffered records to the file.
    public func flush() {
        if let h = handle { _ = rtu_pcap_flush(h) }
    }

    /// Flushes and closes the file; frames still pass through afterwards, unrecorded.
    public func close() {
        if let h = handle { rtu_pcap_close(h) }
        handle = nil
    }

    private func record(_ batch: FrameBatch, _ range: Range<Int>) {
        guard let h = handle, !range.isEmpty else { return }
        var sec: Int64 = 0, usec: Int32 = 0
        rtu_realtime(&sec, &usec)
        for i in range {
            let f = batch[i].readable
            let cap = min(f.count, snapLength)
            rtu_pcap_write(h, sec, usec, f.baseAddress, UInt32(cap), UInt32(f.count))
            framesWritten &+= 1
        }
    }

    public func receive(into batch: FrameBatch, limit: Int, pool: BufferPool) throws(LinkError) -> Int {
        let start = batch.count
        let n = try inner.receive(into: batch, limit: limit, pool: pool)
        record(batch, start ..< start + n)
        return n
    }

    public func transmit(_ batch: FrameBatch, pool: BufferPool) throws(LinkError) -> Int {
        let already = min(txAlreadyWritten, batch.count)
        record(batch, already ..< batch.count)
        // Whatever stays in the batch has been written.
        defer { txAlreadyWritten = batch.count }
        return try inner.transmit(batch, pool: pool)
    }
}
