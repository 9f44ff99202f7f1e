// TAP and AF_PACKET against the Linux kernel in a namespace made by the test:
// rtud's side sends an ARP request for the kernel's 198.18.x.x address and
// must receive the kernel's ARP reply (TESTING.md rules 1–5).
import CShims
import Foundation
import Links
import Testing
import Wire

private let ourMAC = EthernetAddress(0x02, 0x00, 0xC6, 0x12, 0x07, 0x02)
private let ourIP = IPv4Address(198, 18, 7, 2)
private let kernelIP = IPv4Address(198, 18, 7, 1)

/// Fills `buffer` with a broadcast ARP request from us for the kernel's address.
private func arpRequest(into buffer: inout PacketBuffer) {
    let eth = EthernetRepr(destination: .broadcast, source: ourMAC, etherType: .arp)
    let arp = ARPRepr(operation: .request, senderHardwareAddress: ourMAC, senderProtocolAddress: ourIP,
                      targetHardwareAddress: .zero, targetProtocolAddress: kernelIP)
    buffer.length = eth.headerLength + arp.bufferLength
    eth.emit(into: buffer.bytes)
    arp.emit(into: buffer.bytes.slice(eth.headerLength ..< buffer.length))
}

/// The kernel's MAC, if `frame` is its ARP reply to us about its address.
private func kernelReply(_ frame: UnsafeRawBufferPointer) -> EthernetAddress? {
    guard let eth = try? EthernetView(frame), eth.etherType == .arp, eth.destination == ourMAC,
          let arp = try? ARPView(eth.payload), arp.operation == .reply,
          arp.senderProtocolAddress == kernelIP, arp.targetHardwareAddress == ourMAC else { return nil }
    return arp.senderHardwareAddress
}

/// Sends an ARP request for the kernel's address through `device` and waits
/// (bounded: 3 s) for the reply. Returns the reply's sender MAC.
private func resolveKernel(_ device: some LinkDevice) throws -> EthernetAddress? {
    let pool = try BufferPool(slotSize: 2048, count: 64)
    let batch = FrameBatch(capacity: 32)
    for wait in 0 ..< 30 {  // waits of 100 ms
        if wait % 5 == 0 {  // (re)send every 500 ms
            var req = try #require(pool.take())
            arpRequest(into: &req)
            batch.append(req)
            #expect(try device.transmit(batch, pool: pool) == 1)
            #expect(batch.count == 0)
        }
        _ = waitReadable(device.pollDescriptor, milliseconds: 100)
        _ = try device.receive(into: batch, limit: 32, pool: pool)
        defer { batch.releaseAll(to: pool) }
        for i in 0 ..< batch.count {
            if let mac = kernelReply(batch[i].readable) { return mac }
        }
    }
    return nil
}

@Suite(.enabled(if: canUseNamespaces, "needs root and /dev/net/tun (runs in CI)"))
struct RealDeviceTests {
    @Test(.timeLimit(.minutes(1))) func tapExchangesARPWithTheKernel() throws {
        let ns = try TestNamespace()
        defer { ns.remove() }
        let name = "rltap\(ns.suffix)"
        let (reply, kernelMAC) = try ns.run { () throws -> (EthernetAddress?, EthernetAddress) in
            let tap = try TapDevice(name: name, mtu: 1500, hardwareAddress: ourMAC)
            defer { tap.close() }
            #expect(tap.name == name)
            #expect(tap.kernelHardwareAddress != tap.hardwareAddress)
            try ns.ip("addr", "add", "198.18.7.1/24", "dev", name)
            let reply = try resolveKernel(tap)
            #expect(tap.counters.txFrames >= 1 && tap.counters.rxFrames >= 1)
            return (reply, tap.kernelHardwareAddress)
        }
        #expect(reply == kernelMAC)
        // Not persistent: the device went away with the descriptor.
        #expect(throws: (any Error).self) { try ns.ip("link", "show", name) }
    }

    @Test(.timeLimit(.minutes(1))) func tapAttachRequiresExistingDevice() throws {
        let ns = try TestNamespace()
        defer { ns.remove() }
        let name = "rlatt\(ns.suffix)"
        try ns.run {
            #expect(throws: LinkError.self) {
                _ = try TapDevice(name: name, create: false, hardwareAddress: ourMAC)
            }
            try ns.ip("tuntap", "add", "dev", name, "mode", "tap")
            let tap = try TapDevice(name: name, create: false, mtu: 1400, hardwareAddress: ourMAC)
            #expect(rtu_if_get_mtu(name) == 1400)
            tap.close()
        }
    }

    @Test(.timeLimit(.minutes(1)), arguments: PacketSocketDevice.ReceiveRing.allCases)
    func packetSocketExchangesARPAndFiltersForeignFrames(ring: PacketSocketDevice.ReceiveRing) throws {
        try withVeth(peerAddress: "198.18.7.1/24") { a, b in
            let dev = try PacketSocketDevice(interface: a, hardwareAddress: ourMAC, ring: ring)
            defer { dev.close() }
            #expect(dev.isPromiscuous)
            let kernelMAC = try #require(try resolveKernel(dev))
            var mac = [UInt8](repeating: 0, count: 6)
            #expect(rtu_if_get_hwaddr(b, &mac) == 0)
            #expect(kernelMAC == EthernetAddress(mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]))

            // The filter: a frame for another MAC never arrives, one for us does.
            let injector = try PacketSocketDevice(interface: b)
            defer { injector.close() }
            let pool = try BufferPool(slotSize: 2048, count: 16)
            let out = FrameBatch(capacity: 4)
            let foreign = EthernetAddress(0x02, 0, 0, 0, 0, 0x99)
            for (dst, tag) in [(foreign, UInt8(1)), (ourMAC, UInt8(2))] {
                var f = try #require(pool.take())
                f.length = 60
                f.bytes.initializeMemory(as: UInt8.self, repeating: tag)
                dst.store(into: f.bytes, at: 0)
                injector.hardwareAddress.store(into: f.bytes, at: 6)
                f.bytes[12] = 0x88; f.bytes[13] = 0xB5
                out.append(f)
            }
            #expect(try injector.transmit(out, pool: pool) == 2)
            var tags: [UInt8] = []
            let inb = FrameBatch(capacity: 16)
            for _ in 0 ..< 20 where !tags.contains(2) {
                _ = waitReadable(dev.pollDescriptor, milliseconds: 100)
                _ = try dev.receive(into: inb, limit: 16, pool: pool)
                for i in 0 ..< inb.count where inb[i].readable[12] == 0x88 { tags.append(inb[i].readable[14]) }
                inb.releaseAll(to: pool)
            }
            #expect(tags == [2])
            #expect(dev.counters.rxKernelDropped == 0)
            #expect(pool.available == 16)
        }
    }
}
