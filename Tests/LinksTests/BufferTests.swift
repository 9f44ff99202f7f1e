import Links
import Testing

@Suite struct BufferPoolTests {
    @Test func takesUntilExhaustedThenCounts() throws {
        let pool = try BufferPool(slotSize: 2048, count: 4, headroom: 64)
        #expect(pool.available == 4)
        var taken: [PacketBuffer] = []
        for _ in 0 ..< 4 { taken.append(try #require(pool.take())) }
        #expect(pool.available == 0)
        #expect(pool.take() == nil)
        #expect(pool.take() == nil)
        #expect(pool.exhausted == 2)
        for b in taken {
            #expect(b.offset == 64)
            #expect(b.length == 0)
            #expect(b.capacity == 2048)
        }
        #expect(Set(taken.map(\.slot)) == [0, 1, 2, 3])
        // Slots do not overlap.
        let bases = taken.map { Int(bitPattern: $0.base) }.sorted()
        for i in 1 ..< bases.count { #expect(bases[i] - bases[i - 1] >= 2048) }
        for b in taken { pool.give(b) }
        #expect(pool.available == 4)
    }

    @Test func reusesGivenSlotsAndRoundsSlotSize() throws {
        let pool = try BufferPool(slotSize: 1000, count: 2, headroom: 0)
        #expect(pool.slotSize == 1024)
        let a = try #require(pool.take())
        pool.give(a)
        let b = try #require(pool.take())
        #expect(a.slot == b.slot && a.base == b.base)
        pool.give(b)
    }

    @Test func doubleGiveAndForeignHandleAreIgnoredAndCounted() throws {
        let pool = try BufferPool(slotSize: 256, count: 2)
        let other = try BufferPool(slotSize: 256, count: 2)
        let a = try #require(pool.take())
        pool.give(a)
        pool.give(a)
        #expect(pool.invalidGives == 1)
        #expect(pool.available == 2)
        let foreign = try #require(other.take())
        pool.give(foreign)
        #expect(pool.invalidGives == 2)
        #expect(pool.available == 2)
        other.give(foreign)
    }

    @Test func bytesViewCoversTheFrame() throws {
        let pool = try BufferPool(slotSize: 256, count: 1, headroom: 32)
        var b = try #require(pool.take())
        b.length = 10
        for i in 0 ..< 10 { b.bytes[i] = UInt8(i) }
        #expect(b.readable.baseAddress == UnsafeRawPointer(b.base + 32))
        #expect(Array(b.readable) == Array(0 ..< 10))
        let header = b.prepend(4)
        header.copyBytes(from: [0xAA, 0xBB, 0xCC, 0xDD])
        #expect(b.offset == 28 && b.length == 14)
        #expect(b.readable[0] == 0xAA && b.readable[4] == 0)
        b.consumeFront(4)
        #expect(b.offset == 32 && b.length == 10)
        #expect(b.tailroom == 256 - 32 - 10)
        pool.give(b)
    }

    @Test func releaseAllChecksEachHandleAndRestoresTheTakeOrder() throws {
        let pool = try BufferPool(slotSize: 256, count: 8, headroom: 16)
        let other = try BufferPool(slotSize: 256, count: 8, headroom: 16)
        let batch = FrameBatch(capacity: 8)
        for _ in 0 ..< 4 { batch.append(try #require(pool.take())) }
        let order = (0 ..< 4).map { batch[$0].slot }
        batch.releaseAll(to: pool)
        #expect(batch.isEmpty && pool.available == 8 && pool.invalidGives == 0)
        // The slots come back so that the next takes repeat the same order.
        for _ in 0 ..< 4 { batch.append(try #require(pool.take())) }
        #expect((0 ..< 4).map { batch[$0].slot } == order)
        // A second copy of a handle (a double give) and a foreign handle.
        batch.append(batch[1])
        batch.append(try #require(other.take()))
        batch.releaseAll(to: pool)
        #expect(pool.available == 8)
        #expect(pool.invalidGives == 2)
    }
}

@Suite struct FrameBatchTests {
    @Test func appendRemoveFirstKeepsOrder() throws {
        let pool = try BufferPool(slotSize: 128, count: 8)
        let batch = FrameBatch(capacity: 5)
        for _ in 0 ..< 5 { batch.append(try #require(pool.take())) }
        #expect(batch.isFull && batch.count == 5)
        let slots = (0 ..< 5).map { batch[$0].slot }
        for i in 0 ..< 2 { pool.give(batch[i]) }
        batch.removeFirst(2)
        #expect(batch.count == 3)
        #expect((0 ..< 3).map { batch[$0].slot } == Array(slots[2...]))
        batch[0].length = 7
        #expect(batch[0].length == 7)
        let last = batch[2]
        batch.removeLast(1)
        #expect(batch.count == 2 && last.slot == slots[4])
        #expect(pool.available == 5)  // removeLast gave nothing back
        pool.give(last)
        batch.releaseAll(to: pool)
        #expect(batch.count == 0)
        #expect(pool.available == 8)
        #expect(pool.invalidGives == 0)
    }

    @Test func removeAllDoesNotGiveBack() throws {
        let pool = try BufferPool(slotSize: 128, count: 2)
        let batch = FrameBatch(capacity: 2)
        let a = try #require(pool.take())
        batch.append(a)
        batch.removeAll()
        #expect(batch.count == 0 && pool.available == 1)
        pool.give(a)
    }
}
