import Links
import Wire

/// The neighbour table of one interface (RFC 826 resolution, RFC 1122 §2.3.2.1
/// flooding limits), fixed in size and allocation-free after `init`.
///
/// An entry is either *incomplete* (a request is out; retried every
/// `retryInterval` up to `maxRetries` times) or *reachable* (expires at
/// `expires`, after which the next packet for it resolves again). Packets that
/// wait for resolution sit in one bounded queue shared by all entries, at most
/// `pendingPerEntry` per neighbour, so a host that never answers cannot take
/// every buffer.
public struct ArpCache {
    public enum State: UInt8 { case empty, incomplete, reachable }

    public struct Entry {
        public var address: IPv4Address = .any
        public var hardwareAddress: EthernetAddress = .zero
        public var state: State = .empty
        /// Reachable: when the entry expires. Incomplete: when to retry.
        public var deadline: Instant = .zero
        public var retriesLeft: Int = 0
        public var pending: Int = 0
    }

    /// A frame waiting for its next hop's hardware address; its Ethernet
    /// destination is filled in when the address is known.
    public struct Pending {
        public var nextHop: IPv4Address
        public var frame: PacketBuffer
    }

    /// Room for one largest datagram (65,535 bytes) in fragments at MTU 576
    /// (RFC 791's datagram every host must accept): 119 frames, rounded up.
    /// Linux bounds the same queue by bytes (unres_qlen_bytes, ~208 KiB).
    public static let defaultPendingPerEntry = 128

    public let capacity: Int
    public let lifetime: Interval
    public let retryInterval: Interval
    public let maxRetries: Int
    public let pendingPerEntry: Int
    public let pendingLimit: Int

    public private(set) var entries: [Entry]
    /// One past the highest slot ever used: `freeSlot` fills from the bottom,
    /// so lookups (one per datagram sent) scan the few slots a host really
    /// uses, not the whole table.
    @usableFromInline private(set) var highWater = 0
    private var pendingQueue: [Pending?]
    public private(set) var pendingCount = 0

    public init(capacity: Int = 256, lifetime: Interval = .seconds(60), retryInterval: Interval = .seconds(1),
                maxRetries: Int = 3, pendingPerEntry: Int = ArpCache.defaultPendingPerEntry,
                pendingLimit: Int = 512) {
        precondition(capacity > 0 && pendingLimit > 0 && pendingPerEntry > 0)
        self.capacity = capacity
        self.lifetime = lifetime
        self.retryInterval = retryInterval
        self.maxRetries = maxRetries
        self.pendingPerEntry = pendingPerEntry
        self.pendingLimit = pendingLimit
        entries = Array(repeating: Entry(), count: capacity)
        pendingQueue = Array(repeating: nil, count: pendingLimit)
    }

    /// The hardware address of `address` if it is known and fresh.
    @inlinable public func lookup(_ address: IPv4Address, now: Instant) -> EthernetAddress? {
        guard let i = index(of: address) else { return nil }
        let e = entries[i]
        return e.state == .reachable && now < e.deadline ? e.hardwareAddress : nil
    }

    @usableFromInline func index(of address: IPv4Address) -> Int? {
        for i in 0 ..< highWater where entries[i].state != .empty && entries[i].address == address { return i }
        return nil
    }

    /// Records `address` at `hardwareAddress` (a reply, or the sender of a
    /// request addressed to us: RFC 826 "merge"). With `create` false only an
    /// existing entry is updated. Returns the frames that were waiting for it,
    /// their destination now filled in, through `release`.
    public mutating func update(_ address: IPv4Address, at hardwareAddress: EthernetAddress, now: Instant,
                                create: Bool, release: (PacketBuffer) -> Void) {
        let i: Int
        if let existing = index(of: address) {
            i = existing
        } else {
            guard create, let slot = freeSlot() else { return }
            entries[slot] = Entry(address: address)
            i = slot
        }
        entries[i].hardwareAddress = hardwareAddress
        entries[i].state = .reachable
        entries[i].deadline = now + lifetime
        entries[i].retriesLeft = 0
        guard entries[i].pending > 0 else { return }
        for q in pendingQueue.indices {
            guard let p = pendingQueue[q], p.nextHop == address else { continue }
            pendingQueue[q] = nil
            pendingCount -= 1
            hardwareAddress.store(into: p.frame.bytes, at: 0)
            release(p.frame)
        }
        entries[i].pending = 0
    }

