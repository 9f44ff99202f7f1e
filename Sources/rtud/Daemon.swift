import CShims
import Config
import Glibc
import Links
import Stack
import Wire

/// One configured interface: its link device, buffer pool and IPv4 interface.
final class Port {
    let name: String
    let device: LinkDevice
    let interface: Interface
    let receiveBatch = FrameBatch(capacity: 64)
    /// Frames read per wake-up before timers and transmission get a turn.
    static let receiveBudget = 256

    init(name: String, device: LinkDevice, interface: Interface) {
        self.name = name
        self.device = device
        self.interface = interface
    }
}

/// The daemon's first form (issue 2): one thread runs every interface from a
/// poll loop — frames in, timers, frames out — and handles signals through a
/// signalfd. The RTU dispatcher takes the data path over in the UDP issue.
final class Daemon {
    let config: RtudConfig
    var log: Log
    private let probes: [IPv4Address]
    private var ports: [Port] = []
    private var probeSent: [IPv4Address: Instant] = [:]
    private var probeAnswered: Set<IPv4Address> = []
    private var running = true

    init(config: RtudConfig, probes: [IPv4Address]) {
        self.config = config
        self.probes = probes
        log = Log(level: config.daemon.logLevel)
    }

    static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    func run() throws {
        let signals = try SignalSource([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        for spec in config.interfaces { ports.append(try openPort(spec)) }
        defer { shutdown() }

        let start = Self.now()
        for port in ports {
            port.interface.start(now: start)
            let iface = port.interface
            log.info("\(port.name): \(iface.address)/\(iface.configuration.address.prefixLength) at \(iface.hardwareAddress), mtu \(iface.configuration.mtu), on \(port.device.name)")
        }
        startProbes(now: start)
        log.info("ready")

        var fds = ports.map { pollfd(fd: $0.device.pollDescriptor, events: Int16(POLLIN), revents: 0) }
        fds.append(pollfd(fd: signals.descriptor, events: Int16(POLLIN), revents: 0))
        while running {
            var now = Self.now()
            var deadline = now + .seconds(1)
            for port in ports { deadline = min(deadline, port.interface.poll(now: now)) }
            for (i, port) in ports.enumerated() {
                flush(port)
                // Wait for room when the device refused frames (EAGAIN).
                fds[i].events = Int16(POLLIN) | (port.interface.transmitQueue.isEmpty ? 0 : Int16(POLLOUT))
            }
            // Millisecond resolution is enough for ARP and reassembly timers;
            // round up so a timer is never run early.
            let waitMs = Int32((deadline - now).nanoseconds.addingReportingOverflow(999_999).partialValue / 1_000_000)
            if poll(&fds, nfds_t(fds.count), waitMs) < 0 {
                if errno == EINTR { continue }
                throw LinkError("poll", errno: errno)
            }
            now = Self.now()
            for (i, port) in ports.enumerated() where fds[i].revents & Int16(POLLIN) != 0 {
                try receive(port, now: now)
            }
            if fds[ports.count].revents & Int16(POLLIN) != 0 { handleSignals(signals) }
        }
    }

    private func openPort(_ spec: InterfaceConfig) throws -> Port {
        // Slots hold the largest frame after the pool's headroom, rounded to a cache line.
        let slot = (64 + spec.mtu + 18 + 63) & ~63
        let pool = try BufferPool(slotSize: slot, count: 4096)
        var device: LinkDevice
        switch spec.driver {
        case .tap:
            device = try TapDevice(name: spec.name, create: spec.tapCreate, mtu: spec.mtu, hardwareAddress: spec.mac)
        case .afPacket:
            device = try PacketSocketDevice(interface: spec.device ?? spec.name, hardwareAddress: spec.mac, mtu: spec.mtu)
        }
        if let path = config.daemon.pcap {
            let file = config.interfaces.count > 1 ? "\(path).\(spec.name)" : path
            device = try capture(device, path: file)
            log.info("\(spec.name): capturing frames to \(file)")
        }
        var ic = InterfaceConfiguration(name: spec.name, hardwareAddress: spec.mac, address: spec.address,
                                        mtu: spec.mtu, gateway: spec.gateway)
        ic.arpLifetime = Interval(nanoseconds: UInt64(spec.arpTimeout.nanoseconds))
        let iface = Interface(configuration: ic, pool: pool)
        let port = Port(name: spec.name, device: device, interface: iface)
        iface.neighbourObserver = { [unowned self] address, mac in
            self.log.info("\(spec.name): neighbour \(address) is at \(mac)")
        }
        iface.addressConflictObserver = { [unowned self] mac in
            self.log.warning("\(spec.name): address conflict: \(mac) also uses \(spec.address.address)")
        }
        iface.echoReplyObserver = { [unowned self] source, _, seq, length, now in
            guard let sent = self.probeSent[source] else { return }
            self.probeAnswered.insert(source)
            // From the probe's start, so it includes resolving the neighbour.
            let ms = Double((now - sent).nanoseconds / 1000) / 1000
            self.log.info("\(spec.name): probe: echo reply from \(source) seq \(seq), \(length) bytes, \(ms) ms after the probe started")
        }
        return port
    }

    /// Resolves each `--probe` neighbour and pings it: the echo request waits
    /// in the ARP queue until the neighbour answers.
    private func startProbes(now: Instant) {
        for target in probes {
            guard let port = ports.first(where: { $0.interface.configuration.address.contains(target) }) ?? ports.first else { continue }
            probeSent[target] = now
            if !port.interface.sendEchoRequest(to: target, identifier: UInt16(truncatingIfNeeded: getpid()),
                                               sequence: 1, dataLength: 56, now: now) {
                log.warning("\(port.name): probe: could not send an echo request to \(target)")
            }
        }
    }

    private func receive(_ port: Port, now: Instant) throws {
        let iface = port.interface
        var total = 0
        while total < Port.receiveBudget {
            let n = try port.device.receive(into: port.receiveBatch, limit: port.receiveBatch.capacity, pool: iface.pool)
            if n == 0 { break }
            for i in 0..<port.receiveBatch.count { iface.receive(port.receiveBatch[i].readable, now: now) }
            port.receiveBatch.releaseAll(to: iface.pool)
            total += n
            flush(port)
        }
    }

    private func flush(_ port: Port) {
        guard !port.interface.transmitQueue.isEmpty else { return }
        do { _ = try port.device.transmit(port.interface.transmitQueue, pool: port.interface.pool) } catch {
            log.warning("\(port.name): transmit: \(error)")
        }
    }

    private func handleSignals(_ signals: SignalSource) {
        while let signal = signals.next() {
            switch signal {
            case SIGTERM, SIGINT:
                log.info("signal \(signal == SIGTERM ? "SIGTERM" : "SIGINT"): shutting down")
                running = false
            case SIGUSR1:
                dumpCounters()
            case SIGHUP:
                log.warning("SIGHUP: configuration reload is not implemented yet; configuration unchanged")
            default:
                break
            }
        }
    }

    private func dumpCounters() {
        for port in ports {
            let c = port.device.counters
            log.info("\(port.name): link rx \(c.rxFrames) frames \(c.rxBytes) bytes, tx \(c.txFrames) frames \(c.txBytes) bytes, rx dropped \(c.rxDropped), tx dropped \(c.txDropped)")
            let stack = port.interface.counters.nonZero.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            log.info("\(port.name): stack \(stack)")
        }
    }

    private func shutdown() {
        dumpCounters()
        for probe in probes where !probeAnswered.contains(probe) {
            log.warning("probe: no echo reply from \(probe)")
        }
        for port in ports { port.interface.transmitQueue.releaseAll(to: port.interface.pool) }
        ports.removeAll()   // devices close, and captures flush, as they deinit
        log.info("stopped")
    }
}

/// Wraps a device in a pcap capture (opens the existential for the generic decorator).
private func capture<D: LinkDevice>(_ device: D, path: String) throws -> LinkDevice {
    try PcapCapture(wrapping: device, path: path)
}

/// Blocks `signals` and delivers them through a signalfd, so the loop sees
/// them as readable data instead of asynchronous interruptions.
final class SignalSource {
    let descriptor: Int32

    init(_ signals: [Int32]) throws {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        guard pthread_sigmask(SIG_BLOCK, &set, nil) == 0 else { throw LinkError("pthread_sigmask", errno: errno) }
        descriptor = rtu_signalfd(&set)
        guard descriptor >= 0 else { throw LinkError("signalfd", errno: errno) }
    }

    deinit { close(descriptor) }

    /// The next pending signal, or nil.
    func next() -> Int32? {
        let s = rtu_signalfd_read(descriptor)
        return s > 0 ? s : nil
    }
}
