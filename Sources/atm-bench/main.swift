// atm-bench: what the emulated ATM adaptor costs and what it delivers.
//
//   segmentation  CPU ns per cell: SDUs → cells → RFC 4717 carrier frames
//   reassembly    CPU ns per cell: carrier frames → cells → checked PDUs
//   goodput       UDP over the emulated OC-3c on a simulated clock, two
//                 unchanged Interfaces over ATMAdaptors, against the
//                 physical limits of ATM-FACTS.md
//   cbr           three CBR VCs and a backlogged UBR VC sharing the line,
//                 each CBR VC's cell rate against its PCR
//
// Usage: atm-bench [rounds] [--json FILE] (default 15 rounds). Run by
// scripts/bench-atm.sh. With --json, every figure printed is also appended
// to FILE as one JSON object a line ("bench": cpu, goodput, cbr, ubr), for
// scripts/plot_atm.py.
import ATM
import Glibc
import Links
import Stack
import Wire

func monotonic() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

var rounds = 15
var jsonPath: String?
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    if a == "--json", let path = arguments.popFirst() {
        jsonPath = path
    } else if let n = Int(a), n > 0 {
        rounds = n
    } else {
        print("usage: atm-bench [rounds] [--json FILE]")
        exit(2)
    }
}

/// The --json file (appended to), or nil.
let json: UnsafeMutablePointer<FILE>? = jsonPath.map { path in
    guard let f = fopen(path, "a") else {
        print("atm-bench: cannot open \(path): \(String(cString: strerror(errno)))")
        exit(2)
    }
    return f
}

/// One JSON line: `bench` and numeric fields, in the given order.
func record(_ bench: String, _ fields: KeyValuePairs<String, Double>) {
    guard let f = json else { return }
    var line = "{\"bench\": \"\(bench)\", \"rounds\": \(rounds)"
    for (k, v) in fields { line += ", \"\(k)\": \(v)" }
    fputs(line + "}\n", f)
}
let macA = EthernetAddress(0x02, 0, 0, 0, 0, 0x0A)
let macB = EthernetAddress(0x02, 0, 0, 0, 0, 0x0B)
let addrA = IPv4Address(198, 18, 0, 1)
let addrB = IPv4Address(198, 18, 0, 2)
let vc = ATMVirtualChannel(vpi: 0, vci: 32)

// MARK: - CPU cost per cell

/// Collects what the reassembler hands over into one fixed target.
final class CountingSink: ReassemblySink {
    let target = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 64)
    var pdus = 0
    func reassemblyTarget(vc: Int) -> ReassemblyTarget? { ReassemblyTarget(header: target.slice(0 ..< 28), payload: target.slice(28 ..< 65_536)) }
    func reassembled(vc: Int, sduLength: Int, trailer: AAL5Trailer) { pdus += 1 }
    func reassemblyFailed(vc: Int, reason: ATMDropReason) { fatalError("bench PDU failed: \(reason)") }
}

