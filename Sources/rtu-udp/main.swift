// rtu-udp: a UDP application on RTUClient — the Swift example of the client
// library, and the application side of the end-to-end tests and of the
// reserved-streams benchmark. The same program runs on kernel sockets
// (--kernel), so the comparison is between stacks, not programs.
//
//   rtu-udp recv (--attach NAME | --bind A:P [--rate R --size S] | --kernel --bind A:P)
//                [--count N] [--seconds S] [--idle-timeout S] [--check] [--intervals MS]
//   rtu-udp send (--attach NAME | --bind A:P | --kernel) --dst A:P --size S --count N [--pps N] [--stream ID]
//   rtu-udp echo (--attach NAME | --bind A:P | --kernel --bind A:P) [--count N] [--seconds S]
//
// Content is PayloadPattern's (bytes 0..7 the sequence number, udptool's
// format), checked with --check. One JSON object on stdout at the end.

import ArgumentParser
import CShims
import Config
import Control
import Glibc
import RTUClient
import SharedRings
import UserUDP
import Wire

struct Endpoint: ParsableArguments {
    @Option(name: .long, help: "rtud's control socket (default $RTUD_CONTROL or /run/rtud/control.sock).") var control: String?
    @Option(name: .long, help: "Attach to this named socket.") var attach: String?
    @Option(name: .long, help: "Create a socket bound here (address:port).") var bind: String?
    @Option(name: .long, help: "Reserve this rate for the created socket (e.g. 40Mbit).") var rate: String?
    @Option(name: .customLong("message-size"), help: "Message size of the reservation.") var messageSize: Int?
    @Option(name: .long, help: "Period of the reservation in ms (default 10).") var periodMs: Int = 10
    @Flag(name: .long, help: "Use a kernel UDP socket instead of rtud.") var kernel = false

    func validate() throws {
        if kernel {
            if attach != nil || rate != nil { throw ValidationError("--kernel takes --bind only") }
        } else if (attach == nil) == (bind == nil) {
            throw ValidationError("give --attach NAME or --bind ADDRESS:PORT (or --kernel)")
        }
        if let b = bind, SocketAddress(b) == nil { throw ValidationError("--bind \(b): expected address:port") }
        if (rate == nil) != (messageSize == nil) { throw ValidationError("--rate and --message-size go together") }
    }

    /// `open` for the receiving modes, then `{"ready":true}` on stdout: the
    /// scripts start their senders once they see it.
    func openForReceiving() throws -> DatagramSocket {
        let socket = try open(connect: nil)
        print("{\"ready\":true}")
        fflush(stdout)
        return socket
    }

    func open(connect: SocketAddress?) throws -> DatagramSocket {
        if kernel { return try KernelSocket(bind: bind.flatMap { SocketAddress($0) }, connect: connect) }
        do {
            let client = try RTUClient(controlPath: control ?? RTUClient.environmentControlPath, client: "rtu-udp")
            let socket: RTUSocket
            if let name = attach {
                socket = try client.attach(name)
            } else {
                var reserve: ReservationSpec?
                if let r = rate, let size = messageSize {
                    guard let bits = BitRate(r) else { throw ValidationError("--rate \(r): e.g. 40Mbit") }
                    reserve = ReservationSpec(rateBitsPerSecond: bits.bitsPerSecond, messageSize: UInt32(size),
                                              periodNanoseconds: UInt64(periodMs) * 1_000_000)
                }
                socket = try client.openSocket(bind: SocketAddress(bind!)!, connect: connect, reserve: reserve)
            }
            return RingSocket(client: client, socket: socket)
        } catch let e as RTUClientError {
            throw Failure(e.description)
        }
    }
}

/// What the modes need from a socket, so they run unchanged on rtud and on the kernel.
protocol DatagramSocket: AnyObject {
    /// Blocks until sent (back-pressure from the ring or the kernel buffer).
    func send(_ payload: UnsafeRawBufferPointer, to: SocketAddress?) throws
    /// nil on timeout.
    func receive(into: UnsafeMutableRawBufferPointer, timeoutNs: Int64) throws -> (length: Int, source: SocketAddress)?
    var description: String { get }
}

