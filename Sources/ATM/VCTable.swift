// The adaptor's table of permanent virtual circuits (RFC 2225 §8 treats a
// PVC as a configured VC ↔ IP address binding that needs no ATMARP) and the
// connection admission control of ATM-FACTS.md ("Admission on one link").
import Wire

/// One PVC: its channel, the IP address of the station at its far end, its
/// traffic contract and how packets are encapsulated on it (RFC 2684).
///
/// A peer has one default VC, which carries its address-resolved traffic
/// (the adaptor answers ARP for the peer with it). A *dedicated* VC to the
/// same peer is never chosen by address: it carries only what is bound to
/// it (`ATMAdaptor.bindTransmit`, a socket's reserved VC), so several
/// contracts can reach one station.
public struct ATMPermanentVC: Hashable, Sendable, CustomStringConvertible {
    public var channel: ATMVirtualChannel
    public var peer: IPv4Address
    public var contract: ATMTrafficContract
    public var encapsulation: ATMEncapsulation
    public var dedicated: Bool

    public init(channel: ATMVirtualChannel, peer: IPv4Address, contract: ATMTrafficContract = .ubr(),
                encapsulation: ATMEncapsulation = .llcSNAP, dedicated: Bool = false) {
        self.channel = channel
        self.peer = peer
        self.contract = contract
        self.encapsulation = encapsulation
        self.dedicated = dedicated
    }

    public var description: String { "\(channel) → \(peer) (\(contract)\(dedicated ? ", dedicated" : ""))" }

    /// Cells/s that `messagesPerSecond` UDP datagrams of `payload` bytes take
    /// on this VC through an IP MTU of `mtu`: each IP packet (fragments when
    /// the datagram exceeds the MTU, RFC 791 §2.3) is one AAL5 PDU of
    /// ⌈(IP length + encapsulation + 8) / 48⌉ cells (ATM-FACTS.md). Rounded up.
    public func cellRate(messagesPerSecond: Double, payload: Int, mtu: Int) -> Int {
        let cells = Double(cellsPerDatagram(payload: payload, mtu: mtu))
        return Int((messagesPerSecond * cells).rounded(.up))
    }

    /// The cells of one UDP datagram of `payload` bytes.
    public func cellsPerDatagram(payload: Int, mtu: Int) -> Int {
        let ipHeader = 20
        var data = payload + 8   // the IP payload: UDP header and data
        let perFragment = max(8, (mtu - ipHeader) / 8 * 8)
        var cells = 0
        repeat {
            let piece = min(data, perFragment)
            cells += AAL5.cellCount(sduLength: ipHeader + piece + encapsulation.headerLength)
            data -= piece
        } while data > 0
        return cells
    }
}

/// Why a PVC was refused. Nothing already admitted changes on a refusal.
public enum ATMAdmissionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// VCI 0–31 are reserved (I.361 §2.2.3), and 0/0 is the unassigned cell.
    case reservedChannel(ATMVirtualChannel)
    case duplicateChannel(ATMVirtualChannel)
    /// One default VC per peer: transmit picks it by the peer's address
    /// (further VCs to the peer are dedicated).
    case duplicatePeer(IPv4Address)
    case invalidContract(ATMVirtualChannel, String)
    /// Σ PCR(CBR) + Σ SCR(VBR) would exceed the line.
    case lineOverbooked(ATMVirtualChannel, requested: Int, reserved: Int, limit: Int)
    /// The table's fixed capacity is reached.
    case tableFull(limit: Int)

    public var description: String {
        switch self {
        case .reservedChannel(let c): "VC \(c): VCI 0–31 are reserved (ITU-T I.361 §2.2.3)"
        case .duplicateChannel(let c): "VC \(c) is already configured"
        case .duplicatePeer(let a): "peer \(a) already has a default VC (make this one dedicated)"
        case .invalidContract(let c, let why): "VC \(c): \(why)"
        case .lineOverbooked(let c, let requested, let reserved, let limit):
            "VC \(c): \(requested) cells/s requested, \(reserved) of \(limit) already reserved: "
                + "Σ PCR(CBR) + Σ SCR(VBR) would be \(requested + reserved) > \(limit) cells/s (OC-3c)"
        case .tableFull(let limit): "no room for another VC (at most \(limit))"
        }
    }
}

/// The PVCs of one adaptor, indexed by channel and by peer address (its
/// default VC); each PVC also has a dense index (0 ..< count) that the
/// adaptor's per-VC state uses. Lookups never allocate.
public struct ATMVCTable: Sendable {
    /// The most PVCs one adaptor serves (its per-VC state is sized by it).
    public static let maximumCount = 1024

    public private(set) var pvcs: [ATMPermanentVC] = []
    private var byChannel = ChannelIndex()
    private var byPeer: [IPv4Address: Int] = [:]
    /// Σ PCR(CBR) + Σ SCR(VBR) of the admitted PVCs, cells/s.
    public private(set) var reservedCellRate = 0

    public init() {}

    /// Admits every PVC in order; the first refusal is thrown.
    public init(_ pvcs: [ATMPermanentVC]) throws(ATMAdmissionError) {
        for p in pvcs { try admit(p) }
    }

