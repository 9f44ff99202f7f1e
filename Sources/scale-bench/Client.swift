import ArgumentParser
import Control
import Foundation
import Glibc
import RTUClient
import Wire

/// One application of the scale run: a control connection that opens its
/// share of the sockets when told, echoes traffic through its first socket,
/// and closes them, timing every control-plane operation from this side.
///
/// Line protocol on standard input / output (answers start with the
/// command's past tense, or `error`):
///
///     create              → created N t1,t2,…        (ns per openSocket)
///     echo PEER N SIZE W  → echoed SENT RECEIVED NS  (through the first socket)
///     close               → closed N t1,t2,…         (ns per close), then exit
///     exit                → (no answer) exits with the sockets open: rtud
///                           releases them when the connection goes
struct ClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client", abstract: "One client of the scale run (started by `scale`).", shouldDisplay: false)

    @Option(help: "rtud's control socket.") var control: String
    @Option(help: "Sockets to open.") var count: Int
    @Option(help: "Address the sockets bind to.") var address: String
    @Option(help: "Port of the first socket; the others follow.") var firstPort: Int
    @Option(help: "Name in rtud's log.") var name = "scale-bench"

    func run() throws {
        guard let bindAddress = IPv4Address(address) else { fail("bad --address \(address)") }
        let client = try RTUClient(controlPath: control, client: name)
        var sockets: [RTUSocket] = []
        while let line = readLine() {
            let words = line.split(separator: " ")
            switch words.first {
            case "create":
                var times: [Int64] = []
                times.reserveCapacity(count)
                for i in 0..<count {
                    let bind = SocketAddress(address: bindAddress, port: UInt16(firstPort + i))
                    let t0 = now()
                    do { sockets.append(try client.openSocket(bind: bind)) } catch {
                        say("error socket \(i) (\(bind)): \(error)")
                        break
                    }
                    times.append(now() - t0)
                }
                if times.count == count { say("created \(times.count) \(formatList(times))") }
            case "echo":
                guard words.count == 5, let peer = SocketAddress(words[1]), let n = Int(words[2]), let size = Int(words[3]),
                      let window = Int(words[4]), let socket = sockets.first else {
                    say("error echo needs PEER COUNT SIZE WINDOW and a socket")
                    continue
                }
                do {
                    let (sent, received, ns) = try echo(socket, peer: peer, count: n, size: size, window: window)
                    say("echoed \(sent) \(received) \(ns)")
                } catch {
                    say("error echo: \(error)")
                }
            case "close":
                var times: [Int64] = []
                for socket in sockets {
                    let t0 = now()
                    socket.close()
                    times.append(now() - t0)
                }
                sockets.removeAll()
                say("closed \(times.count) \(formatList(times))")
                return
            case "exit":
                Glibc.exit(0)
            default:
                say("error unknown command: \(line)")
            }
        }
    }

    /// Sends `count` datagrams of `size` bytes to `peer` with at most
    /// `window` unanswered, and receives the answers. A datagram not answered
    /// within 200 ms counts as lost (and frees its place in the window).
    /// Each carries its number, and each answer is checked against what was sent.
    func echo(_ socket: RTUSocket, peer: SocketAddress, count: Int, size: Int,
              window: Int) throws(RTUSocketError) -> (sent: Int, received: Int, ns: Int64) {
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 8), alignment: 8)
        let answer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)
        defer { payload.deallocate(); answer.deallocate() }
        for i in 0..<payload.count { payload[i] = UInt8(truncatingIfNeeded: i) }
        var sent = 0, received = 0, settled = 0
        let t0 = now()
        while settled < count {
            while sent < count && sent - settled < window {
                payload.storeBytes(of: UInt64(sent), as: UInt64.self)
                try socket.send(UnsafeRawBufferPointer(rebasing: payload[0..<size]), to: peer)
                sent += 1
            }
            if let r = try socket.receive(into: answer, timeout: 200_000_000) {
                if r.length == size && answer.load(as: UInt64.self) < UInt64(sent)
                    && memcmp(answer.baseAddress! + 8, payload.baseAddress! + 8, size - 8) == 0 {
                    received += 1
                }
                settled += 1
            } else {
                settled = sent
            }
        }
        return (sent, received, now() - t0)
    }
}

/// The kernel's side of the echo traffic, run in the peer namespace: a UDP
/// socket that sends every datagram back to where it came from, until it has
/// been idle for `--idle` seconds or is killed.
struct EchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo", abstract: "A kernel UDP echo (the peer of the scale run's traffic).")

    @Option(help: "Address and port to listen on.") var bind: String
    @Option(help: "Exit after this many seconds without a datagram.") var idle = 900.0

    func run() throws {
        guard let local = SocketAddress(bind) else { fail("bad --bind \(bind)") }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { fail("socket: \(String(cString: strerror(errno)))") }
        var size: Int32 = 4 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = local.port.bigEndian
        address.sin_addr.s_addr = local.address.rawValue.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { fail("bind \(bind): \(String(cString: strerror(errno)))") }
        say("listening \(bind)")
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var from = sockaddr_in()
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(idle * 1000))
            if ready == 0 { return }
            if ready < 0 { if errno == EINTR { continue }; fail("poll: \(String(cString: strerror(errno)))") }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = withUnsafeMutablePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buffer, buffer.count, 0, $0, &length) }
            }
            guard n >= 0 else { continue }
            _ = withUnsafePointer(to: &from) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer, n, 0, $0, length) }
            }
        }
    }
}
