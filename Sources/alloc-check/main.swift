// alloc-check: counts heap allocations on rtud's per-frame paths (ARCHITECTURE.md,
// hot-path rule 2). Run with bench/c/malloc_count.so preloaded (the
// integration test AllocationTests does); it finds the counter with dlsym.
//
// Two stacks over the in-memory link. After a warm-up (ARP resolved, every
// lazily built structure built), it measures, per frame through
// MemoryLink.receive + Interface.receive:
//   - UDP datagrams delivered to a transport;
//   - ICMP echo requests answered (input, reply built, output, transmit);
//   - fragmented 4000-byte datagrams reassembled;
//   - the socket data path: LRP demux into a socket's channel, the UDP
//     input RTU body into the RX ring, the application's receive; and the
//     application's send, the output RTU body, IP output, transmit.
// Then the emulated ATM adaptor's paths (ATMPaths.swift), per packet at IP
// MTU 9180 and 1500: UDP and ping through segmentation, the cell clock,
// reassembly and delivery, and a corrupted PDU and lost last cells dropped
// and counted.
// Exits 0 when no path allocated, 1 otherwise, 2 when the counter is missing.
import Glibc
import Links
import SharedRings
import Stack
import UserUDP
import Wire

typealias CountFunction = @convention(c) () -> UInt64
guard let symbol = dlsym(nil /* RTLD_DEFAULT on glibc */, "rtu_malloc_count") else {
    print("alloc-check: rtu_malloc_count not found: run with LD_PRELOAD=malloc_count.so")
    exit(2)
}
let mallocCount = unsafeBitCast(symbol, to: CountFunction.self)

final class Sink: TransportHandler {
    var delivered = 0
    func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) -> Bool {
        delivered += 1
        return true
    }
    func deliverError(_ error: ICMPv4Type, code: UInt8, quoted: IPv4View, now: Instant) {}
}

let macA = EthernetAddress(0x02, 0, 0, 0, 0, 0x0A), macB = EthernetAddress(0x02, 0, 0, 0, 0, 0x0B)
let addrA = IPv4Address(198, 18, 0, 1), addrB = IPv4Address(198, 18, 0, 2)
let (linkA, linkB) = MemoryLink.pair(mtu: 1500, a: macA, b: macB, queueLimit: 4096)
let poolA = try BufferPool(slotSize: 1664, count: 4096)
let poolB = try BufferPool(slotSize: 1664, count: 4096)
let a = Interface(configuration: InterfaceConfiguration(name: "a", hardwareAddress: macA,
                  address: IPv4Cidr(address: addrA, prefixLength: 24)!), pool: poolA)
let b = Interface(configuration: InterfaceConfiguration(name: "b", hardwareAddress: macB,
                  address: IPv4Cidr(address: addrB, prefixLength: 24)!), pool: poolB)
let sink = Sink()
b.transport = sink
var replies = 0
a.echoReplyObserver = { _, _, _, _, _ in replies += 1 }
let batch = FrameBatch(capacity: 64)
var now = Instant(nanoseconds: 1_000_000_000)

/// Transmits `src`'s queue and feeds what arrives through `dst`.
func move(from src: Interface, via out: MemoryLink, to dst: Interface, via inn: MemoryLink) throws -> Int {
    _ = try out.transmit(src.transmitQueue, pool: src.pool)
    var moved = 0
    while true {
        let n = try inn.receive(into: batch, limit: batch.capacity, pool: dst.pool)
        if n == 0 { return moved }
        for i in 0..<batch.count { dst.receive(batch[i].readable, now: now) }
        batch.releaseAll(to: dst.pool)
        moved += n
    }
}

/// Moves every queued frame across and through the receiving stack; returns frames received.
func pump() throws -> Int {
    var frames = 0
    for _ in 0..<100 {
        let moved = try move(from: a, via: linkA, to: b, via: linkB) + move(from: b, via: linkB, to: a, via: linkA)
        frames += moved
        if moved == 0 { break }
    }
    return frames
}

let udp = UnsafeMutableRawBufferPointer.allocate(byteCount: 4000, alignment: 8)
udp.initializeMemory(as: UInt8.self, repeating: 0)
func sendUDP(_ length: Int) throws {
    udp[0] = 0x30; udp[1] = 0x39; udp[2] = 0x13; udp[3] = 0x88
    udp[4] = UInt8(length >> 8); udp[5] = UInt8(length & 0xFF)
    try a.send(to: addrB, protocol: .udp, payload: UnsafeRawBufferPointer(rebasing: udp[0 ..< length]), now: now)
}

