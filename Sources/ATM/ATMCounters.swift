// What the adaptor drops, and why (ARCHITECTURE.md, hot-path rule 7), and
// what it does. Raw values index fixed arrays, so counting never allocates.

import Wire

/// Why the adaptor did not carry a frame, a cell or a PDU.
public enum ATMDropReason: Int, CaseIterable, Sendable {
    // Transmit: frames from the stack.
    /// Neither IPv4 nor ARP: a routed PVC carries IPv4 only (RFC 2684 §5.1).
    case txNotIPv4
    /// The Ethernet or IPv4 header is unreadable.
    case txMalformed
    /// No PVC for the destination MAC or the destination address.
    case txNoVC
    /// The VC's transmit queue is full.
    case txVCQueueFull
    /// The SDU is longer than the VC's maximum (the adaptor MTU plus encapsulation).
    case txTooLong
    /// A carrier frame or reply buffer could not be taken from the pool.
    case txNoBuffer
    /// An ARP request for an address with no PVC.
    case arpNoPVC
    /// ARP other than a request for a PVC peer (replies, gratuitous ARP):
    /// PVCs need no address resolution (RFC 2225 §8), so nothing is sent.
    case arpNotNeeded
    /// No room for a locally answered ARP reply.
    case arpReplyQueueFull

    // Receive: carrier frames (RFC 4717).
    /// A carrier frame whose EtherType is not MPLS.
    case rxNotPseudowire
    /// An MPLS frame with another label.
    case rxWrongLabel
    /// A pseudowire frame that does not parse (no control word, not whole cells).
    case rxMalformedFrame
    /// A frame whose sequence number is behind the expected one: a
    /// duplicate or a reordered frame (RFC 4385 §4.2 lets the receiver drop it).
    case rxOutOfSequence

    // Receive: cells.
    /// A header error the HEC cannot correct (I.432.1 §4.3.3).
    case rxHECUncorrectable
    /// An OAM or RM cell (PTI 4–7): not part of any PDU.
    case rxOAMCell
    /// A cell on a VC with no PVC.
    case rxUnknownVC

    // Receive: PDUs (I.363.5 §9.2, ATM-FACTS.md "A receiver drops a PDU …").
    /// Length field 0: the sender aborted the PDU.
    case rxAborted
    /// The CRC-32 does not verify.
    case rxBadCRC
    /// The CRC failed after the carrier lost frames while the PDU was being
    /// reassembled: lost cells (a lost last cell merges two PDUs).
    case rxCellLoss
    /// Length larger than the PDU minus its trailer.
    case rxLengthExceedsPDU
    /// Length implying more than 47 bytes of pad.
    case rxPadTooLong
    /// The PDU grew past the VC's maximum before its last cell.
    case rxOversize
    /// No last cell within the reassembly timeout.
    case rxTimeout
    /// No buffer for a new PDU.
    case rxNoBuffer
    /// A bad LLC/SNAP header (RFC 2684 §5.1), or a protocol other than IPv4.
    case rxBadEncapsulation
    /// No room to queue a reassembled frame for the stack.
    case rxQueueFull

    public var name: String {
        switch self {
        case .txNotIPv4: "tx_not_ipv4"
        case .txMalformed: "tx_malformed"
        case .txNoVC: "tx_no_vc"
        case .txVCQueueFull: "tx_vc_queue_full"
        case .txTooLong: "tx_too_long"
        case .txNoBuffer: "tx_no_buffer"
        case .arpNoPVC: "arp_no_pvc"
        case .arpNotNeeded: "arp_not_needed"
        case .arpReplyQueueFull: "arp_reply_queue_full"
        case .rxNotPseudowire: "rx_not_pseudowire"
        case .rxWrongLabel: "rx_wrong_label"
        case .rxMalformedFrame: "rx_malformed_frame"
        case .rxOutOfSequence: "rx_out_of_sequence"
        case .rxHECUncorrectable: "rx_hec_uncorrectable"
        case .rxOAMCell: "rx_oam_cell"
        case .rxUnknownVC: "rx_unknown_vc"
        case .rxAborted: "rx_aborted"
        case .rxBadCRC: "rx_bad_crc"
        case .rxCellLoss: "rx_cell_loss"
        case .rxLengthExceedsPDU: "rx_length_exceeds_pdu"
        case .rxPadTooLong: "rx_pad_too_long"
        case .rxOversize: "rx_oversize"
        case .rxTimeout: "rx_timeout"
        case .rxNoBuffer: "rx_no_buffer"
        case .rxBadEncapsulation: "rx_bad_encapsulation"
        case .rxQueueFull: "rx_queue_full"
        }
    }

