import Control
import Wire

/// Every request and reply case at least once, with values that use each
/// field's range: non-ASCII text, extreme integers, optionals present and absent.
enum Fixtures {
    static let reservation = ReservationSpec(rateBitsPerSecond: 40_000_000, messageSize: 8192,
                                             periodNanoseconds: 10_000_000)
    static let address = SocketAddress(address: IPv4Address(198, 18, 0, 1), port: 5000)
    static let peer = SocketAddress(address: IPv4Address(198, 19, 255, 254), port: 65535)
    static let counters = [Counter(name: "rx_packets", value: .max), Counter(name: "drops: channel full", value: 7)]

    static let fullSpec = SocketSpec(proto: .udp, name: "vidéo0 ✓", bind: address, connect: peer,
                                     reserve: reservation, persistent: true, attach: false,
                                     vc: ATMVirtualChannel(vpi: 255, vci: 0xFFFF))
    static let bareSpec = SocketSpec(proto: .tcp, name: nil, bind: SocketAddress(address: .any, port: 0),
                                     connect: nil, reserve: nil, persistent: false, attach: true)

    static let socket = SocketInfo(id: 0xDEAD_BEEF, name: "video0", proto: .udp, local: address, remote: peer,
                                   reserve: reservation, ownerUID: 1000, persistent: true, attached: true,
                                   interface: "atm0", counters: counters, vc: ATMVirtualChannel(vpi: 1, vci: 0x1234))
    static let bareSocket = SocketInfo(id: 1, name: "", proto: .tcp, local: address, remote: nil, reserve: nil,
                                       ownerUID: 0, persistent: false, attached: false, interface: "", counters: [])

    static let rtu = RTUInfo(id: 3, name: "udp-in video0", owner: "video0", core: -1, kind: .reactive,
                             periodNs: 10_000_000, budgetNs: 250_000, batch: 49, invocations: 1 << 40, overruns: 2,
                             deadlineMisses: 1, latenessP50Ns: -5, latenessP99Ns: 80_000, latenessMaxNs: .max,
                             executionP50Ns: 1_200, executionP99Ns: 9_000, executionMaxNs: .min)

    static let status = DaemonStatus(
        version: "0.1.0", pid: 4242, uptimeNs: 86_400_000_000_000, realtime: true,
        interfaces: [InterfaceInfo(name: "rtu0", driver: "tap", address: "198.18.0.1/24", mac: "02:00:00:00:00:01",
                                   mtu: 1500, link: "atm")],
        cores: [CoreInfo(cpu: 1, realtime: true, admittedPPB: 850_000_000, measuredPPB: 123_456_789, rtus: 3),
                CoreInfo(cpu: 0, realtime: false, admittedPPB: 0, measuredPPB: -1, rtus: 0)],
        sockets: 2, clients: 1)

    static let requests: [ControlRequest] = [
        .hello(version: ControlCodec.version, client: "rtuctl 0.1 (pid 77)"),
        .createSocket(fullSpec),
        .createSocket(bareSpec),
        .attach(name: "video0"),
        .close(id: .max),
        .delete(name: "ünïcode-name"),
        .listSockets(cursor: 0),
        .listRTUs(cursor: 0x8000_0001),
        .stats,
        .status,
    ]

    static let replies: [ControlReply] = [
        .hello(version: 1, daemon: "rtud 0.1.0", pid: 1),
        .socket(socket),
        .socket(bareSocket),
        .ok,
        .sockets([socket, bareSocket, socket], next: 3),
        .sockets([], next: 0),
        .rtus([rtu, rtu], next: 0),
        .stats([CounterGroup(name: "link rtu0", counters: counters), CounterGroup(name: "empty", counters: [])]),
        .status(status),
        .error(.admissionRefused, "core 1: R = 12.3 ms > T = 10 ms"),
        .socketClosed(id: 9, .ringViolation, "tx ring index out of range"),
    ]
}

/// xorshift64* (Vigna 2016): a seeded generator, so a failing fuzz case replays.
/// (Links has SplitMix64, but this target does not depend on Links.)
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64  // never 0

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
