// Shared helpers for the ATM tests: PDU builders, a recording reassembly
// sink, and two stacks joined by ATM adaptors over an in-memory carrier,
// driven by a manual clock (STYLE.md, tests level 3).
@testable import ATM
import Links
import Stack
import Wire

let macA = EthernetAddress(0x02, 0, 0, 0, 0, 0x0A)
let macB = EthernetAddress(0x02, 0, 0, 0, 0, 0x0B)
let addrA = IPv4Address(198, 18, 0, 1)
let addrB = IPv4Address(198, 18, 0, 2)
let vc32 = ATMVirtualChannel(vpi: 0, vci: 32)

/// A deterministic byte pattern for SDU `seed`.
func pattern(_ length: Int, seed: Int = 0) -> [UInt8] {
    (0 ..< length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
}

/// The whole CPCS-PDU of an SDU (I.363.5 §9.2), built with Wire's AAL5.
func pdu(_ sdu: [UInt8], lengthField: Int? = nil) -> [UInt8] {
    var p = sdu + [UInt8](repeating: 0, count: AAL5.pduLength(sduLength: sdu.count) - sdu.count)
    _ = p.withUnsafeMutableBytes { AAL5.writeTrailer(into: $0, sduLength: sdu.count) }
    if let l = lengthField {   // rewrite Length and recompute the CRC over it
        p[p.count - 6] = UInt8(l >> 8); p[p.count - 5] = UInt8(l & 0xFF)
        let crc = p.withUnsafeBytes { CRC32.checksum($0.slice(0 ..< p.count - 4)) }
        for i in 0 ..< 4 { p[p.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
    }
    return p
}

/// Splits a PDU into its cells' payloads.
func cells(of pdu: [UInt8]) -> [[UInt8]] {
    stride(from: 0, to: pdu.count, by: 48).map { Array(pdu[$0 ..< $0 + 48]) }
}

/// A sink that reassembles into its own buffers (the first `headerSplit`
/// SDU bytes into one, the rest into the other) and records the outcome.
final class RecordingSink: ReassemblySink {
    let header: UnsafeMutableRawBufferPointer
    let payload: UnsafeMutableRawBufferPointer
    let headerSplit: Int
    var delivered: [(vc: Int, sdu: [UInt8])] = []
    var failures: [ATMDropReason] = []
    var refuseBuffers = false

    init(headerSize: Int = 0, payloadSize: Int = 65_600) {
        header = .allocate(byteCount: max(headerSize, 1), alignment: 8)
        payload = .allocate(byteCount: payloadSize, alignment: 8)
        headerSplit = headerSize
    }
    deinit { header.deallocate(); payload.deallocate() }

    func reassemblyTarget(vc: Int) -> ReassemblyTarget? {
        refuseBuffers ? nil : ReassemblyTarget(header: header.slice(0 ..< headerSplit), payload: payload)
    }
    func reassembled(vc: Int, sduLength: Int, trailer: AAL5Trailer) {
        let h = min(sduLength, headerSplit)
        delivered.append((vc, Array(header.slice(0 ..< h)) + Array(payload.slice(0 ..< sduLength - h))))
    }
    func reassemblyFailed(vc: Int, reason: ATMDropReason) { failures.append(reason) }
}

/// Feeds whole cell payloads to a reassembler on VC `vc`; the last one
/// carries the end-of-PDU mark when `lastIsEnd`.
func feed(_ r: ATMReassembler, _ cellPayloads: [[UInt8]], sink: RecordingSink, now: UInt64 = 0, vc: Int = 0,
          lastIsEnd: Bool = true) {
    for (i, c) in cellPayloads.enumerated() {
        c.withUnsafeBytes {
            r.cell(vc: vc, endOfPDU: lastIsEnd && i == cellPayloads.count - 1, payload: $0, now: now, sink: sink)
        }
    }
}

/// Two Ethernet stacks, each over an ATM adaptor, joined by a MemoryLink
/// carrier; a manual clock in ns.
final class ATMHosts {
    let carrierA: MemoryLink
    let carrierB: MemoryLink
    let adaptorA: ATMAdaptor<MemoryLink>
    let adaptorB: ATMAdaptor<MemoryLink>
    let a: Interface
    let b: Interface
    let poolA: BufferPool
    let poolB: BufferPool
    private let batch = FrameBatch(capacity: 64)
    var now: UInt64 = 1_000_000_000
    /// VC of every frame B's adaptor handed up, in order.
    var channelsSeenByB: [ATMVirtualChannel] = []

    init(mtu: Int = 9180, carrierMTU: Int = 1500, contract: ATMTrafficContract = .ubr(),
         configure: (inout ATMAdaptorConfiguration) -> Void = { _ in }) throws {
        (carrierA, carrierB) = MemoryLink.pair(mtu: carrierMTU, a: macA, b: macB, queueLimit: 4096)
        let slot = 128 + max(mtu, carrierMTU) + 18
        poolA = try BufferPool(slotSize: slot, count: 2048)
        poolB = try BufferPool(slotSize: slot, count: 2048)
        var config = ATMAdaptorConfiguration()
        config.mtu = mtu
        configure(&config)
        adaptorA = try ATMAdaptor(carrier: carrierA, pvcs: [ATMPermanentVC(channel: vc32, peer: addrB, contract: contract)],
                                  pool: poolA, configuration: config)
        adaptorB = try ATMAdaptor(carrier: carrierB, pvcs: [ATMPermanentVC(channel: vc32, peer: addrA, contract: contract)],
                                  pool: poolB, configuration: config)
        a = Interface(configuration: InterfaceConfiguration(name: "a", hardwareAddress: macA,
                                                            address: IPv4Cidr(address: addrA, prefixLength: 24)!, mtu: mtu),
                      pool: poolA)
        b = Interface(configuration: InterfaceConfiguration(name: "b", hardwareAddress: macB,
                                                            address: IPv4Cidr(address: addrB, prefixLength: 24)!, mtu: mtu),
                      pool: poolB)
    }

    var instant: Instant { Instant(nanoseconds: now) }

    /// Runs both sides, advancing the clock to each next deadline, until
    /// nothing moves and no deadline is due within `horizon` ns (bounded).
    func run(horizon: UInt64 = 50_000_000, steps: Int = 100_000) throws {
        var quiet = 0
        for _ in 0 ..< steps {
            let dA = try adaptorA.poll(now: now)
            let dB = try adaptorB.poll(now: now)
            var moved = try pump(a, adaptorA, into: b, adaptorB, record: true)
            moved += try pump(b, adaptorB, into: a, adaptorA, record: false)
            let next = min(dA, dB, a.poll(now: instant).nanoseconds, b.poll(now: instant).nanoseconds)
            if moved == 0 {
                if next > now + horizon || next == .max { quiet += 1 } else { quiet = 0 }
                if quiet > 1 { return }
            }
            now = moved > 0 ? now : min(max(next, now + 1), now + horizon)
        }
    }

    private func pump(_ src: Interface, _ out: ATMAdaptor<MemoryLink>, into dst: Interface,
                      _ inn: ATMAdaptor<MemoryLink>, record: Bool) throws -> Int {
        var moved = 0
        if !src.transmitQueue.isEmpty { moved += try out.transmit(src.transmitQueue, pool: src.pool) + 1 }
        while true {
            let n = try inn.receive(into: batch, limit: batch.capacity, pool: dst.pool)
            if n == 0 { break }
            for i in 0 ..< n {
                if record { channelsSeenByB.append(inn.receivedChannel(i)) }
                dst.receive(batch[i].readable, now: instant)
            }
            batch.releaseAll(to: dst.pool)
            moved += n
        }
        return moved
    }
}

/// A transport that records UDP payloads on one port.
final class UDPRecorder: TransportHandler {
    var datagrams: [[UInt8]] = []
    func deliver(_ packet: IPv4Delivery, payload: UnsafeRawBufferPointer, now: Instant) -> Bool {
        guard packet.protocol == .udp, let u = try? UDPView(payload) else { return false }
        datagrams.append(Array(u.payload))
        return true
    }
    func deliverError(_ error: ICMPv4Type, code: UInt8, quoted: IPv4View, now: Instant) {}
}

/// Sends a UDP datagram of `payload` from `iface` to `to`.
func sendUDP(_ iface: Interface, to: IPv4Address, payload: [UInt8], now: Instant) throws {
    let r = UDPRepr(sourcePort: 4000, destinationPort: 5000, payloadLength: payload.count)
    var bytes = [UInt8](repeating: 0, count: 8) + payload
    bytes.withUnsafeMutableBytes { r.emit(into: $0, source: iface.address, destination: to) }
    try bytes.withUnsafeBytes { try iface.send(to: to, protocol: .udp, payload: $0, now: now) }
}
