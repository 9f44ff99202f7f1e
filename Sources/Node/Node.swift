import ATM
import CShims
import Links
import RTUScheduler
import SharedRings
import Stack
import Synchronization
import UserUDP
import Wire

extension RTUTrigger: ChannelWaker {
    public func channelBecameNonEmpty() { signal() }
}

/// How a node runs its ports. Defaults match `etc/rtud.toml`.
public struct NodeConfiguration: Sendable {
    public var scheduler: SchedulerConfiguration
    /// Frames each socket's channel holds (LRP: more are dropped at the demux).
    public var channelCapacity = 512
    public var stackChannelCapacity = 1024
    /// Bytes of each socket ring (RX and TX each); a power of two.
    public var ringCapacity = 1 << 20
    public var maxSockets = 16_384
    /// `NAME.link`: minimum inter-release time and frames per release.
    public var linkPeriod: Nanoseconds = 1_000_000
    public var linkBatch = 256
    /// `NAME.link` watches its device one-shot (`RTURuntime.watch(descriptor:for:holdoff:)`):
    /// after an invocation that took more than one frame, the descriptor is
    /// enabled again only this much later, so under a stream the core wakes
    /// once per batch gathered meanwhile instead of once per frame, as a
    /// TPACKET_V2 ring or a TAP device would wake it; after a lone frame (a
    /// request) it is enabled again at once. On the 2-vCPU VMs 200 µs brought
    /// a V2 ring's CPU per frame under a flood near V3's (40 µs: ~4x V3's,
    /// enough to starve the SCHED_OTHER receivers of reserved streams under
    /// load) at no cost to lone requests (BENCHMARKS.md, "Slack service for
    /// early events"); a frame of a stream waits up to this long.
    public var linkHoldoff: Nanoseconds = 200_000
    /// `NAME.stack` / `NAME.frag`: minimum inter-release time and frames per release.
    public var stackPeriod: Nanoseconds = 2_000_000
    public var stackBatch = 32
    public var fragmentBatch = 64
    public var timerPeriod: Nanoseconds = 10_000_000
    /// Cost of demuxing one frame (the driver's copy included) and of one
    /// frame through the interface's own input, for the port RTUs' budgets.
    public var demuxCost = MessageCost(fixed: 300, perKilobyte: 150)
    public var stackCost = MessageCost(fixed: 2_000, perKilobyte: 1_000)
    /// `NAME.atm` (ATM ports): its minimum inter-release time while cells
    /// wait. Under delayed preemption it cannot be shorter than its budget
    /// plus the longest lower-priority invocation (at least the best-effort
    /// slice, 200 µs in rtud): 400 µs admits with room. The adaptor's
    /// transmitter sends the cells of the slots it missed up to its catch-up
    /// window (2 × the frame hold), so an adaptor made with a frame hold of
    /// this period (as rtud makes it) loses no slot to a release up to one
    /// period late.
    public var atmPeriod: Nanoseconds = 400_000
    /// CPU time per cell segmented or reassembled: BENCHMARKS.md measured 44
    /// and 29 ns in a release build; twice the larger.
    public var atmCellCost: Nanoseconds = 100
    /// CPU time per carrier frame sent or received: its share of the
    /// system call and of the kernel's work on it.
    public var atmFrameCost: Nanoseconds = 1_000
    /// Per-message UDP costs; nil: measured by `Node.calibrate` at start.
    public var calibration: UDPCalibration?
    /// Turns reservations into best-effort service (for comparisons): sockets
    /// still ask, admission is skipped, and nothing is guaranteed.
    public var reservationsEnabled = true

    public init(scheduler: SchedulerConfiguration) { self.scheduler = scheduler }
}

/// What a port is made of; the node builds its interface.
public struct PortSpec {
    public var name: String
    public var device: LinkDevice
    public var pool: BufferPool
    public var interface: InterfaceConfiguration

    public init(name: String, device: LinkDevice, pool: BufferPool, interface: InterfaceConfiguration) {
        self.name = name
        self.device = device
        self.pool = pool
        self.interface = interface
    }
}

public enum NodeError: Error, Equatable, Sendable, CustomStringConvertible {
    case notStarted
    case addressInUse(SocketAddress)
    case noInterface(IPv4Address)
    case noEphemeralPort
    case alreadyBound
    case notBound
    case tooManySockets(Int)
    case reservation(String)
    case admissionRefused(String)
    case scheduler(String)
    case ring(String)
    case closed
    /// A VC was asked for on an interface that is not link = "atm".
    case notATM(interface: String)
    /// The VC is not a PVC of the socket's interface.
    case noSuchVC(ATMVirtualChannel, interface: String, configured: [ATMVirtualChannel])
    /// The VC is its peer's default VC (the first PVC configured for it),
    /// which carries the peer's ARP-resolved traffic: ICMP and every socket
    /// not bound to a VC. Bound to one socket, the peer's datagrams to every
    /// other port would be classified to that socket and dropped there.
    case vcIsDefault(ATMVirtualChannel, peer: IPv4Address)
    /// Another socket holds the VC.
    case vcInUse(ATMVirtualChannel, socket: String)
    /// The socket sends to one station, the VC reaches another.
    case vcPeerMismatch(ATMVirtualChannel, vcPeer: IPv4Address, socketPeer: IPv4Address)
    /// The reservation needs more cells/s than the VC's contract carries.
    case vcContractExceeded(ATMVirtualChannel, needed: Int, allowed: Int, contract: String)

