import CShims
import Links
import RTUScheduler
import Stack
import Synchronization
import UserUDP
import Wire

/// A change to a port's socket table, made by the control thread and applied
/// by the port's stack RTU between frames (so the demux and the UDP layer
/// keep one owner).
enum PortCommand {
    case install(UDPSocket, key: UDPEndpointKey, local: SocketAddress)
    /// Connecting: the socket's bound key becomes its 5-tuple (the local end stays).
    case rekey(UDPSocket, old: UDPEndpointKey, new: UDPEndpointKey)
    /// Takes the socket out of the demux and the UDP layer and gives the
    /// frames left in its channel back to the pool.
    case retire(UDPSocket, key: UDPEndpointKey)
    /// Sends an ICMP echo request (rtud's `--probe`); it waits in the ARP
    /// queue if the neighbour is not resolved yet.
    case echoRequest(to: IPv4Address, identifier: UInt16, sequence: UInt16, length: Int)
    /// Announces the interface (gratuitous ARP) once the port runs: the
    /// interface, its pool and its transmit queue belong to the core then.
    case announce
    /// ATM ports: the VC of index `vc` (whose frames come from link source
    /// `source`) carries the socket's datagrams both ways: the demux gives
    /// it the VC's datagrams, the adaptor sends its port's datagrams on it.
    case bindVC(UDPSocket, vc: Int, source: EthernetAddress, localPort: UInt16)
    case unbindVC(source: EthernetAddress, localPort: UInt16)
}

/// Something the interface noticed on the core, for the control thread to
/// report (the core only queues it: no logging, no allocation on the data path).
public enum PortEvent: Sendable, Equatable {
    case neighbour(IPv4Address, EthernetAddress)
    case addressConflict(EthernetAddress)
    case echoReply(from: IPv4Address, sequence: UInt16, length: Int, at: Instant)
    case echoRequestFailed(to: IPv4Address)
}

/// One interface of a node and the RTUs that run it on its core:
///
/// | RTU | kind | does |
/// |---|---|---|
/// | `NAME.link` | reactive on the device descriptor | reads frames, demuxes them into channels |
/// | `NAME.stack` | reactive on the stack channel | ARP, ICMP, unmatched datagrams; applies table commands |
/// | `NAME.frag` | reactive on the fragment channel | reassembly, then delivery to the socket |
/// | `NAME.timer` | periodic | ARP and reassembly timers, transmit retries |
/// | `NAME.atm` | reactive, self-releasing while cells wait | ATM ports: the adaptor's cell clock (ATMPort.swift) |
///
/// Everything here is touched by that core only, except `commands` (SPSC,
/// control → core) and the atomics it reports.
public final class Port {
    public let name: String
    public let device: LinkDevice
    public let interface: Interface
    public let demux: Demux
    public let udp: UDPLayer
    public let core: Int
    let receiveBatch: FrameBatch
    let commands = SPSCRing<PortCommand>(capacity: 256)
    let commandsApplied = Atomic<UInt64>(0)
    /// Control side: commands pushed so far.
    var commandsPushed: UInt64 = 0
    var stackHandle: RTUHandle?
    /// Device errors (receive or transmit), counted on the core.
    public let deviceErrors = Atomic<UInt64>(0)
    /// Frames given up because the device failed while transmitting them.
    public let transmitDropped = Atomic<UInt64>(0)
    /// Events for the control thread (core → control, SPSC); one the queue
    /// cannot take is counted in `eventsDropped`.
    let events = SPSCRing<PortEvent>(capacity: 256)
    public let eventsDropped = Atomic<UInt64>(0)
    /// The device as an ATM adaptor, when it is one.
    let atm: (any ATMPortAdaptor)?
    /// Releases `NAME.atm`.
    var atmTrigger: RTUTrigger?
    /// Core side: when `NAME.timer` is next released (`UInt64.max` until it
    /// first ran); `NAME.atm` leaves cells due after it to the timer.
    var timerNextRelease = UInt64.max
    /// `NAME.atm`'s minimum inter-release time (`NodeConfiguration.atmPeriod`).
    var atmPeriod: UInt64 = 0
    /// Releases `NAME.link` (besides its descriptor).
    var linkTrigger: RTUTrigger?
    /// The adaptor's counters for the control thread (nil on an Ethernet port).
    let atmCounters: ATMCounterBoard?

    init(name: String, device: LinkDevice, interface: Interface, core: Int, channelCapacity: Int,
         stackChannelCapacity: Int, maxSockets: Int) {
        self.name = name
        self.device = device
        self.interface = interface
        self.core = core
        atm = device as? any ATMPortAdaptor
        atmCounters = atm == nil ? nil : ATMCounterBoard()
        demux = Demux(hardwareAddress: interface.hardwareAddress,
                      stackChannel: FrameChannel(id: -1, capacity: stackChannelCapacity),
                      fragmentChannel: FrameChannel(id: -2, capacity: channelCapacity),
                      maxEndpoints: maxSockets + (atm?.table.count ?? 0))   // a bound VC takes an entry too
        udp = UDPLayer(interface: interface, demux: demux)
        receiveBatch = FrameBatch(capacity: 64)
        interface.transport = udp
        udp.flush = { [unowned self] now in self.flush(now: now) }
        interface.neighbourObserver = { [unowned self] address, mac in self.report(.neighbour(address, mac)) }
        interface.addressConflictObserver = { [unowned self] mac in self.report(.addressConflict(mac)) }
        interface.echoReplyObserver = { [unowned self] source, _, sequence, length, now in
            self.report(.echoReply(from: source, sequence: sequence, length: length, at: now))
        }
    }

