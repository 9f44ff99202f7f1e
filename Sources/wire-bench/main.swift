// wire-bench: what parsing, validating and building a frame costs, in ns,
// and how fast the Internet checksum runs, in GB/s.
//
//   swift build -c release --scratch-path .build-wire --product wire-bench
//   .build-wire/release/wire-bench [--quick]
//
// Method: each case runs in batches of `batch` operations timed with
// clock_gettime(CLOCK_MONOTONIC); the per-operation time of each batch is one
// sample, and the table gives the median and the 10th/90th percentiles over
// `samples` batches. Results feed a sink so the optimiser cannot drop work.
// Figures are for comparison within one run on one machine, not absolutes.

import Glibc
import Wire

// MARK: - Timing

@inline(__always) func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Written by every case so that the work is observable.
nonisolated(unsafe) var sink: UInt64 = 0

let quick = CommandLine.arguments.contains("--quick")
let samples = quick ? 31 : 201

struct Stats { var median: Double; var p10: Double; var p90: Double }

/// `body(i)` must depend on `i` (e.g. pick one of two identical buffers by
/// `i & 1`): otherwise the optimiser may see a pure call on loop-invariant
/// input and hoist it out of the batch, timing nothing.
func measure(batch: Int, _ body: (Int) -> UInt64) -> Stats {
    for i in 0 ..< batch { sink &+= body(i) }   // warm-up
    var perOp = [Double]()
    perOp.reserveCapacity(samples)
    for _ in 0 ..< samples {
        let t0 = nowNanoseconds()
        var acc: UInt64 = 0
        for i in 0 ..< batch { acc &+= body(i) }
        let t1 = nowNanoseconds()
        sink &+= acc
        perOp.append(Double(t1 - t0) / Double(batch))
    }
    perOp.sort()
    func q(_ p: Double) -> Double { perOp[min(perOp.count - 1, Int(Double(perOp.count) * p))] }
    return Stats(median: q(0.5), p10: q(0.1), p90: q(0.9))
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return right ? fill + s : s + fill
}

func fixed(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0 ..< digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
}

// MARK: - Frames (built with Wire itself; lifetime: the whole run)

let macA = EthernetAddress(0x02, 0x00, 0xC6, 0x12, 0x00, 0x02)
let macB = EthernetAddress(0x02, 0x00, 0xC6, 0x12, 0x00, 0x01)
let ipA = IPv4Address(198, 18, 0, 2), ipB = IPv4Address(198, 18, 0, 1)

/// Deterministic payload bytes (xorshift), so checksums see realistic data.
func fill(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) {
    var x = seed | 1
    for i in 0 ..< buffer.count {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        buffer[i] = UInt8(truncatingIfNeeded: x)
    }
}

/// Ethernet (14) + IPv4 without options (20) + UDP (8): where buildUDP puts the payload.
let udpPayloadOffset = 14 + 20 + 8

/// A UDP frame with `payload` bytes of data, headers written by `buildUDP`.
func makeUDPFrame(payload: Int) -> UnsafeMutableRawBufferPointer {
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: udpPayloadOffset + payload, alignment: 64)
    fill(UnsafeMutableRawBufferPointer(rebasing: frame[udpPayloadOffset...]), seed: UInt64(payload))
    _ = buildUDP(frame, payload: payload)
    return frame
}

let tcpSegmentRepr: TCPRepr = {
    var r = TCPRepr(sourcePort: 45678, destinationPort: 80, sequenceNumber: 0x6B8B_4568, acknowledgmentNumber: 0x1000_0001,
                    flags: [.ack, .psh], window: 501, timestamps: TCPTimestamps(value: 0x9A1C_4301, echoReply: 0x12_3456),
                    payloadLength: 1448)
    r.sackBlocks.append(TCPSackBlock(left: 0x1000_0400, right: 0x1000_0800))
    r.sackBlocks.append(TCPSackBlock(left: 0x1000_1000, right: 0x1000_1400))
    return r
}()

func makeTCPFrame() -> UnsafeMutableRawBufferPointer {
    let eth = EthernetRepr(destination: macB, source: macA, etherType: .ipv4)
    let tcp = tcpSegmentRepr
    let ip = IPv4Repr(source: ipA, destination: ipB, protocol: .tcp, payloadLength: tcp.bufferLength, identification: 8)
    let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: eth.headerLength + ip.bufferLength, alignment: 64)
    let l4 = UnsafeMutableRawBufferPointer(rebasing: frame[(eth.headerLength + ip.headerLength)...])
    fill(UnsafeMutableRawBufferPointer(rebasing: l4[tcp.headerLength...]), seed: 99)
    tcp.emit(into: l4, source: ipA, destination: ipB)
    ip.emit(into: UnsafeMutableRawBufferPointer(rebasing: frame[eth.headerLength...]))
    eth.emit(into: frame)
    return frame
}

// MARK: - Cases

/// Full receive-side validation of a UDP frame: all three views, IPv4 and UDP
/// checksums, both reprs. Returns something derived from the result.
@inline(never) func parseUDP(_ frame: UnsafeRawBufferPointer) -> UInt64 {
    do {
        let eth = try EthernetView(frame)
        let ipView = try IPv4View(eth.payload)
        let ip = try IPv4Repr.parse(ipView)
        let udp = try UDPRepr.parse(try UDPView(ipView.payload), source: ip.source, destination: ip.destination)
        return UInt64(udp.destinationPort) &+ UInt64(udp.payloadLength)
    } catch {
        fatalError("bench frame did not parse: \(error)")
    }
}

