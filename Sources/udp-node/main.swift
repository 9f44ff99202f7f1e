// udp-node: one rtud node in this process, on a real device, playing one
// role against a peer — the tool the UDP integration tests and benchmarks
// run in their namespaces (scripts/bench-udp.sh, Tests/IntegrationTests).
// Prints one JSON object on stdout when done.
//
//   udp-node --device D [--driver af_packet|tap] [--rx-ring v2|v3] --address CIDR [--cpu N]
//            [--policy fifo|other] [--no-reservations] [--channel N] [--app-fifo P]
//            [--link-period-us T --link-batch B]
//            [--udp-cost-ns FIXED[:PER_KIB]] ROLE [role options]
//
//   sink    --port P [--count N] [--seconds S] [--idle-timeout S] [--check] [--work-ns W]
//   source  --to IP:PORT --size B --count N [--rate PPS] [--port P]
//   echo    --port P [--seconds S]
//   streams --stream PORT:RATE_BPS:SIZE[:PERIOD_MS] ... [--flood-port P] --seconds S [--warmup S] [--work-ns W]
//
// --work-ns W: the application spends W ns (a spin on the clock) on each
// datagram it gets — sink: in the receiving thread; streams: in the flood
// port's upcall, on the core — a consumer slower than any generator here
// (scripts/bench-udp.sh: the overload sweep and the CPU-hungry flood consumer).
//
// --rx-ring: the AF_PACKET receive ring (PacketSocketDevice.ReceiveRing; default: the driver's).
// --link-period-us, --link-batch: the link RTU (below). --app-fifo P: the application thread's
// SCHED_FIFO priority (below; default SCHED_OTHER).
//
// Content: UserUDP's PayloadPattern (shared with bench/c/udptool.c).
import CShims
import Glibc
import Links
import Node
import RTUScheduler
import Stack
import Synchronization
import UserUDP
import Wire

func fail(_ message: String) -> Never {
    fputs("udp-node: \(message)\n", stderr)
    exit(2)
}

struct Options {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    var role = ""

    init(_ args: ArraySlice<String>) {
        var i = args.startIndex
        let flagNames: Set<String> = ["--no-reservations", "--check"]
        while i < args.endIndex {
            let a = args[i]
            if flagNames.contains(a) {
                flags.insert(a)
            } else if a.hasPrefix("--") {
                guard i + 1 < args.endIndex else { fail("\(a) needs a value") }
                values[a, default: []].append(args[i + 1])
                i += 1
            } else if role.isEmpty {
                role = a
            } else {
                fail("unexpected argument \(a)")
            }
            i += 1
        }
    }

    func string(_ k: String) -> String? { values[k]?.last }
    /// The number given for `k`, nil when `k` is absent.
    func givenInt(_ k: String) -> Int? {
        guard let s = string(k) else { return nil }
        guard let v = Int(s) else { fail("\(k): not a number: \(s)") }
        return v
    }
    /// The number given for `k`, else `d`; without `d`, `k` is required.
    func int(_ k: String, _ d: Int? = nil) -> Int {
        guard let v = givenInt(k) ?? d else { fail("\(k) is required") }
        return v
    }
    func double(_ k: String, _ d: Double) -> Double { string(k).flatMap(Double.init) ?? d }
}

func now() -> Int64 { rtu_sched_monotonic_ns() }

/// --work-ns: per-datagram application work, a spin on the clock.
@inline(never) func work() {
    guard workNanoseconds > 0 else { return }
    let until = now() + workNanoseconds
    while now() < until {}
}

/// Already-encoded JSON (a nested object or array).
struct RawJSON { var text: String }

func json(_ pairs: [(String, Any)]) -> String {
    "{" + pairs.map { k, v in
        let value: String
        switch v {
        case let r as RawJSON: value = r.text
        case let s as String: value = "\"\(s)\""
        case let d as Double: value = d.isFinite ? "\((d * 1000).rounded() / 1000)" : "null"
        case let a as [Int]: value = "[" + a.map(String.init).joined(separator: ",") + "]"
        case let a as [RawJSON]: value = "[" + a.map(\.text).joined(separator: ",") + "]"
        default: value = "\(v)"
        }
        return "\"\(k)\":\(value)"
    }.joined(separator: ",") + "}"
}

/// Received-sequence bookkeeping per stream, as udptool's `recv --check`.
struct SequenceCheck {
    var received = 0, bytes = 0, contentErrors = 0, duplicates = 0, reordered = 0
    var highest: UInt64? = nil
    var bitmap = [UInt8](repeating: 0, count: 1 << 20)   // first 8M sequence numbers