    public var description: String {
        switch self {
        case .notStarted: return "the node is not running"
        case .addressInUse(let a): return "address in use: \(a)"
        case .noInterface(let a): return "no interface has address \(a)"
        case .noEphemeralPort: return "no ephemeral port left"
        case .alreadyBound: return "the socket is already bound"
        case .notBound: return "the socket is not bound"
        case .tooManySockets(let n): return "too many sockets (limit \(n))"
        case .reservation(let why): return why
        case .admissionRefused(let why): return "admission refused: \(why)"
        case .scheduler(let why): return why
        case .ring(let why): return "socket rings: \(why)"
        case .closed: return "the socket is closed"
        case .notATM(let name):
            return "interface \(name) is not an ATM interface (link = \"atm\"): it has no VCs; bind to an ATM interface's address or leave the VC out"
        case let .noSuchVC(vc, name, configured):
            let known = configured.map { "\($0)" }.joined(separator: ", ")
            return "VC \(vc) is not a PVC of interface \(name) (its PVCs: \(known)); add it as an [[interface.pvc]] (both ends) and restart rtud, or use one of those"
        case let .vcIsDefault(vc, peer):
            return "VC \(vc) is the default VC of \(peer) (the first PVC configured for it): it carries ARP, ICMP and every "
                + "socket not bound to a VC, so no socket may take it; configure a second [[interface.pvc]] to \(peer) "
                + "(both ends, then restart rtud) and bind that one"
        case let .vcInUse(vc, socket):
            return "VC \(vc) is already bound to socket \(socket); delete that socket or choose another VC"
        case let .vcPeerMismatch(vc, vcPeer, socketPeer):
            return "VC \(vc) reaches \(vcPeer) but the socket is connected to \(socketPeer); choose a VC to \(socketPeer)"
        case let .vcContractExceeded(vc, needed, allowed, contract):
            return "the reservation needs \(needed) cells/s (AAL5 cells of its messages) but VC \(vc) (\(contract)) carries \(allowed); lower the rate or choose a VC with a larger contract"
        }
    }
}

/// A host of the user-level stack: its ports, the RT cores that run them,
/// and the in-process socket API (open, bind, connect, reserve, send,
/// receive, close, counters) that tests, benchmarks and the daemon's client
/// sessions use.
///
/// Control methods may be called from any thread (a mutex serialises them);
/// data moves through each socket's rings without locks.
public final class Node: @unchecked Sendable {
    public let configuration: NodeConfiguration
    public let runtime: RTURuntime
    public let ports: [Port]
    public private(set) var calibration: UDPCalibration

    private struct ControlState {
        var started = false
        var nextSocketID = 1
        var sockets: [Int: SocketRecord] = [:]
        /// Local endpoints in use: port → addresses (0.0.0.0 = all).
        var localPorts: [UInt16: [IPv4Address]] = [:]
        var nextEphemeral: UInt16 = 49_152
    }

    private final class SocketRecord {
        let socket: UDPSocket
        var port: Port?
        var key: UDPEndpointKey?
        var input: RTUHandle?
        var output: RTUHandle?
        /// The index of the ATM VC bound to the socket on `port`.
        var vc: Int?
        init(socket: UDPSocket) { self.socket = socket }
    }

    private let control = Mutex(ControlState())

    public init(configuration: NodeConfiguration, ports specs: [PortSpec]) throws(NodeError) {
        self.configuration = configuration
        do { runtime = try RTURuntime(configuration: configuration.scheduler) } catch {
            throw .scheduler("\(error)")
        }
        let cores = max(1, configuration.scheduler.cpus.count)
        ports = specs.enumerated().map { i, spec in
            Port(name: spec.name, device: spec.device,
                 interface: Interface(configuration: spec.interface, pool: spec.pool), core: i % cores,
                 channelCapacity: configuration.channelCapacity,
                 stackChannelCapacity: configuration.stackChannelCapacity, maxSockets: configuration.maxSockets)
        }
        calibration = configuration.calibration ?? .fallback
    }

    deinit { stop() }

