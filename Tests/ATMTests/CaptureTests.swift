// Captures checked by a tool nobody here wrote: tshark decodes the carrier
// capture as RFC 4717 cells (VPI/VCI, PTI end-of-PDU marks) and the ERF
// capture of PDUs with every AAL5 CRC correct — or incorrect, when it is.
@testable import ATM
import Foundation
import Links
import Testing
import Wire

/// Runs tshark; nil (and a skip note) when it is not installed outside CI.
func tshark(_ args: [String]) throws -> String? {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark") else {
        if ProcessInfo.processInfo.environment["CI"] == "true" { Issue.record("tshark is not installed") }
        return nil
    }
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("atm-tshark-\(getpid())-\(UUID().uuidString).txt")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/tshark")
    p.arguments = args
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = FileHandle.nullDevice
    try p.run()
    p.waitUntilExit()
    return try String(contentsOf: out, encoding: .utf8)
}

@Suite(.serialized) struct CaptureTests {
    /// Sends `sizes` IPv4 packets A → B through adaptors whose carrier on A
    /// is captured; both adaptors capture PDUs.
    static func run(sizes: [Int], cellPcap: String, txERF: String, rxERF: String) throws -> ATMAdaptor<MemoryLink> {
        let (ma, mb) = MemoryLink.pair(mtu: 1500, a: macA, b: macB)
        let pool = try BufferPool(slotSize: 9_600, count: 256)
        let pcap = try PcapCapture(wrapping: ma, path: cellPcap)
        let pvcA = ATMPermanentVC(channel: ATMVirtualChannel(vpi: 1, vci: 100), peer: addrB)
        let pvcB = ATMPermanentVC(channel: ATMVirtualChannel(vpi: 1, vci: 100), peer: addrA)
        let a = try ATMAdaptor(carrier: pcap, pvcs: [pvcA], pool: pool)
        let b = try ATMAdaptor(carrier: mb, pvcs: [pvcB], pool: pool)
        a.pduCapture = try ATMPDUCapture(path: txERF, vcCount: 1, maximumPDU: 9_216)
        b.pduCapture = try ATMPDUCapture(path: rxERF, vcCount: 1, maximumPDU: 9_216)
        let batch = FrameBatch(capacity: 16)
        var now: UInt64 = 1_000_000_000
        for (i, size) in sizes.enumerated() {
            var f = try #require(pool.take())
            f.length = 14 + size
            let bytes = f.bytes
            EthernetRepr(destination: vc32.syntheticHardwareAddress, source: macA, etherType: .ipv4).emit(into: bytes)
            let ip = ipPacket(size - 20, seed: i)
            bytes.copy(ip.withUnsafeBytes { UnsafeRawBufferPointer(rebasing: $0[...]) }, to: 14)
            batch.append(f)
            _ = try a.transmit(batch, pool: pool)
        }
        for _ in 0 ..< 2000 {
            now += 20_000
            try a.poll(now: now)
            try b.poll(now: now)
            _ = try b.receive(into: batch, limit: 16, pool: pool)
            batch.releaseAll(to: pool)
        }
        pcap.close()
        a.pduCapture?.close()
        b.pduCapture?.close()
        return b
    }

    @Test func tsharkDecodesCellsAndPDUs() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/atm-capture-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["KEEP_ATM_CAPTURE"] == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let sizes = [28, 84, 1500, 9180]
        let b = try Self.run(sizes: sizes, cellPcap: dir + "/cells.pcap", txERF: dir + "/tx.pcap", rxERF: dir + "/rx.pcap")
        #expect(b.atmCounters[.rxPDUs] == 4)

        // The carrier frames: every cell of VC 1/100, and one end-of-PDU mark per packet.
        guard let cells = try tshark(["-n", "-r", dir + "/cells.pcap", "-d", "mpls.label==4717,mplspwatmn1cw", "-V"]) else { return }
        let total = sizes.reduce(0) { $0 + OC3c.cells(ipLength: $1) }
        let vpis = cells.components(separatedBy: "\n").filter { $0.contains("VPI: 1") }.count
        let vcis = cells.components(separatedBy: "\n").filter { $0.contains("VCI: 100") }.count
        #expect(vpis == total && vcis == total, "\(vpis) VPI and \(vcis) VCI lines for \(total) cells")
        let ends = cells.components(separatedBy: "\n").filter { $0.contains("Payload Type") && $0.contains("SDU-type = 1") }.count
        #expect(ends == sizes.count, "\(ends) end-of-PDU cells")

        // The PDUs, both ways: the trailer decoded, every CRC correct.
        for file in ["/tx.pcap", "/rx.pcap"] {
            guard let pdus = try tshark(["-n", "-r", dir + file, "-V"]) else { return }
            let crcs = pdus.components(separatedBy: "\n").filter { $0.contains("AAL5 CRC:") }
            #expect(crcs.count == sizes.count && crcs.allSatisfy { $0.hasSuffix("(correct)") }, "\(file): \(crcs)")
            let lengths = pdus.components(separatedBy: "\n").filter { $0.contains("AAL5 len:") }
            #expect(lengths.map { $0.trimmingCharacters(in: .whitespaces) } == sizes.map { "AAL5 len: \($0 + 8)" })
            #expect(pdus.contains("Internet Protocol Version 4, Src: 198.18.0.1, Dst: 198.18.0.2"))
        }
    }

    /// A PDU that fails its CRC is in the capture too, and tshark says so.
    @Test func badCRCIsVisible() throws {
        let path = FileManager.default.temporaryDirectory.path + "/atm-badcrc-\(getpid()).pcap"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Receiver()
        r.adaptor.pduCapture = try ATMPDUCapture(path: path, vcCount: 1, maximumPDU: 9_216)
        try r.send(seq: 1, packetCells(ipPacket(100)))
        var bad = packetCells(ipPacket(100, seed: 1))
        bad[1].1[5] ^= 1
        try r.send(seq: 2, bad)
        r.adaptor.pduCapture?.close()
        #expect(r.counters[.rxBadCRC] == 1 && r.received.count == 1)
        guard let text = try tshark(["-n", "-r", path, "-V"]) else { return }
        let crcs = text.components(separatedBy: "\n").filter { $0.contains("AAL5 CRC:") }
        #expect(crcs.count == 2 && crcs[0].hasSuffix("(correct)") && crcs[1].hasSuffix("(incorrect)"), "\(crcs)")
    }
}
