// A port whose device is an ATM adaptor (issue 6): the `NAME.atm` RTU that
// runs the adaptor's cell clock, VCs bound to sockets (the LRP "NI demux"
// on receive, the socket's VC on transmit), and the adaptor's counters
// published for the control thread.
import ATM
import CShims
import Links
import RTUScheduler
import Wire

/// What a port needs of its ATM adaptor, whatever the adaptor's carrier
/// type (`ATMAdaptor` is generic over it; the port holds it as a `LinkDevice`).
protocol ATMPortAdaptor: AnyObject {
    var table: ATMVCTable { get }
    var cellsPerFrame: Int { get }
    /// Cells a late `poll` may still send (the transmitter's catch-up window).
    var catchUpCells: Int { get }
    @discardableResult func poll(now: UInt64) throws(LinkError) -> UInt64
    var nextTransmitDeadline: UInt64 { get }
    var framesReady: Int { get }
    func bindTransmit(localPort: UInt16, vc: Int)
    func unbindTransmit(localPort: UInt16)
    func count(_ r: ATMDropReason) -> UInt64
    func count(_ e: ATMEvent) -> UInt64
    /// The adaptor's frames to and from the stack.
    var counters: LinkCounters { get }
    /// The carrier's frames (cells in RFC 4717 frames).
    var carrierCounters: LinkCounters { get }
}

extension ATMAdaptor: ATMPortAdaptor {
    var catchUpCells: Int { Int(transmitter.catchUpSlots) }
    var carrierCounters: LinkCounters { carrier.counters }
}

/// The counters of a port's ATM adaptor and its carrier as the port's core
/// last published them (every `NAME.timer` run, and when the node stops).
/// The adaptor's own counters are plain arrays that only its core may read
/// without copying; this board is what the control thread reads instead:
/// single writer, aligned 64-bit relaxed stores and loads, no allocation on
/// the core.
final class ATMCounterBoard: @unchecked Sendable {
    /// Names in the board's order (the `Node.counters()` names).
    static let names: [String] = atmEvents.map { "atm_" + $0.name } + atmDrops.map { "atm_drop_" + $0.name }
        + linkCounterFields.map { "link_" + $0.name } + carrierCounterFields.map { "carrier_" + $0.name }

    private let values: UnsafeMutablePointer<UInt64>

    init() {
        values = .allocate(capacity: Self.names.count)
        values.initialize(repeating: 0, count: Self.names.count)
    }

    deinit { values.deallocate() }

    /// On the adaptor's core.
    func publish(_ adaptor: any ATMPortAdaptor) {
        var i = 0
        func put(_ v: UInt64) {
            rtu_atomic_store_relaxed(values + i, v)
            i += 1
        }
        for e in atmEvents { put(adaptor.count(e)) }
        for r in atmDrops { put(adaptor.count(r)) }
        let link = adaptor.counters, carrier = adaptor.carrierCounters
        for f in linkCounterFields { put(f.value(link)) }
        for f in carrierCounterFields { put(f.value(carrier)) }
    }

    /// Any thread: (name, value) of every counter.
    var snapshot: [(String, UInt64)] {
        Self.names.enumerated().map { ($1, rtu_atomic_load_relaxed(values + $0)) }
    }
}

private let atmEvents = ATMEvent.allCases
private let atmDrops = ATMDropReason.allCases

/// The `LinkCounters` fields `Node.counters()` reports for a port's link as
/// `link_NAME` (an ATM adaptor's stack side as well): one list, from which
/// the board's names and what it publishes are both taken.
let linkCounterFields: [(name: String, value: (LinkCounters) -> UInt64)] = [
    ("rx_frames", { $0.rxFrames }), ("rx_bytes", { $0.rxBytes }), ("tx_frames", { $0.txFrames }),
    ("tx_bytes", { $0.txBytes }), ("rx_dropped", { $0.rxDropped }), ("tx_dropped", { $0.txDropped }),
]
/// An ATM adaptor's carrier's fields (`carrier_NAME`): those and its drop reasons.
private let carrierCounterFields: [(name: String, value: (LinkCounters) -> UInt64)] = linkCounterFields + [
    ("rx_no_buffer", { $0.rxNoBuffer }), ("rx_truncated", { $0.rxTruncated }),
    ("rx_kernel_dropped", { $0.rxKernelDropped }), ("tx_oversize", { $0.txOversize }), ("tx_errors", { $0.txErrors }),
    ("tx_would_block", { $0.txWouldBlock }),
]

/// `NAME.atm`: runs the adaptor's cell clock (cells into carrier frames,
/// frames to the carrier). Reactive: the port's flush releases it when it
/// queues packets, and it releases itself while cells wait, unless the
/// next one can wait for `NAME.timer` (`releaseATMIfDue`), so it runs every
/// `NodeConfiguration.atmPeriod` while the line is busy and not at all
/// while it is idle or its cells wait for a contract that lets them go only
/// after the timer's next run. The reassembly timers are `NAME.timer`'s.
final class ATMUpcall: Upcall {
    unowned let port: Port

    init(port: Port) { self.port = port }

    override func run(context: inout UpcallContext) -> UpcallOutcome {
        port.pollATM(now: UInt64(context.now))
        return .done
    }
}

extension Port {
    /// On the core: runs the adaptor up to `now`, then releases `NAME.atm`
    /// again while cells wait (`releaseATMIfDue`). No-op on an Ethernet port.
    func pollATM(now: UInt64) {
        guard let atm else { return }
        advance(atm, to: now)
        releaseATMIfDue(atm, now: now)
    }

    /// On the core: runs the adaptor's cell clock up to `now`.
    @inline(__always)
    func advance(_ atm: any ATMPortAdaptor, to now: UInt64) {
        do { try atm.poll(now: now) } catch { deviceErrors.increment() }
    }

    /// Releases `NAME.atm` unless the adaptor's next cell can wait for
    /// `NAME.timer`: it is due after the timer's next release, which has not
    /// passed yet (a timer running late leaves nothing to it), and not within
    /// one `NAME.atm` period. Without the rule `NAME.atm` releases itself
    /// every period while any cell waits, finding nothing to send until a
    /// contract that spaces cells further apart than the timer's period lets
    /// the next one go. A timer delayed less than the transmitter's catch-up
    /// window costs no cell slot (one delayed more is counted in
    /// `atm_slots_forfeited`).
    ///
    /// The rule cannot be "only when due within a period": a reactive RTU is
    /// released by events alone (there is no release at a chosen time), so
    /// a cell due between one and several periods ahead needs the chain of
    /// self-releases, or it waits for whatever polls next (the timer, up to
    /// its whole period later): a VC whose cells are more than a period
    /// apart would send about one cell per timer period, and the frame hold
    /// puts even a busy VC's deadline a period or more ahead.
    @inline(__always)
    func releaseATMIfDue(_ atm: any ATMPortAdaptor, now: UInt64) {
        let due = atm.nextTransmitDeadline
        guard due != .max else { return }
        let timerFirst = timerNextRelease > now && due >= timerNextRelease
        if due <= now &+ atmPeriod || !timerFirst { atmTrigger?.signal() }
    }
}