final class RingSocket: DatagramSocket {
    let client: RTUClient
    let socket: RTUSocket
    init(client: RTUClient, socket: RTUSocket) {
        self.client = client
        self.socket = socket
    }
    func send(_ payload: UnsafeRawBufferPointer, to: SocketAddress?) throws { try socket.send(payload, to: to) }
    func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutNs: Int64) throws -> (length: Int, source: SocketAddress)? {
        while true {
            do throws(RTUSocketError) {
                guard let r = try socket.receive(into: buffer, timeout: timeoutNs) else { return nil }
                return (r.length, r.source)
            } catch {
                if case .icmp = error { continue }   // counted by the daemon; not data
                throw Failure("\(error)")
            }
        }
    }
    var description: String { "rtud socket \(socket.name) at \(socket.local)" }
}

final class KernelSocket: DatagramSocket {
    let fd: Int32
    init(bind: SocketAddress?, connect: SocketAddress?) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))") }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, 4)
        if let bind {
            var a = bind.sockaddrIn
            let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, 16) } }
            guard r == 0 else { throw Failure("bind \(bind): \(String(cString: strerror(errno)))") }
        }
        if let connect {
            var a = connect.sockaddrIn
            let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, 16) } }
            guard r == 0 else { throw Failure("connect \(connect): \(String(cString: strerror(errno)))") }
        }
    }
    deinit { close(fd) }

    func send(_ payload: UnsafeRawBufferPointer, to: SocketAddress?) throws {
        while true {
            let r: Int
            if let to {
                var a = to.sockaddrIn
                r = withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { sendto(fd, payload.baseAddress, payload.count, 0, $0, 16) }
                }
            } else {
                r = Glibc.send(fd, payload.baseAddress, payload.count, 0)
            }
            if r >= 0 { return }
            if errno == EINTR || errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED { continue }
            throw Failure("send: \(String(cString: strerror(errno)))")
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutNs: Int64) throws -> (length: Int, source: SocketAddress)? {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms = timeoutNs < 0 ? -1 : Int32(min(Int64(Int32.max), (timeoutNs + 999_999) / 1_000_000))
        if poll(&p, 1, ms) == 0 { return nil }
        var a = sockaddr_in()
        var length = socklen_t(16)
        let n = withUnsafeMutablePointer(to: &a) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) {
                recvfrom(fd, buffer.baseAddress, buffer.count, Int32(MSG_TRUNC), $0, &length)
            }
        }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED { return nil }
            throw Failure("recv: \(String(cString: strerror(errno)))")
        }
        return (n, SocketAddress(a))
    }
    var description: String { "kernel socket" }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The monotonic clock in nanoseconds.
func now() -> Int64 { rtu_sched_monotonic_ns() }

struct RTUUDP: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rtu-udp", abstract: "A UDP application on RTUClient (or kernel sockets).",
                                                    subcommands: [Recv.self, Send.self, Echo.self])
}

struct Recv: ParsableCommand {
    @OptionGroup var endpoint: Endpoint
    @Option(help: "Stop after this many datagrams.") var count: Int = .max
    @Option(help: "Stop after this many seconds.") var seconds: Double = 60
    @Option(name: .customLong("idle-timeout"), help: "Stop when nothing arrives for this long after the first (0: off).")
    var idleTimeout: Double = 2
    @Flag(help: "Check the content (udptool's pattern).") var check = false
    @Option(help: "Count datagrams per interval of this many ms from the first one (for the benchmark).") var intervals: Int?
    @Option(help: "Start counting intervals this many seconds after the first datagram.") var warmup: Double = 0