    public enum EnqueueResult: Equatable {
        /// Queued; a new request must be sent now (first packet for this neighbour).
        case queuedSendRequest
        /// Queued behind a request already outstanding.
        case queued
        /// Not queued: the neighbour's share or the whole queue is full (caller drops and counts).
        case full
        /// Not queued: no slot in the table (every entry is incomplete with packets waiting).
        case tableFull
    }

    /// Queues `frame` until `nextHop` resolves, creating an incomplete entry if needed.
    public mutating func enqueue(_ frame: PacketBuffer, for nextHop: IPv4Address, now: Instant) -> EnqueueResult {
        var fresh = false
        var i = index(of: nextHop)
        if let j = i, entries[j].state == .reachable {
            // Expired reachable entry: resolve again, keeping the slot.
            entries[j].state = .incomplete
            entries[j].retriesLeft = maxRetries
            entries[j].deadline = now + retryInterval
            fresh = true
        }
        if i == nil {
            guard let j = freeSlot() else { return .tableFull }
            entries[j] = Entry(address: nextHop, hardwareAddress: .zero, state: .incomplete,
                               deadline: now + retryInterval, retriesLeft: maxRetries, pending: 0)
            i = j
            fresh = true
        }
        let j = i!
        guard entries[j].pending < pendingPerEntry, pendingCount < pendingLimit,
              let q = pendingQueue.firstIndex(where: { $0 == nil }) else {
            return .full
        }
        pendingQueue[q] = Pending(nextHop: nextHop, frame: frame)
        pendingCount += 1
        entries[j].pending += 1
        return fresh ? .queuedSendRequest : .queued
    }

    /// Advances timers: expired reachable entries are freed, incomplete ones
    /// are retried (`retry` is called with the address to ask for again) or,
    /// out of retries, removed with their waiting frames handed to `failed`.
    /// Returns the earliest deadline still pending.
    public mutating func poll(now: Instant, retry: (IPv4Address) -> Void, failed: (PacketBuffer) -> Void) -> Instant {
        var next = Instant.never
        for i in 0 ..< highWater {
            switch entries[i].state {
            case .empty:
                continue
            case .reachable:
                if now >= entries[i].deadline { entries[i].state = .empty; continue }
            case .incomplete:
                if now >= entries[i].deadline {
                    if entries[i].retriesLeft > 0 {
                        entries[i].retriesLeft -= 1
                        entries[i].deadline = now + retryInterval
                        retry(entries[i].address)
                    } else {
                        dropPending(for: entries[i].address, into: failed)
                        entries[i].state = .empty
                        continue
                    }
                }
            }
            if entries[i].deadline < next { next = entries[i].deadline }
        }
        return next
    }

    /// Hands every waiting frame back (shutdown).
    public mutating func drain(_ release: (PacketBuffer) -> Void) {
        for q in pendingQueue.indices {
            if let p = pendingQueue[q] { release(p.frame); pendingQueue[q] = nil }
        }
        pendingCount = 0
        for i in entries.indices { entries[i].pending = 0 }
    }

    private mutating func dropPending(for address: IPv4Address, into failed: (PacketBuffer) -> Void) {
        for q in pendingQueue.indices {
            guard let p = pendingQueue[q], p.nextHop == address else { continue }
            pendingQueue[q] = nil
            pendingCount -= 1
            failed(p.frame)
        }
    }

    /// An empty slot, else the reachable entry closest to expiry, else an
    /// incomplete entry without waiting frames. Nil when every entry has
    /// frames waiting: a victim never holds frames, so eviction loses none.
    private mutating func freeSlot() -> Int? {
        var victim: Int?
        for i in entries.indices {
            switch entries[i].state {
            case .empty:
                highWater = max(highWater, i + 1)
                return i
            case .reachable:
                if let v = victim, entries[v].state == .reachable, entries[v].deadline <= entries[i].deadline { continue }
                victim = i
            case .incomplete:
                if victim == nil && entries[i].pending == 0 { victim = i }
            }
        }
        if let v = victim { entries[v].state = .empty }
        return victim
    }
}