    /// Measures UDP costs (unless configured), starts the cores and admits
    /// each port's RTUs. Throws when SCHED_FIFO is demanded and not allowed,
    /// or the port RTUs do not fit.
    public func start() throws(NodeError) {
        if configuration.calibration == nil { calibration = UDPCalibrator.measure() }
        do { try runtime.start() } catch { throw .scheduler("\(error)") }
        let c = configuration
        for port in ports {
            do {
                let linkBatch = batch(c.linkBatch, port), stackBatch = batch(c.stackBatch, port)
                let fragmentBatch = batch(c.fragmentBatch, port)
                let link = try runtime.add(RTUSpec(name: "\(port.name).link", owner: "rtud", period: c.linkPeriod,
                                                   budget: linkBudget(port, batch: linkBatch), batch: linkBatch, kind: .reactive),
                                           body: LinkUpcall(port: port), on: .core(port.core))
                try runtime.watch(descriptor: port.device.pollDescriptor, for: link.id, holdoff: c.linkHoldoff)
                let stack = try runtime.add(RTUSpec(name: "\(port.name).stack", owner: "rtud", period: c.stackPeriod,
                                                    budget: stackBudget(port, batch: stackBatch), batch: stackBatch,
                                                    kind: .reactive),
                                            body: StackUpcall(port: port, channel: port.demux.stackChannel, appliesCommands: true),
                                            on: .core(port.core))
                let frag = try runtime.add(RTUSpec(name: "\(port.name).frag", owner: "rtud", period: c.stackPeriod,
                                                   budget: stackBudget(port, batch: fragmentBatch), batch: fragmentBatch,
                                                   kind: .reactive),
                                           body: StackUpcall(port: port, channel: port.demux.fragmentChannel, appliesCommands: false),
                                           on: .core(port.core))
                // Before `NAME.timer`, which the core runs as soon as it is
                // added: its flush and its poll of the adaptor read what this
                // sets (`releaseATMIfDue`), which the command ring then hands over.
                if let atm = port.atm {
                    let budget = c.atmFrameCost + cellWork(Int64(atm.catchUpCells), atm)
                    // Its own signals are its timer (`releaseATMIfDue`): served
                    // in the slack they would poll the cell clock until due.
                    let handle = try runtime.add(RTUSpec(name: "\(port.name).atm", owner: "rtud", period: c.atmPeriod,
                                                         budget: budget, batch: atm.catchUpCells, kind: .reactive,
                                                         earlyEvents: .holdUntilRelease),
                                                 body: ATMUpcall(port: port), on: .core(port.core))
                    port.atmTrigger = handle.trigger
                    port.atmPeriod = UInt64(c.atmPeriod)
                    port.linkTrigger = link.trigger
                }
                _ = try runtime.add(RTUSpec(name: "\(port.name).timer", owner: "rtud", period: c.timerPeriod,
                                            budget: 200_000, batch: 1, kind: .periodic),
                                    body: TimerUpcall(port: port, period: c.timerPeriod), on: .core(port.core))
                port.demux.stackChannel.waker = stack.trigger
                port.demux.fragmentChannel.waker = frag.trigger
                port.stackHandle = stack
            } catch {
                runtime.stop()
                if case let .admission(.refused(refusal)) = error {
                    throw .scheduler("\(port.name): its RTUs do not fit: \(reason(refusal))")
                }
                throw .scheduler("\(port.name): \(error)")
            }
        }
        runtime.waitUntilApplied()
        // The gratuitous ARP is the stack RTU's to send: the port's RTUs are
        // live, so the interface is the core's from here on.
        for port in ports { push(.announce, to: port) }
        control.withLock { $0.started = true }
    }

    /// The budget of `NAME.link`: a batch of frames through the demux. An
    /// ATM port's frames come out of cells, which it reassembles: the line
    /// bounds them (no more cells and bytes than it carries in the period).
    private func linkBudget(_ port: Port, batch frames: Int) -> Nanoseconds {
        let c = configuration
        let batch = Int64(frames)
        guard let atm = port.atm else { return batch * c.demuxCost.cost(port.interface.configuration.mtu) }
        let cells = Self.lineCells(in: c.linkPeriod)
        return batch * c.demuxCost.fixed + cellWork(cells, atm) + (c.demuxCost.perKilobyte * cells * 48 + 1023) / 1024
    }

    /// The CPU time of `cells` cells segmented or reassembled by `atm` and
    /// of the carrier frames they fill (`cellsPerFrame` to a frame, the last
    /// one partly): what `NAME.atm` and an ATM port's `NAME.link` spend per cell.
    private func cellWork(_ cells: Int64, _ atm: any ATMPortAdaptor) -> Nanoseconds {
        let perFrame = Int64(atm.cellsPerFrame)
        return cells * configuration.atmCellCost + (cells + perFrame - 1) / perFrame * configuration.atmFrameCost
    }

