// The Service module: rtud's life under a service manager (systemd).
//
// - ServiceNotifier: the sd_notify(3) protocol (READY=1, STATUS=, WATCHDOG=1,
//   STOPPING=1, RELOADING=1) and the watchdog interval systemd asks for.
// - ReloadReport: what a SIGHUP reload changes, in words for the log.
// No Foundation; the one C call is in CShims (shims_service.h).

import CShims
import Glibc

/// Tells the service manager about rtud's state, as sd_notify(3) does: one
/// datagram of newline-separated assignments per call, sent to the Unix
/// socket named by NOTIFY_SOCKET with the sender's credentials.
///
/// Without NOTIFY_SOCKET (rtud started by hand) the notifier is inactive and
/// every call does nothing. Notification is advice to the manager, never a
/// reason to stop: a failed send is handed to `report` and the daemon goes on.
public struct ServiceNotifier: Sendable {
    /// Where notifications go.
    public enum Address: Equatable, Sendable, CustomStringConvertible {
        /// A socket file ("/run/systemd/notify").
        case path(String)
        /// An abstract socket name (NOTIFY_SOCKET "@name"), without the "@".
        case abstract(String)

        public var description: String {
            switch self {
            case .path(let p): p
            case .abstract(let name): "@" + name
            }
        }
    }

    /// The manager's socket; nil when the notifier is inactive.
    public let address: Address?
    /// How often the manager expects WATCHDOG=1 (WATCHDOG_USEC), when it
    /// asked this process (WATCHDOG_PID unset or equal to our pid).
    public let watchdogInterval: Duration?
    private let report: @Sendable (ServiceNotifierError) -> Void

    /// Whether notifications are sent anywhere.
    public var isActive: Bool { address != nil }

    /// How often to send WATCHDOG=1: half the interval, as sd_watchdog_enabled(3)
    /// advises, so one late ping does not get the daemon killed.
    public var watchdogPingInterval: Duration? { watchdogInterval.map { $0 / 2 } }

    /// sun_path holds 108 bytes; a path needs one of them for its NUL.
    static let sunPathBytes = 108

    /// A notifier for `environment` (NOTIFY_SOCKET, WATCHDOG_USEC,
    /// WATCHDOG_PID) as seen by process `pid`. Unusable values are handed to
    /// `report` and leave the notifier inactive (a bad NOTIFY_SOCKET) or
    /// without a watchdog (a bad WATCHDOG_USEC or WATCHDOG_PID).
    public init(environment: [String: String], pid: pid_t = getpid(),
                report: @escaping @Sendable (ServiceNotifierError) -> Void) {
        self.report = report
        var address: Address? = nil
        if let text = environment["NOTIFY_SOCKET"] {
            do throws(ServiceNotifierError) { address = try Self.parseAddress(text) } catch { report(error) }
        }
        self.address = address
        do throws(ServiceNotifierError) {
            watchdogInterval = try Self.parseWatchdog(usec: environment["WATCHDOG_USEC"],
                                                      pid: environment["WATCHDOG_PID"], ourPID: pid)
        } catch {
            report(error)
            watchdogInterval = nil
        }
    }

    /// A notifier for this process's environment.
    public static func fromEnvironment(report: @escaping @Sendable (ServiceNotifierError) -> Void) -> ServiceNotifier {
        var environment: [String: String] = [:]
        for name in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return ServiceNotifier(environment: environment, report: report)
    }

    /// Start-up is complete (or a reload is): READY=1, with a status line.
    public func ready(status: String? = nil) { send(["READY=1"], status: status) }

    /// A free-form status line the manager shows (`systemctl status`).
    public func status(_ text: String) { send([], status: text) }

    /// The daemon is alive: WATCHDOG=1. Send every `watchdogPingInterval`.
    public func watchdog() { send(["WATCHDOG=1"], status: nil) }

    /// Shutdown has begun: STOPPING=1.
    public func stopping(status: String? = nil) { send(["STOPPING=1"], status: status) }

