import CShims
import Glibc

/// One socket's shared memory: a memfd holding a layout header, then its RX
/// ring (daemon → client) and its TX ring (client → daemon), each a
/// `MessageRing` header and data area starting on a page:
///
/// ```
/// 0      layout header: magic u64, version u32, closed u32, size u64,
///        rx offset u64, rx capacity u64, tx offset u64, tx capacity u64
/// page   RX ring (128-byte ring header + rx capacity), up to the next page
/// …      TX ring likewise
/// ```
///
/// The daemon `create`s it and sends `descriptors` to the client, which
/// `map`s them. The file's size is sealed, so a client cannot truncate it
/// and make the daemon fault on its mapping; the daemon never reads the
/// layout header back (it keeps what it wrote) and checks every index and
/// length the client writes (`MessageRing`).
public final class SocketRegion: @unchecked Sendable {
    /// "rtudshm1" in memory order.
    public static let magic: UInt64 = 0x316D_6873_6475_7472
    public static let layoutVersion: UInt32 = 1
    /// Largest file `map` accepts: two rings of the largest capacity and
    /// their pages, with room to spare.
    static let maximumSize = 1 << 32

    public let rx: MessageRing
    public let tx: MessageRing
    /// Bytes of the memfd and the mapping.
    public let size: Int
    private let memory: RingMemory

    private init(memory: RingMemory, rx: MessageRing, tx: MessageRing) {
        self.memory = memory
        self.rx = rx
        self.tx = tx
        size = memory.bytes
    }

    /// What the daemon sends a client (SCM_RIGHTS duplicates them; the
    /// region keeps its own): the memfd, then the eventfds RX data, RX space,
    /// TX data, TX space.
    public var descriptors: [Int32] { memory.descriptors }

    /// Daemon side: a new sealed memfd named `name` (shown in /proc as
    /// `memfd:NAME`, at most 249 bytes) with rings of the given capacities
    /// (powers of two from 4096 to 2^30 bytes), mapped, with four eventfds.
    public static func create(name: String, rxCapacity: Int, txCapacity: Int) throws(RingSetupError) -> SocketRegion {
        guard MessageRing.isValidCapacity(rxCapacity) else { throw .invalidCapacity(rxCapacity) }
        guard MessageRing.isValidCapacity(txCapacity) else { throw .invalidCapacity(txCapacity) }
        let layout = RegionLayout.make(rxCapacity: rxCapacity, txCapacity: txCapacity, pageSize: pageSize)
        var descriptors: [Int32] = []
        var handedOver = false
        defer { if !handedOver { for fd in descriptors { close(fd) } } }

        let memfd = rtu_shm_memfd_create(name)
        guard memfd >= 0 else { throw .system(call: "memfd_create", errno: -memfd) }
        descriptors.append(memfd)
        guard ftruncate(memfd, off_t(layout.size)) == 0 else { throw .system(call: "ftruncate", errno: errno) }
        let sealed = rtu_shm_seal_size(memfd)
        guard sealed == 0 else { throw .system(call: "fcntl(F_ADD_SEALS)", errno: -sealed) }
        for _ in 0..<4 {
            let fd = rtu_sched_eventfd()
            guard fd >= 0 else { throw .system(call: "eventfd", errno: -fd) }
            descriptors.append(fd)
        }
        // Not populated: an idle socket costs its header pages only (ten
        // thousand sockets of 2 × 256 KiB would pin 5 GB); a ring's pages
        // fault in once, the first time the ring reaches them.
        guard let base = mmap(nil, layout.size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0),
              base != MAP_FAILED else { throw .system(call: "mmap", errno: errno) }
        let memory = RingMemory(base: base, bytes: layout.size, descriptors: descriptors)
        handedOver = true
        layout.write(to: base)
        return try SocketRegion(memory: memory, layout: layout)
    }