    /// The budget of `batch` frames through the interface's own input; on an
    /// ATM port, no more bytes than the line carries in the period.
    private func stackBudget(_ port: Port, batch: Int) -> Nanoseconds {
        let c = configuration
        let mtu = port.interface.configuration.mtu
        guard port.atm != nil else { return Int64(batch) * c.stackCost.cost(mtu) }
        let bytes = min(Int64(batch) * Int64(mtu), Self.lineCells(in: c.stackPeriod) * 48)
        return Int64(batch) * c.stackCost.fixed + (c.stackCost.perKilobyte * bytes + 1023) / 1024
    }

    /// A port RTU's batch of frames: as configured at MTU 1500 and below, and
    /// on an Ethernet port with a larger MTU as many frames as carry the same
    /// bytes (at least 4), so a jumbo-frame port asks the core for the time
    /// a 1500-byte one does (at 9216 the configured batches, whole, took 97 %
    /// of a core and rtud refused to start). Frames beyond it wait for the
    /// next release; an ATM port's budgets are bounded by the line instead.
    private func batch(_ configured: Int, _ port: Port) -> Int {
        let mtu = port.interface.configuration.mtu
        guard port.atm == nil, mtu > 1500 else { return configured }
        return max(4, configured * 1500 / mtu)
    }

    /// Cells the OC-3c line carries in `period`, rounded up.
    private static func lineCells(in period: Nanoseconds) -> Int64 {
        Int64((Double(period) * OC3c.cellsPerSecond / 1e9).rounded(.up))
    }

    /// Stops the cores (idempotent). Sockets stay open; their rings keep what
    /// they hold. ATM counters are published a last time, from this thread
    /// now that no core runs.
    public func stop() {
        runtime.stop()
        control.withLock { $0.started = false }
        for port in ports {
            if let atm = port.atm { port.atmCounters?.publish(atm) }
        }
    }

    // MARK: - Sockets

    /// A new, unbound UDP socket. With `handler`, datagrams are handed to it
    /// on the core, inside the input RTU (the RTU paper's upcall), instead of
    /// the RX ring; it must not block. With `region`, its rings are the
    /// region's (a client in another process; no handler).
    public func openUDP(name: String? = nil, handler: ((UDPDatagram) -> Void)? = nil,
                        region: SocketRegion? = nil) throws(NodeError) -> UDPSocket {
        try control.withLock { (s: inout ControlState) throws(NodeError) -> UDPSocket in
            guard s.started else { throw .notStarted }
            guard s.sockets.count < configuration.maxSockets else { throw .tooManySockets(configuration.maxSockets) }
            let id = s.nextSocketID
            s.nextSocketID += 1
            let socket: UDPSocket
            if let region {
                socket = UDPSocket(id: id, name: name ?? "udp\(id)", channelCapacity: configuration.channelCapacity,
                                   region: region)
            } else {
                do {
                    socket = try UDPSocket(id: id, name: name ?? "udp\(id)", channelCapacity: configuration.channelCapacity,
                                           ringCapacity: configuration.ringCapacity, handler: handler)
                } catch { throw .ring("\(error)") }
            }
            s.sockets[id] = SocketRecord(socket: socket)
            return socket
        }
    }

    /// Binds `socket` to `address` (port 0: an ephemeral port; address
    /// 0.0.0.0: the first interface, every address of it).
    public func bind(_ socket: UDPSocket, to address: SocketAddress) throws(NodeError) {
        try control.withLock { (s: inout ControlState) throws(NodeError) in
            guard let record = s.sockets[socket.id] else { throw .closed }
            guard record.key == nil else { throw .alreadyBound }
            try bindLocked(record, to: address, state: &s)
        }
        waitForCommands()
    }

    /// Connects `socket` to `peer`: it sends there by default and receives
    /// only from there (exact 5-tuple in the demux). Binds an ephemeral port
    /// first if unbound.
    public func connect(_ socket: UDPSocket, to peer: SocketAddress) throws(NodeError) {
        try control.withLock { (s: inout ControlState) throws(NodeError) in
            guard let record = s.sockets[socket.id] else { throw .closed }
            if record.key == nil {
                let port = ports.first { $0.interface.configuration.address.contains(peer.address) } ?? ports[0]
                try bindLocked(record, to: SocketAddress(address: port.interface.address, port: 0), state: &s)
            }
            guard let port = record.port, let old = record.key else { throw .notBound }
            if let vc = record.vc, let pvc = port.atm?.table[vc], pvc.peer != peer.address {
                throw .vcPeerMismatch(pvc.channel, vcPeer: pvc.peer, socketPeer: peer.address)
            }
            let local = socket.local!
            let new = UDPEndpointKey(local: local.address, localPort: local.port, remote: peer.address, remotePort: peer.port)
            socket.remote = peer
            record.key = new
            push(.rekey(socket, old: old, new: new), to: port)
        }
        waitForCommands()
    }