    public var count: Int { pvcs.count }
    public subscript(i: Int) -> ATMPermanentVC { pvcs[i] }

    /// Cells/s still free for reservations.
    public var unreservedCellRate: Int { OC3c.admissibleCellsPerSecond - reservedCellRate }

    /// Admission control: refuses a reserved or duplicate channel, a second
    /// default VC to the same peer, a malformed contract, or a reservation
    /// the line cannot carry (Σ PCR(CBR) + Σ SCR(VBR) ≤ 353,207 cells/s).
    public mutating func admit(_ pvc: ATMPermanentVC) throws(ATMAdmissionError) {
        guard pvcs.count < Self.maximumCount else { throw .tableFull(limit: Self.maximumCount) }
        guard !pvc.channel.isReserved else { throw .reservedChannel(pvc.channel) }
        guard byChannel.index(of: pvc.channel) == nil else { throw .duplicateChannel(pvc.channel) }
        guard pvc.dedicated || byPeer[pvc.peer] == nil else { throw .duplicatePeer(pvc.peer) }
        if let why = pvc.contract.problem { throw .invalidContract(pvc.channel, why) }
        let want = pvc.contract.reservedCellRate
        guard want + reservedCellRate <= OC3c.admissibleCellsPerSecond else {
            throw .lineOverbooked(pvc.channel, requested: want, reserved: reservedCellRate,
                                  limit: OC3c.admissibleCellsPerSecond)
        }
        byChannel.insert(pvc.channel, index: pvcs.count)
        if !pvc.dedicated { byPeer[pvc.peer] = pvcs.count }
        pvcs.append(pvc)
        reservedCellRate += want
    }

    /// The PVC of `channel`: looked up for every cell received.
    @inline(__always) public func index(of channel: ATMVirtualChannel) -> Int? { byChannel.index(of: channel) }
    /// The default VC of the station at `address`.
    @inline(__always) public func index(forPeer address: IPv4Address) -> Int? { byPeer[address] }
}

/// VPI/VCI → dense index, for the lookup of every received cell: open
/// addressing with linear probing and multiply-shift hashing (as the LRP
/// demux's table, Stack/Demux.swift), kept at most half full; entries are
/// never removed. A `Dictionary` would run SipHash per cell, which cost
/// about as much as the rest of the adaptor's per-cell work besides the CRC.
struct ChannelIndex: Sendable {
    /// No channel has this key (VPI and VCI take 24 bits).
    private static let empty = UInt32.max
    private var keys = [UInt32](repeating: empty, count: 8)
    private var values = [Int32](repeating: 0, count: 8)
    private var count = 0

    @inline(__always)
    private static func key(_ c: ATMVirtualChannel) -> UInt32 { UInt32(c.vpi) << 16 | UInt32(c.vci) }

    @inline(__always)
    private func home(_ key: UInt32) -> Int {
        Int(truncatingIfNeeded: (UInt64(key) &* 0x9E37_79B9_7F4A_7C15) >> 32) & (keys.count &- 1)
    }

    @inline(__always)
    func index(of channel: ATMVirtualChannel) -> Int? {
        let k = Self.key(channel), mask = keys.count &- 1
        var i = home(k)
        while true {
            let s = keys[i]
            if s == k { return Int(values[i]) }
            if s == Self.empty { return nil }
            i = (i &+ 1) & mask
        }
    }

    /// - Precondition: `channel` is not in the index.
    mutating func insert(_ channel: ATMVirtualChannel, index: Int) {
        if 2 * (count + 1) > keys.count {
            let old = zip(keys, values).filter { $0.0 != Self.empty }
            keys = [UInt32](repeating: Self.empty, count: 2 * keys.count)
            values = [Int32](repeating: 0, count: keys.count)
            for (k, v) in old { place(k, v) }
        }
        place(Self.key(channel), Int32(index))
        count += 1
    }

    private mutating func place(_ key: UInt32, _ value: Int32) {
        var i = home(key)
        while keys[i] != Self.empty { i = (i + 1) & (keys.count - 1) }
        keys[i] = key
        values[i] = value
    }
}

extension ATMVirtualChannel {
    /// The Ethernet address the adaptor gives the station at the far end of
    /// this VC, so that the Ethernet stack above sees an ordinary neighbour:
    /// 02:41:54:VPI:VCI — locally administered, unicast, "AT" in bytes 1–2.
    public var syntheticHardwareAddress: EthernetAddress {
        EthernetAddress(0x02, 0x41, 0x54, vpi, UInt8(truncatingIfNeeded: vci >> 8), UInt8(truncatingIfNeeded: vci))
    }

    /// The channel named by a synthetic address, or nil for any other address.
    public init?(syntheticHardwareAddress a: EthernetAddress) {
        guard a.rawValue >> 24 == 0x02_4154 else { return nil }
        self.init(vpi: UInt8(truncatingIfNeeded: a.rawValue >> 16), vci: UInt16(truncatingIfNeeded: a.rawValue))
    }
}
