import Glibc
import Testing
@testable import Control

/// Two connected ends of an AF_UNIX SOCK_SEQPACKET socket pair.
func connectedPair() throws -> (ControlConnection, ControlConnection) {
    var fds: [Int32] = [-1, -1]
    let r = socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    try #require(r == 0)
    return (ControlConnection(descriptor: fds[0]), ControlConnection(descriptor: fds[1]))
}

/// A pipe whose read end does not block: (read, write).
func nonBlockingPipe() throws -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    try #require(pipe(&fds) == 0)
    _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
    return (fds[0], fds[1])
}

/// What a non-blocking read of one byte from `fd` gives: the byte, 0 at
/// end of file (every write end closed), or -1 (nothing yet: a writer is open).
func readByte(_ fd: Int32) -> Int {
    var b: UInt8 = 0
    let n = read(fd, &b, 1)
    return n == 1 ? Int(b) : n == 0 ? 0 : -1
}

/// Runs `body` on its own pthread (not a task: it blocks in poll) and joins
/// it when the returned function is called.
func onThread(_ body: @escaping () -> Void) -> () -> Void {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let r = pthread_create(&thread, nil, { arg in
        let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    precondition(r == 0, "pthread_create: \(r)")
    return { pthread_join(thread, nil) }
}

/// Runs `body` with a socket path in a fresh directory under /tmp; both
/// are removed afterwards.
func withSocketPath(_ body: (String) throws -> Void) throws {
    var template = Array("/tmp/rtud-ctl-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
    try #require(made)
    let directory = String(cString: template)
    defer { unlink(directory + "/control.sock"); rmdir(directory) }
    try body(directory + "/control.sock")
}

/// Leaves a socket file at `path` that nothing listens on, as a daemon
/// that died without cleaning up would.
func makeStaleSocketFile(_ path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        for (i, b) in path.utf8.enumerated() { raw[i] = b }
    }
    let r = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    try #require(r == 0)
}

func transportError(_ body: () throws(ControlTransportError) -> Void) -> ControlTransportError? {
    do { try body(); return nil } catch { return error }
}

@Suite struct ConnectionTests {
    /// Five descriptors arrive as five working descriptors: a byte written
    /// through each received pipe end comes out of the matching read end.
    @Test func fiveDescriptors() throws {
        let (a, b) = try connectedPair()
        let pipes = try (0 ..< 5).map { _ in try nonBlockingPipe() }
        try a.send([1, 2, 3], descriptors: pipes.map(\.1))
        for p in pipes { close(p.1) }  // the receiver's duplicates keep the pipes open

        let m = try #require(try b.receive(timeoutMs: 1000))
        #expect(m.bytes == [1, 2, 3] && !m.truncated)
        try #require(m.descriptors.count == 5)
        for (i, fd) in m.descriptors.enumerated() {
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            var byte = UInt8(0x40 + i)
            #expect(write(fd, &byte, 1) == 1)
            close(fd)
        }
        for (i, p) in pipes.enumerated() {
            #expect(readByte(p.0) == 0x40 + i)
            #expect(readByte(p.0) == 0)  // every write end is closed now
            close(p.0)
        }
    }

    /// A packet over maxMessage arrives truncated, and the descriptor it
    /// carried is closed on arrival: the pipe sees end of file.
    @Test func oversizedPacketIsTruncatedAndItsDescriptorClosed() throws {
        let (a, b) = try connectedPair()
        let (readEnd, writeEnd) = try nonBlockingPipe()
        defer { close(readEnd) }
        try a.transmit([UInt8](repeating: 7, count: ControlCodec.maxMessage + 100), descriptors: [writeEnd])
        close(writeEnd)
        let m = try #require(try b.receive(timeoutMs: 1000))
        #expect(m.truncated)
        #expect(m.descriptors.isEmpty)
        #expect(m.bytes.count == ControlCodec.maxMessage)
        #expect(readByte(readEnd) == 0)
    }

    /// More descriptors than the receiver takes: truncated, all of them closed.
    @Test func tooManyDescriptorsAreTruncatedAndClosed() throws {
        let (a, b) = try connectedPair()
        let (readEnd, writeEnd) = try nonBlockingPipe()
        defer { close(readEnd) }
        let copies = [Int32](repeating: writeEnd, count: ControlConnection.maxDescriptors + 4)
        try a.transmit([9], descriptors: copies)
        close(writeEnd)
        let m = try #require(try b.receive(timeoutMs: 1000))
        #expect(m.truncated && m.descriptors.isEmpty && m.bytes == [9])
        #expect(readByte(readEnd) == 0)
    }

    @Test func sendRefusesWhatTheReceiverWouldRefuse() throws {
        let (a, _) = try connectedPair()
        let big = transportError { () throws(ControlTransportError) in
            try a.send([UInt8](repeating: 0, count: ControlCodec.maxMessage + 1))
        }
        #expect(big?.kind == .tooLarge)
        let many = transportError { () throws(ControlTransportError) in
            try a.send([0], descriptors: [Int32](repeating: 0, count: ControlConnection.maxDescriptors + 1))
        }
        #expect(many?.kind == .tooLarge)
    }

    @Test func peerCredentialsAreOurs() throws {
        let (a, _) = try connectedPair()
        let c = try #require(a.peerCredentials())
        #expect(c.pid == getpid() && c.uid == getuid() && c.gid == getgid())
    }

    @Test func wouldBlockTimeoutAndEnd() throws {
        var (a, b): (ControlConnection?, ControlConnection) = try connectedPair()
        guard case .wouldBlock = try b.receiveNonBlocking() else { Issue.record("expected wouldBlock"); return }
        #expect(try b.receive(timeoutMs: 20) == nil)
        #expect(!b.isClosed)
        try a?.send([5])
        a = nil  // closes its end; the queued message still arrives first
        #expect(try b.receive(timeoutMs: 1000)?.bytes == [5])
        #expect(try b.receive(timeoutMs: 1000) == nil)
        #expect(b.isClosed)
        guard case .closed = try b.receiveNonBlocking() else { Issue.record("expected closed"); return }
        let sendError = transportError { () throws(ControlTransportError) in try b.send([1]) }
        #expect(sendError?.kind == .closed)
    }

    /// The client's `request` skips a notification and a stale reply and
    /// returns the reply carrying its own id, with its descriptor.
    @Test func requestSkipsNotificationsAndStaleReplies() throws {
        let (client, server) = try connectedPair()
        let (readEnd, writeEnd) = try nonBlockingPipe()
        defer { close(readEnd) }
        let notice = ControlReply.socketClosed(id: 4, .ringViolation, "bad index")
        let join = onThread {
            guard let m = try? server.receive(timeoutMs: 5000),
                  let (id, request) = try? ControlCodec.decodeRequest(m.bytes),
                  request == .attach(name: "video0") else { return }
            try? server.send(ControlCodec.encode(notice, requestID: 0))
            try? server.send(ControlCodec.encode(.ok, requestID: id &+ 1000), descriptors: [writeEnd])
            try? server.send(ControlCodec.encode(.socket(Fixtures.socket), requestID: id), descriptors: [writeEnd])
        }
        let result = Result { () throws(ControlTransportError) in try client.request(.attach(name: "video0")) }
        join()
        close(writeEnd)
        let (reply, fds) = try result.get()
        #expect(reply == .socket(Fixtures.socket))
        #expect(client.pendingNotifications == [notice])
        try #require(fds.count == 1)
        var byte: UInt8 = 0x5A
        #expect(write(fds[0], &byte, 1) == 1)
        close(fds[0])
        #expect(readByte(readEnd) == 0x5A)
        #expect(readByte(readEnd) == 0)  // the stale reply's copy was closed as well
    }

    @Test func requestTimesOutOrSeesTheEnd() throws {
        var (client, server): (ControlConnection, ControlConnection?) = try connectedPair()
        let silent = transportError { () throws(ControlTransportError) in _ = try client.request(.status, timeoutMs: 30) }
        #expect(silent?.kind == .timedOut)
        server = nil
        _ = server
        let gone = transportError { () throws(ControlTransportError) in _ = try client.request(.status) }
        #expect(gone?.kind == .closed)
    }

    @Test func garbledReplyIsBadReply() throws {
        let (client, server) = try connectedPair()
        try server.send([1, 2, 3])  // queued before the request is sent, read as its answer
        let error = transportError { () throws(ControlTransportError) in _ = try client.request(.stats) }
        #expect(error?.kind == .badReply(.truncated(field: "header.magic", needed: 4, left: 3)))
    }
}

@Suite struct ListenerTests {
    @Test func listenAcceptAndClose() throws {
        try withSocketPath { path in
            // As root (CI) a group other than ours shows chown took effect.
            let group: UInt32 = getuid() == 0 ? 65534 : getgid()
            let listener = try ControlListener(path: path, mode: 0o600, group: group)
            #expect(try listener.accept() == nil)

            var st = stat()
            try #require(stat(path, &st) == 0)
            #expect(st.st_mode & 0o777 == 0o600)
            #expect(st.st_gid == group)

            let client = try ControlConnection.connect(path: path)
            let server = try #require(try listener.accept())
            let c = try #require(server.peerCredentials())
            #expect(c.pid == getpid() && c.uid == getuid())
            try client.send([42])
            #expect(try server.receive(timeoutMs: 1000)?.bytes == [42])

            listener.close()
            #expect(access(path, F_OK) != 0)
            let error = transportError { () throws(ControlTransportError) in _ = try ControlConnection.connect(path: path) }
            #expect(error?.kind == .noDaemon)
            #expect(error?.message.contains("no daemon at \(path)") == true)
        }
    }

    @Test func staleFileIsReplaced() throws {
        try withSocketPath { path in
            try makeStaleSocketFile(path)
            #expect(transportError { () throws(ControlTransportError) in _ = try ControlConnection.connect(path: path) }?.kind
                == .noDaemon)
            let listener = try ControlListener(path: path, mode: 0o660, group: nil)
            _ = try ControlConnection.connect(path: path)
            #expect(try listener.accept() != nil)
        }
    }

    @Test func liveListenerIsNotReplaced() throws {
        try withSocketPath { path in
            let first = try ControlListener(path: path, mode: 0o600, group: nil)
            let error = transportError { () throws(ControlTransportError) in
                _ = try ControlListener(path: path, mode: 0o600, group: nil)
            }
            #expect(error?.kind == .alreadyRunning)
            // The refused one did not disturb the first: still there, still answering.
            _ = try ControlConnection.connect(path: path)
            #expect(try first.accept() != nil)
        }
    }

    @Test func otherFilesAreLeftAlone() throws {
        try withSocketPath { path in
            let fd = open(path, O_CREAT | O_WRONLY, 0o644)
            try #require(fd >= 0)
            close(fd)
            let error = transportError { () throws(ControlTransportError) in
                _ = try ControlListener(path: path, mode: 0o600, group: nil)
            }
            #expect(error?.errno == EEXIST)
            #expect(access(path, F_OK) == 0)
        }
    }

    /// A listener whose file was replaced by a newer daemon's leaves that file be.
    @Test func closeRemovesOnlyItsOwnFile() throws {
        try withSocketPath { path in
            let old = try ControlListener(path: path, mode: 0o600, group: nil)
            unlink(path)
            let new = try ControlListener(path: path, mode: 0o600, group: nil)
            old.close()
            _ = try ControlConnection.connect(path: path)
            #expect(try new.accept() != nil)
        }
    }

    /// The texts a user sees. (EACCES is not produced for real here: the
    /// tests may run as root, which file modes do not stop.)
    @Test func connectFailureTexts() {
        let missing = ControlConnection.connectFailure(path: "/run/rtud/control.sock", errno: ENOENT)
        #expect(missing.kind == .noDaemon)
        #expect(missing.message == "no daemon at /run/rtud/control.sock (No such file or directory)")
        #expect(ControlConnection.connectFailure(path: "/x", errno: ECONNREFUSED).kind == .noDaemon)
        let denied = ControlConnection.connectFailure(path: "/x", errno: EACCES)
        #expect(denied.kind == .permissionDenied && denied.errno == EACCES)
        #expect(denied.message == "not allowed to connect to /x (check the socket's mode and group)")
        let other = ControlConnection.connectFailure(path: "/x", errno: ENAMETOOLONG)
        #expect(other.kind == .system && other.message == "connect to /x: File name too long")
    }
}