    func run() throws {
        let socket = try endpoint.openForReceiving()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { buffer.deallocate() }
        var received = 0, bytes = 0, bad = 0, duplicates = 0, reordered = 0
        var seen = Set<UInt64>(), highest: [UInt64: UInt64] = [:]
        var first: Int64 = 0, last: Int64 = 0
        var perInterval: [Int] = []
        let end = now() + Int64(seconds * 1e9)
        while received < count {
            let t = now()
            if t >= end { break }
            var wait = end - t
            if idleTimeout > 0 && received > 0 { wait = min(wait, last + Int64(idleTimeout * 1e9) - t) }
            if wait <= 0 { break }
            guard let r = try socket.receive(into: buffer, timeoutNs: wait) else { continue }
            last = now()
            if received == 0 { first = last }
            received += 1
            bytes += r.length
            if let ms = intervals, Double(last - first) >= warmup * 1e9 {
                let i = Int((Double(last - first) - warmup * 1e9) / (Double(ms) * 1e6))
                while perInterval.count <= i { perInterval.append(0) }
                perInterval[i] += 1
            }
            if check {
                let payload = UnsafeRawBufferPointer(rebasing: buffer[0..<min(r.length, buffer.count)])
                guard let seq = PayloadPattern.check(payload) else { bad += 1; continue }
                if !seen.insert(seq).inserted { duplicates += 1; continue }
                let stream = seq >> 48
                if let h = highest[stream], seq < h { reordered += 1 }
                highest[stream] = max(highest[stream] ?? 0, seq)
            }
        }
        let span = Double(last - first) / 1e9
        var missing = 0
        if check { for (stream, h) in highest { missing += Int(h - (stream << 48) + 1) - seen.filter { $0 >> 48 == stream }.count } }
        var json = "{\"mode\":\"recv\",\"socket\":\"\(socket.description)\",\"received\":\(received),\"bytes\":\(bytes)"
        json += ",\"seconds\":\(span),\"mbps\":\(span > 0 ? Double(bytes) * 8 / span / 1e6 : 0)"
        if check { json += ",\"bad_content\":\(bad),\"duplicates\":\(duplicates),\"reordered\":\(reordered),\"missing\":\(missing)" }
        if intervals != nil {
            // The last interval is cut short by the end of the run: left out.
            json += ",\"intervals\":[" + perInterval.dropLast().map(String.init).joined(separator: ",") + "]"
        }
        print(json + "}")
        if check && (bad > 0 || duplicates > 0) { throw ExitCode(1) }
    }
}

struct Send: ParsableCommand {
    @OptionGroup var endpoint: Endpoint
    @Option(help: "Destination address:port (default: the socket's connected peer).") var dst: String?
    @Option(help: "Payload bytes.") var size: Int = 512
    @Option(help: "Datagrams to send.") var count: Int = 1000
    @Option(help: "Datagrams per second (default: as fast as the socket takes them).") var pps: Double?
    @Option(help: "Stream id in the top 16 bits of the sequence (udptool's --stream).") var stream: UInt64 = 0

    func run() throws {
        let destination = dst.flatMap { SocketAddress($0) }
        if dst != nil && destination == nil { throw ValidationError("--dst \(dst!): expected address:port") }
        let socket = try endpoint.open(connect: endpoint.kernel ? destination : nil)
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: max(8, size), alignment: 16)
        defer { payload.deallocate() }
        let start = now()
        let gap = pps.map { Int64(1e9 / $0) }
        for n in 0..<count {
            if let gap { _ = rtu_sched_sleep_until(start + Int64(n) * gap) }
            let body = UnsafeMutableRawBufferPointer(rebasing: payload[0..<size])
            PayloadPattern.fill(body, seq: stream << 48 | UInt64(n))
            try socket.send(UnsafeRawBufferPointer(body), to: endpoint.kernel ? nil : destination)
        }
        let span = Double(now() - start) / 1e9
        print("{\"mode\":\"send\",\"socket\":\"\(socket.description)\",\"sent\":\(count),\"seconds\":\(span)}")
    }
}

struct Echo: ParsableCommand {
    @OptionGroup var endpoint: Endpoint
    @Option(help: "Stop after this many datagrams.") var count: Int = .max
    @Option(help: "Stop after this many seconds.") var seconds: Double = 60

    func run() throws {
        let socket = try endpoint.openForReceiving()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { buffer.deallocate() }
        var echoed = 0
        let end = now() + Int64(seconds * 1e9)
        while echoed < count, now() < end {
            guard let r = try socket.receive(into: buffer, timeoutNs: end - now()) else { continue }
            try socket.send(UnsafeRawBufferPointer(rebasing: buffer[0..<min(r.length, buffer.count)]), to: r.source)
            echoed += 1
        }
        print("{\"mode\":\"echo\",\"socket\":\"\(socket.description)\",\"echoed\":\(echoed)}")
    }
}

RTUUDP.main()