    private func bindLocked(_ record: SocketRecord, to address: SocketAddress, state s: inout ControlState) throws(NodeError) {
        let port: Port
        if address.address.isUnspecified {
            port = ports[0]
        } else if let p = ports.first(where: { $0.interface.address == address.address }) {
            port = p
        } else {
            throw .noInterface(address.address)
        }
        var number = address.port
        if number == 0 {
            var tries = 0
            repeat {
                number = s.nextEphemeral
                s.nextEphemeral = s.nextEphemeral == 65_535 ? 49_152 : s.nextEphemeral + 1
                tries += 1
                if tries > 16_384 { throw .noEphemeralPort }
            } while s.localPorts[number] != nil
        }
        // As Linux without SO_REUSEADDR: one socket per port and address,
        // and a wildcard bind conflicts with every address.
        if let holders = s.localPorts[number],
           holders.contains(where: { $0 == address.address || $0.isUnspecified || address.address.isUnspecified }) {
            throw .addressInUse(SocketAddress(address: address.address, port: number))
        }
        let socket = record.socket
        let local = SocketAddress(address: address.address, port: number)
        let key = UDPEndpointKey(local: local.address, localPort: number)
        try addRTUs(record, port: port, reservation: nil, plan: nil)
        s.localPorts[number, default: []].append(address.address)
        socket.local = local
        record.port = port
        record.key = key
        push(.install(socket, key: key, local: local), to: port)
    }

    /// Reserves `reservation` for `socket` (bound first), replacing its
    /// best-effort service or an earlier reservation. Atomic: when admission
    /// refuses, the socket keeps what it had, and the error says why.
    /// Once started, it returns when the core has dropped the socket's
    /// previous RTUs: a best-effort output RTU left there a moment longer
    /// would send what the application queues next unpaced (seen as a burst
    /// over the reserved rate in NodeTests.testReservedOutputNeverExceedsItsRate).
    public func reserve(_ socket: UDPSocket, _ reservation: UDPReservation) throws(NodeError) {
        let started = try control.withLock { (s: inout ControlState) throws(NodeError) -> Bool in
            guard let record = s.sockets[socket.id] else { throw .closed }
            guard let port = record.port else { throw .notBound }
            // The plan first: it validates the reservation (a message size
            // of 0 has no cells per message to count) and says the batch.
            let plan = try self.plan(reservation, for: record, port: port)
            if let vc = record.vc { try Self.checkContract(plan, reservation, vc: vc, port: port) }
            try addRTUs(record, port: port, reservation: reservation, plan: plan)
            return s.started
        }
        if started { runtime.waitUntilApplied() }
    }

    // MARK: - ATM VCs

    /// Binds `socket` (bound first) to the PVC `channel` of its interface:
    /// the VC's datagrams go to the socket's channel by the VC alone (the LRP
    /// "NI demux"; the socket's RTU checks addresses and ports and counts
    /// what is not its own), and the socket's datagrams to the VC's peer
    /// travel on it. Refused when the interface is not ATM, the VC is not
    /// one of its PVCs, is its peer's default VC (`vcIsDefault`: it carries
    /// the peer's ARP-resolved traffic, ICMP and unbound sockets, which the
    /// demux would hand this socket), or is bound to another socket, a
    /// connected socket's peer is not the VC's, or the reservation needs
    /// more cells/s than the VC's contract carries (PCR of CBR, SCR of VBR,
    /// the cap of UBR). Closing the socket unbinds the VC.
    public func bindVC(_ socket: UDPSocket, to channel: ATMVirtualChannel) throws(NodeError) {
        try control.withLock { (s: inout ControlState) throws(NodeError) in
            guard let record = s.sockets[socket.id] else { throw .closed }
            guard let port = record.port, let local = socket.local else { throw .notBound }
            guard let atm = port.atm else { throw .notATM(interface: port.name) }
            let table = atm.table
            guard let vc = table.index(of: channel) else {
                throw .noSuchVC(channel, interface: port.name, configured: table.pvcs.map(\.channel))
            }
            guard table[vc].dedicated else { throw .vcIsDefault(channel, peer: table[vc].peer) }
            if let holder = s.sockets.values.first(where: { $0.port === port && $0.vc == vc && $0 !== record }) {
                throw .vcInUse(channel, socket: holder.socket.name)
            }
            if let remote = socket.remote, remote.address != table[vc].peer {
                throw .vcPeerMismatch(channel, vcPeer: table[vc].peer, socketPeer: remote.address)
            }
            if let r = socket.reservation, let plan = socket.plan { try Self.checkContract(plan, r, vc: vc, port: port) }
            if let old = record.vc, old != vc { unbindVC(record, port: port) }
            record.vc = vc
            push(.bindVC(socket, vc: vc, source: channel.syntheticHardwareAddress, localPort: local.port), to: port)
        }
        waitForCommands()
    }