    /// The reasons of received frames, cells and PDUs (`LinkCounters.rxDropped`,
    /// `ATMCounters.receiveDrops`), and the rest, of transmission (`txDropped`).
    public static let receiveReasons = allCases.filter { $0.name.hasPrefix("rx_") }
    public static let transmitReasons = allCases.filter { !$0.name.hasPrefix("rx_") }

    /// The counter of a PDU that failed `AAL5.validate`.
    init(_ e: AAL5Error) {
        switch e {
        case .notWholeCells, .oversize: self = .rxOversize
        case .badCRC: self = .rxBadCRC
        case .aborted: self = .rxAborted
        case .lengthExceedsPDU: self = .rxLengthExceedsPDU
        case .padTooLong: self = .rxPadTooLong
        }
    }
}

/// What the adaptor did.
public enum ATMEvent: Int, CaseIterable, Sendable {
    case txPackets
    case txCells
    case txFrames
    case rxFrames
    case rxCells
    case rxPDUs
    /// Headers whose single-bit error the HEC corrected (I.432.1 §4.3.3).
    case rxHECCorrected
    /// Idle and unassigned cells, discarded by the PHY before any VC lookup.
    case rxIdleCells
    /// User cells with the EFCI bit set (PTI 2, 3).
    case rxCongestionExperienced
    /// Carrier frames missing by sequence number (lost on the carrier).
    case rxFramesLost
    /// Carrier frames numbered 1 far behind the expected number
    /// (`ATMAdaptor.restartDistance`) or after a silence longer than the
    /// reassembly timeout: the peer started over (RFC 4385 §4.1).
    case rxPeerRestart
    /// ARP requests for PVC peers answered locally.
    case arpAnswered
    /// Cell slots given up because the owner polled later than the catch-up window.
    case slotsForfeited

    public var name: String {
        switch self {
        case .txPackets: "tx_packets"
        case .txCells: "tx_cells"
        case .txFrames: "tx_frames"
        case .rxFrames: "rx_frames"
        case .rxCells: "rx_cells"
        case .rxPDUs: "rx_pdus"
        case .rxHECCorrected: "rx_hec_corrected"
        case .rxIdleCells: "rx_idle_cells"
        case .rxCongestionExperienced: "rx_congestion_experienced"
        case .rxFramesLost: "rx_frames_lost"
        case .rxPeerRestart: "rx_peer_restart"
        case .arpAnswered: "arp_answered"
        case .slotsForfeited: "slots_forfeited"
        }
    }
}

/// Drop and event counters of one adaptor (or one of its parts).
public struct ATMCounters: Sendable, Equatable {
    public private(set) var drops = [UInt64](repeating: 0, count: ATMDropReason.allCases.count)
    public private(set) var events = [UInt64](repeating: 0, count: ATMEvent.allCases.count)

    public init() {}

    public subscript(_ r: ATMDropReason) -> UInt64 { drops[r.rawValue] }
    public subscript(_ e: ATMEvent) -> UInt64 { events[e.rawValue] }

    @inline(__always) public mutating func drop(_ r: ATMDropReason, _ n: UInt64 = 1) { drops[r.rawValue] &+= n }
    @inline(__always) public mutating func count(_ e: ATMEvent, _ n: UInt64 = 1) { events[e.rawValue] &+= n }

    public var totalDrops: UInt64 { drops.reduce(0, &+) }
    public var receiveDrops: UInt64 { ATMDropReason.receiveReasons.reduce(0) { $0 &+ self[$1] } }

    /// The sum of two sets of counters (the adaptor's parts count separately).
    public static func + (a: ATMCounters, b: ATMCounters) -> ATMCounters {
        var c = a
        for i in c.drops.indices { c.drops[i] &+= b.drops[i] }
        for i in c.events.indices { c.events[i] &+= b.events[i] }
        return c
    }

    /// Non-zero counters as (name, value), events first.
    public var nonZero: [(String, UInt64)] {
        ATMEvent.allCases.compactMap { events[$0.rawValue] == 0 ? nil : ($0.name, events[$0.rawValue]) }
            + ATMDropReason.allCases.compactMap { drops[$0.rawValue] == 0 ? nil : ("drop_" + $0.name, drops[$0.rawValue]) }
    }
}
