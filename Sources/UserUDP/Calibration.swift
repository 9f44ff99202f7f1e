import CShims
import Links
import SharedRings
import Stack
import Wire

/// Measures c(S), the CPU time of one UDP message through the input and the
/// output RTU bodies, at start-up (ARCHITECTURE.md: budgets come from a
/// measured per-message cost). It runs the real code — IPv4 validation,
/// checksum, copy into the ring; header, checksum, copy into frames — on a
/// private interface, at two sizes, and fits `fixed + perKilobyte·S`.
///
/// The loop runs with warm caches, where the data path under load may not;
/// the fitted figures are doubled (and given a floor) before admission uses
/// them. `[calibration]` in the config overrides them.
public enum UDPCalibrator {
    static let small = 64
    static let large = 1472
    static let rounds = 5
    static let iterations = 1_000

    public static func measure() -> UDPCalibration {
        guard let fixture = try? Fixture() else { return .fallback }
        var inSmall = [Int64](), inLarge = [Int64](), outSmall = [Int64](), outLarge = [Int64]()
        for _ in 0..<rounds {
            inSmall.append(fixture.input(size: small))
            inLarge.append(fixture.input(size: large))
            outSmall.append(fixture.output(size: small))
            outLarge.append(fixture.output(size: large))
        }
        return UDPCalibration(input: fit(median(inSmall), median(inLarge)), output: fit(median(outSmall), median(outLarge)),
                              source: "measured at start-up")
    }

    static func median(_ v: [Int64]) -> Int64 { v.sorted()[v.count / 2] }

    /// Straight line through (64, a) and (1472, b), doubled, with a 500 ns floor on the fixed part.
    static func fit(_ a: Int64, _ b: Int64) -> MessageCost {
        let perKilobyte = max(0, (b - a) * 1024 / Int64(large - small))
        let fixed = max(0, a - perKilobyte * Int64(small) / 1024)
        return MessageCost(fixed: max(500, 2 * fixed), perKilobyte: 2 * perKilobyte)
    }

    final class Fixture {
        let pool: BufferPool
        let interface: Interface
        let layer: UDPLayer
        let socket: UDPSocket
        let frame: UnsafeMutableRawBufferPointer
        let payload: UnsafeMutableRawBufferPointer
        static let peer = IPv4Address(198, 18, 255, 2)

        init() throws {
            pool = try BufferPool(slotSize: 2048, count: 64)
            let address = IPv4Cidr(address: IPv4Address(198, 18, 255, 1), prefixLength: 24)!
            interface = Interface(configuration: InterfaceConfiguration(
                name: "calibration", hardwareAddress: EthernetAddress(rawValue: 0x02_00_00_00_00_01), address: address),
                pool: pool)
            let demux = Demux(hardwareAddress: interface.hardwareAddress,
                              stackChannel: FrameChannel(id: -1, capacity: 4), fragmentChannel: FrameChannel(id: -2, capacity: 4),
                              maxEndpoints: 4)
            layer = UDPLayer(interface: interface, demux: demux)
            socket = try UDPSocket(id: 0, name: "calibration", channelCapacity: 8, ringCapacity: 1 << 16, handler: nil)
            socket.coreLocal = SocketAddress(address: address.address, port: 9)
            let pool = pool
            let iface = interface
            layer.flush = { _ in iface.transmitQueue.releaseAll(to: pool) }
            frame = .allocate(byteCount: 1514, alignment: 64)
            payload = .allocate(byteCount: 1472, alignment: 64)
            for i in 0..<1472 { payload[i] = UInt8(truncatingIfNeeded: i) }
        }

        deinit {
            frame.deallocate()
            payload.deallocate()
        }

        /// ns per datagram: driver-style copy into a pool buffer, then the input body.
        func input(size: Int) -> Int64 {
            let length = 14 + 20 + 8 + size
            EthernetRepr(destination: interface.hardwareAddress, source: EthernetAddress(rawValue: 0x02_00_00_00_00_02),
                         etherType: .ipv4).emit(into: frame)
            IPv4Repr(source: Fixture.peer, destination: interface.address, protocol: .udp, payloadLength: 8 + size)
                .emit(into: frame.slice(14 ..< 34))
            frame.copy(UnsafeRawBufferPointer(payload.slice(0 ..< size)), to: 42)
            UDPRepr(sourcePort: 7, destinationPort: 9, payloadLength: size)
                .emit(into: frame.slice(34 ..< length), source: Fixture.peer, destination: interface.address)
            let bytes = UnsafeRawBufferPointer(frame.slice(0 ..< length))
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 64)
            defer { scratch.deallocate() }
            let start = rtu_sched_monotonic_ns()
            for _ in 0..<iterations {
                guard var buffer = pool.take() else { break }
                buffer.length = length
                buffer.bytes.copy(bytes, to: 0)
                _ = socket.channel.push(buffer)
                _ = layer.input(socket, limit: 1, now: .zero)
                _ = try? socket.receive(into: scratch)
            }
            return (rtu_sched_monotonic_ns() - start) / Int64(iterations)
        }

        /// ns per datagram: the application's copy into the TX ring, then the output body.
        func output(size: Int) -> Int64 {
            let to = SocketAddress(address: interface.configuration.address.directedBroadcast!, port: 9)
            let data = UnsafeRawBufferPointer(payload.slice(0 ..< size))
            let start = rtu_sched_monotonic_ns()
            for _ in 0..<iterations {
                try? socket.send(data, to: to)
                _ = layer.output(socket, limit: 1, now: .zero, pacing: nil)
            }
            return (rtu_sched_monotonic_ns() - start) / Int64(iterations)
        }
    }
}