    /// The PVC bound to `socket`, if any.
    public func vc(of socket: UDPSocket) -> ATMVirtualChannel? {
        control.withLock { s in
            guard let r = s.sockets[socket.id], let vc = r.vc, let atm = r.port?.atm else { return nil }
            return atm.table[vc].channel
        }
    }

    /// Under the lock: takes the socket's VC back.
    private func unbindVC(_ record: SocketRecord, port: Port) {
        guard let vc = record.vc, let atm = port.atm, let local = record.socket.local else { return }
        record.vc = nil
        push(.unbindVC(source: atm.table[vc].channel.syntheticHardwareAddress, localPort: local.port), to: port)
    }

    /// Whether the cells `plan` lets the socket send fit the contract of VC
    /// `vc` of `port`: its output RTU sends up to `plan.batch` messages a
    /// period (pacing bounds its bytes, not its messages: smaller messages
    /// come as many as the batch), each of at most `reservation.messageSize`
    /// bytes, so at most batch / period × the AAL5 cells of the largest
    /// message. UBR without a cap promises nothing and is not checked.
    private static func checkContract(_ plan: UDPRTUPlan, _ reservation: UDPReservation, vc: Int,
                                      port: Port) throws(NodeError) {
        guard let pvc = port.atm?.table[vc] else { return }
        let contract = pvc.contract
        let allowed: Int?
        switch contract.category {
        case .cbr, .ubr: allowed = contract.peakCellRate
        case .vbr: allowed = contract.sustainableCellRate
        }
        guard let allowed else { return }
        let messages = Double(plan.batch) * 1e9 / Double(plan.period)
        let needed = pvc.cellRate(messagesPerSecond: messages, payload: reservation.messageSize,
                                  mtu: port.interface.configuration.mtu)
        guard needed <= allowed else {
            throw .vcContractExceeded(pvc.channel, needed: needed, allowed: allowed, contract: "\(contract)")
        }
    }

    /// The RTUs `reservation` becomes for `record`'s socket on `port`, or why
    /// it cannot be had (a reservation needing more than a whole core is an
    /// admission refusal, with what would fit instead).
    private func plan(_ reservation: UDPReservation, for record: SocketRecord, port: Port) throws(NodeError) -> UDPRTUPlan {
        let socket = record.socket
        do throws(ReservationError) {
            return try UDPRTUPlan.make(reservation, name: socket.name, owner: socket.name, calibration: calibration)
        } catch {
            guard case .exceedsCore = error else { throw .reservation(error.description) }
            let replacing = [record.input, record.output].compactMap { $0?.id }
            throw .admissionRefused(error.description + fitting(reservation, core: port.core, replacing: replacing))
        }
    }

    /// Adds the socket's new input and output RTUs, then removes the old ones.
    /// `plan` is `reservation`'s (`plan(_:for:port:)`), nil for best effort.
    private func addRTUs(_ record: SocketRecord, port: Port, reservation: UDPReservation?,
                         plan: UDPRTUPlan?) throws(NodeError) {
        let socket = record.socket
        let layer = port.udp
        let oldInput = record.input, oldOutput = record.output
        let replacing = [oldInput, oldOutput].compactMap { $0?.id }
        let input: RTUHandle, output: RTUHandle
        if let plan, configuration.reservationsEnabled {
            do { input = try runtime.add(plan.input, body: UDPInputUpcall(layer: layer, socket: socket), on: .core(port.core)) } catch {
                throw refused(error, reservation: reservation, core: port.core, replacing: replacing)
            }
            do {
                output = try runtime.add(plan.output, body: UDPOutputUpcall(layer: layer, socket: socket, reservation: reservation,
                                                                            batch: plan.batch),
                                         on: .core(port.core))
            } catch {
                try? runtime.remove(input.id)
                throw refused(error, reservation: reservation, core: port.core, replacing: replacing)
            }
        } else {
            // Unreserved, or reservations turned off: best-effort in the slack,
            // unpaced (with reservations off nothing is guaranteed or shaped).
            do {
                input = try runtime.addBestEffort(name: "\(socket.name).in", body: UDPInputUpcall(layer: layer, socket: socket),
                                                  core: port.core, batch: 256)
                output = try runtime.addBestEffort(name: "\(socket.name).out",
                                                   body: UDPOutputUpcall(layer: layer, socket: socket, reservation: nil, batch: 1),
                                                   core: port.core, batch: 256)
            } catch { throw .scheduler("\(error)") }
        }
        socket.reservation = reservation
        socket.plan = plan
        socket.channel.waker = input.trigger
        socket.outputTrigger = output.trigger
        record.input = input
        record.output = output
        for old in [oldInput, oldOutput].compactMap({ $0 }) { removeRTU(old.id) }
        // A client in another process queues into shared memory and rings the
        // TX doorbell (when the output RTU armed it): that releases a
        // best-effort output RTU. A reserved one is periodic and needs none.
        if let region = socket.region, plan == nil || !configuration.reservationsEnabled {
            do { try runtime.watch(descriptor: region.tx.dataDoorbell, for: output.id) } catch { throw .scheduler("\(error)") }
        }
        input.trigger?.signal()
        output.trigger?.signal()
    }

