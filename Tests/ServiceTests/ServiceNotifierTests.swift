import Glibc
import Service
import Synchronization
import Testing

/// A stand-in for systemd's notification socket: a bound AF_UNIX datagram
/// socket, on a path in a fresh directory or under an abstract name, that
/// receives each message with its sender's credentials (SO_PASSCRED).
final class FakeManager {
    let fd: Int32
    /// The NOTIFY_SOCKET value that names this socket.
    let notifySocket: String
    private let directory: String?

    struct Received: Equatable {
        var message: String
        var pid: Int32?
        var uid: UInt32?
        var gid: UInt32?
    }

    /// SCM_CREDENTIALS from <bits/socket.h>; a _GNU_SOURCE name Swift does not import.
    static let scmCredentials: Int32 = 2

    init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Errno(errno, "socket") }
        let addressBytes: [UInt8]
        if abstract {
            let name = "rtud-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            notifySocket = "@" + name
            addressBytes = [0] + Array(name.utf8)
            directory = nil
        } else {
            var template = Array("/tmp/rtud-notify-XXXXXX".utf8CString)
            guard let dir = mkdtemp(&template) else { throw Errno(errno, "mkdtemp") }
            directory = String(cString: dir)
            notifySocket = directory! + "/notify"
            addressBytes = Array(notifySocket.utf8) + [0]
        }
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw Errno(errno, "SO_PASSCRED")
        }
        // Never wait forever for a message that does not come.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_un()
        sa.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sa.sun_path) { $0.copyBytes(from: addressBytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + addressBytes.count)
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard r == 0 else { throw Errno(errno, "bind \(notifySocket)") }
    }

    deinit {
        close(fd)
        if let directory {
            unlink(directory + "/notify")
            rmdir(directory)
        }
    }

    /// The next datagram, or nil after 5 s.
    func receive() -> Received? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var control = [UInt64](repeating: 0, count: 8)   // 64 bytes, aligned as cmsghdr needs
        let n = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { controlBytes in
                var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var msg = msghdr()
                    msg.msg_iov = iovPointer
                    msg.msg_iovlen = 1
                    msg.msg_control = controlBytes.baseAddress
                    msg.msg_controllen = controlBytes.count
                    let n = recvmsg(fd, &msg, 0)
                    controlLength = msg.msg_controllen
                    return n
                }
            }
        }
        guard n >= 0 else { return nil }
        var received = Received(message: String(decoding: buffer[..<n], as: UTF8.self))
        // One cmsghdr and its struct ucred (pid_t, uid_t, gid_t), which starts
        // at CMSG_DATA: the header's size, already a multiple of size_t.
        let headerSize = MemoryLayout<cmsghdr>.size
        control.withUnsafeBytes { c in
            guard controlLength >= headerSize + 12,
                  c.load(fromByteOffset: MemoryLayout<cmsghdr>.offset(of: \.cmsg_level)!, as: Int32.self) == SOL_SOCKET,
                  c.load(fromByteOffset: MemoryLayout<cmsghdr>.offset(of: \.cmsg_type)!, as: Int32.self) == Self.scmCredentials
            else { return }
            received.pid = c.load(fromByteOffset: headerSize, as: Int32.self)
            received.uid = c.load(fromByteOffset: headerSize + 4, as: UInt32.self)
            received.gid = c.load(fromByteOffset: headerSize + 8, as: UInt32.self)
        }
        return received
    }

    private var controlLength = 0
}

struct Errno: Error, CustomStringConvertible {
    var code: Int32
    var what: String
    init(_ code: Int32, _ what: String) {
        self.code = code
        self.what = what
    }
    var description: String { "\(what): \(String(cString: strerror(code)))" }
}

/// Collects what a notifier reports.
final class Reports: Sendable {
    private let list = Mutex<[ServiceNotifierError]>([])
    var all: [ServiceNotifierError] { list.withLock { $0 } }
    var handler: @Sendable (ServiceNotifierError) -> Void { { error in self.list.withLock { $0.append(error) } } }
}

func monotonicMicroseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000 + UInt64(t.tv_nsec) / 1_000
}

@Suite struct ServiceNotifierTests {
    @Test(arguments: [false, true])
    func messagesArriveExactlyWithOurCredentials(abstract: Bool) throws {
        let manager = try FakeManager(abstract: abstract)
        let reports = Reports()
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": manager.notifySocket], report: reports.handler)
        #expect(notifier.isActive)
        #expect(notifier.address?.description == manager.notifySocket)

        notifier.ready()
        let ready = manager.receive()
        #expect(ready == .init(message: "READY=1", pid: getpid(), uid: getuid(), gid: getgid()))

        notifier.ready(status: "serving 2 interfaces")
        #expect(manager.receive()?.message == "READY=1\nSTATUS=serving 2 interfaces")
        notifier.status("3 sockets, 40Mbit reserved")
        #expect(manager.receive()?.message == "STATUS=3 sockets, 40Mbit reserved")
        notifier.watchdog()
        #expect(manager.receive()?.message == "WATCHDOG=1")
        notifier.stopping()
        #expect(manager.receive()?.message == "STOPPING=1")
        notifier.stopping(status: "SIGTERM")
        #expect(manager.receive()?.message == "STOPPING=1\nSTATUS=SIGTERM")
        #expect(reports.all.isEmpty)
    }