    mutating func add(_ payload: UnsafeRawBufferPointer, check: Bool) {
        received += 1
        bytes += payload.count
        guard check else { return }
        let full = PayloadPattern.sequence(payload)
        let seq = full & 0xFFFF_FFFF_FFFF   // without the stream id in the top 16 bits
        if !PayloadPattern.matches(payload, seq: full) { contentErrors += 1 }
        if seq < UInt64(bitmap.count * 8) {
            let (byte, bit) = (Int(seq / 8), UInt8(1) << UInt8(seq % 8))
            if bitmap[byte] & bit != 0 { duplicates += 1 }
            bitmap[byte] |= bit
        }
        if let h = highest, seq < h { reordered += 1 }
        highest = max(highest ?? 0, seq)
    }

    var missing: Int { highest.map { Int($0) + 1 - (received - duplicates) } ?? 0 }
}

// MARK: - Node set-up

let options = Options(CommandLine.arguments.dropFirst())
let workNanoseconds = Int64(options.int("--work-ns", 0))
guard let deviceName = options.string("--device") else { fail("--device is required") }
guard let cidr = options.string("--address").flatMap(IPv4Cidr.init) else { fail("--address CIDR is required") }
let mtu = options.int("--mtu", 1500)
let device: LinkDevice
do {
    switch options.string("--driver") ?? "af_packet" {
    case "af_packet":
        if let name = options.string("--rx-ring") {
            guard let ring = PacketSocketDevice.ReceiveRing(rawValue: name) else { fail("--rx-ring v2|v3: \(name)") }
            device = try PacketSocketDevice(interface: deviceName, mtu: mtu, ring: ring)
        } else {
            device = try PacketSocketDevice(interface: deviceName, mtu: mtu)
        }
    case "tap":
        let mac = options.string("--mac").flatMap(EthernetAddress.init) ?? EthernetAddress(0x02, 0x52, 0x54, 0, 0, 1)
        device = try TapDevice(name: deviceName, create: false, mtu: mtu, hardwareAddress: mac)
    case let other: fail("unknown driver \(other)")
    }
} catch { fail("\(deviceName): \(error)") }

var scheduler = SchedulerConfiguration(cpus: [options.int("--cpu", 1)])
scheduler.policy = options.string("--policy") == "other" ? .other : .fifo
var configuration = NodeConfiguration(scheduler: scheduler)
configuration.reservationsEnabled = !options.flags.contains("--no-reservations")
configuration.channelCapacity = options.int("--channel", 512)
// --link-period-us, --link-batch: the link RTU's minimum inter-release time and frames per release
// (NodeConfiguration.linkPeriod, .linkBatch).
if let us = options.givenInt("--link-period-us") { configuration.linkPeriod = Int64(us) * 1000 }
configuration.linkBatch = options.int("--link-batch", configuration.linkBatch)
// --udp-cost-ns FIXED[:PER_KIB] overrides the start-up calibration of c(S), as [calibration] does for rtud.
if let text = options.string("--udp-cost-ns") {
    let parts = text.split(separator: ":").compactMap { Int64($0) }
    guard parts.count >= 1 && parts.count <= 2 else { fail("--udp-cost-ns FIXED[:PER_KIB]: \(text)") }
    let cost = MessageCost(fixed: parts[0], perKilobyte: parts.count > 1 ? parts[1] : 0)
    configuration.calibration = UDPCalibration(input: cost, output: cost, source: "command line")
}
let pool: BufferPool
do { pool = try BufferPool(slotSize: 64 + mtu + 18, count: 8192) } catch { fail("buffer pool: \(error)") }
let node: Node
do {
    node = try Node(configuration: configuration, ports: [PortSpec(
        name: deviceName, device: device, pool: pool,
        interface: InterfaceConfiguration(name: deviceName, hardwareAddress: device.hardwareAddress, address: cidr, mtu: mtu))])
    try node.start()
} catch { fail("\(error)") }
fputs("udp-node: \(deviceName) \(cidr) at \(device.hardwareAddress), dispatcher \(node.runtime.effectivePolicies), calibration \(node.calibration)\n", stderr)
// --app-fifo P: the application (this) thread at SCHED_FIFO P, as the kernel baselines' udptool
// --fifo; below the dispatcher's priority, so the core's RTUs still preempt it.
if let priority = options.givenInt("--app-fifo") {
    let r = rtu_sched_set_fifo_self(Int32(priority))
    if r != 0 { fail("--app-fifo: sched_setscheduler failed, errno \(r)") }
}