    /// What a refused `runtime.add` of a socket's RTU means to a caller:
    /// the refusal's `reason` with the largest reservation that would fit
    /// instead, or the scheduler's error as it is.
    private func refused(_ error: SchedulerError, reservation: UDPReservation?, core: Int,
                         replacing: [RTUID]) -> NodeError {
        guard case let .admission(.refused(refusal)) = error else { return .admissionRefused("\(error)") }
        var why = reason(refusal)
        if let reservation { why += fitting(reservation, core: core, replacing: replacing) }
        return .admissionRefused(why)
    }

    /// An admission refusal's reason alone (`NodeError.admissionRefused`
    /// says "admission refused" itself), in the CPU's name and readable units.
    private func reason(_ refusal: AdmissionRefusal) -> String {
        let cpu = cpuName(refusal.core)
        switch refusal.cause {
        case let .deadlineMiss(_, name, responseTime, deadline):
            return "\(name) would miss its deadline on \(cpu): worst-case response \(Self.duration(responseTime)) "
                + "> period \(Self.duration(deadline))"
        case let .utilizationCap(utilization, cap):
            return "\(cpu) would be \(Self.percent(utilization)) busy with real-time work, above rt_utilization_cap "
                + "\(Self.percent(cap))"
        }
    }

    /// "; at most R fits there now" for `r`'s message size and period: the
    /// largest rate whose two RTUs the core's admission would take beside what
    /// it holds (in place of `replacing`, the socket's current RTUs), found by
    /// asking a copy of the admission model, so it is exactly what `reserve`
    /// would accept.
    private func fitting(_ r: UDPReservation, core: Int, replacing: [RTUID]) -> String {
        var model = runtime.model
        for id in replacing { _ = try? model.remove(id) }
        let period = UDPRTUPlan.period(of: r)
        let bitsPerMessage = UInt64(r.messageSize) * 8
        func rate(_ batch: Int) -> UInt64 { UInt64(batch) * bitsPerMessage * 1_000_000_000 / UInt64(period) }
        func fits(_ batch: Int) -> Bool {
            let asked = UDPReservation(bitsPerSecond: rate(batch), messageSize: r.messageSize, period: period)
            guard let plan = try? UDPRTUPlan.make(asked, name: "fit", owner: "fit", calibration: calibration) else { return false }
            var trial = model
            return (try? trial.admit(plan.input, on: .core(core))) != nil && (try? trial.admit(plan.output, on: .core(core))) != nil
        }
        let where_ = "\(cpuName(core)) at \(r.messageSize)-byte messages every \(Self.duration(period))"
        guard rate(1) > 0, fits(1) else { return "; no reservation fits on \(where_) now (rtuctl rtus shows what holds it)" }
        var low = 1, high = 65_536   // fits(low); UDPRTUPlan caps a period's batch at 65,536
        while low < high {
            let mid = (low + high + 1) / 2
            if fits(mid) { low = mid } else { high = mid - 1 }
        }
        return "; at most \(Self.rate(rate(low))) fits on \(where_) now"
    }

    /// "cpu N" for an RT core pinned to CPU N, "RT core I (unpinned)" otherwise.
    private func cpuName(_ core: Int) -> String {
        let cpus = configuration.scheduler.cpus
        if cpus.indices.contains(core), let cpu = cpus[core] { return "cpu \(cpu)" }
        return "RT core \(core) (unpinned)"
    }

    static func duration(_ ns: Nanoseconds) -> String {
        switch ns {
        case ..<10_000: return "\(ns) ns"
        case ..<10_000_000: return DecimalText.fixed(Double(ns) / 1e3, 1) + " µs"
        default: return DecimalText.fixed(Double(ns) / 1e6, 2) + " ms"
        }
    }

    static func percent(_ ppb: Int64) -> String { DecimalText.fixed(Double(ppb) / 1e7, 1) + " %" }

    static func rate(_ bitsPerSecond: UInt64) -> String {
        bitsPerSecond >= 1_000_000 ? DecimalText.fixed(Double(bitsPerSecond) / 1e6, 1) + " Mbit/s"
            : DecimalText.fixed(Double(bitsPerSecond) / 1e3, 1) + " kbit/s"
    }

