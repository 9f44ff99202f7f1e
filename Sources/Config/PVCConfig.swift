// The permanent virtual circuits of an interface with link = "atm"
// ([[interface.pvc]] tables): the model, how the file writes it, and its
// rules (ATM-FACTS.md: reserved VCIs, contracts, admission on one link).
//
//   [[interface.pvc]]
//   vc = "0/100"            # VPI/VCI
//   peer = "198.18.0.2"     # the station at the far end, inside the subnet
//   category = "cbr"        # "cbr", "vbr" or "ubr"
//   pcr = 50000             # cells/s, or a line bit rate such as "20Mbit"
//
// The first PVC listed for a peer is its default VC: it carries the peer's
// ARP-resolved traffic (ICMP, unbound sockets); a later VC to the same peer
// carries only the sockets bound to it (`vc` of a [[socket]]).

import Wire

/// The service category of a PVC's traffic contract (ATM Forum TM 4.1 §2).
public enum PVCCategory: String, Sendable, CaseIterable {
    /// Constant bit rate: `pcr`, reserved in full.
    case cbr
    /// Variable bit rate: `pcr`, `scr` and `mbs`; `scr` is reserved.
    case vbr
    /// Unspecified bit rate: what the reserved VCs leave; `pcr` an optional cap.
    case ubr
}

/// How IP packets are carried on a PVC (RFC 2684); both ends must agree.
public enum PVCEncapsulation: String, Sendable, CaseIterable {
    /// §5.1: an 8-byte LLC/SNAP header before each packet (RFC 2225's default).
    case llcSNAP = "llc_snap"
    /// §6.1: VC multiplexing, the packet alone (the VC carries IPv4 only).
    case vcMux = "vc_mux"
}

/// One [[interface.pvc]]: a VC, the IPv4 address at its far end and its
/// traffic contract. Rates are in cells per second, the burst in cells.
public struct PVCConfig: Equatable, Sendable {
    public var channel: ATMVirtualChannel
    public var peer: IPv4Address
    public var category: PVCCategory
    /// Peak cell rate: required for CBR and VBR, an optional cap for UBR.
    public var pcr: Int?
    /// Sustainable cell rate, VBR only.
    public var scr: Int?
    /// Maximum burst size in cells, VBR only.
    public var mbs: Int?
    public var encapsulation: PVCEncapsulation

    public init(channel: ATMVirtualChannel, peer: IPv4Address, category: PVCCategory = .ubr, pcr: Int? = nil,
                scr: Int? = nil, mbs: Int? = nil, encapsulation: PVCEncapsulation = .llcSNAP) {
        self.channel = channel
        self.peer = peer
        self.category = category
        self.pcr = pcr
        self.scr = scr
        self.mbs = mbs
        self.encapsulation = encapsulation
    }

    /// What admission counts against the line: PCR for CBR, SCR for VBR, 0 for UBR.
    public var reservedCellRate: Int {
        switch category {
        case .cbr: pcr ?? 0
        case .vbr: scr ?? 0
        case .ubr: 0
        }
    }

    /// The largest `mbs`: the 3-octet MBS field of ATM signalling's traffic
    /// descriptor (ITU-T Q.2931), 2^24 − 1 cells, as the adaptor's contract
    /// check (ATMTrafficContract.maximumBurstSizeLimit) has it.
    public static let mbsRange = 1...(1 << 24) - 1

    /// Bits one cell takes on the line (53 bytes): a rate written in bits
    /// per second is this many bits per cell.
    public static let bitsPerCell: UInt64 = 53 * 8

    /// Cells/s of a rate written as bits per second on the line, rounded up.
    public static func cellRate(_ rate: BitRate) -> Int {
        Int(clamping: (rate.bitsPerSecond + bitsPerCell - 1) / bitsPerCell)
    }
}

extension ATMVirtualChannel {
    /// Parses "VPI/VCI" in decimal ("0/100"): VPI 0…255 and VCI 0…65535,
    /// the widths of the UNI cell header (ATM-FACTS.md). Reserved VCIs parse;
    /// validation refuses them with a reason.
    public init?(text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(Ascii.isDigit) }),
              let vpi = UInt8(parts[0]), let vci = UInt16(parts[1]) else { return nil }
        self.init(vpi: vpi, vci: vci)
    }
}

let vcHelp = "a VC as \"VPI/VCI\", such as \"0/100\" (VPI 0..255, VCI 32..65535)"

// MARK: - Reading

extension TableReader {
    /// A VC written "VPI/VCI".
    mutating func channel(_ key: String) -> ATMVirtualChannel? { parsed(key, vcHelp) { ATMVirtualChannel(text: $0) } }

    /// A cell rate: an integer number of cells per second, or a string bit
    /// rate on the line ("20Mbit": 20,000,000 / 424 cells/s, rounded up).
    mutating func cellRate(_ key: String) -> Int? {
        typed(key, "cells per second (an integer) or a line rate such as \"20Mbit\"") { v in
            v.integerValue.flatMap { Int(exactly: $0) } ?? v.stringValue.flatMap(BitRate.init).map(PVCConfig.cellRate)
        }
    }
}

extension PVCConfig {
    static func decode(_ reader: TableReader) -> PVCConfig {
        var r = reader
        let channel = r.channel("vc")
        r.require("vc", channel)
        let peer = r.parsed("peer", "an IPv4 address such as \"198.18.0.2\"") { IPv4Address($0) }
        r.require("peer", peer)
        let category = r.choice("category", PVCCategory.self) ?? .ubr
        let pcr = r.cellRate("pcr")
        let scr = r.cellRate("scr")
        let mbs = r.int("mbs")
        let encapsulation = r.choice("encapsulation", PVCEncapsulation.self) ?? .llcSNAP
        r.finish()
        return PVCConfig(channel: channel ?? ATMVirtualChannel(vpi: 0, vci: 0), peer: peer ?? .any, category: category,
                         pcr: pcr, scr: scr, mbs: mbs, encapsulation: encapsulation)
    }