func cellCost(sduLength: Int) throws -> (segment: Double, reassemble: Double) {
    let pool = try BufferPool(slotSize: 9_600, count: 512)
    let table = try ATMVCTable([ATMPermanentVC(channel: vc, peer: addrB)])
    let tx = ATMTransmitter(table: table, pool: pool, source: macA, destination: macB, label: 4717,
                            cellsPerFrame: 28, queueLimit: 64)
    let out = FrameBatch(capacity: 256)
    let sdus = 48
    let cellsPerRound = sdus * AAL5.cellCount(sduLength: sduLength)
    var frames: [[UInt8]] = []
    var seg: [Double] = [], rea: [Double] = []
    var now: UInt64 = 1_000_000
    let step = tx.catchUpSlots * CellClock.slotNanosecondsRoundedUp / 2
    for round in 0 ..< rounds + 1 {
        for _ in 0 ..< sdus {
            var b = pool.take()!
            b.length = sduLength
            for i in stride(from: 0, to: sduLength, by: 64) { b.bytes[i] = UInt8(truncatingIfNeeded: i) }
            precondition(tx.enqueue(vc: 0, sdu: b, now: now))
        }
        let t0 = monotonic()
        var sent = 0
        while tx.totalQueued > 0 || sent < cellsPerRound {
            now += step
            tx.run(now: now, into: out)
            for i in 0 ..< out.count {
                sent += (out[i].length - 22) / 52
                if round == 0 { frames.append(Array(out[i].readable)) }
            }
            out.releaseAll(to: pool)
        }
        if round > 0 { seg.append(Double(monotonic() - t0) / Double(cellsPerRound)) }
    }
    let r = ATMReassembler(maximumSDU: [sduLength])
    let sink = CountingSink()
    for _ in 0 ..< rounds {
        let t0 = monotonic()
        for f in frames {
            f.withUnsafeBytes { bytes in
                let pw = try! PseudowireCellView(bytes.slice(14 ..< bytes.count))
                for c in pw.cells {
                    let h = c.header
                    r.cell(vc: 0, endOfPDU: h.payloadType.isEndOfPDU, payload: c.payload, now: now, sink: sink)
                }
            }
        }
        rea.append(Double(monotonic() - t0) / Double(cellsPerRound))
    }
    precondition(sink.pdus == rounds * sdus)
    return (median(seg), median(rea))
}

// MARK: - Goodput on a simulated clock

/// Counts UDP payload bytes delivered.
final class UDPCounter: TransportHandler {
    var bytes = 0, datagrams = 0
    var first: UInt64 = 0, last: UInt64 = 0
    func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) -> Bool {
        if datagrams == 0 { first = now.nanoseconds }
        last = now.nanoseconds
        bytes += payload.count - 8
        datagrams += 1
        return true
    }
    func deliverError(_ error: ICMPv4Type, code: UInt8, quoted: IPv4View, now: Instant) {}
}

/// UDP from A to B at `mtu` for `seconds` of simulated time; returns
/// (UDP payload Mbit/s, IP Mbit/s, cells sent, datagrams delivered).
func goodput(mtu: Int, seconds: Double) throws -> (udp: Double, ip: Double, cells: UInt64, datagrams: Int) {
    let (ma, mb) = MemoryLink.pair(mtu: 1500, a: macA, b: macB, queueLimit: 4096)
    let slot = 128 + mtu + 18
    let poolA = try BufferPool(slotSize: slot, count: 1024), poolB = try BufferPool(slotSize: slot, count: 1024)
    var config = ATMAdaptorConfiguration()
    config.mtu = mtu
    let atmA = try ATMAdaptor(carrier: ma, pvcs: [ATMPermanentVC(channel: vc, peer: addrB)], pool: poolA, configuration: config)
    let atmB = try ATMAdaptor(carrier: mb, pvcs: [ATMPermanentVC(channel: vc, peer: addrA)], pool: poolB, configuration: config)
    let a = Interface(configuration: InterfaceConfiguration(name: "a", hardwareAddress: macA,
                                                            address: IPv4Cidr(address: addrA, prefixLength: 24)!, mtu: mtu), pool: poolA)
    let b = Interface(configuration: InterfaceConfiguration(name: "b", hardwareAddress: macB,
                                                            address: IPv4Cidr(address: addrB, prefixLength: 24)!, mtu: mtu), pool: poolB)
    let counter = UDPCounter()
    b.transport = counter
    let payload = mtu - 28
    let datagram = UnsafeMutableRawBufferPointer.allocate(byteCount: payload + 8, alignment: 8)
    defer { datagram.deallocate() }
    let udp = UDPRepr(sourcePort: 4000, destinationPort: 5000, payloadLength: payload)
    udp.emit(into: datagram, source: addrA, destination: addrB)
    let batch = FrameBatch(capacity: 64)
    var now: UInt64 = 1_000_000_000
    let end = now + UInt64(seconds * 1e9)
    // The adaptors learn the time before anything is queued (their contract).
    try atmA.poll(now: now)
    try atmB.poll(now: now)
    while now < end {
        while atmA.transmitter.queued(0) < 16 {
            try a.send(to: addrB, protocol: .udp, payload: UnsafeRawBufferPointer(datagram), now: Instant(nanoseconds: now))
            _ = try atmA.transmit(a.transmitQueue, pool: poolA)
            // The first datagram waits for (local) ARP: let A see the answer.
            let n = try atmA.receive(into: batch, limit: 64, pool: poolA)
            for i in 0 ..< n { a.receive(batch[i].readable, now: Instant(nanoseconds: now)) }
            batch.releaseAll(to: poolA)
            _ = try atmA.transmit(a.transmitQueue, pool: poolA)
        }
        let dA = try atmA.poll(now: now)
        let dB = try atmB.poll(now: now)
        while true {
            let n = try atmB.receive(into: batch, limit: 64, pool: poolB)
            if n == 0 { break }
            for i in 0 ..< n { b.receive(batch[i].readable, now: Instant(nanoseconds: now)) }
            batch.releaseAll(to: poolB)
        }
        now = max(now + 1, min(dA, dB))
    }
    let span = Double(counter.last - counter.first) / 1e9
    // Bytes delivered after the first datagram, over the time they took.
    let udpBits = Double(counter.bytes - payload) * 8 / span
    let ipBits = Double((counter.datagrams - 1) * mtu) * 8 / span
    // Cells sent on [start, end): never more than the slots in that second.
    precondition(UInt64(atmA.atmCounters[.txCells]) <= CellClock.maximumCells(inWindow: end - 1_000_000_000))
    return (udpBits / 1e6, ipBits / 1e6, atmA.atmCounters[.txCells], counter.datagrams)
}

