import ArgumentParser
import CShims
import Foundation
import Glibc
import SharedRings

/// Messages per second through one socket's ring between two processes, as
/// client and daemon use it (no network, no rtud): the client process sends
/// with `DatagramEndpoint.send`, one datagram per call, into the TX ring of a
/// `SocketRegion` the other process created; that process consumes it as
/// the daemon's output RTU does (peek, consume, free in batches of up to 64,
/// sleeping on the doorbell when the ring is empty). The baseline, in the
/// same run: the same two processes over an AF_UNIX socket pair, one
/// `send` and one `recv` per datagram (SOCK_DGRAM, and SOCK_SEQPACKET).
/// Every datagram carries its number; the receiver checks order, length and
/// that none is missing.
struct RingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring", abstract: "One ring between two processes against an AF_UNIX socket pair.")

    @Option(help: "Payload sizes (comma-separated).") var sizes = "64,1472"
    @Option(help: "Seconds each transfer runs.") var seconds = 2.0
    @Option(help: "Rounds (the order of the transports alternates).") var rounds = 3
    @Option(help: "CPU of the sending process.") var producerCPU = 0
    @Option(help: "CPU of the receiving process.") var consumerCPU = 1
    @Option(help: "Bytes of the ring (like rtud's: 256 KiB).") var ringBytes = 1 << 18
    @Option(help: "Where the figures go as JSON.") var json: String?

    func run() throws {
        let sizeList = sizes.split(separator: ",").compactMap { Int($0) }
        guard !sizeList.isEmpty, sizeList.allSatisfy({ $0 >= 8 && $0 <= 65_000 }) else { fail("sizes: 8 to 65000 bytes") }
        _ = rtu_sched_pin_self(Int32(consumerCPU))
        var results: [RingResult] = []
        for round in 0..<rounds {
            for size in sizeList {
                var order = Transport.allCases
                if round % 2 == 1 { order.reverse() }
                for transport in order {
                    let r = transfer(transport, size: size)
                    results.append(RingResult(round: round, size: size, transport: transport.rawValue, messages: r.messages,
                                              seconds: r.seconds, consumerCPU: r.consumerCPU, producerCPU: r.producerCPU))
                    note("round \(round + 1) \(transport.rawValue) \(size) B: \(grouped(Double(r.messages) / r.seconds))/s")
                }
            }
        }
        print(RingResult.table(results, sizes: sizeList, rounds: rounds, seconds: seconds, ringBytes: ringBytes))
        if let json { try writeJSON(results, to: json) }
    }

    /// One transfer: starts the sending process with its descriptors as 3, 4, …
    /// and receives here until its end marker.
    func transfer(_ transport: Transport, size: Int) -> (messages: Int, seconds: Double, consumerCPU: Int64, producerCPU: Int64) {
        let args = ["ring-peer", "--transport", transport.rawValue, "--size", String(size), "--seconds", String(seconds),
                    "--cpu", String(producerCPU)]
        switch transport {
        case .ring:
            let region: SocketRegion
            do { region = try SocketRegion.create(name: "scale-bench-ring", rxCapacity: ringBytes, txCapacity: ringBytes) } catch {
                fail("region: \(error)")
            }
            let pid = spawn(args, passing: region.descriptors)
            let cpu0 = rtu_sched_thread_cpu_ns()
            let (count, ns) = consumeRing(region.tx, size: size)
            let cpu = rtu_sched_thread_cpu_ns() - cpu0
            return (count, Double(ns) / 1e9, cpu, reap(pid))
        case .unixDatagram, .unixSeqpacket:
            var pair: [Int32] = [0, 0]
            let type = transport == .unixDatagram ? SOCK_DGRAM : SOCK_SEQPACKET
            guard socketpair(AF_UNIX, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
                fail("socketpair: \(String(cString: strerror(errno)))")
            }
            let pid = spawn(args, passing: [pair[1]])
            close(pair[1])
            let cpu0 = rtu_sched_thread_cpu_ns()
            let (count, ns) = receiveSocket(pair[0], size: size)
            let cpu = rtu_sched_thread_cpu_ns() - cpu0
            close(pair[0])
            return (count, Double(ns) / 1e9, cpu, reap(pid))
        }
    }

    /// The daemon's side of the TX ring: checks each record, frees in batches.
    func consumeRing(_ ring: MessageRing, size: Int) -> (Int, Int64) {
        var expected: UInt64 = 0
        var start: Int64 = 0
        var unreleased = 0
        while true {
            let record: (RecordHeader, UnsafeRawBufferPointer)?
            do { record = try ring.peek() } catch { fail("ring: \(error)") }
            guard let (_, bytes) = record else {
                ring.releaseConsumed()
                unreleased = 0
                _ = ring.waitForData(timeoutNanoseconds: 5_000_000_000)
                continue
            }
            // The client writes the datagram after the UDP header's headroom.
            let sequence = bytes.load(fromByteOffset: DatagramEndpoint.headroom, as: UInt64.self)
            ring.consume()
            if sequence == .max { break }
            guard sequence == expected, bytes.count == size + DatagramEndpoint.headroom else {
                fail("ring: datagram \(sequence) of \(bytes.count) bytes where \(expected) of \(size + DatagramEndpoint.headroom) was due")
            }
            if expected == 0 { start = now() }
            expected += 1
            unreleased += 1
            if unreleased == 64 {
                ring.releaseConsumed()
                unreleased = 0
            }
        }
        ring.releaseConsumed()
        return (Int(expected), now() - start)
    }

    func receiveSocket(_ fd: Int32, size: Int) -> (Int, Int64) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
        defer { buffer.deallocate() }
        var expected: UInt64 = 0
        var start: Int64 = 0
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n < 0 && errno == EINTR { continue }
            guard n >= 8 else { fail("recv: \(n < 0 ? String(cString: strerror(errno)) : "\(n) bytes")") }
            let sequence = buffer.load(as: UInt64.self)
            if sequence == .max { break }
            guard sequence == expected, n == size else { fail("socket: datagram \(sequence) of \(n) bytes where \(expected) of \(size) was due") }
            if expected == 0 { start = now() }
            expected += 1
        }
        return (Int(expected), now() - start)
    }
}

