// The socket pair: what the shared one-frame-per-call receive and transmit
// loops (also TAP's) do with a frame too long for the buffer and a full
// socket, on a real descriptor with no privileges needed. Frames crossing and
// oversize frames are in LinkPairTests (MemoryLinkTests.swift).
import Links
import Testing
import Wire

@Suite struct SocketPairLinkTests {
    @Test func frameLongerThanTheBufferIsDroppedAndCounted() throws {
        let (a, b) = try SocketPairLink.pair(a: macA, b: macB)
        let source = try BufferPool(slotSize: 2048, count: 4)
        // 128-byte slots with 64 bytes of headroom: 64 bytes of space.
        let pool = try BufferPool(slotSize: 128, count: 4, headroom: 64)
        for payload in [51, 50] {  // 65 bytes: one too many; 64: exactly fits
            let f = try makeFrame(source, dst: macB, src: macA, tag: UInt8(payload), payload: payload)
            #expect(a.inject(f.readable))
            source.give(f)
        }
        let inb = FrameBatch(capacity: 4)
        #expect(try b.receive(into: inb, limit: 4, pool: pool) == 1)
        #expect(inb[0].length == 64 && tag(of: inb[0]) == 50)
        #expect(b.counters.rxTruncated == 1 && b.counters.rxDropped == 1 && b.counters.rxFrames == 1)
        inb.releaseAll(to: pool)
        #expect(pool.available == 4)
    }

    @Test func fullSocketStopsTransmitAndKeepsTheRest() throws {
        // A small send buffer fills long before 64 frames are queued.
        let (a, b) = try SocketPairLink.pair(a: macA, b: macB, buffer: 4096)
        let pool = try BufferPool(slotSize: 2048, count: 128)
        let out = FrameBatch(capacity: 64)
        for t in 0 ..< 64 { out.append(try makeFrame(pool, dst: macB, src: macA, tag: UInt8(t))) }
        let sent = try a.transmit(out, pool: pool)
        #expect(sent > 0 && sent < 64)
        #expect(a.counters.txWouldBlock == 1 && a.counters.txDropped == 0)
        // The frame that would block and those after it stay, in order.
        #expect(out.count == 64 - sent && tag(of: out[0]) == UInt8(sent))
        #expect(pool.available == 128 - out.count)
        // Once the peer drains, the rest goes out.
        let inb = FrameBatch(capacity: 64)
        var tags: [UInt8] = []
        while tags.count < 64 {
            _ = try a.transmit(out, pool: pool)
            let n = try b.receive(into: inb, limit: 64, pool: pool)
            for i in 0 ..< inb.count { tags.append(tag(of: inb[i])) }
            inb.releaseAll(to: pool)
            if n == 0 && out.count == 0 { break }
        }
        #expect(tags == (0 ..< 64).map { UInt8($0) })
        #expect(a.counters.txFrames == 64 && pool.available == 128)
    }
}
