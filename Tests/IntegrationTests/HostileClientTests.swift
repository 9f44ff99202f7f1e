import CShims
import Control
import Foundation
import Glibc
import SharedRings
import Testing
import Wire

/// Clients that break the rules (issue 5, items 1, 2 and 6), played in this
/// process against the real daemon: one scribbles on its socket's shared
/// ring, others send the control socket what no correct client sends. Each
/// loses at most what it held; the daemon and everyone else go on.
@Suite(.serialized) struct HostileClientTests {
    /// Connects to `t`'s daemon and says hello.
    static func greeted(_ t: DaemonTopology, as name: String) throws -> ControlConnection {
        let connection = try ControlConnection.connect(path: t.controlPath)
        let (reply, _) = try connection.request(.hello(version: ControlCodec.version, client: name))
        guard case .hello = reply else { throw HarnessError("hello answered with \(reply)") }
        return connection
    }

    /// The next message on `connection`, decoded as a reply (whatever its request id).
    static func nextReply(_ connection: ControlConnection) throws -> ControlReply {
        guard let message = try connection.receive(timeoutMs: 5_000) else {
            throw HarnessError(connection.isClosed ? "the daemon closed the connection" : "no reply within 5 s")
        }
        return try ControlCodec.decodeReply(message.bytes).1
    }

    @Test func aClientScribblingOnItsRingLosesOnlyItsOwnSocket() throws {
        guard Harness.requireRoot("a hostile ring writer") else { return }
        let t = try DaemonTopology()
        defer { t.close() }

        // Another application receives a steady stream from the kernel throughout.
        let count = 20_000
        let victim = try t.app("recv", ["--bind", "\(DaemonTopology.rtudAddress):5001", "--count", "\(count)", "--check",
                                        "--seconds", "30"], realtime: true)
        let sender = try t.peer.udptoolInBackground(["send", "--dst", "\(DaemonTopology.rtudAddress):5001", "--size", "512",
                                               "--count", "\(count)", "--rate", "10000"])

        // The scribbler creates and attaches a socket, maps its rings as any client does…
        let connection = try Self.greeted(t, as: "scribbler")
        let bind = SocketAddress(address: IPv4Address(198, 18, 0, 1), port: 5002)
        let (reply, descriptors) = try connection.request(.createSocket(SocketSpec(
            proto: .udp, name: "scribbler", bind: bind, connect: nil, reserve: nil, persistent: false, attach: true)))
        guard case let .socket(info) = reply else { throw HarnessError("create answered with \(reply)") }
        let region = try SocketRegion.map(descriptors: descriptors)
        usleep(500_000)   // into the victim's stream

        // …then publishes a TX tail far beyond anything it wrote and rings the daemon.
        region.tx.region.storeBytes(of: UInt64(0x7FFF_FFF0), toByteOffset: 0, as: UInt64.self)
        #expect(rtu_sched_eventfd_ring(region.tx.dataDoorbell) >= 0)

        #expect(t.rtud.waitForLog("socket scribbler: closed: its client broke the shared ring"), "\(t.rtud.log)")
        let stats = try t.rtud.ctlJSON(["stats"]) as? [String: Any] ?? [:]
        #expect(int(stats["control"] as? [String: Any] ?? [:], "ring_violations") == 1, "\(stats["control"] ?? "no control group")")

        // The scribbler hears why, with its next request, and sees it in the region.
        guard case .status = try connection.request(.status).0 else { throw HarnessError("status refused after the violation") }
        let closed = connection.pendingNotifications.compactMap { n -> (UInt32, ControlErrorCode, String)? in
            if case let .socketClosed(id, code, message) = n { return (id, code, message) }
            return nil
        }
        #expect(closed.count == 1 && closed.first?.0 == info.id && closed.first?.1 == .ringViolation, "\(connection.pendingNotifications)")
        #expect(closed.first?.2.contains("the socket is closed") == true, "\(closed)")
        #expect(region.closedByDaemon)
        #expect(try t.rtud.sockets()["scribbler"] == nil)

        // The other application lost nothing.
        let sent = sender.finish(timeout: 30)
        #expect(sent.ok, "\(sent.stderr)")
        let drops = t.drops()
        let received = victim.finish(timeout: 30)
        #expect(received.ok, "\(received.stderr)")
        expectAllArrived(lastJSON(received.stdout), count: count, context: drops)
        #expect(t.rtud.process.isRunning)
    }

