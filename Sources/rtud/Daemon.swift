import ATM
import CShims
import Config
import Control
import Glibc
import Links
import Node
import RTUScheduler
import Service
import Stack
import UserUDP
import Wire

/// rtud running: the interfaces as `Node` ports whose RTUs run on the
/// configured cores, and this thread as the control thread — the control
/// socket and its clients, signals, the systemd watchdog, and what the cores
/// report (neighbours, probe replies, corrupted rings). The control thread
/// never touches a frame; the cores never block on it.
final class Daemon {
    private(set) var config: RtudConfig
    /// The file the configuration came from (nil: built-in defaults); SIGHUP re-reads it.
    let configPath: String?
    var log: Log
    private let probes: [IPv4Address]
    private var node: Node!
    private var server: ControlServer!
    private var notifier: ServiceNotifier!
    /// The command line's `--pcap` and `--log-level`, applied to every file read.
    let overrides: (inout RtudConfig) -> Void
    private var running = true
    private var probeSent: [IPv4Address: Instant] = [:]
    private var probeAnswered: Set<IPv4Address> = []
    let started = Daemon.now()

    /// `--no-reservations`: the comparison baseline of the benchmarks.
    let reservationsEnabled: Bool

    init(config: RtudConfig, configPath: String?, probes: [IPv4Address], reservationsEnabled: Bool = true,
         overrides: @escaping (inout RtudConfig) -> Void) {
        self.config = config
        self.reservationsEnabled = reservationsEnabled
        self.configPath = configPath
        self.probes = probes
        self.overrides = overrides
        log = Log(level: config.daemon.logLevel)
        notifier = ServiceNotifier.fromEnvironment { [log] problem in log.warning("systemd: \(problem)") }
    }

    static func now() -> Instant { Instant(nanoseconds: UInt64(rtu_sched_monotonic_ns())) }