    /// Client side: maps the region from the five `descriptors` a daemon sent
    /// (in `descriptors`' order), taking ownership of them: they are closed
    /// when the region goes, or at once when it cannot be mapped. Checks that
    /// the file's size is sealed (else the daemon could shrink it under the
    /// mapping) and that the header describes two rings inside the file.
    /// Each ring starts from the indices in memory, so a client mapping a
    /// region another client used continues where that one left off.
    public static func map(descriptors: [Int32]) throws(RegionMapError) -> SocketRegion {
        var handedOver = false
        defer {
            if !handedOver { for fd in Set(descriptors) where fd >= 0 { close(fd) } }
        }
        guard descriptors.count == 5 else { throw .descriptorCount(descriptors.count) }
        guard Set(descriptors).count == 5 else { throw .duplicateDescriptors }
        var memfdInfo = stat()
        for (index, fd) in descriptors.enumerated() {
            var info = stat()
            guard fd >= 0 else { throw .badDescriptor(index: index, errno: EBADF) }
            guard fstat(fd, &info) == 0 else { throw .badDescriptor(index: index, errno: errno) }
            if index == 0 { memfdInfo = info }
        }
        let memfd = descriptors[0]
        guard memfdInfo.st_mode & S_IFMT == S_IFREG else { throw .notAMemfd }
        let sealed = rtu_shm_size_is_sealed(memfd)
        if sealed < 0 { throw sealed == -EINVAL ? .notAMemfd : .seals(errno: -sealed) }
        guard sealed == 1 else { throw .notSealed }
        let size = Int(memfdInfo.st_size)
        guard size >= RegionLayout.Field.end && size >= pageSize else { throw .tooSmall(size: size) }
        guard size <= maximumSize else { throw .tooLarge(size: size) }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0),
              base != MAP_FAILED else { throw .mmap(errno: errno) }
        let memory = RingMemory(base: base, bytes: size, descriptors: descriptors)
        handedOver = true
        let layout = try RegionLayout.read(from: base, fileSize: size)
        do { return try SocketRegion(memory: memory, layout: layout) } catch { throw .ring(error) }
    }

    /// The two rings over `memory` as `layout` places them, with the
    /// doorbells in `descriptors`' order.
    private convenience init(memory: RingMemory, layout: RegionLayout) throws(RingSetupError) {
        let fds = memory.descriptors
        let rx = try MessageRing(memory: memory.base + layout.rxOffset, capacity: layout.rxCapacity,
                                 dataDoorbell: fds[1], spaceDoorbell: fds[2], owner: memory)
        let tx = try MessageRing(memory: memory.base + layout.txOffset, capacity: layout.txCapacity,
                                 dataDoorbell: fds[3], spaceDoorbell: fds[4], owner: memory)
        self.init(memory: memory, rx: rx, tx: tx)
    }

    static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// Daemon side: tells the client the socket is gone (it sees it in
    /// `closedByDaemon` between waits) and wakes it wherever it waits.
    public func markClosed() {
        rtu_atomic_store_release32(memory.base + RegionLayout.Field.closed, 1)
        rtu_atomic_fence()
        rx.wakeConsumer()
        _ = rtu_sched_eventfd_ring(tx.spaceDoorbell)
    }

    /// Client side: whether the daemon closed the socket.
    public var closedByDaemon: Bool { rtu_atomic_load_acquire32(memory.base + RegionLayout.Field.closed) != 0 }
}

/// Why a client could not map a region it was sent.
public enum RegionMapError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not the five descriptors (memfd, four eventfds) a region consists of.
    case descriptorCount(Int)
    case duplicateDescriptors
    case badDescriptor(index: Int, errno: Int32)
    /// The first descriptor is not a memfd (no regular file, or no seals).
    case notAMemfd
    /// Its size may still change: without F_SEAL_GROW and F_SEAL_SHRINK the
    /// other side could truncate it under the mapping.
    case notSealed
    case seals(errno: Int32)
    case tooSmall(size: Int)
    case tooLarge(size: Int)
    case mmap(errno: Int32)
    case badMagic(UInt64)
    case unsupportedVersion(UInt32)
    /// The header's size is not the file's.
    case sizeMismatch(header: UInt64, file: Int)
    /// A ring capacity that is not a power of two from 4096 to 2^30.
    case badCapacity(UInt64)
    /// A ring not on a 64-byte boundary, not after the header, or not inside the file.
    case ringOutsideRegion(offset: UInt64, capacity: Int, size: Int)
    case ringsOverlap
    /// A ring could not be set up over the mapping; `.inconsistentIndices`:
    /// its indices are not ones correct peers leave.
    case ring(RingSetupError)

    public var description: String {
        switch self {
        case let .descriptorCount(n): return "a region takes 5 descriptors (memfd and 4 eventfds), got \(n)"
        case .duplicateDescriptors: return "the same descriptor was given twice"
        case let .badDescriptor(index, errno): return "descriptor \(index): \(String(cString: strerror(errno)))"
        case .notAMemfd: return "the first descriptor is not a memfd"
        case .notSealed: return "the memfd's size is not sealed (F_SEAL_GROW and F_SEAL_SHRINK)"
        case let .seals(errno): return "fcntl(F_GET_SEALS): \(String(cString: strerror(errno)))"
        case let .tooSmall(size): return "a \(size)-byte file is too small for a region"
        case let .tooLarge(size): return "a \(size)-byte file is larger than any region"
        case let .mmap(errno): return "mmap: \(String(cString: strerror(errno)))"
        case let .badMagic(m): return "not a socket region (magic 0x\(String(m, radix: 16)))"
        case let .unsupportedVersion(v): return "region layout version \(v), this side knows \(SocketRegion.layoutVersion)"
        case let .sizeMismatch(header, file): return "the header says \(header) bytes, the file has \(file)"
        case let .badCapacity(n): return "ring capacity \(n) is not a power of two from 4096 to 2^30"
        case let .ringOutsideRegion(offset, capacity, size):
            return "a ring of \(capacity) bytes at offset \(offset) is misaligned or outside the \(size)-byte region"
        case .ringsOverlap: return "the RX and TX rings overlap"
        case let .ring(error): return "\(error)"
        }
    }
}