    @Test func malformedAndOutOfOrderControlMessagesGetTypedErrors() throws {
        guard Harness.requireRoot("hostile control messages") else { return }
        let t = try DaemonTopology()
        defer { t.close() }

        // Bytes that are no message at all; the connection still works after.
        let garbage = try ControlConnection.connect(path: t.controlPath)
        try garbage.send(Array("GET / HTTP/1.0\r\n\r\n".utf8))
        guard case let .error(code, text) = try Self.nextReply(garbage) else { throw HarnessError("garbage got no error") }
        #expect(code == .badMessage && text.contains("bad magic"), "\(code): \(text)")
        guard case .hello = try garbage.request(.hello(version: ControlCodec.version, client: "after-garbage")).0 else {
            throw HarnessError("hello after garbage refused")
        }
        guard case .status = try garbage.request(.status).0 else { throw HarnessError("status after garbage refused") }

        // A request before hello.
        let eager = try ControlConnection.connect(path: t.controlPath)
        guard case let .error(code, text) = try eager.request(.status).0 else { throw HarnessError("status before hello answered") }
        #expect(code == .helloFirst && text.contains("say hello first"), "\(code): \(text)")

        // A hello from the future, in the hello and in the header.
        let future = try ControlConnection.connect(path: t.controlPath)
        guard case let .error(code, text) = try future.request(.hello(version: 99, client: "future")).0 else {
            throw HarnessError("hello version 99 accepted")
        }
        #expect(code == .unsupportedVersion && text.contains("version 99"), "\(code): \(text)")
        var header99 = ControlCodec.encode(.hello(version: ControlCodec.version, client: "future"), requestID: 7)
        header99[4] = 99
        header99[5] = 0
        try future.send(header99)
        guard case let .error(code, text) = try Self.nextReply(future) else { throw HarnessError("header version 99 accepted") }
        #expect(code == .unsupportedVersion, "\(code): \(text)")

        // A packet over the protocol's limit (sent around ControlConnection, which refuses to).
        let big = try Self.greeted(t, as: "big")
        let oversized = [UInt8](repeating: 0x52, count: ControlCodec.maxMessage + 4_464)
        let n = oversized.withUnsafeBytes { Glibc.send(big.descriptor, $0.baseAddress, $0.count, 0) }
        #expect(n == oversized.count, "send: \(String(cString: strerror(errno)))")
        guard case let .error(code, text) = try Self.nextReply(big) else { throw HarnessError("oversized packet answered") }
        #expect(code == .tooLarge, "\(code): \(text)")

        // A name nobody made.
        guard case let .error(code, text) = try big.request(.attach(name: "nosuchsocket")).0 else {
            throw HarnessError("attach to a missing socket answered")
        }
        #expect(code == .notFound && text.contains("no socket named nosuchsocket"), "\(code): \(text)")

        // None of it disturbed the daemon; it counted the undecodable ones.
        guard case .status = try big.request(.status).0 else { throw HarnessError("status refused") }
        let status = try t.rtud.ctl(["status"])
        #expect(status.ok, "\(status.stderr)")
        let stats = try t.rtud.ctlJSON(["stats"]) as? [String: Any] ?? [:]
        #expect(int(stats["control"] as? [String: Any] ?? [:], "bad_messages") == 3, "\(stats["control"] ?? "none")")
        #expect(t.rtud.process.isRunning)
    }
}