    func run() throws {
        raiseDescriptorLimit()
        let signals = try SignalSource([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        let nodeConfig = nodeConfiguration(config)
        var specs: [PortSpec] = []
        for interface in config.interfaces { specs.append(try openPort(interface, atmPeriod: nodeConfig.atmPeriod)) }
        node = try Node(configuration: nodeConfig, ports: specs)
        defer { shutdown() }
        try node.start()
        let policies = node.runtime.effectivePolicies
        for port in node.ports {
            let iface = port.interface
            log.info("\(port.name): \(iface.address)/\(iface.configuration.address.prefixLength) at \(iface.hardwareAddress), mtu \(iface.configuration.mtu), on \(port.device.name), core \(config.daemon.rtCores[port.core]) (\(policies.indices.contains(port.core) ? "\(policies[port.core])" : "?"))")
        }
        log.info("udp costs: \(node.calibration)")
        if !reservationsEnabled {
            log.warning("--no-reservations: every socket is best effort and the dispatchers run SCHED_OTHER (a baseline for comparisons; nothing is guaranteed)")
        }
        server = try ControlServer(daemon: self, node: node, config: config)
        log.info("control socket \(config.daemon.controlSocket)")
        for declared in config.sockets { server.declare(declared) }
        startProbes()
        notifier.ready(status: "\(node.ports.count) interface(s), \(config.sockets.count) declared socket(s)")
        log.info("ready")

        let watchdog = notifier.watchdogPingInterval.map { Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000 }
        var nextWatchdog = rtu_sched_monotonic_ns()
        while running {
            var fds = [pollfd(fd: signals.descriptor, events: Int16(POLLIN), revents: 0)]
            fds += server.pollDescriptors()
            // Core events and ring violations are looked at every 50 ms.
            if poll(&fds, nfds_t(fds.count), 50) < 0 && errno != EINTR { throw LinkError("poll", errno: errno) }
            if fds[0].revents & Int16(POLLIN) != 0 { handleSignals(signals) }
            server.service(Array(fds.dropFirst()))
            drainPortEvents()
            server.sweep()
            if let watchdog, rtu_sched_monotonic_ns() >= nextWatchdog {
                notifier.watchdog()
                nextWatchdog = rtu_sched_monotonic_ns() + watchdog
            }
        }
        notifier.stopping()
    }

    /// Descriptors rtud holds per client socket: the region's memfd and its four eventfds.
    static let descriptorsPerSocket = 5

    /// Raises the soft RLIMIT_NOFILE to the hard one: the soft default
    /// (1024, also under systemd) would refuse client sockets after about
    /// 200. Warns when even the hard limit cannot hold `[limits] max_sockets`.
    private func raiseDescriptorLimit() {
        var limit = rlimit()
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        guard getrlimit(resource, &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            if setrlimit(resource, &limit) != 0 { _ = getrlimit(resource, &limit) }
        }
        // Room for the devices, the control socket and its clients besides.
        let needed = rlim_t(Self.descriptorsPerSocket * config.limits.maxSockets + 256)
        if limit.rlim_cur < needed {
            log.warning("[limits] max_sockets = \(config.limits.maxSockets) needs about \(needed) descriptors (\(Self.descriptorsPerSocket) per socket); the limit is \(limit.rlim_cur), so sockets beyond about \((Int(limit.rlim_cur) - 256) / Self.descriptorsPerSocket) will be refused (raise LimitNOFILE= / ulimit -n)")
        }
    }

    /// The node's settings from the configuration.
    private func nodeConfiguration(_ c: RtudConfig) -> NodeConfiguration {
        var scheduler = SchedulerConfiguration(cpus: c.daemon.rtCores.map { Optional($0) })
        scheduler.priority = Int32(c.daemon.rtPriority)
        // Without reservations nothing is guaranteed: the dispatchers run as ordinary threads.
        scheduler.policy = reservationsEnabled ? .fifo : .other
        scheduler.requireRealtime = c.daemon.requireRealtime
        scheduler.utilizationCapPPM = Int64(c.daemon.rtUtilizationCap * 1_000_000)
        scheduler.bestEffortSlice = c.daemon.bestEffortSlice.nanoseconds
        scheduler.slotsPerCore = 2 * c.limits.maxSockets / max(1, c.daemon.rtCores.count) + 64
        scheduler.warn = { [log] message in log.warning(message) }
        var n = NodeConfiguration(scheduler: scheduler)
        n.maxSockets = c.limits.maxSockets
        n.ringCapacity = ControlServer.ringBytes
        n.reservationsEnabled = reservationsEnabled
        if let ns = c.calibration.udpPerMessageNs {
            let cost = MessageCost(fixed: Int64(ns), perKilobyte: 0)
            n.calibration = UDPCalibration(input: cost, output: cost, source: "[calibration] udp_per_message_ns")
        }
        return n
    }

    private func openPort(_ spec: InterfaceConfig, atmPeriod: Nanoseconds) throws -> PortSpec {
        // Slots hold the largest frame after the pool's headroom, rounded to a cache line.
        let slot = (64 + spec.mtu + 18 + 63) & ~63
        let pool = try BufferPool(slotSize: slot, count: 8192)
        // Over ATM the IP MTU is the adaptor's; the carrier keeps an Ethernet
        // MTU (a TAP is made with 1500, a device keeps the kernel's).
        let atm = spec.link == .atm
        var device: LinkDevice
        switch spec.driver {
        case .tap:
            device = try TapDevice(name: spec.name, create: spec.tapCreate, mtu: atm ? 1500 : spec.mtu, hardwareAddress: spec.mac)
        case .afPacket:
            let ring: PacketSocketDevice.ReceiveRing = switch spec.rxRing { case .v2: .v2; case .v3: .v3 }
            device = try PacketSocketDevice(interface: spec.device ?? spec.name, hardwareAddress: spec.mac, mtu: atm ? nil : spec.mtu, ring: ring)
        }
        // The capture wraps the carrier: on an ATM interface it holds the cell frames as they are on the wire.
        if let path = config.daemon.pcap {
            let file = config.interfaces.count > 1 ? "\(path).\(spec.name)" : path
            device = try capture(device, path: file)
            log.info("\(spec.name): capturing frames to \(file)")
        }
        if atm { device = try atmAdaptor(over: device, spec, pool: pool, frameHold: UInt64(atmPeriod)) }
        var ic = InterfaceConfiguration(name: spec.name, hardwareAddress: spec.mac, address: spec.address,
                                        mtu: spec.mtu, gateway: spec.gateway)
        ic.arpLifetime = Interval(nanoseconds: UInt64(spec.arpTimeout.nanoseconds))
        return PortSpec(name: spec.name, device: device, pool: pool, interface: ic)
    }

    /// The emulated ATM adaptor of a link = "atm" interface over `carrier`:
    /// its PVCs (the first for each peer its default VC, later ones
    /// dedicated), [atm] cells_per_frame, a frame hold of one `NAME.atm`
    /// period (so the transmitter catches up a release up to a period late),
    /// and the PDU capture of [daemon] pcap_pdu.
    private func atmAdaptor<Carrier: LinkDevice>(over carrier: Carrier, _ spec: InterfaceConfig, pool: BufferPool,
                                                 frameHold: UInt64) throws -> LinkDevice {
        var configuration = ATMAdaptorConfiguration()
        configuration.mtu = spec.mtu
        configuration.cellsPerFrame = config.atm.cellsPerFrame
        configuration.frameHold = frameHold
        let pvcs = spec.pvcs.map { p in
            let contract: ATMTrafficContract = switch p.category {
            case .cbr: .cbr(pcr: p.pcr ?? 0)
            case .vbr: .vbr(pcr: p.pcr ?? 0, scr: p.scr ?? 0, mbs: p.mbs ?? 0)
            case .ubr: .ubr(pcr: p.pcr)
            }
            let encapsulation: ATMEncapsulation = p.encapsulation == .llcSNAP ? .llcSNAP : .vcMultiplexed(.ipv4)
            return ATMPermanentVC(channel: p.channel, peer: p.peer, contract: contract, encapsulation: encapsulation,
                                  dedicated: !spec.isDefaultVC(p.channel))
        }
        // The adaptor keeps carrier frames in the pool's slots.
        guard carrier.maximumFrameLength <= pool.slotSize - pool.headroom else {
            throw DaemonError("\(spec.name): the carrier's frames (MTU \(carrier.mtu)) do not fit buffers for MTU \(spec.mtu); "
                              + "raise the interface's mtu or lower the carrier device's")
        }
        let adaptor: ATMAdaptor<Carrier>
        do { adaptor = try ATMAdaptor(carrier: carrier, pvcs: pvcs, pool: pool, configuration: configuration) } catch {
            throw DaemonError("\(spec.name): PVC refused: \(error)")
        }
        log.info("\(spec.name): ATM over \(carrier.name), \(adaptor.cellsPerFrame) cells per carrier frame, PVCs "
                 + pvcs.map(\.description).joined(separator: ", "))
        if let path = config.daemon.pcapPDU {
            let file = config.interfaces.filter({ $0.link == .atm }).count > 1 ? "\(path).\(spec.name)" : path
            var wall = timespec()
            clock_gettime(CLOCK_REALTIME, &wall)
            let realtime = UInt64(wall.tv_sec) * 1_000_000_000 + UInt64(wall.tv_nsec)
            adaptor.pduCapture = try ATMPDUCapture(path: file, vcCount: pvcs.count,
                                                   maximumPDU: AAL5.pduLength(sduLength: spec.mtu + ATMEncapsulation.llcSNAP.headerLength),
                                                   clockOffset: realtime &- UInt64(rtu_sched_monotonic_ns()))
            log.info("\(spec.name): capturing AAL5 PDUs (ERF) to \(file)")
        }
        return adaptor
    }

    /// Resolves each `--probe` neighbour and pings it: the echo request waits
    /// in the ARP queue until the neighbour answers.
    private func startProbes() {
        for target in probes {
            probeSent[target] = Self.now()
            do { try node.ping(target, identifier: UInt16(truncatingIfNeeded: getpid()), sequence: 1) } catch {
                log.warning("probe: \(target): \(error)")
            }
        }
    }

    /// Reports what the cores queued.
    private func drainPortEvents() {
        for port in node.ports {
            while let event = port.nextEvent() {
                switch event {
                case let .neighbour(address, mac):
                    log.info("\(port.name): neighbour \(address) is at \(mac)")
                case let .addressConflict(mac):
                    log.warning("\(port.name): address conflict: \(mac) also uses \(port.interface.address)")
                case let .echoReply(source, sequence, length, at):
                    guard let sent = probeSent[source] else { break }
                    probeAnswered.insert(source)
                    // From the probe's start, so it includes resolving the neighbour.
                    let ms = Double((at - sent).nanoseconds / 1000) / 1000
                    log.info("\(port.name): probe: echo reply from \(source) seq \(sequence), \(length) bytes, \(ms) ms after the probe started")
                case let .echoRequestFailed(target):
                    log.warning("\(port.name): probe: could not send an echo request to \(target)")
                }
            }
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
                reload()
            default:
                break
            }
        }
    }

    /// SIGHUP: re-reads the file; declared sockets are created, changed or
    /// deleted to match it (a refused one is reported and the rest still
    /// applied); settings that need a restart are named and left as they are.
    private func reload() {
        guard let path = configPath else {
            log.warning("SIGHUP: rtud runs with its built-in defaults (no --config); nothing to reload")
            return
        }
        notifier.reloading()
        var loaded: RtudConfig
        let report: ReloadReport
        do {
            loaded = try RtudConfig.load(path: path, cpuCount: RtudConfig.machineCPUCount)
            overrides(&loaded)
            report = try ReloadReport(running: config, loaded: loaded, cpuCount: RtudConfig.machineCPUCount)
        } catch {
            log.error("SIGHUP: \(path) refused; configuration unchanged\n\(error)")
            notifier.ready(status: "reload of \(path) refused; running as before")
            return
        }
        log.level = report.effective.daemon.logLevel
        server.limits = report.effective.limits
        // Every socket that goes or changes is closed before any is made, so
        // one may take the port or VC another gives up (two sockets swapping
        // VCs); then the changed ones are made, then the added ones.
        for gone in report.sockets.removed { server.undeclare(gone.name) }
        for (old, _) in report.sockets.changed { server.undeclare(old.name) }
        for (_, new) in report.sockets.changed { server.declare(new) }
        for added in report.sockets.added { server.declare(added) }
        config = report.effective
        for line in report.logLines { log.info("SIGHUP: \(line)") }
        log.info("SIGHUP: \(report.summary)")
        notifier.ready(status: report.summary)
    }

    func dumpCounters() {
        for (port, counters) in node.counters() {
            log.info("\(port): " + counters.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        }
    }

    private func shutdown() {
        server?.close()
        if let node {
            node.stop()   // first: an ATM port publishes its last counters when its core has stopped
            dumpCounters()
        }
        for probe in probes where !probeAnswered.contains(probe) {
            log.warning("probe: no echo reply from \(probe)")
        }
        node = nil   // devices close, and captures flush, as they deinit
        log.info("stopped")
    }
}

/// Wraps a device in a pcap capture (opens the existential for the generic decorator).
private func capture<D: LinkDevice>(_ device: D, path: String) throws -> LinkDevice {
    try PcapCapture(wrapping: device, path: path)
}

/// A failure to set the daemon up, in words.
struct DaemonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
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