    @Test(arguments: [false, true])
    func reloadingCarriesTheMonotonicClock(abstract: Bool) throws {
        let manager = try FakeManager(abstract: abstract)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": manager.notifySocket], report: { _ in })
        let before = monotonicMicroseconds()
        notifier.reloading()
        let after = monotonicMicroseconds()
        let lines = try #require(manager.receive()).message.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines.first == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? UInt64($0.dropFirst(15)) : nil })
        #expect(before <= stamp && stamp <= after)

        notifier.reloading(status: "reading /etc/rtud/rtud.toml")
        let withStatus = try #require(manager.receive()).message.split(separator: "\n").map(String.init)
        #expect(withStatus.count == 3 && withStatus[0] == "RELOADING=1" && withStatus[1].hasPrefix("MONOTONIC_USEC=")
                    && withStatus[2] == "STATUS=reading /etc/rtud/rtud.toml")
    }

    @Test func aStatusCannotAddAssignments() throws {
        let manager = try FakeManager(abstract: false)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": manager.notifySocket], report: { _ in })
        notifier.status("socket evil\nREADY=1\r\nWATCHDOG=1")
        #expect(manager.receive()?.message == "STATUS=socket evil READY=1 WATCHDOG=1")
    }

    @Test func withoutNotifySocketNothingIsSentOrReported() {
        let reports = Reports()
        let notifier = ServiceNotifier(environment: ["WATCHDOG_USEC": "10000000"], report: reports.handler)
        #expect(!notifier.isActive && notifier.address == nil)
        notifier.ready(status: "x")
        notifier.watchdog()
        notifier.reloading()
        notifier.stopping()
        #expect(reports.all.isEmpty)
        // The interval is still read: it says what systemd expects, socket or not.
        #expect(notifier.watchdogInterval == .seconds(10))
    }

    @Test(arguments: [
        ("/run/systemd/notify", ServiceNotifier.Address.path("/run/systemd/notify")),
        ("@/org/freedesktop/systemd1/notify", .abstract("/org/freedesktop/systemd1/notify")),
        ("/" + String(repeating: "a", count: 106), .path("/" + String(repeating: "a", count: 106))),
        ("@" + String(repeating: "b", count: 107), .abstract(String(repeating: "b", count: 107))),
    ])
    func addresses(text: String, address: ServiceNotifier.Address) {
        let reports = Reports()
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": text], report: reports.handler)
        #expect(notifier.address == address && notifier.isActive)
        #expect(reports.all.isEmpty)
    }

    @Test(arguments: ["", "run/notify", "@", "vsock:2:1234", "/" + String(repeating: "a", count: 107),
                      "@" + String(repeating: "b", count: 108)])
    func unusableAddressesLeaveTheNotifierInactive(text: String) {
        let reports = Reports()
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": text], report: reports.handler)
        #expect(!notifier.isActive)
        #expect(reports.all == [.unusableNotifySocket(text)])
        notifier.ready()
        #expect(reports.all.count == 1)
    }

    @Test func aFailedSendIsReportedAndTheCallerGoesOn() throws {
        let manager = try FakeManager(abstract: false)
        let missing = manager.notifySocket + "-gone"
        let reports = Reports()
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": missing], report: reports.handler)
        notifier.ready(status: "up")
        notifier.watchdog()
        #expect(reports.all == [
            .sendFailed(address: .path(missing), message: "READY=1\nSTATUS=up", errno: ENOENT),
            .sendFailed(address: .path(missing), message: "WATCHDOG=1", errno: ENOENT),
        ])
        #expect(reports.all.first?.description == "sd_notify to \(missing) failed (No such file or directory): READY=1 STATUS=up")
    }
}

@Suite struct WatchdogIntervalTests {
    static let ourPID = getpid()

    @Test(arguments: [
        (["WATCHDOG_USEC": "10000000"], .seconds(10)),
        (["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "\(ourPID)"], .seconds(10)),
        (["WATCHDOG_USEC": "1"], .microseconds(1)),
        (["WATCHDOG_USEC": "9223372036854775807"], .microseconds(Int64.max)),
        (["WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "\(ourPID + 1)"], nil),
        (["WATCHDOG_PID": "\(ourPID)"], nil),
        ([:], nil),
    ] as [([String: String], Duration?)])
    func interval(environment: [String: String], expected: Duration?) {
        let reports = Reports()
        let notifier = ServiceNotifier(environment: environment, report: reports.handler)
        #expect(notifier.watchdogInterval == expected)
        #expect(notifier.watchdogPingInterval == expected.map { $0 / 2 })
        #expect(reports.all.isEmpty)
    }

    @Test func pingsAtHalfTheInterval() {
        let notifier = ServiceNotifier(environment: ["WATCHDOG_USEC": "10000000"], report: { _ in })
        #expect(notifier.watchdogPingInterval == .seconds(5))
    }

    @Test(arguments: [
        ("WATCHDOG_USEC", "abc", nil), ("WATCHDOG_USEC", "", nil), ("WATCHDOG_USEC", "0", nil),
        ("WATCHDOG_USEC", "-5", nil), ("WATCHDOG_USEC", "+5", nil), ("WATCHDOG_USEC", " 5", nil),
        ("WATCHDOG_USEC", "5s", nil), ("WATCHDOG_USEC", "9223372036854775808", nil),
        ("WATCHDOG_USEC", "99999999999999999999", nil),
        ("WATCHDOG_PID", "x", "10000000"), ("WATCHDOG_PID", "0", "10000000"), ("WATCHDOG_PID", "-1", "10000000"),
        ("WATCHDOG_PID", "4294967296", "10000000"),
    ] as [(String, String, String?)])
    func garbageIsReportedAndDisablesThePings(name: String, value: String, usec: String?) {
        var environment = [name: value]
        if let usec { environment["WATCHDOG_USEC"] = usec }
        let reports = Reports()
        let notifier = ServiceNotifier(environment: environment, report: reports.handler)
        #expect(notifier.watchdogInterval == nil && notifier.watchdogPingInterval == nil)
        #expect(reports.all == [.badWatchdogSetting(name: name, value: value)])
    }
}