    /// A reload has begun: RELOADING=1 with MONOTONIC_USEC, the CLOCK_MONOTONIC
    /// time systemd ≥ 253 requires to tell this reload from an earlier one.
    /// Send `ready()` when it is done.
    public func reloading(status: String? = nil) {
        send(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"], status: status)
    }

    /// CLOCK_MONOTONIC in microseconds, the clock systemd's MONOTONIC_USEC uses.
    static func monotonicMicroseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000 + UInt64(t.tv_nsec) / 1_000
    }

    /// One datagram of `assignments`, plus STATUS= when `status` is given.
    /// A newline in the status would start a new assignment (a status built
    /// from a client's text could say READY=1), so newlines become spaces.
    private func send(_ assignments: [String], status: String?) {
        guard let address else { return }
        var lines = assignments
        if let status {
            lines.append("STATUS=" + String(status.map { $0.isNewline ? " " : $0 }))
        }
        let message = lines.joined(separator: "\n")
        var addressBytes: [UInt8]
        switch address {
        case .path(let p): addressBytes = Array(p.utf8) + [0]
        case .abstract(let name): addressBytes = [0] + Array(name.utf8)
        }
        let result = addressBytes.withUnsafeBufferPointer { a in
            message.utf8CString.withUnsafeBufferPointer { m in
                a.withMemoryRebound(to: CChar.self) { a in
                    rtu_notify_send(a.baseAddress, a.count, m.baseAddress, m.count - 1)
                }
            }
        }
        if result < 0 {
            report(.sendFailed(address: address, message: message, errno: -result))
        }
    }

    /// NOTIFY_SOCKET: an absolute path or "@" and an abstract name, short
    /// enough for sun_path. (systemd's "vsock:" addresses are not supported:
    /// rtud does not run in VMs managed that way.)
    static func parseAddress(_ text: String) throws(ServiceNotifierError) -> Address {
        let bytes = text.utf8.count
        if text.hasPrefix("/") && bytes < sunPathBytes && !text.utf8.contains(0) { return .path(text) }
        if text.hasPrefix("@") && bytes > 1 && bytes <= sunPathBytes { return .abstract(String(text.dropFirst())) }
        throw .unusableNotifySocket(text)
    }

    /// WATCHDOG_USEC as sd_watchdog_enabled(3) reads it: a positive decimal
    /// number of microseconds, for the process WATCHDOG_PID names (any
    /// process when unset). nil when there is no watchdog for us.
    static func parseWatchdog(usec: String?, pid: String?, ourPID: pid_t) throws(ServiceNotifierError) -> Duration? {
        guard let usec else { return nil }
        guard let micros = decimal(usec), micros > 0, micros <= UInt64(Int64.max) else {
            throw .badWatchdogSetting(name: "WATCHDOG_USEC", value: usec)
        }
        if let pid {
            guard let target = decimal(pid), target > 0, target <= UInt64(Int32.max) else {
                throw .badWatchdogSetting(name: "WATCHDOG_PID", value: pid)
            }
            // Inherited from a parent the manager watches: not ours to ping for.
            if target != UInt64(ourPID) { return nil }
        }
        return .microseconds(Int64(micros))
    }

    /// Digits only (no sign, no spaces), fitting in 64 bits.
    private static func decimal(_ text: String) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(text)
    }
}

/// A notification that could not be made; reported, never fatal.
public enum ServiceNotifierError: Error, Equatable, Sendable, CustomStringConvertible {
    /// NOTIFY_SOCKET is set to something that is not a usable socket address.
    case unusableNotifySocket(String)
    /// WATCHDOG_USEC or WATCHDOG_PID is not a positive decimal number.
    case badWatchdogSetting(name: String, value: String)
    /// The datagram could not be sent (the manager's socket is gone, or full).
    case sendFailed(address: ServiceNotifier.Address, message: String, errno: Int32)

    public var description: String {
        switch self {
        case .unusableNotifySocket(let text):
            "NOTIFY_SOCKET=\(text) is not a socket path or @name of at most 107 bytes: not notifying the service manager"
        case .badWatchdogSetting(let name, let value):
            "\(name)=\(value) is not a positive decimal number: no watchdog pings"
        case .sendFailed(let address, let message, let errno):
            "sd_notify to \(address) failed (\(String(cString: strerror(errno)))): "
                + message.split(separator: "\n").joined(separator: " ")
        }
    }
}