/// What the LRP demux reads: views and ports only, no checksum.
@inline(never) func demuxUDP(_ frame: UnsafeRawBufferPointer) -> UInt64 {
    guard let eth = try? EthernetView(frame), eth.etherType == .ipv4,
          let ip = try? IPv4View(eth.payload), ip.protocol == .udp,
          let udp = try? UDPView(ip.payload) else { fatalError("bench frame did not parse") }
    return UInt64(ip.source.rawValue) &+ UInt64(udp.destinationPort)
}

@inline(never) func parseTCP(_ frame: UnsafeRawBufferPointer) -> UInt64 {
    do {
        let eth = try EthernetView(frame)
        let ipView = try IPv4View(eth.payload)
        let ip = try IPv4Repr.parse(ipView)
        let tcp = try TCPRepr.parse(try TCPView(ipView.payload), source: ip.source, destination: ip.destination)
        return UInt64(tcp.acknowledgmentNumber) &+ UInt64(tcp.sackBlocks.count) &+ UInt64(tcp.timestamps!.value)
    } catch {
        fatalError("bench frame did not parse: \(error)")
    }
}

/// Header build of an outgoing UDP frame whose payload is already in place.
@inline(never) func buildUDP(_ frame: UnsafeMutableRawBufferPointer, payload: Int) -> UInt64 {
    let eth = EthernetRepr(destination: macB, source: macA, etherType: .ipv4)
    let udp = UDPRepr(sourcePort: 40000, destinationPort: 5000, payloadLength: payload)
    let ip = IPv4Repr(source: ipA, destination: ipB, protocol: .udp, payloadLength: udp.bufferLength, identification: 7)
    udp.emit(into: UnsafeMutableRawBufferPointer(rebasing: frame[34...]), source: ipA, destination: ipB)
    ip.emit(into: UnsafeMutableRawBufferPointer(rebasing: frame[14...]))
    eth.emit(into: frame)
    return UInt64(frame[40])
}

/// The obvious loop, for scale: 16-bit big-endian words into a UInt32.
@inline(never) func naiveSum(_ b: UnsafeRawBufferPointer) -> UInt16 {
    var s: UInt32 = 0
    var i = 0
    while i + 1 < b.count { s &+= UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2 }
    if i < b.count { s &+= UInt32(b[i]) << 8 }
    while s >> 16 != 0 { s = (s & 0xFFFF) &+ (s >> 16) }
    return UInt16(s)
}

@inline(never) func fastSum(_ b: UnsafeRawBufferPointer) -> UInt16 { Checksum.sum(b) }
@inline(never) func carrySum(_ b: UnsafeRawBufferPointer) -> UInt16 { Checksum.sumEndAroundCarry(b) }

// MARK: - Run

print("wire-bench: \(samples) samples per case, median [p10 – p90]\n")
print(pad("case", 52) + pad("ns/op", 10, right: true) + "   " + "p10 – p90")
print(String(repeating: "-", count: 80))

func row(_ name: String, _ s: Stats) {
    print(pad(name, 52) + pad(fixed(s.median, 1), 10, right: true) + "   " + fixed(s.p10, 1) + " – " + fixed(s.p90, 1))
}

// Two identical copies of each frame, alternated per operation (see `measure`).
let udp64 = [makeUDPFrame(payload: 64), makeUDPFrame(payload: 64)]
let udp1472 = [makeUDPFrame(payload: 1472), makeUDPFrame(payload: 1472)]
let tcpFrames = [makeTCPFrame(), makeTCPFrame()]
func ro(_ b: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(b) }

row("demux: eth+ipv4+udp views, no checksum (64 B)", measure(batch: 2000) { demuxUDP(ro(udp64[$0 & 1])) })
row("parse+verify eth/ipv4/udp, 64 B payload (106 B)", measure(batch: 2000) { parseUDP(ro(udp64[$0 & 1])) })
row("parse+verify eth/ipv4/udp, 1472 B payload (1514 B)", measure(batch: 500) { parseUDP(ro(udp1472[$0 & 1])) })
row("parse+verify eth/ipv4/tcp+TS+2 SACK, 1448 B payload", measure(batch: 500) { parseTCP(ro(tcpFrames[$0 & 1])) })
row("build eth/ipv4/udp headers + checksum, 64 B", measure(batch: 2000) { buildUDP(udp64[$0 & 1], payload: 64) })
row("build eth/ipv4/udp headers + checksum, 1472 B", measure(batch: 500) { buildUDP(udp1472[$0 & 1], payload: 1472) })

print("\nInternet checksum throughput (GB/s = bytes per ns), median\n")
print(pad("bytes", 10) + pad("Checksum.sum", 16, right: true) + pad("end-around carry", 20, right: true)
      + pad("naive 16-bit", 16, right: true))
print(String(repeating: "-", count: 62))
// Two copies of the data, alternated; one byte past a 64-byte boundary, so
// every load is unaligned, as in a frame after a 14-byte Ethernet header.
let big = [UnsafeMutableRawBufferPointer.allocate(byteCount: 65536 + 1, alignment: 64),
           UnsafeMutableRawBufferPointer.allocate(byteCount: 65536 + 1, alignment: 64)]
fill(big[0], seed: 5)
fill(big[1], seed: 5)
for n in [20, 64, 1500, 9000, 65535] {
    let b = big.map { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[1 ..< 1 + n]) }
    let batch = max(50, 200_000 / n)
    let f = measure(batch: batch) { UInt64(fastSum(b[$0 & 1])) }
    let c = measure(batch: batch) { UInt64(carrySum(b[$0 & 1])) }
    let r = measure(batch: batch) { UInt64(naiveSum(b[$0 & 1])) }
    func gbps(_ s: Stats) -> String { fixed(Double(n) / s.median, 2) }
    print(pad("\(n)", 10) + pad(gbps(f), 16, right: true) + pad(gbps(c), 20, right: true) + pad(gbps(r), 16, right: true))
}
print("\n(sink \(sink & 0xFF))")
