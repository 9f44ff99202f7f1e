import Links
import Testing
import Wire

let macA = EthernetAddress(0x02, 0, 0xC6, 0x12, 0, 0x0A)
let macB = EthernetAddress(0x02, 0, 0xC6, 0x12, 0, 0x0B)

/// Fills a buffer with an Ethernet frame: dst, src, EtherType 0x88B5 (local
/// experimental), then `payload` bytes counting from `tag`.
func makeFrame(_ pool: BufferPool, dst: EthernetAddress, src: EthernetAddress, tag: UInt8,
               payload: Int = 50) throws -> PacketBuffer {
    var b = try #require(pool.take())
    b.length = 14 + payload
    dst.store(into: b.bytes, at: 0)
    src.store(into: b.bytes, at: 6)
    b.bytes[12] = 0x88
    b.bytes[13] = 0xB5
    for i in 0 ..< payload { b.bytes[14 + i] = tag &+ UInt8(truncatingIfNeeded: i) }
    return b
}

func tag(of b: PacketBuffer) -> UInt8 { b.readable[14] }

/// The connected pairs that need no privileges; the tests below run on both.
enum LinkPair: CaseIterable, Sendable {
    case memory, socketPair

    func make(mtu: Int = 1500) throws -> (any LinkDevice, any LinkDevice) {
        switch self {
        case .memory: let (a, b) = MemoryLink.pair(mtu: mtu, a: macA, b: macB); return (a, b)
        case .socketPair: let (a, b) = try SocketPairLink.pair(mtu: mtu, a: macA, b: macB); return (a, b)
        }
    }
}

@Suite struct LinkPairTests {
    @Test(arguments: LinkPair.allCases)
    func framesCrossInOrderAndIntact(_ pair: LinkPair) throws {
        let (a, b) = try pair.make()
        let poolA = try BufferPool(slotSize: 2048, count: 16)
        let poolB = try BufferPool(slotSize: 2048, count: 16)
        let out = FrameBatch(capacity: 8)
        for t in 0 ..< 5 { out.append(try makeFrame(poolA, dst: macB, src: macA, tag: UInt8(t * 10))) }
        #expect(try a.transmit(out, pool: poolA) == 5)
        #expect(out.count == 0 && poolA.available == 16)
        if let b = b as? MemoryLink { #expect(b.pending == 5) }
        let inb = FrameBatch(capacity: 8)
        #expect(try b.receive(into: inb, limit: 3, pool: poolB) == 3)
        #expect(try b.receive(into: inb, limit: 10, pool: poolB) == 2)
        #expect(try b.receive(into: inb, limit: 10, pool: poolB) == 0)
        #expect((0 ..< 5).map { tag(of: inb[$0]) } == [0, 10, 20, 30, 40])
        for i in 0 ..< 5 {
            #expect(inb[i].length == 64)
            #expect(EthernetAddress(loadingFrom: inb[i].readable, at: 6) == macA)
        }
        #expect(a.counters.txFrames == 5 && a.counters.txBytes == 320)
        #expect(b.counters.rxFrames == 5 && b.counters.rxBytes == 320 && b.counters.rxDropped == 0)
        inb.releaseAll(to: poolB)
        #expect(poolB.available == 16 && poolB.invalidGives == 0)
    }

    @Test(arguments: LinkPair.allCases)
    func oversizeFrameRefused(_ pair: LinkPair) throws {
        let (a, b) = try pair.make(mtu: 100)
        let pool = try BufferPool(slotSize: 2048, count: 4)
        let out = FrameBatch(capacity: 4)
        out.append(try makeFrame(pool, dst: macB, src: macA, tag: 1, payload: 119))  // 133 > 118
        out.append(try makeFrame(pool, dst: macB, src: macA, tag: 2, payload: 104))  // 118: fits
        #expect(try a.transmit(out, pool: pool) == 1)
        #expect(a.counters.txOversize == 1 && a.counters.txDropped == 1 && a.counters.txFrames == 1)
        #expect(out.count == 0 && pool.available == 4)
        if let b = b as? MemoryLink { #expect(b.pending == 1) }
        let inb = FrameBatch(capacity: 4)
        #expect(try b.receive(into: inb, limit: 4, pool: pool) == 1)
        #expect(inb[0].length == 118 && tag(of: inb[0]) == 2)
        inb.releaseAll(to: pool)
    }
}

@Suite struct MemoryLinkTests {
    @Test func fullQueueDropsAndCounts() throws {
        let (a, b) = MemoryLink.pair(a: macA, b: macB, queueLimit: 3)
        let pool = try BufferPool(slotSize: 2048, count: 16)
        let out = FrameBatch(capacity: 8)
        for t in 0 ..< 5 { out.append(try makeFrame(pool, dst: macB, src: macA, tag: UInt8(t))) }
        #expect(try a.transmit(out, pool: pool) == 3)
        #expect(a.counters.txQueueFull == 2 && a.counters.txDropped == 2)
        #expect(out.count == 0 && pool.available == 16)
        #expect(b.pending == 3)
    }

    @Test func stopsWhenPoolOrBatchRunsOut() throws {
        let (a, b) = MemoryLink.pair(a: macA, b: macB)
        let poolA = try BufferPool(slotSize: 2048, count: 8)
        let poolB = try BufferPool(slotSize: 2048, count: 2)
        let out = FrameBatch(capacity: 8)
        for t in 0 ..< 4 { out.append(try makeFrame(poolA, dst: macB, src: macA, tag: UInt8(t))) }
        _ = try a.transmit(out, pool: poolA)
        let inb = FrameBatch(capacity: 8)
        #expect(try b.receive(into: inb, limit: 8, pool: poolB) == 2)
        #expect(b.counters.rxNoBuffer == 1 && b.pending == 2)
        inb.releaseAll(to: poolB)
        let small = FrameBatch(capacity: 1)
        #expect(try b.receive(into: small, limit: 8, pool: poolB) == 1)
        #expect(tag(of: small[0]) == 2)
        small.releaseAll(to: poolB)
    }
}
