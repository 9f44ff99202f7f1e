import CShims
import Links
import Node
import RTUScheduler
import Stack
import UserUDP
import Wire
import XCTest

/// Two nodes joined by a socket-pair link, each with its own dispatcher
/// thread (SCHED_OTHER, unpinned: no privileges needed).
final class NodePair {
    static let macA = EthernetAddress(0x02, 0, 0, 0, 0, 0x0A)
    static let macB = EthernetAddress(0x02, 0, 0, 0, 0, 0x0B)
    static let addrA = IPv4Address(198, 18, 0, 1)
    static let addrB = IPv4Address(198, 18, 0, 2)

    let a: Node
    let b: Node

    init(configure: (inout NodeConfiguration) -> Void = { _ in }) throws {
        let (la, lb) = try SocketPairLink.pair(a: Self.macA, b: Self.macB)
        a = try Self.node(la, address: Self.addrA, name: "a", configure: configure)
        b = try Self.node(lb, address: Self.addrB, name: "b", configure: configure)
        try a.start()
        try b.start()
    }

    deinit {
        a.stop()
        b.stop()
    }

    static func configuration() -> NodeConfiguration {
        var scheduler = SchedulerConfiguration(cpus: [nil])
        scheduler.policy = .other
        scheduler.lockMemory = false
        scheduler.warn = { _ in }
        var c = NodeConfiguration(scheduler: scheduler)
        c.calibration = .fallback
        c.ringCapacity = 1 << 18
        return c
    }

    static func node(_ link: LinkDevice, address: IPv4Address, name: String,
                     configure: (inout NodeConfiguration) -> Void) throws -> Node {
        var c = configuration()
        configure(&c)
        let pool = try BufferPool(slotSize: 64 + 1518, count: 4096)
        let ic = InterfaceConfiguration(name: name, hardwareAddress: link.hardwareAddress,
                                        address: IPv4Cidr(address: address, prefixLength: 24)!)
        return try Node(configuration: c, ports: [PortSpec(name: name, device: link, pool: pool, interface: ic)])
    }
}

func waitUntil(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = rtu_sched_monotonic_ns() + Int64(seconds * 1e9)
    while rtu_sched_monotonic_ns() < deadline {
        if condition() { return true }
        _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 1_000_000)
    }
    return condition()
}
