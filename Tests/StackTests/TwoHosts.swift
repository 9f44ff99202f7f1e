import Links
@testable import Stack
import Wire

/// Two stacks joined by an in-memory link, driven by a manual clock: the
/// deterministic whole-stack simulation of STYLE.md (tests, level 3).
final class TwoHosts {
    let linkA: LinkDevice
    let linkB: LinkDevice
    let a: Interface
    let b: Interface
    let poolA: BufferPool
    let poolB: BufferPool
    private let batch = FrameBatch(capacity: 64)
    var now = Instant(nanoseconds: 1_000_000_000)

    static let macA = EthernetAddress(0x02, 0, 0, 0, 0, 0x0A)
    static let macB = EthernetAddress(0x02, 0, 0, 0, 0, 0x0B)
    static let addrA = IPv4Address(198, 18, 0, 1)
    static let addrB = IPv4Address(198, 18, 0, 2)

    /// `wrapA` may put a decorator (fault injection, capture) on A's end of the link.
    init(mtu: Int = 1500, wrapA: (MemoryLink) -> LinkDevice = { $0 },
         configure: (inout InterfaceConfiguration) -> Void = { _ in }) throws {
        let (ma, mb) = MemoryLink.pair(mtu: mtu, a: Self.macA, b: Self.macB)
        linkA = wrapA(ma)
        linkB = mb
        let slot = (64 + mtu + 18 + 63) & ~63
        poolA = try BufferPool(slotSize: slot, count: 1024)
        poolB = try BufferPool(slotSize: slot, count: 1024)
        var ca = InterfaceConfiguration(name: "a", hardwareAddress: Self.macA,
                                        address: IPv4Cidr(address: Self.addrA, prefixLength: 24)!, mtu: mtu)
        var cb = InterfaceConfiguration(name: "b", hardwareAddress: Self.macB,
                                        address: IPv4Cidr(address: Self.addrB, prefixLength: 24)!, mtu: mtu)
        configure(&ca)
        configure(&cb)
        a = Interface(configuration: ca, pool: poolA)
        b = Interface(configuration: cb, pool: poolB)
    }

    /// Moves frames both ways until the link is quiet (bounded).
    func run(rounds: Int = 50) throws {
        for _ in 0..<rounds {
            var moved = 0
            moved += try pump(from: a, via: linkA, to: b, via: linkB)
            moved += try pump(from: b, via: linkB, to: a, via: linkA)
            if moved == 0 { return }
        }
    }

    /// Advances the clock and runs both stacks' timers.
    func advance(_ d: Interval) throws {
        now = now + d
        _ = a.poll(now: now)
        _ = b.poll(now: now)
        try run()
    }

    private func pump(from src: Interface, via out: LinkDevice, to dst: Interface, via inn: LinkDevice) throws -> Int {
        _ = try out.transmit(src.transmitQueue, pool: src.pool)
        var moved = 0
        while true {
            let n = try inn.receive(into: batch, limit: batch.capacity, pool: dst.pool)
            if n == 0 { break }
            for i in 0..<batch.count { dst.receive(batch[i].readable, now: now) }
            batch.releaseAll(to: dst.pool)
            moved += n
        }
        return moved
    }

    /// Injects raw bytes into `to` as if received from the wire.
    func inject(_ bytes: [UInt8], into iface: Interface) {
        bytes.withUnsafeBytes { iface.receive($0, now: now) }
    }
}

/// Records echo replies seen by an interface.
final class EchoLog {
    var replies: [(IPv4Address, UInt16, Int)] = []
    init(_ iface: Interface) {
        iface.echoReplyObserver = { [unowned self] src, _, seq, len, _ in self.replies.append((src, seq, len)) }
    }
}

/// A transport that accepts UDP on one port and records what arrives.
final class RecordingTransport: TransportHandler {
    let port: UInt16
    var datagrams: [[UInt8]] = []
    var errors: [(ICMPv4Type, UInt8)] = []
    init(port: UInt16) { self.port = port }
    func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) -> Bool {
        guard packet.protocol == .udp, payload.count >= 8 else { return false }
        let dst = UInt16(payload[2]) << 8 | UInt16(payload[3])
        guard dst == port else { return false }
        datagrams.append(Array(payload))
        return true
    }
    func deliverError(_ error: ICMPv4Type, code: UInt8, quoted: IPv4View, now: Instant) {
        errors.append((error, code))
    }
}