/// One measured path: `count` of `unit` went through it (`expected`, when
/// known, is how many should have) with `allocations` allocations.
struct Case {
    let name: String
    let count: Int
    var unit = "frames"
    let allocations: UInt64
    var expected: Int?
}
var cases: [Case] = []
cases.reserveCapacity(16)

/// Runs `body` `rounds` times, warmed up first, and records allocations per frame.
func measure(_ name: String, rounds: Int, _ body: () throws -> Void) throws {
    for _ in 0..<20 { try body(); _ = try pump() }   // warm-up
    let before = mallocCount()
    var frames = 0
    for _ in 0..<rounds {
        try body()
        frames += try pump()
        now = now + .microseconds(100)
    }
    let after = mallocCount()
    cases.append(Case(name: name, count: frames, allocations: after &- before))
}

try measure("udp 64-byte datagrams, receive and deliver", rounds: 5000) { try sendUDP(72) }
try measure("udp 1472-byte datagrams, receive and deliver", rounds: 5000) { try sendUDP(1480) }
try measure("icmp echo: request in, reply built and sent", rounds: 2000) {
    a.sendEchoRequest(to: addrB, identifier: 1, sequence: 1, dataLength: 56, now: now)
}
try measure("udp 4000-byte datagrams, fragmented and reassembled", rounds: 2000) { try sendUDP(4000) }

// The socket data path on B: demux → channel → UDP input → RX ring → receive,
// and send → TX ring → UDP output → IP → link.
let demux = Demux(hardwareAddress: macB, stackChannel: FrameChannel(id: -1, capacity: 1024),
                  fragmentChannel: FrameChannel(id: -2, capacity: 1024))
let layer = UDPLayer(interface: b, demux: demux)
let socket = try UDPSocket(id: 1, name: "s", channelCapacity: 1024, ringCapacity: 1 << 20, handler: nil)
socket.coreLocal = SocketAddress(address: addrB, port: 5000)
try demux.insert(UDPEndpointKey(local: .any, localPort: 5000), channel: socket.channel)
layer.install(socket)
b.transport = layer
layer.flush = { _ in _ = try? linkB.transmit(b.transmitQueue, pool: poolB) }
let appBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 64)
var appReceived = 0

/// A → B through the demux and the socket, then B's socket answers A.
func socketRound(_ length: Int) throws {
    try sendUDP(length)
    _ = try linkA.transmit(a.transmitQueue, pool: poolA)
    while true {
        let n = try linkB.receive(into: batch, limit: batch.capacity, pool: poolB)
        if n == 0 { break }
        for i in 0..<n { demux.dispatch(batch[i], pool: poolB) }
        batch.removeAll()
    }
    _ = layer.input(socket, limit: 1024, now: now)
    // A has no socket on the source port, so it answers the replies with
    // port unreachable, which reach this socket as errors: part of the path.
    while true {
        do throws(UDPReceiveError) {
            guard let got = try socket.receive(into: appBuffer) else { break }
            appReceived += 1
            try? socket.send(UnsafeRawBufferPointer(rebasing: appBuffer[0 ..< got.stored]), to: got.source)
        } catch {
            continue
        }
    }
    _ = layer.output(socket, limit: 1024, now: now, pacing: nil)
}

try measure("udp socket path, 64 bytes: demux, input RTU, ring, receive; send, output RTU, transmit", rounds: 5000) {
    try socketRound(72)
}
try measure("udp socket path, 1472 bytes", rounds: 5000) { try socketRound(1480) }
if appReceived == 0 { print("alloc-check: the socket path delivered nothing"); exit(1) }

cases += try atmCases(mtu: 9180, rounds: 400)
cases += try atmCases(mtu: 1500, rounds: 1000)

var failed = false
for c in cases {
    let per = Double(c.allocations) / Double(max(1, c.count))
    print("\(c.name): \(c.allocations) allocations over \(c.count) \(c.unit) (\(per) each)")
    if c.allocations > 0 || c.count == 0 { failed = true }
    if let e = c.expected, e != c.count {
        print("  expected \(e) \(c.unit)")
        failed = true
    }
}
print(failed ? "alloc-check: FAILED" : "alloc-check: no allocation per frame")
exit(failed ? 1 : 0)