    /// On the core: queues `event` for the control thread.
    private func report(_ event: PortEvent) {
        if !events.push(event) { eventsDropped.increment() }
    }

    /// Control thread: the next event the core reported, or nil.
    public func nextEvent() -> PortEvent? { events.pop() }

    deinit {
        demux.stackChannel.drain(to: interface.pool)
        demux.fragmentChannel.drain(to: interface.pool)
        interface.transmitQueue.releaseAll(to: interface.pool)
    }

    /// Hands queued frames to the device (frames it cannot take now stay
    /// queued; the timer RTU retries). An ATM adaptor is first brought to
    /// `now` (packets queue on their VC at the time they come), and
    /// `NAME.atm` is released when their cells are due.
    @inline(__always)
    func flush(now: Instant) {
        let queue = interface.transmitQueue
        guard !queue.isEmpty else { return }
        let t = UInt64(now.nanoseconds)
        if let atm { advance(atm, to: t) }   // whether to release `NAME.atm` is asked after the transmit
        do { _ = try device.transmit(queue, pool: interface.pool) } catch {
            deviceErrors.increment()
            transmitDropped.increment(by: UInt64(queue.count))
            queue.releaseAll(to: interface.pool)
        }
        if let atm {
            releaseATMIfDue(atm, now: t)
            // ARP answered by the adaptor: no descriptor wakes `NAME.link` for it.
            if atm.framesReady > 0 { linkTrigger?.signal() }
        }
    }

    /// Applies pending table commands (on the core, at `now`).
    func applyCommands(now: Instant) {
        while let command = commands.pop() {
            switch command {
            case let .install(socket, key, local):
                socket.coreLocal = local
                try? demux.insert(key, channel: socket.channel)   // the control side checked it
                udp.install(socket)
            case let .rekey(socket, old, new):
                demux.remove(old)
                try? demux.insert(new, channel: socket.channel)
                socket.coreRemote = new.isConnected ? SocketAddress(address: new.remote, port: new.remotePort) : nil
            case let .retire(socket, key):
                demux.remove(key)
                udp.uninstall(socket)
            case let .echoRequest(to, identifier, sequence, length):
                if !interface.sendEchoRequest(to: to, identifier: identifier, sequence: sequence, dataLength: length, now: now) {
                    report(.echoRequestFailed(to: to))
                }
                flush(now: now)
            case .announce:
                interface.start(now: now)
                flush(now: now)
            case let .bindVC(socket, vc, source, localPort):
                try? demux.bindLinkSource(source, to: socket.channel)   // the control side checked it
                atm?.bindTransmit(localPort: localPort, vc: vc)
            case let .unbindVC(source, localPort):
                demux.unbindLinkSource(source)
                atm?.unbindTransmit(localPort: localPort)
            }
            commandsApplied.store(commandsApplied.load(ordering: .relaxed) + 1, ordering: .releasing)
        }
    }
}

/// `NAME.link`: reads up to its batch of frames and demuxes each (LRP's
/// early demultiplexing). Its cost per frame is the driver's copy plus a few
/// header loads; everything else is charged to the channel's owner.
final class LinkUpcall: Upcall {
    unowned let port: Port

    init(port: Port) { self.port = port }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        let batch = port.receiveBatch
        let pool = port.interface.pool
        let demux = port.demux
        var total = 0
        defer { context.handled = total }   // a lone frame: the device is watched again at once
        while total < context.batch {
            let n: Int
            do { n = try port.device.receive(into: batch, limit: min(batch.capacity, context.batch - total), pool: pool) } catch {
                port.deviceErrors.increment()
                return .done
            }
            for i in 0..<n { demux.dispatch(batch[i], pool: pool) }
            batch.removeAll()
            total += n
            if n < batch.capacity { return .done }
            if context.shouldYield { break }
        }
        return .moreWork
    }
}

/// `NAME.stack` and `NAME.frag`: the interface's own input (ARP, ICMP,
/// unmatched datagrams; fragments and their reassembly).
final class StackUpcall: Upcall {
    unowned let port: Port
    let channel: FrameChannel
    let appliesCommands: Bool

    init(port: Port, channel: FrameChannel, appliesCommands: Bool) {
        self.port = port
        self.channel = channel
        self.appliesCommands = appliesCommands
    }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        let now = context.instant
        if appliesCommands { port.applyCommands(now: now) }
        let iface = port.interface
        var n = 0
        while n < context.batch, let frame = channel.pop() {
            iface.receive(frame.readable, now: now)
            iface.pool.give(frame)
            n += 1
            if n & 7 == 0 && context.shouldYield { break }
        }
        port.flush(now: now)
        return channel.isEmpty ? .done : .moreWork
    }
}

/// `NAME.timer`: ARP retries and ageing, reassembly timeouts, and frames the
/// device refused earlier; on an ATM port also the adaptor's reassembly
/// timers, the cells `NAME.atm` left to it (ATMPort.swift) and the counters.
final class TimerUpcall: Upcall {
    unowned let port: Port
    let period: Nanoseconds

    init(port: Port, period: Nanoseconds) {
        self.port = port
        self.period = period
    }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        _ = port.interface.poll(now: context.instant)
        port.flush(now: context.instant)
        if let atm = port.atm {
            port.timerNextRelease = UInt64(context.release + period)
            port.pollATM(now: UInt64(context.now))
            port.atmCounters?.publish(atm)
        }
        return .done
    }
}