/// Where a region's rings are, as its header says.
struct RegionLayout: Equatable {
    /// Byte offsets of the header's fields.
    enum Field {
        static let magic = 0
        static let version = 8
        /// Non-zero once the daemon closed the socket (the only word it writes after `create`).
        static let closed = 12
        static let size = 16
        static let rxOffset = 24
        static let rxCapacity = 32
        static let txOffset = 40
        static let txCapacity = 48
        static let end = 56
    }

    var size: Int
    var rxOffset: Int
    var rxCapacity: Int
    var txOffset: Int
    var txCapacity: Int

    /// The header on the first page, each ring on the pages after.
    static func make(rxCapacity: Int, txCapacity: Int, pageSize: Int) -> RegionLayout {
        func pages(_ bytes: Int) -> Int { (bytes + pageSize - 1) / pageSize * pageSize }
        let rxOffset = pages(Field.end)
        let txOffset = rxOffset + pages(MessageRing.headerBytes + rxCapacity)
        return RegionLayout(size: txOffset + pages(MessageRing.headerBytes + txCapacity), rxOffset: rxOffset,
                            rxCapacity: rxCapacity, txOffset: txOffset, txCapacity: txCapacity)
    }

    func write(to base: UnsafeMutableRawPointer) {
        base.storeBytes(of: SocketRegion.magic, toByteOffset: Field.magic, as: UInt64.self)
        base.storeBytes(of: SocketRegion.layoutVersion, toByteOffset: Field.version, as: UInt32.self)
        base.storeBytes(of: UInt64(size), toByteOffset: Field.size, as: UInt64.self)
        base.storeBytes(of: UInt64(rxOffset), toByteOffset: Field.rxOffset, as: UInt64.self)
        base.storeBytes(of: UInt64(rxCapacity), toByteOffset: Field.rxCapacity, as: UInt64.self)
        base.storeBytes(of: UInt64(txOffset), toByteOffset: Field.txOffset, as: UInt64.self)
        base.storeBytes(of: UInt64(txCapacity), toByteOffset: Field.txCapacity, as: UInt64.self)
    }

    /// The header at `base` of a `fileSize`-byte mapping, each field read
    /// once and checked: two rings of valid capacities, 64-byte aligned,
    /// after the header, inside the file and apart.
    static func read(from base: UnsafeRawPointer, fileSize: Int) throws(RegionMapError) -> RegionLayout {
        let magic = base.load(fromByteOffset: Field.magic, as: UInt64.self)
        guard magic == SocketRegion.magic else { throw .badMagic(magic) }
        let version = base.load(fromByteOffset: Field.version, as: UInt32.self)
        guard version == SocketRegion.layoutVersion else { throw .unsupportedVersion(version) }
        let size = base.load(fromByteOffset: Field.size, as: UInt64.self)
        guard size == UInt64(fileSize) else { throw .sizeMismatch(header: size, file: fileSize) }
        let rx = try ring(base, offsetAt: Field.rxOffset, capacityAt: Field.rxCapacity, fileSize: fileSize)
        let tx = try ring(base, offsetAt: Field.txOffset, capacityAt: Field.txCapacity, fileSize: fileSize)
        guard rx.offset + MessageRing.headerBytes + rx.capacity <= tx.offset
                || tx.offset + MessageRing.headerBytes + tx.capacity <= rx.offset else { throw .ringsOverlap }
        return RegionLayout(size: fileSize, rxOffset: rx.offset, rxCapacity: rx.capacity, txOffset: tx.offset,
                            txCapacity: tx.capacity)
    }

    private static func ring(_ base: UnsafeRawPointer, offsetAt: Int, capacityAt: Int,
                             fileSize: Int) throws(RegionMapError) -> (offset: Int, capacity: Int) {
        let offset = base.load(fromByteOffset: offsetAt, as: UInt64.self)
        let capacityWord = base.load(fromByteOffset: capacityAt, as: UInt64.self)
        guard capacityWord <= UInt64(MessageRing.maximumCapacity),
              MessageRing.isValidCapacity(Int(capacityWord)) else {
            throw .badCapacity(capacityWord)
        }
        let capacity = Int(capacityWord)
        // Compared in UInt64 before any sum, so no field can overflow the check.
        guard offset % 64 == 0, offset >= UInt64(Field.end), offset <= UInt64(fileSize),
              UInt64(fileSize) - offset >= UInt64(MessageRing.headerBytes + capacity) else {
            throw .ringOutsideRegion(offset: offset, capacity: capacity, size: fileSize)
        }
        return (Int(offset), capacity)
    }
}