    /// Closes `socket`: out of the demux, its RTUs removed, frames in its
    /// channel returned to the pool, its reservation released.
    public func close(_ socket: UDPSocket) { close([socket]) }

    /// Closes `sockets` as `close(_:)` does each, waiting for the cores once
    /// for all of them rather than once per socket (a port applies commands
    /// at its stack RTU's rate, one release per 2 ms by default): what a
    /// client that goes with thousands of sockets needs.
    public func close(_ sockets: [UDPSocket]) {
        var closed: [UDPSocket] = []
        for socket in sockets {
            let record: SocketRecord? = control.withLock { s in
                guard let record = s.sockets.removeValue(forKey: socket.id) else { return nil }
                socket.isClosed.store(true, ordering: .relaxed)
                if let local = socket.local {
                    s.localPorts[local.port]?.removeAll { $0 == local.address }
                    if s.localPorts[local.port]?.isEmpty == true { s.localPorts[local.port] = nil }
                }
                for handle in [record.input, record.output].compactMap({ $0 }) { removeRTU(handle.id) }
                socket.channel.waker = nil
                if let port = record.port { unbindVC(record, port: port) }
                if let port = record.port, let key = record.key { push(.retire(socket, key: key), to: port) }
                return record
            }
            if record != nil { closed.append(socket) }
        }
        guard !closed.isEmpty else { return }
        runtime.waitUntilApplied()
        waitForCommands()
        // Wake threads blocked in receive so they see the close.
        for socket in closed { socket.rx.wakeConsumer() }
    }

    /// Removes an RTU; when removals queued faster than its core applies
    /// them filled the core's command ring, waits for the core once and
    /// tries again (a core that does not drain its ring is stopped, and
    /// then nothing it holds runs anyway).
    private func removeRTU(_ id: RTUID) {
        do throws(SchedulerError) { try runtime.remove(id) } catch {
            guard case .commandRingFull = error else { return }
            runtime.waitUntilApplied()
            try? runtime.remove(id)
        }
    }

    private func push(_ command: PortCommand, to port: Port) {
        while !port.commands.push(command) { _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 50_000) }
        port.commandsPushed += 1
        port.stackHandle?.trigger?.signal()
    }

    /// Waits until every port applied the commands pushed so far.
    private func waitForCommands() {
        for port in ports {
            let target = control.withLock { _ in port.commandsPushed }
            while port.commandsApplied.load(ordering: .acquiring) < target {
                _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 20_000)
            }
        }
    }

    /// Pings `target` from the port whose subnet holds it (else the first):
    /// one echo request of `length` data bytes, sent by that port's core.
    /// The reply, or a failure to send, comes back as a `PortEvent`.
    public func ping(_ target: IPv4Address, identifier: UInt16, sequence: UInt16, length: Int = 56) throws(NodeError) {
        try control.withLock { (s: inout ControlState) throws(NodeError) in
            guard s.started else { throw .notStarted }
            let port = ports.first { $0.interface.configuration.address.contains(target) } ?? ports[0]
            push(.echoRequest(to: target, identifier: identifier, sequence: sequence, length: length), to: port)
        }
    }

    // MARK: - Inspection

    /// Open sockets.
    public var sockets: [UDPSocket] { control.withLock { $0.sockets.values.map(\.socket).sorted { $0.id < $1.id } } }

    /// The RTU handles of a socket (input, output), if bound.
    public func handles(of socket: UDPSocket) -> (input: RTUHandle, output: RTUHandle)? {
        control.withLock { s in
            guard let r = s.sockets[socket.id], let i = r.input, let o = r.output else { return nil }
            return (i, o)
        }
    }

    /// Counters of every port: link, demux, stack, UDP (name, value), non-zero
    /// only. An ATM port's link counters, its carrier's and the adaptor's
    /// (`atm_…`, `atm_drop_…`) are as its core last published them (at most
    /// `timerPeriod` old while it runs).
    public func counters() -> [(String, [(String, UInt64)])] {
        ports.map { port in
            var all: [(String, UInt64)]
            if let board = port.atmCounters {
                all = board.snapshot
            } else {
                let link = port.device.counters
                all = linkCounterFields.map { ("link_" + $0.name, $0.value(link)) }
            }
            all += [("device_errors", port.deviceErrors.load(ordering: .relaxed)),
                    ("transmit_dropped_device_error", port.transmitDropped.load(ordering: .relaxed))]
            all += port.demux.counters.snapshot
            all += port.interface.counters.nonZero.map { ($0.0, $0.1) }
            all += port.udp.counters.snapshot
            return (port.name, all.filter { $0.1 != 0 })
        }
    }
}