enum Transport: String, CaseIterable, ExpressibleByArgument {
    case ring
    case unixDatagram = "unix-dgram"
    case unixSeqpacket = "unix-seqpacket"
}

/// The sending process of one transfer: sends numbered datagrams for
/// `--seconds`, then an end marker.
struct RingPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring-peer", abstract: "The sending side of `ring` (started by it).", shouldDisplay: false)

    @Option var transport: Transport
    @Option var size: Int
    @Option var seconds: Double
    @Option var cpu: Int

    func run() throws {
        _ = rtu_sched_pin_self(Int32(cpu))
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        for i in 0..<size { payload[i] = UInt8(truncatingIfNeeded: i) }
        let send: (UInt64) -> Void
        switch transport {
        case .ring:
            let region: SocketRegion
            do { region = try SocketRegion.map(descriptors: [3, 4, 5, 6, 7]) } catch { fail("map: \(error)") }
            let endpoint = DatagramEndpoint(rx: region.rx, tx: region.tx)
            let peer = DatagramPeer(address: 0xC612_0002, port: 9)
            send = { sequence in
                payload.storeBytes(of: sequence, as: UInt64.self)
                do { try endpoint.send(UnsafeRawBufferPointer(payload), to: peer, timeout: -1) { false } } catch {
                    fail("send: \(error)")
                }
            }
        case .unixDatagram, .unixSeqpacket:
            send = { sequence in
                payload.storeBytes(of: sequence, as: UInt64.self)
                while Glibc.send(3, payload.baseAddress, payload.count, 0) < 0 {
                    if errno != EINTR { fail("send: \(String(cString: strerror(errno)))") }
                }
            }
        }
        let deadline = now() + Int64(seconds * 1e9)
        var sequence: UInt64 = 0
        while now() < deadline {
            for _ in 0..<256 {
                send(sequence)
                sequence += 1
            }
        }
        send(.max)
    }
}

/// Starts this program with `arguments`, `descriptors` becoming its 3, 4, …
/// (dup2 in the child; every other descriptor of ours is close-on-exec).
func spawn(_ arguments: [String], passing descriptors: [Int32]) -> pid_t {
    // Moved out of the way first, so no source is also a target of dup2
    // (which would leave its close-on-exec flag set).
    let high = descriptors.map { fcntl($0, F_DUPFD_CLOEXEC, 100) }
    defer { for fd in high { close(fd) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (i, fd) in high.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, Int32(3 + i)) }
    let path = Child.executable.path
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else { fail("posix_spawn: \(String(cString: strerror(rc)))") }
    return pid
}

/// Waits for `pid`; returns its CPU time (user + system) in nanoseconds.
func reap(_ pid: pid_t) -> Int64 {
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    guard status == 0 else { fail("sending process \(pid) failed (status \(status))") }
    func ns(_ t: timeval) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_usec) * 1000 }
    return ns(usage.ru_utime) + ns(usage.ru_stime)
}

struct RingResult: Codable {
    var round: Int
    var size: Int
    var transport: String
    var messages: Int
    var seconds: Double
    var consumerCPU: Int64
    var producerCPU: Int64

    var rate: Double { Double(messages) / seconds }

    static func table(_ all: [RingResult], sizes: [Int], rounds: Int, seconds: Double, ringBytes: Int) -> String {
        var out = ["### One ring between two processes vs an AF_UNIX socket pair (\(rounds) rounds of \(seconds) s, ring \(ringBytes / 1024) KiB)\n",
                   "| payload | ring msgs/s (median) | unix dgram msgs/s | unix seqpacket msgs/s | ring / dgram (per round) | ring / seqpacket | CPU ns per msg: ring send + recv | dgram send + recv |",
                   "|---:|---:|---:|---:|---|---:|---:|---:|"]
        for size in sizes {
            func runs(_ t: Transport) -> [RingResult] { all.filter { $0.size == size && $0.transport == t.rawValue } }
            let ring = runs(.ring), dgram = runs(.unixDatagram), seq = runs(.unixSeqpacket)
            /// The ring's rate over `other`'s, per round that has both.
            func ratios(to other: [RingResult]) -> [Double] {
                (0..<rounds).compactMap { r -> Double? in
                    guard let a = ring.first(where: { $0.round == r }), let b = other.first(where: { $0.round == r }) else { return nil }
                    return a.rate / b.rate
                }
            }
            let perRound = ratios(to: dgram), perRoundSeq = ratios(to: seq)
            func cpu(_ runs: [RingResult]) -> String {
                let p = median(runs.map { Double($0.producerCPU) / Double($0.messages) })
                let c = median(runs.map { Double($0.consumerCPU) / Double($0.messages) })
                return String(format: "%.0f + %.0f", p, c)
            }
            out.append("| \(size) B | \(grouped(median(ring.map(\.rate)))) | \(grouped(median(dgram.map(\.rate)))) | \(grouped(median(seq.map(\.rate)))) | **\(String(format: "%.1f", median(perRound)))** (\(perRound.map { String(format: "%.1f", $0) }.joined(separator: ", "))) | \(String(format: "%.1f", median(perRoundSeq))) | \(cpu(ring)) | \(cpu(dgram)) |")
        }
        return out.joined(separator: "\n")
    }
}