let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 64)

func bound(_ port: Int, name: String? = nil, handler: ((UDPDatagram) -> Void)? = nil) -> UDPSocket {
    do {
        let s = try node.openUDP(name: name, handler: handler)
        try node.bind(s, to: SocketAddress(address: .any, port: UInt16(port)))
        return s
    } catch { fail("socket on port \(port): \(error)") }
}

func countersJSON() -> RawJSON {
    RawJSON(text: "{" + node.counters().flatMap { $0.1 }.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
}

// MARK: - Roles

func sink() {
    let count = options.int("--count", Int.max)
    let seconds = options.double("--seconds", 60)
    let idle = Int64(options.double("--idle-timeout", 2) * 1e9)
    let check = options.flags.contains("--check")
    var result = SequenceCheck()
    let socket = bound(options.int("--port"))
    print(json([("mode", "ready")])); fflush(stdout)
    let start = now()
    var first: Int64 = 0, last: Int64 = 0
    while result.received < count {
        let limit = start + Int64(seconds * 1e9) - now()
        if limit <= 0 { break }
        let wait = first == 0 ? limit : min(limit, idle)
        let got: UDPReceived?
        do { got = try socket.receive(into: buffer, timeout: wait) } catch { continue }
        guard let got else { if first != 0 { break } else { continue } }
        last = now()
        if first == 0 { first = last }
        result.add(UnsafeRawBufferPointer(buffer.slice(0 ..< got.stored)), check: check)
        work()
    }
    let elapsed = Double(max(1, last - first)) / 1e9
    let c = socket.counters
    print(json([("mode", "sink"), ("received", result.received), ("bytes", result.bytes), ("seconds", elapsed),
                ("pps", Double(result.received) / elapsed), ("mbps", Double(result.bytes) * 8 / elapsed / 1e6),
                ("content_errors", result.contentErrors), ("duplicates", result.duplicates),
                ("reordered", result.reordered), ("missing", result.missing),
                ("channel_dropped", Int(socket.channel.droppedFull.load(ordering: .relaxed))),
                ("ring_dropped", Int(c.droppedRingFull.load(ordering: .relaxed))),
                ("bad_checksum", Int(c.droppedBadChecksum.load(ordering: .relaxed))),
                ("counters", countersJSON())]))
}

func source() {
    guard let to = options.string("--to").flatMap(SocketAddress.init) else { fail("--to IP:PORT is required") }
    let size = options.int("--size"), count = options.int("--count")
    let rate = options.double("--rate", 0)
    let socket = bound(options.int("--port", 0))
    do { try node.connect(socket, to: to) } catch { fail("connect: \(error)") }
    let start = now()
    var sent = 0, failures = 0
    while sent < count {
        if rate > 0 {
            let due = start + Int64(Double(sent) / rate * 1e9)
            if due > now() { _ = rtu_sched_sleep_until(due) }
        }
        let out = buffer.slice(0 ..< size)
        PayloadPattern.fill(out, seq: UInt64(sent))
        do { try socket.send(UnsafeRawBufferPointer(out), timeout: 2_000_000_000) } catch { failures += 1; if failures > 10 { break }; continue }
        sent += 1
    }
    // Let the output RTU drain the ring before reporting.
    _ = waitFor(5) { socket.counters.sent.load(ordering: .relaxed) + socket.counters.sendFailed.load(ordering: .relaxed) >= UInt64(sent) }
    let elapsed = Double(now() - start) / 1e9
    print(json([("mode", "source"), ("sent", Int(socket.counters.sent.load(ordering: .relaxed))), ("queued", sent),
                ("send_failed", Int(socket.counters.sendFailed.load(ordering: .relaxed))), ("seconds", elapsed),
                ("pps", Double(sent) / elapsed), ("mbps", Double(sent * size) * 8 / elapsed / 1e6),
                ("counters", countersJSON())]))
}

func echo() {
    let seconds = options.double("--seconds", 30)
    let socket = bound(options.int("--port"))
    print(json([("mode", "ready")])); fflush(stdout)
    let end = now() + Int64(seconds * 1e9)
    var echoed = 0
    while now() < end {
        guard let got = try? socket.receive(into: buffer, timeout: 100_000_000) else { continue }
        if (try? socket.send(UnsafeRawBufferPointer(buffer.slice(0 ..< got.stored)), to: got.source, timeout: 1_000_000_000)) != nil {
            echoed += 1
        }
    }
    print(json([("mode", "echo"), ("echoed", echoed), ("counters", countersJSON())]))
}

/// Per-interval delivery counts of one stream, written by its upcall on the core.
final class StreamMeter: @unchecked Sendable {
    static let interval: Int64 = 100_000_000
    /// When the window opens; set once every socket is in place (nothing counts before).
    let start = Atomic<Int64>(.max)
    let counts: UnsafeMutablePointer<Int>
    let slots: Int
    var received = 0, bytes = 0
    init(seconds: Double) {
        slots = Int(seconds * 10) + 20
        counts = .allocate(capacity: slots)
        counts.initialize(repeating: 0, count: slots)
    }
    func add(_ n: Int) {
        received &+= 1
        bytes &+= n
        let t = rtu_sched_monotonic_ns(), from = start.load(ordering: .relaxed)
        guard t >= from else { return }
        let i = Int((t - from) / Self.interval)
        if i < slots { counts[i] &+= 1 }
    }
}

func streams() {
    let setupBegan = now()
    let seconds = options.double("--seconds", 10)
    var specs: [(port: Int, reservation: UDPReservation)] = []
    for text in options.values["--stream"] ?? [] {
        let f = text.split(separator: ":").map(String.init)
        guard f.count >= 3, let p = Int(f[0]), let r = UInt64(f[1]), let s = Int(f[2]) else { fail("--stream PORT:RATE_BPS:SIZE[:PERIOD_MS]: \(text)") }
        let period = f.count > 3 ? Int64(f[3]).map { $0 * 1_000_000 } : nil
        specs.append((p, UDPReservation(bitsPerSecond: r, messageSize: s, period: period)))
    }
    var meters: [(Int, StreamMeter, UDPSocket, UDPReservation?)] = []
    for spec in specs {
        let meter = StreamMeter(seconds: seconds)
        let socket = bound(spec.port, name: "s\(spec.port)") { meter.add($0.payload.count) }
        do { try node.reserve(socket, spec.reservation) } catch { fail("reserve \(spec.port): \(error)") }
        meters.append((spec.port, meter, socket, spec.reservation))
    }
    if let flood = options.string("--flood-port").flatMap(Int.init) {
        let meter = StreamMeter(seconds: seconds)
        let socket = bound(flood, name: "flood") { meter.add($0.payload.count); work() }
        meters.append((flood, meter, socket, nil))
    }
    // The measured window opens a warm-up after every socket is in place, so
    // senders and background load started on "ready" are running by then.
    let start = now() + Int64(options.double("--warmup", 1) * 1e9)
    for (_, meter, _, _) in meters { meter.start.store(start, ordering: .relaxed) }
    fputs("udp-node: sockets in place \(Double(now() - setupBegan) / 1e6) ms after the role began\n", stderr)
    print(json([("mode", "ready")])); fflush(stdout)
    _ = rtu_sched_sleep_until(start + Int64(seconds * 1e9) + 500_000_000)
    var out: [RawJSON] = []
    let whole = Int(seconds * 10)
    for (port, meter, socket, reservation) in meters {
        // Intervals fully inside the measured window.
        let counts = (0..<whole).map { meter.counts[$0] }
        let received = counts.reduce(0, +)
        let rate = reservation.map { Double($0.bitsPerSecond) / 8 / Double($0.messageSize) } ?? 0
        let handles = node.handles(of: socket)
        let stats = handles.map { node.runtime.statistics($0.input.id) } ?? nil
        out.append(RawJSON(text: json([("port", port), ("reserved_pps", rate), ("received", received),
                         ("pps", Double(received) / seconds),
                         ("share", rate > 0 ? Double(received) / seconds / rate : 0),
                         ("min_interval", counts.min() ?? 0), ("channel_dropped", Int(socket.channel.droppedFull.load(ordering: .relaxed))),
                         ("overruns", Int(stats?.overruns ?? 0)), ("intervals", counts)])))
    }
    print(json([("mode", "streams"), ("reservations", configuration.reservationsEnabled ? "on" : "off"),
                ("policy", "\(node.runtime.effectivePolicies)"), ("seconds", seconds), ("streams", out),
                ("counters", countersJSON())]))
}

func waitFor(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = now() + Int64(seconds * 1e9)
    while now() < deadline {
        if condition() { return true }
        _ = rtu_sched_sleep_until(now() + 1_000_000)
    }
    return condition()
}

switch options.role {
case "sink": sink()
case "source": source()
case "echo": echo()
case "streams": streams()
default: fail("role must be sink, source, echo or streams")
}
fflush(stdout)
node.stop()
exit(0)
