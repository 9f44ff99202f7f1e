import Testing
import Wire
@testable import Config

/// A [[interface.pvc]] table (for the interface above it) with `extra` lines.
func pvc(_ extra: String = "", vc: String = "0/100", peer: String = "198.18.0.2") -> String {
    "[[interface.pvc]]\nvc = \"\(vc)\"\npeer = \"\(peer)\"\n" + extra + (extra.isEmpty ? "" : "\n")
}

/// An ATM interface (lines 1–4) and its PVCs (the first from line 5).
func atmInterface(_ pvcs: String...) -> String { interface("link = \"atm\"") + pvcs.joined() }

@Suite struct PVCConfigTests {
    static let pvcCases: [Case] = [
        Case(text: atmInterface(pvc(vc: "0/31")),
             expected: #"rtud.toml:6: interface[0].pvc[0].vc = "0/31": VCI 0..31 are reserved (ITU-T I.361): use 32..65535"#),
        Case(text: atmInterface(pvc(vc: "256/100")), expected: #"rtud.toml:6: interface[0].pvc[0].vc = "256/100": "#
                 + #"expected a VC as "VPI/VCI", such as "0/100" (VPI 0..255, VCI 32..65535)"#),
        Case(text: atmInterface(pvc(vc: "100")), expected: #"rtud.toml:6: interface[0].pvc[0].vc = "100": "#
                 + #"expected a VC as "VPI/VCI", such as "0/100" (VPI 0..255, VCI 32..65535)"#),
        Case(text: atmInterface(pvc(vc: "0/65536")), expected: #"rtud.toml:6: interface[0].pvc[0].vc = "0/65536": "#
                 + #"expected a VC as "VPI/VCI", such as "0/100" (VPI 0..255, VCI 32..65535)"#),
        Case(text: atmInterface("[[interface.pvc]]\npeer = \"198.18.0.2\"\n"),
             expected: "rtud.toml:5: interface[0].pvc[0].vc: missing (required)"),
        Case(text: atmInterface(pvc(), pvc(peer: "198.18.0.3")),
             expected: #"rtud.toml:9: interface[0].pvc[1].vc = "0/100": already used by interface[0].pvc[0]"#),
        Case(text: atmInterface(pvc(peer: "198.19.0.2")),
             expected: #"rtud.toml:7: interface[0].pvc[0].peer = "198.19.0.2": must be inside the interface's subnet 198.18.0.0/24"#),
        Case(text: atmInterface(pvc(peer: "198.18.0.1")),
             expected: #"rtud.toml:7: interface[0].pvc[0].peer = "198.18.0.1": is the interface's own address"#),
        Case(text: atmInterface(pvc(peer: "198.18.0.255")), expected: #"rtud.toml:7: interface[0].pvc[0].peer = "198.18.0.255": "#
                 + "must be a host address of the subnet, not its network or broadcast address"),
        Case(text: atmInterface(pvc("category = \"cbr\"")),
             expected: #"rtud.toml:5: interface[0].pvc[0].pcr: missing (required for category = "cbr")"#),
        Case(text: atmInterface(pvc("category = \"cbr\"\npcr = 400000")),
             expected: "rtud.toml:9: interface[0].pvc[0].pcr = 400000: must be 1..353207 cells/s (the line's 353207)"),
        Case(text: atmInterface(pvc("category = \"cbr\"\npcr = 0")),
             expected: "rtud.toml:9: interface[0].pvc[0].pcr = 0: must be 1..353207 cells/s (the line's 353207)"),
        Case(text: atmInterface(pvc("category = \"cbr\"\npcr = 1000\nscr = 10")),
             expected: #"rtud.toml:10: interface[0].pvc[0].scr = 10: applies only to category = "vbr""#),
        Case(text: atmInterface(pvc("mbs = 10")),
             expected: #"rtud.toml:8: interface[0].pvc[0].mbs = 10: applies only to category = "vbr""#),
        Case(text: atmInterface(pvc("category = \"vbr\"\npcr = 1000\nscr = 2000\nmbs = 10")),
             expected: "rtud.toml:10: interface[0].pvc[0].scr = 2000: must not exceed pcr (1000 cells/s)"),
        Case(text: atmInterface(pvc("category = \"vbr\"\npcr = 1000\nscr = 100")),
             expected: #"rtud.toml:5: interface[0].pvc[0].mbs: missing (required for category = "vbr")"#),
        Case(text: atmInterface(pvc("category = \"vbr\"\npcr = 1000\nscr = 100\nmbs = 0")),
             expected: "rtud.toml:11: interface[0].pvc[0].mbs = 0: must be 1..16777215 cells"),
        // Past the 24 bits of signalling's MBS field (and a BT that would not fit 64 bits of ns).
        Case(text: atmInterface(pvc("category = \"vbr\"\npcr = 1000\nscr = 1\nmbs = 1000000000000")),
             expected: "rtud.toml:11: interface[0].pvc[0].mbs = 1000000000000: must be 1..16777215 cells"),
        Case(text: atmInterface(pvc("category = \"abr\"")),
             expected: #"rtud.toml:8: interface[0].pvc[0].category = "abr": expected one of "cbr", "vbr", "ubr""#),
        Case(text: atmInterface(pvc("pcr = 1.5")), expected: "rtud.toml:8: interface[0].pvc[0].pcr = 1.5: "
                 + #"expected cells per second (an integer) or a line rate such as "20Mbit", found a float"#),
        Case(text: atmInterface(pvc("encapsulation = \"null\"")), expected: #"rtud.toml:8: interface[0].pvc[0].encapsulation = "null": "#
                 + #"expected one of "llc_snap", "vc_mux""#),
        Case(text: atmInterface(pvc("pcrr = 1")),
             expected: "rtud.toml:8: unknown key 'interface[0].pvc[0].pcrr' (did you mean 'pcr'?)"),
        // Σ PCR(CBR) + Σ SCR(VBR) ≤ 353,207: refused at the PVC that overbooks, with the numbers.
        Case(text: atmInterface(pvc("category = \"cbr\"\npcr = 200000"),
                                pvc("category = \"vbr\"\npcr = 300000\nscr = 153207\nmbs = 10", vc: "0/101"),
                                pvc("category = \"cbr\"\npcr = \"1kbit\"", vc: "0/102")),
             expected: "rtud.toml:21: interface[0].pvc[2].pcr = 3: overbooks the line: Σ PCR(CBR) + Σ SCR(VBR) would be "
                 + "353210 cells/s (353207 reserved by the PVCs above), over the line's 353207"),
        Case(text: interface() + pvc(),
             expected: #"rtud.toml:4: interface[0].pvc: applies only to link = "atm" (this interface is "ethernet")"#),
        Case(text: atmInterface(), expected: #"rtud.toml:4: interface[0].link = "atm": "#
                 + "needs at least one [[interface.pvc]]: an ATM interface reaches only its PVCs' peers"),
    ]

    static let socketCases: [Case] = [
        Case(text: atmInterface(pvc()) + "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1:5\"\nvc = \"0/101\"",
             expected: #"rtud.toml:11: socket[0].vc = "0/101": is not a PVC of interface rtu0 (its PVCs: 0/100)"#),
        Case(text: interface() + "[[socket]]\nname = \"a\"\nbind = \"0.0.0.0:5\"\nvc = \"0/100\"",
             expected: #"rtud.toml:7: socket[0].vc = "0/100": interface rtu0 is not link = "atm": only an ATM interface has VCs"#),
        Case(text: atmInterface(pvc(), pvc(vc: "0/101")) + "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1:5\"\nvc = \"0/101\"\n"
                 + "[[socket]]\nname = \"b\"\nbind = \"0.0.0.0:6\"\nvc = \"0/101\"",
             expected: #"rtud.toml:18: socket[1].vc = "0/101": already bound to socket[0] (a VC carries one socket)"#),
        // The first PVC to a peer is its default VC: it carries ARP, ICMP and unbound sockets.
        Case(text: atmInterface(pvc(), pvc(vc: "0/101")) + "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1:5\"\nvc = \"0/100\"",
             expected: #"rtud.toml:14: socket[0].vc = "0/100": is the default VC of 198.18.0.2 (the first PVC listed for it): "#
                 + "it carries ARP, ICMP and every socket without a vc, so no socket may take it; add a second "
                 + "[[interface.pvc]] to 198.18.0.2 and bind that one"),
        Case(text: atmInterface(pvc()) + "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1:5\"\nvc = \"zero/100\"",
             expected: #"rtud.toml:11: socket[0].vc = "zero/100": expected a VC as "VPI/VCI", such as "0/100" (VPI 0..255, VCI 32..65535)"#),
        Case(text: interface() + "[daemon]\npcap_pdu = \"/tmp/pdu.pcap\"", expected: #"rtud.toml:5: daemon.pcap_pdu = "/tmp/pdu.pcap": "#
                 + #"applies only with an interface with link = "atm" (it captures AAL5 PDUs)"#),
        Case(text: atmInterface(pvc()) + "[daemon]\npcap_pdu = \"\"",
             expected: #"rtud.toml:9: daemon.pcap_pdu = "": must be a file path (leave pcap_pdu out for no capture)"#),
    ]

    @Test(arguments: pvcCases + socketCases)
    func rule(_ c: Case) {
        #expect(problems(c.text, cpuCount: c.cpuCount) == [c.expected], "\(c.text)")
    }

    /// Two sockets naming one VC but no interface (their bind is no
    /// interface's address) bind no VC: only their binds are reported.
    @Test func socketsWithoutAnInterfaceDoNotClashOverAVC() {
        let text = atmInterface(pvc(), pvc(vc: "0/101"))
            + "[[socket]]\nname = \"a\"\nbind = \"198.18.0.9:5\"\nvc = \"0/101\"\n"
            + "[[socket]]\nname = \"b\"\nbind = \"198.18.0.9:6\"\nvc = \"0/101\""
        #expect(problems(text, cpuCount: 2) == [
            #"rtud.toml:13: socket[0].bind = "198.18.0.9:5": 198.18.0.9 is not the address of any interface (or use 0.0.0.0)"#,
            #"rtud.toml:17: socket[1].bind = "198.18.0.9:6": 198.18.0.9 is not the address of any interface (or use 0.0.0.0)"#,
        ])
    }

    /// The first PVC listed for a peer is its default VC, whatever its place among the others.
    @Test func theDefaultVCIsTheFirstListedForItsPeer() throws {
        let c = try RtudConfig.parse(text: atmInterface(pvc(), pvc(vc: "0/101", peer: "198.18.0.3"), pvc(vc: "0/102"),
                                                        pvc(vc: "0/103", peer: "198.18.0.3")), cpuCount: 2)
        let i = c.interfaces[0]
        #expect([100, 101, 102, 103, 104].map { i.isDefaultVC(ATMVirtualChannel(vpi: 0, vci: UInt16($0))) }
            == [true, true, false, false, false])
    }

    @Test func aFullATMInterfaceReadsAsWritten() throws {
        let text = atmInterface(pvc("category = \"cbr\"\npcr = 50000"),
                                pvc("category = \"vbr\"\npcr = \"40Mbit\"\nscr = 20000\nmbs = 64\nencapsulation = \"vc_mux\"",
                                    vc: "1/32", peer: "198.18.0.3"),
                                pvc(vc: "0/101"))
            + "[[socket]]\nname = \"video\"\nbind = \"198.18.0.1:5000\"\nvc = \"0/101\"\n"
            + "reserve = { rate = \"8Mbit\", message_size = 1000 }\n[daemon]\npcap_pdu = \"/tmp/p\""
        let c = try RtudConfig.parse(text: text, cpuCount: 2)
        let pvcs = c.interfaces[0].pvcs
        #expect(pvcs == [
            PVCConfig(channel: ATMVirtualChannel(vpi: 0, vci: 100), peer: IPv4Address(198, 18, 0, 2), category: .cbr, pcr: 50_000),
            // 40,000,000 bit/s of 424-bit cells: 94,339.6, rounded up.
            PVCConfig(channel: ATMVirtualChannel(vpi: 1, vci: 32), peer: IPv4Address(198, 18, 0, 3), category: .vbr,
                      pcr: 94_340, scr: 20_000, mbs: 64, encapsulation: .vcMux),
            // Defaults: UBR without a cap, LLC/SNAP; a second VC to a peer is allowed.
            PVCConfig(channel: ATMVirtualChannel(vpi: 0, vci: 101), peer: IPv4Address(198, 18, 0, 2)),
        ])
        #expect(pvcs.map(\.reservedCellRate) == [50_000, 20_000, 0])
        #expect(c.sockets[0].vc == ATMVirtualChannel(vpi: 0, vci: 101))
        #expect(c.daemon.pcapPDU == "/tmp/p")
        #expect(try RtudConfig.parse(text: c.renderTOML(), cpuCount: 2) == c)
    }

    @Test func printedPVCsFollowTheirInterface() throws {
        let text = interface() + atmInterface(pvc("category = \"cbr\"\npcr = 1000", peer: "198.19.0.2"))
            .replacingOccurrences(of: "name = \"rtu0\"\naddress = \"198.18.0.1/24\"", with: "name = \"atm0\"\naddress = \"198.19.0.1/24\"")
        let c = try RtudConfig.parse(text: text, cpuCount: 2)
        let printed = c.renderTOML()
        let headers = printed.split(separator: "\n").filter { $0.hasPrefix("[") }
        #expect(headers.prefix(5) == ["[daemon]", "[limits]", "[[interface]]", "[[interface]]", "[[interface.pvc]]"])
        #expect(printed.contains("vc = \"0/100\"\npeer = \"198.19.0.2\"\ncategory = \"cbr\"\npcr = 1000\nencapsulation = \"llc_snap\""))
    }

    @Test func pvcChangesWaitForARestartAndSocketVCsReload() throws {
        let base = atmInterface(pvc("category = \"cbr\"\npcr = 1000"))
        let socket = "[[socket]]\nname = \"a\"\nbind = \"198.18.0.1:5\"\n"
        let old = try RtudConfig.parse(text: base + socket, cpuCount: 2)
        let changed = try RtudConfig.parse(text: atmInterface(pvc("category = \"cbr\"\npcr = 2000"), pvc(vc: "0/101"))
                                               + socket + "vc = \"0/101\"", cpuCount: 2)
        #expect(old.reloadableDifferences(to: changed) == ["interface[0].pvc[0].pcr", "interface[0].pvc[1]"])
        let reloaded = old.reloaded(from: changed)
        #expect(reloaded.sockets[0].vc == ATMVirtualChannel(vpi: 0, vci: 101))
        #expect(reloaded.interfaces == old.interfaces)
        let removed = try RtudConfig.parse(text: atmInterface(pvc(vc: "0/101")), cpuCount: 2)
        #expect(old.reloadableDifferences(to: removed) == ["interface[0].pvc[0].vc", "interface[0].pvc[0].category",
                                                          "interface[0].pvc[0].pcr"])
    }

    @Test(arguments: [("0/100", ATMVirtualChannel(vpi: 0, vci: 100)), ("255/65535", ATMVirtualChannel(vpi: 255, vci: 65535)),
                      ("1/32", ATMVirtualChannel(vpi: 1, vci: 32)), ("0/5", ATMVirtualChannel(vpi: 0, vci: 5))])
    func channelText(text: String, channel: ATMVirtualChannel) {
        #expect(ATMVirtualChannel(text: text) == channel)
        #expect(ATMVirtualChannel(text: channel.description) == channel)
    }

    @Test(arguments: ["", "0", "0/", "/100", "0/100/1", "-1/100", "+0/100", "0 /100", "256/0", "0/65536", "a/b", "0x1/32"])
    func badChannelText(text: String) {
        #expect(ATMVirtualChannel(text: text) == nil)
    }

    @Test func lineBitRatesBecomeCellsRoundedUp() {
        #expect(PVCConfig.cellRate(.init(bitsPerSecond: 424)) == 1)
        #expect(PVCConfig.cellRate(.init(bitsPerSecond: 425)) == 2)
        #expect(PVCConfig.cellRate(.init(bitsPerSecond: 149_760_000)) == 353_208)
        #expect(PVCConfig.cellRate(.init(bitsPerSecond: 0)) == 0)
    }
}
