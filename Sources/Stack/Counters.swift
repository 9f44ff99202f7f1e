import CShims

/// Why the stack dropped a frame or a packet (ARCHITECTURE.md, hot-path rule
/// 7: every drop has a reason and a counter). Raw values index the counter
/// array; `name` is what the daemon prints.
public enum DropReason: Int, CaseIterable, Sendable {
    // Ethernet
    case ethernetTruncated
    case ethernetNotForUs
    case ethernetUnknownType
    // ARP
    case arpMalformed
    case arpUnsupported
    case arpNotForUs
    case arpAddressConflict
    case arpPendingFull
    case arpTableFull
    case arpUnresolved
    // IPv4 input (RFC 1122 §3.2.1)
    case ipv4Truncated
    case ipv4BadVersion
    case ipv4BadHeaderLength
    case ipv4BadTotalLength
    case ipv4BadChecksum
    case ipv4ZeroTTL
    case ipv4BadSource
    case ipv4NotForUs
    case ipv4UnknownProtocol
    /// UDP or TCP that no socket wanted (the transport counts its own detail, e.g. `udp_no_socket`).
    case ipv4NoListener
    // Reassembly (RFC 791 §3.2)
    case fragmentTooLarge
    case fragmentOverlap
    case fragmentEvicted
    case fragmentTimeout
    // ICMP
    case icmpMalformed
    case icmpBadChecksum
    case icmpUnhandled
    case icmpRateLimited
    // Output
    case noRoute
    case poolExhausted
    case txQueueFull
    case fragmentationNeeded
    case payloadTooLarge

    public var name: String {
        switch self {
        case .ethernetTruncated: "ethernet_truncated"
        case .ethernetNotForUs: "ethernet_not_for_us"
        case .ethernetUnknownType: "ethernet_unknown_type"
        case .arpMalformed: "arp_malformed"
        case .arpUnsupported: "arp_unsupported"
        case .arpNotForUs: "arp_not_for_us"
        case .arpAddressConflict: "arp_address_conflict"
        case .arpPendingFull: "arp_pending_full"
        case .arpTableFull: "arp_table_full"
        case .arpUnresolved: "arp_unresolved"
        case .ipv4Truncated: "ipv4_truncated"
        case .ipv4BadVersion: "ipv4_bad_version"
        case .ipv4BadHeaderLength: "ipv4_bad_header_length"
        case .ipv4BadTotalLength: "ipv4_bad_total_length"
        case .ipv4BadChecksum: "ipv4_bad_checksum"
        case .ipv4ZeroTTL: "ipv4_zero_ttl"
        case .ipv4BadSource: "ipv4_bad_source"
        case .ipv4NotForUs: "ipv4_not_for_us"
        case .ipv4UnknownProtocol: "ipv4_unknown_protocol"
        case .ipv4NoListener: "ipv4_no_listener"
        case .fragmentTooLarge: "fragment_too_large"
        case .fragmentOverlap: "fragment_overlap"
        case .fragmentEvicted: "fragment_evicted"
        case .fragmentTimeout: "fragment_timeout"
        case .icmpMalformed: "icmp_malformed"
        case .icmpBadChecksum: "icmp_bad_checksum"
        case .icmpUnhandled: "icmp_unhandled"
        case .icmpRateLimited: "icmp_rate_limited"
        case .noRoute: "no_route"
        case .poolExhausted: "pool_exhausted"
        case .txQueueFull: "tx_queue_full"
        case .fragmentationNeeded: "fragmentation_needed"
        case .payloadTooLarge: "payload_too_large"
        }
    }
}

/// Things the stack did, counted for `rtuctl stats` and the tests.
public enum StackEvent: Int, CaseIterable, Sendable {
    case framesReceived
    case arpRequestsReceived
    case arpRepliesReceived
    case arpRequestsSent
    case arpRepliesSent
    case gratuitousArpSent
    case arpResolved
    case ipv4Received
    case ipv4Delivered
    case fragmentsReceived
    case datagramsReassembled
    case ipv4Sent
    case fragmentsSent
    case icmpEchoRequestsReceived
    case icmpEchoRepliesSent
    case icmpEchoRepliesReceived
    case icmpErrorsSent
    case icmpErrorsReceived

    public var name: String {
        switch self {
        case .framesReceived: "frames_received"
        case .arpRequestsReceived: "arp_requests_received"
        case .arpRepliesReceived: "arp_replies_received"
        case .arpRequestsSent: "arp_requests_sent"
        case .arpRepliesSent: "arp_replies_sent"
        case .gratuitousArpSent: "gratuitous_arp_sent"
        case .arpResolved: "arp_resolved"
        case .ipv4Received: "ipv4_received"
        case .ipv4Delivered: "ipv4_delivered"
        case .fragmentsReceived: "fragments_received"
        case .datagramsReassembled: "datagrams_reassembled"
        case .ipv4Sent: "ipv4_sent"
        case .fragmentsSent: "fragments_sent"
        case .icmpEchoRequestsReceived: "icmp_echo_requests_received"
        case .icmpEchoRepliesSent: "icmp_echo_replies_sent"
        case .icmpEchoRepliesReceived: "icmp_echo_replies_received"
        case .icmpErrorsSent: "icmp_errors_sent"
        case .icmpErrorsReceived: "icmp_errors_received"
        }
    }
}

/// Drop and event counters of one interface. Written only by the interface's
/// owner (its core); read from any thread (the control thread's status
/// output) without copying: the storage is allocated once and shared, so
/// neither side ever allocates or copies on write.
public final class StackCounters: @unchecked Sendable {
    private let drops: UnsafeMutablePointer<UInt64>
    private let events: UnsafeMutablePointer<UInt64>

    public init() {
        drops = .allocate(capacity: DropReason.allCases.count)
        drops.initialize(repeating: 0, count: DropReason.allCases.count)
        events = .allocate(capacity: StackEvent.allCases.count)
        events.initialize(repeating: 0, count: StackEvent.allCases.count)
    }

    deinit {
        drops.deallocate()
        events.deallocate()
    }

    public subscript(_ r: DropReason) -> UInt64 { load(drops + r.rawValue) }
    public subscript(_ e: StackEvent) -> UInt64 { load(events + e.rawValue) }

    @inline(__always) public func drop(_ r: DropReason) { add(drops + r.rawValue, 1) }
    @inline(__always) public func count(_ e: StackEvent, _ n: UInt64 = 1) { add(events + e.rawValue, n) }

    // Single writer: a relaxed load and store is enough, and an aligned
    // 64-bit access is never torn for a reader on another core.
    @inline(__always) private func add(_ p: UnsafeMutablePointer<UInt64>, _ n: UInt64) {
        rtu_atomic_store_relaxed(p, rtu_atomic_load_relaxed(p) &+ n)
    }

    @inline(__always) private func load(_ p: UnsafeMutablePointer<UInt64>) -> UInt64 { rtu_atomic_load_relaxed(p) }

    public var totalDrops: UInt64 { DropReason.allCases.reduce(0) { $0 &+ self[$1] } }

    /// Non-zero counters as (name, value), events first, for logs and status output.
    public var nonZero: [(String, UInt64)] {
        StackEvent.allCases.compactMap { self[$0] == 0 ? nil : ($0.name, self[$0]) }
            + DropReason.allCases.compactMap { self[$0] == 0 ? nil : ("drop_" + $0.name, self[$0]) }
    }
}
