import CShims
import Glibc
@testable import SharedRings
import Testing

/// `map` is the client's check of what it was sent: every bad file or set
/// of descriptors is a typed error, and the descriptors are closed.
@Suite struct RegionMapTests {
    static let layout = RegionLayout.make(rxCapacity: 4096, txCapacity: 4096, pageSize: SocketRegion.pageSize)

    /// Five descriptors as a daemon would send them, over a new memfd of
    /// `size` bytes holding a fresh region's bytes as `edit` changed them.
    func forged(size: Int = layout.size, sealed: Bool = true,
                edit: (UnsafeMutableRawPointer) -> Void = { _ in }) throws -> [Int32] {
        let region = try SocketRegion.create(name: "original", rxCapacity: 4096, txCapacity: 4096)
        #expect(region.size == Self.layout.size)
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: region.size, alignment: 64)
        defer { bytes.deallocate() }
        #expect(pread(region.descriptors[0], bytes, region.size, 0) == region.size)
        edit(bytes)
        let memfd = rtu_shm_memfd_create("forged")
        try #require(memfd >= 0)
        #expect(ftruncate(memfd, off_t(size)) == 0)
        #expect(pwrite(memfd, bytes, min(size, region.size), 0) == min(size, region.size))
        if sealed { #expect(rtu_shm_seal_size(memfd) == 0) }
        return [memfd] + eventfds(4)
    }

    func eventfds(_ n: Int) -> [Int32] { (0..<n).map { _ in rtu_sched_eventfd() } }

    enum Forgery: CaseIterable {
        case magic, version, sizeField, capacityNotAPowerOfTwo, capacityHuge, ringBeyondTheEnd, ringOffTheGrid,
             ringOffsetHuge, ringsOverlap, tailOffTheGrid, headAheadOfTail

        func apply(to base: UnsafeMutableRawPointer) {
            let field = RegionLayout.Field.self, layout = RegionMapTests.layout
            func store(_ value: UInt64, at offset: Int) { base.storeBytes(of: value, toByteOffset: offset, as: UInt64.self) }
            switch self {
            case .magic: store(0x1234, at: field.magic)
            case .version: base.storeBytes(of: UInt32(2), toByteOffset: field.version, as: UInt32.self)
            case .sizeField: store(UInt64(layout.size + 4096), at: field.size)
            case .capacityNotAPowerOfTwo: store(5000, at: field.rxCapacity)
            case .capacityHuge: store(1 << 40, at: field.txCapacity)
            case .ringBeyondTheEnd: store(UInt64(layout.size - 64), at: field.txOffset)
            case .ringOffTheGrid: store(UInt64(layout.txOffset + 8), at: field.txOffset)
            case .ringOffsetHuge: store(UInt64.max & ~63, at: field.txOffset)
            case .ringsOverlap: store(UInt64(layout.rxOffset + 64), at: field.txOffset)
            case .tailOffTheGrid: store(20, at: layout.txOffset)
            case .headAheadOfTail: store(8192, at: layout.rxOffset + 64)
            }
        }

        var expected: RegionMapError {
            let layout = RegionMapTests.layout
            switch self {
            case .magic: return .badMagic(0x1234)
            case .version: return .unsupportedVersion(2)
            case .sizeField: return .sizeMismatch(header: UInt64(layout.size + 4096), file: layout.size)
            case .capacityNotAPowerOfTwo: return .badCapacity(5000)
            case .capacityHuge: return .badCapacity(1 << 40)
            case .ringBeyondTheEnd: return .ringOutsideRegion(offset: UInt64(layout.size - 64), capacity: 4096, size: layout.size)
            case .ringOffTheGrid: return .ringOutsideRegion(offset: UInt64(layout.txOffset + 8), capacity: 4096, size: layout.size)
            case .ringOffsetHuge: return .ringOutsideRegion(offset: UInt64.max & ~63, capacity: 4096, size: layout.size)
            case .ringsOverlap: return .ringsOverlap
            case .tailOffTheGrid: return .ring(.inconsistentIndices(.misalignedIndex(20)))
            case .headAheadOfTail: return .ring(.inconsistentIndices(.indexOutOfRange(head: 8192, tail: 0)))
            }
        }
    }

    @Test(arguments: Forgery.allCases)
    func aForgedHeaderIsRefused(_ forgery: Forgery) throws {
        let descriptors = try forged(edit: forgery.apply)
        #expect(throws: forgery.expected) { try SocketRegion.map(descriptors: descriptors) }
    }

    @Test func anUntouchedCopyMaps() throws {
        let region = try SocketRegion.map(descriptors: try forged())
        #expect(region.size == Self.layout.size && region.rx.capacity == 4096 && region.tx.capacity == 4096)
    }

    @Test func anUnsealedMemfdIsRefused() throws {
        let descriptors = try forged(sealed: false)
        #expect(throws: RegionMapError.notSealed) { try SocketRegion.map(descriptors: descriptors) }
    }

    @Test func aFileTooSmallForAHeaderIsRefused() throws {
        let descriptors = try forged(size: 32)
        #expect(throws: RegionMapError.tooSmall(size: 32)) { try SocketRegion.map(descriptors: descriptors) }
    }

    @Test func badDescriptorsAreRefused() throws {
        #expect(throws: RegionMapError.descriptorCount(0)) { try SocketRegion.map(descriptors: []) }
        #expect(throws: RegionMapError.descriptorCount(4)) { try SocketRegion.map(descriptors: eventfds(4)) }
        var good = try forged()
        let duplicated = [good[0], good[1], good[1], good[3], good[4]]
        close(good[2])
        #expect(throws: RegionMapError.duplicateDescriptors) { try SocketRegion.map(descriptors: duplicated) }
        good = try forged()
        close(good[2])
        #expect(throws: RegionMapError.badDescriptor(index: 2, errno: EBADF)) {
            try SocketRegion.map(descriptors: [good[0], good[1], -1, good[3], good[4]])
        }
        #expect(throws: RegionMapError.notAMemfd) { try SocketRegion.map(descriptors: eventfds(5)) }
    }

    @Test func errorsReadAsSentences() {
        #expect(RegionMapError.notSealed.description == "the memfd's size is not sealed (F_SEAL_GROW and F_SEAL_SHRINK)")
        #expect(RegionMapError.badMagic(0x1234).description == "not a socket region (magic 0x1234)")
        #expect(RegionMapError.ring(.inconsistentIndices(.misalignedIndex(20))).description
                == "ring indices: index 20 is not on a 16-byte record boundary")
        #expect(RingSetupError.system(call: "mmap", errno: ENOMEM).description == "mmap: Cannot allocate memory")
    }
}