    // MARK: - Printing

    func renderedSettings() -> [RenderedSetting] {
        var out = [RenderedSetting(key: "vc", value: quoted(channel)),
                   RenderedSetting(key: "peer", value: quoted(peer)),
                   RenderedSetting(key: "category", value: quoted(category.rawValue)),
                   RenderedSetting(key: "pcr", value: pcr.map { "\($0)" }, unsetNote: category == .ubr ? " (no cap)" : "")]
        if category == .vbr {
            out += [RenderedSetting(key: "scr", value: scr.map { "\($0)" }),
                    RenderedSetting(key: "mbs", value: mbs.map { "\($0)" })]
        }
        out.append(RenderedSetting(key: "encapsulation", value: quoted(encapsulation.rawValue)))
        return out
    }

    // MARK: - Rules

    /// The PVC's own rules; `p` is its key path, `interface` its interface.
    func check(path p: String, interface: InterfaceConfig, line: Int, into out: inout [ConfigIssue]) {
        func issue(_ key: String, _ value: String?, _ message: String) {
            out.append(ConfigIssue(keyPath: "\(p).\(key)", value: value, message: message))
        }
        if channel.isReserved {
            issue("vc", quoted(channel), "VCI 0..31 are reserved (ITU-T I.361): use 32..65535")
        }
        let subnet = interface.address
        if peer == subnet.address {
            issue("peer", quoted(peer), "is the interface's own address")
        } else if !subnet.contains(peer) {
            issue("peer", quoted(peer), "must be inside the interface's subnet \(subnet.network)/\(subnet.prefixLength)")
        } else if subnet.prefixLength <= 30 && (peer == subnet.network || peer == subnet.directedBroadcast) {
            issue("peer", quoted(peer), "must be a host address of the subnet, not its network or broadcast address")
        }
        let rates = "1..\(line) cells/s (the line's \(line))"
        func rate(_ key: String, _ value: Int?, required: Bool) {
            guard let v = value else {
                if required { issue(key, nil, "missing (required for category = \(quoted(category.rawValue)))") }
                return
            }
            if !(1...line).contains(v) { issue(key, "\(v)", "must be \(rates)") }
        }
        func absent(_ key: String, _ value: Int?) {
            if let v = value { issue(key, "\(v)", "applies only to category = \"vbr\"") }
        }
        switch category {
        case .cbr:
            rate("pcr", pcr, required: true)
            absent("scr", scr)
            absent("mbs", mbs)
        case .vbr:
            rate("pcr", pcr, required: true)
            rate("scr", scr, required: true)
            if let s = scr, let c = pcr, s > c { issue("scr", "\(s)", "must not exceed pcr (\(c) cells/s)") }
            if mbs == nil { issue("mbs", nil, "missing (required for category = \"vbr\")") }
            if let m = mbs, !Self.mbsRange.contains(m) {
                issue("mbs", "\(m)", "must be \(Self.mbsRange.lowerBound)..\(Self.mbsRange.upperBound) cells")
            }
        case .ubr:
            rate("pcr", pcr, required: false)
            absent("scr", scr)
            absent("mbs", mbs)
        }
    }
}

extension InterfaceConfig {
    /// The PVC rules of one interface: only with link = "atm", at least one,
    /// channels unique, and Σ PCR(CBR) + Σ SCR(VBR) within `line` cells/s
    /// (ATM-FACTS.md, "Admission on one link"; reported at the PVC that
    /// overbooks the line, with the numbers).
    func checkPVCs(path p: String, line: Int, into out: inout [ConfigIssue]) {
        guard link == .atm else {
            if !pvcs.isEmpty {
                out.append(ConfigIssue(keyPath: "\(p).pvc", message: "applies only to link = \"atm\" (this interface is \(quoted(link.rawValue)))"))
            }
            return
        }
        if pvcs.isEmpty {
            out.append(ConfigIssue(keyPath: "\(p).link", value: quoted(link.rawValue),
                                   message: "needs at least one [[interface.pvc]]: an ATM interface reaches only its PVCs' peers"))
        }
        var reserved = 0
        for (j, pvc) in pvcs.enumerated() {
            let q = "\(p).pvc[\(j)]"
            pvc.check(path: q, interface: self, line: line, into: &out)
            if let k = pvcs[..<j].firstIndex(where: { $0.channel == pvc.channel }) {
                out.append(ConfigIssue(keyPath: "\(q).vc", value: quoted(pvc.channel), message: "already used by \(p).pvc[\(k)]"))
            }
            let want = pvc.reservedCellRate
            if want > 0 && reserved + want > line {
                let key = pvc.category == .vbr ? "scr" : "pcr"
                out.append(ConfigIssue(keyPath: "\(q).\(key)", value: "\(want)",
                                       message: "overbooks the line: Σ PCR(CBR) + Σ SCR(VBR) would be \(reserved + want) cells/s "
                                           + "(\(reserved) reserved by the PVCs above), over the line's \(line)"))
            } else {
                reserved += want
            }
        }
    }

    /// The PVC of `channel` on this interface, if configured.
    public func pvc(_ channel: ATMVirtualChannel) -> PVCConfig? { pvcs.first { $0.channel == channel } }

    /// Whether `channel` is its peer's default VC: the first PVC listed for
    /// that peer (rtud makes the later ones dedicated).
    public func isDefaultVC(_ channel: ATMVirtualChannel) -> Bool {
        guard let peer = pvc(channel)?.peer else { return false }
        return pvcs.first { $0.peer == peer }?.channel == channel
    }
}
