import Foundation
import Links
import Testing
import Wire

/// Sends `count` tagged frames a → b through `device` (wrapping a) and returns the
/// tags b receives, in order, plus the bytes of each frame.
private func run(_ makeDevice: (MemoryLink) -> any LinkDevice, count: Int,
                 direction: Direction) throws -> [[UInt8]] {
    let (a, b) = MemoryLink.pair(a: macA, b: macB, queueLimit: 4096)
    let poolA = try BufferPool(slotSize: 256, count: 64)
    let poolB = try BufferPool(slotSize: 256, count: 64)
    let sender: any LinkDevice = direction == .transmit ? makeDevice(a) : a
    let receiver: any LinkDevice = direction == .receive ? makeDevice(b) : b
    var seen: [[UInt8]] = []
    let out = FrameBatch(capacity: 16)
    let inb = FrameBatch(capacity: 32)
    var sent = 0
    while true {
        while sent < count, !out.isFull {
            out.append(try makeFrame(poolA, dst: macB, src: macA, tag: UInt8(truncatingIfNeeded: sent), payload: 20))
            sent += 1
        }
        _ = try sender.transmit(out, pool: poolA)
        let n = try receiver.receive(into: inb, limit: 32, pool: poolB)
        for i in 0 ..< inb.count { seen.append(Array(inb[i].readable)) }
        inb.releaseAll(to: poolB)
        if sent == count && n == 0 && out.count == 0 { break }
    }
    // Flush a frame the injector may still hold.
    _ = try sender.transmit(out, pool: poolA)
    _ = try receiver.receive(into: inb, limit: 32, pool: poolB)
    for i in 0 ..< inb.count { seen.append(Array(inb[i].readable)) }
    inb.releaseAll(to: poolB)
    #expect(poolA.invalidGives == 0 && poolB.invalidGives == 0)
    #expect(poolB.available == 64)
    return seen
}

private enum Direction { case receive, transmit }

@Suite struct FaultInjectorTests {
    @Test(arguments: [Direction.receive, .transmit])
    fileprivate func sameSeedSameFaults(direction: Direction) throws {
        let make = { (l: MemoryLink) -> any LinkDevice in
            FaultInjector(wrapping: l, seed: 42, drop: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.1)
        }
        let first = try run(make, count: 500, direction: direction)
        let second = try run(make, count: 500, direction: direction)
        #expect(first == second)
        let other = try run({ FaultInjector(wrapping: $0, seed: 43, drop: 0.1, duplicate: 0.1, reorder: 0.1, corrupt: 0.1) },
                            count: 500, direction: direction)
        #expect(first != other)
    }

    @Test func ratesAreRoughlyHonoured() throws {
        let (a, b) = MemoryLink.pair(a: macA, b: macB, queueLimit: 8192)
        let injector = FaultInjector(wrapping: b, seed: 7, drop: 0.2, duplicate: 0.1, reorder: 0.05, corrupt: 0.3)
        let pool = try BufferPool(slotSize: 256, count: 128)
        let out = FrameBatch(capacity: 64)
        let inb = FrameBatch(capacity: 128)
        let n = 5000
        var received = 0
        for s in stride(from: 0, to: n, by: 64) {
            for t in s ..< min(s + 64, n) { out.append(try makeFrame(pool, dst: macB, src: macA, tag: UInt8(truncatingIfNeeded: t))) }
            _ = try a.transmit(out, pool: pool)
            received += try injector.receive(into: inb, limit: 64, pool: pool)
            inb.releaseAll(to: pool)
        }
        received += try injector.receive(into: inb, limit: 64, pool: pool)
        inb.releaseAll(to: pool)
        let f = injector.rxFaults
        func near(_ count: UInt64, _ p: Double, _ base: Double) -> Bool {
            abs(Double(count) - p * base) < 5 * (p * (1 - p) * base).squareRoot() + 5
        }
        #expect(near(f.dropped, 0.2, Double(n)))
        let kept = Double(n) - Double(f.dropped)
        #expect(near(f.corrupted, 0.3, kept))
        #expect(near(f.duplicated, 0.1, kept))
        #expect(f.reordered > 0 && Double(f.reordered) < 0.05 * kept + 5 * (0.05 * kept).squareRoot() + 5)
        #expect(received == n - Int(f.dropped) + Int(f.duplicated))
        #expect(pool.available == 128)
    }

    @Test func reorderSwapsNeighbours() throws {
        let (a, b) = MemoryLink.pair(a: macA, b: macB)
        let injector = FaultInjector(wrapping: b, seed: 1, reorder: 1.0)
        let pool = try BufferPool(slotSize: 256, count: 16)
        let out = FrameBatch(capacity: 8)
        for t in 0 ..< 4 { out.append(try makeFrame(pool, dst: macB, src: macA, tag: UInt8(t))) }
        _ = try a.transmit(out, pool: pool)
        let inb = FrameBatch(capacity: 8)
        _ = try injector.receive(into: inb, limit: 8, pool: pool)
        _ = try injector.receive(into: inb, limit: 8, pool: pool)
        #expect((0 ..< inb.count).map { tag(of: inb[$0]) } == [1, 0, 3, 2])
        inb.releaseAll(to: pool)
    }
}

@Suite struct PcapCaptureTests {
    @Test func writesAFileLibpcapAndTsharkRead() throws {
        let path = NSTemporaryDirectory() + "rtulinks-\(getpid())-\(UInt32.random(in: 0 ... .max)).pcap"
        defer { unlink(path) }
        let (a, b) = MemoryLink.pair(a: macA, b: macB)
        let pool = try BufferPool(slotSize: 256, count: 16)
        do {
            let capA = try PcapCapture(wrapping: a, path: path)
            let out = FrameBatch(capacity: 8)
            for t in 0 ..< 3 { out.append(try makeFrame(pool, dst: macB, src: macA, tag: UInt8(t), payload: 46)) }
            #expect(try capA.transmit(out, pool: pool) == 3)
            // Two frames back from b, received through the capture.
            for t in 0 ..< 2 { out.append(try makeFrame(pool, dst: macA, src: macB, tag: UInt8(100 + t), payload: 46)) }
            _ = try b.transmit(out, pool: pool)
            let inb = FrameBatch(capacity: 8)
            #expect(try capA.receive(into: inb, limit: 8, pool: pool) == 2)
            inb.releaseAll(to: pool)
            #expect(capA.framesWritten == 5)
            capA.close()
        }
        let data = try #require(FileManager.default.contents(atPath: path))
        // Global header (24 bytes): magic a1b2c3d4 (host order), linktype 1 (Ethernet).
        #expect(data.count == 24 + 5 * (16 + 60))
        #expect(data.prefix(4).elementsEqual([0xD4, 0xC3, 0xB2, 0xA1]))
        #expect(data[20] == 1)
        let tshark = "/usr/bin/tshark"
        if FileManager.default.isExecutableFile(atPath: tshark) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tshark)
            p.arguments = ["-r", path, "-T", "fields", "-e", "eth.src", "-e", "eth.type"]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            let lines = output.split(separator: "\n")
            #expect(p.terminationStatus == 0)
            #expect(lines.count == 5)
            #expect(lines.first == "\(macA)\t0x88b5")
            #expect(lines.last == "\(macB)\t0x88b5")
        }
    }
}