// MARK: - CBR VCs sharing the line

/// Per VC (the three CBR ones, then UBR with PCR 0): its VCI, PCR and
/// received cell rate.
func cbrShare(seconds: Double) throws -> [(vci: UInt16, pcr: Int, cellsPerSecond: Double)] {
    let pcrs = [150_000, 120_000, 80_000]
    var pvcsA = pcrs.enumerated().map { i, p in
        ATMPermanentVC(channel: ATMVirtualChannel(vpi: 0, vci: UInt16(50 + i)), peer: IPv4Address(198, 18, 0, UInt8(20 + i)), contract: .cbr(pcr: p))
    }
    pvcsA.append(ATMPermanentVC(channel: ATMVirtualChannel(vpi: 0, vci: 60), peer: IPv4Address(198, 18, 0, 30)))
    let pvcsB = pvcsA.enumerated().map { i, p in
        ATMPermanentVC(channel: p.channel, peer: IPv4Address(198, 18, 1, UInt8(i + 1)), contract: p.contract)
    }
    let (ma, mb) = MemoryLink.pair(mtu: 1500, a: macA, b: macB, queueLimit: 4096)
    let pool = try BufferPool(slotSize: 1_700, count: 2048)
    var config = ATMAdaptorConfiguration()
    config.mtu = 1500
    let atmA = try ATMAdaptor(carrier: ma, pvcs: pvcsA, pool: pool, configuration: config)
    let atmB = try ATMAdaptor(carrier: mb, pvcs: pvcsB, pool: pool, configuration: config)
    let batch = FrameBatch(capacity: 64)
    var pdus = [Int](repeating: 0, count: pvcsA.count)
    var now: UInt64 = 1_000_000_000
    let start = now, end = now + UInt64(seconds * 1e9)
    let ipLength = 1500
    try atmA.poll(now: now)
    try atmB.poll(now: now)
    while now < end {
        for (i, p) in pvcsA.enumerated() where atmA.transmitter.queued(i) < 8 {
            for _ in 0 ..< 8 {
                var f = pool.take()!
                f.length = 14 + ipLength
                let bytes = f.bytes
                EthernetRepr(destination: p.channel.syntheticHardwareAddress, source: macA, etherType: .ipv4).emit(into: bytes)
                IPv4Repr(source: addrA, destination: p.peer, protocol: .udp, payloadLength: ipLength - 20)
                    .emit(into: bytes.slice(14 ..< 34))
                batch.append(f)
            }
            _ = try atmA.transmit(batch, pool: pool)
        }
        let dA = try atmA.poll(now: now)
        let dB = try atmB.poll(now: now)
        while true {
            let n = try atmB.receive(into: batch, limit: 64, pool: pool)
            if n == 0 { break }
            for i in 0 ..< n where now >= start + 10_000_000 {
                let ch = atmB.receivedChannel(i)
                pdus[atmB.table.index(of: ch)!] += 1
            }
            batch.releaseAll(to: pool)
        }
        now = max(now + 1, min(dA, dB))
    }
    let cells = OC3c.cells(ipLength: ipLength)
    let span = Double(end - start - 10_000_000) / 1e9
    return pvcsA.enumerated().map { i, p in (p.channel.vci, p.contract.peakCellRate ?? 0, Double(pdus[i] * cells) / span) }
}

