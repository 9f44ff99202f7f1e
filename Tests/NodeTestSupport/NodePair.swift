// Two nodes of the stack in one process, as the UDP and ATM tests stand them
// up: the fixture the test targets share, so a change to how a test node is
// configured is made once.
import CShims
import Links
import Node
import RTUScheduler
import Stack
import Wire

/// Two nodes joined by a socket-pair link, each with its own dispatcher
/// thread (SCHED_OTHER, unpinned: no privileges needed).
public final class NodePair {
    public static let macA = EthernetAddress(0x02, 0, 0, 0, 0, 0x0A)
    public static let macB = EthernetAddress(0x02, 0, 0, 0, 0, 0x0B)
    public static let addrA = IPv4Address(198, 18, 0, 1)
    public static let addrB = IPv4Address(198, 18, 0, 2)

    public let a: Node
    public let b: Node

    /// Ethernet ports "a" and "b" (`node`).
    public convenience init(configure: (inout NodeConfiguration) -> Void = { _ in }) throws {
        try self.init(names: ("a", "b"), configure: configure) { link, address, _, name in
            try Self.ethernetPort(link, address: address, name: name)
        }
    }

    /// The ports `port` makes over the link's two ends: A's (at `addrA`,
    /// its peer `addrB`) named `names.0`, and B's the other way round.
    public init(names: (String, String), configure: (inout NodeConfiguration) -> Void = { _ in },
                port: (_ link: SocketPairLink, _ address: IPv4Address, _ peer: IPv4Address, _ name: String) throws -> PortSpec)
        throws {
        let (la, lb) = try SocketPairLink.pair(a: Self.macA, b: Self.macB)
        var c = Self.configuration()
        configure(&c)
        a = try Node(configuration: c, ports: [port(la, Self.addrA, Self.addrB, names.0)])
        b = try Node(configuration: c, ports: [port(lb, Self.addrB, Self.addrA, names.1)])
        try a.start()
        try b.start()
    }

    deinit {
        a.stop()
        b.stop()
    }

    public static func configuration() -> NodeConfiguration {
        var scheduler = SchedulerConfiguration(cpus: [nil])
        scheduler.policy = .other
        scheduler.lockMemory = false
        scheduler.warn = { _ in }
        var c = NodeConfiguration(scheduler: scheduler)
        c.calibration = .fallback
        c.ringCapacity = 1 << 18
        return c
    }

    /// An Ethernet port over `link`: a /24 at `address`, MTU 1500.
    public static func ethernetPort(_ link: LinkDevice, address: IPv4Address, name: String) throws -> PortSpec {
        let pool = try BufferPool(slotSize: 64 + 1518, count: 4096)
        let ic = InterfaceConfiguration(name: name, hardwareAddress: link.hardwareAddress,
                                        address: IPv4Cidr(address: address, prefixLength: 24)!)
        return PortSpec(name: name, device: link, pool: pool, interface: ic)
    }

    /// A node (not started) with one Ethernet port over `link`.
    public static func node(_ link: LinkDevice, address: IPv4Address, name: String,
                            configure: (inout NodeConfiguration) -> Void = { _ in }) throws -> Node {
        var c = configuration()
        configure(&c)
        return try Node(configuration: c, ports: [ethernetPort(link, address: address, name: name)])
    }
}

/// Polls `condition` every millisecond for at most `seconds`.
public func waitUntil(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = rtu_sched_monotonic_ns() + Int64(seconds * 1e9)
    while rtu_sched_monotonic_ns() < deadline {
        if condition() { return true }
        _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 1_000_000)
    }
    return condition()
}