// MARK: - Report

/// `x` (≥ 0) rounded to `places` decimals, by integer arithmetic (no Foundation).
func fmt(_ x: Double, _ places: Int = 2) -> String {
    var scale = 1
    for _ in 0 ..< places { scale *= 10 }
    let v = Int((x * Double(scale)).rounded())
    guard places > 0 else { return "\(v)" }
    let fraction = String(v % scale)
    return "\(v / scale)." + String(repeating: "0", count: places - fraction.count) + fraction
}

print("atm-bench: \(rounds) rounds")
for size in [9188, 1508, 92] {
    let c = try cellCost(sduLength: size)
    print("cpu sdu=\(size): segmentation \(fmt(c.segment, 1)) ns/cell, reassembly \(fmt(c.reassemble, 1)) ns/cell")
    record("cpu", ["sdu": Double(size), "cells_per_sdu": Double(AAL5.cellCount(sduLength: size)),
                   "segmentation_ns_per_cell": c.segment, "reassembly_ns_per_cell": c.reassemble])
}
for mtu in [9180, 1500] {
    let g = try goodput(mtu: mtu, seconds: 1.0)
    let cells = OC3c.cells(ipLength: mtu)
    let ipLimit = OC3c.throughput(usefulBytes: mtu, cells: cells) / 1e6
    let udpLimit = OC3c.throughput(usefulBytes: mtu - 28, cells: cells) / 1e6
    print("goodput mtu=\(mtu): UDP \(fmt(g.udp)) Mbit/s of \(fmt(udpLimit)) (\(fmt(100 * g.udp / udpLimit)) %), "
        + "IP \(fmt(g.ip)) of \(fmt(ipLimit)) (\(fmt(100 * g.ip / ipLimit)) %), \(g.cells) cells in 1 s (line \(fmt(OC3c.cellsPerSecond, 1)))")
    record("goodput", ["mtu": Double(mtu), "cells_per_packet": Double(cells), "udp_mbps": g.udp, "udp_limit_mbps": udpLimit,
                       "ip_mbps": g.ip, "ip_limit_mbps": ipLimit, "cells": Double(g.cells), "seconds": 1,
                       "line_cells_per_second": OC3c.cellsPerSecond, "datagrams": Double(g.datagrams)])
}
let shares = try cbrShare(seconds: 1.0)
let reserved = shares.reduce(0) { $0 + $1.pcr }   // the UBR entry's pcr is 0
for r in shares {
    if r.pcr > 0 {
        print("cbr pcr=\(r.pcr): \(fmt(r.cellsPerSecond, 0)) cells/s (\(fmt(100 * r.cellsPerSecond / Double(r.pcr))) % of PCR)")
        record("cbr", ["vpi": 0, "vci": Double(r.vci), "pcr": Double(r.pcr), "cells_per_second": r.cellsPerSecond])
    } else {
        let left = OC3c.cellsPerSecond - Double(reserved)
        print("ubr: \(fmt(r.cellsPerSecond, 0)) cells/s (left by CBR: \(fmt(left, 1)))")
        record("ubr", ["vpi": 0, "vci": Double(r.vci), "left_by_cbr": left, "cells_per_second": r.cellsPerSecond])
    }
}
if let f = json { fclose(f) }
