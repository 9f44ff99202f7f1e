import Foundation
import Testing

/// rtud's command line with link = "atm" (no daemon started, no root):
/// PVCs printed back, --pcap-pdu held to the file's rules, an overbooked
/// line refused with the numbers.
@Suite struct ATMConfigCLITests {
    static let atmInterface = """
        [[interface]]
        name = "atm0"
        driver = "af_packet"
        device = "veth0"
        address = "198.18.0.1/24"
        link = "atm"

        [[interface.pvc]]
        vc = "0/100"
        peer = "198.18.0.2"
        category = "cbr"
        pcr = "20Mbit"

        """

    func temporaryFile(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rtud-atm-cli-\(Harness.uniqueSuffix()).toml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func printedPVCsAndPDUCaptureReadBack() throws {
        let path = try temporaryFile(Self.atmInterface)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let printed = try Harness.run([Harness.rtudBinary, "--config", path, "--print-config", "--pcap-pdu", "/tmp/pdu.pcap"])
        #expect(printed.ok, "\(printed.stderr)")
        // 20 Mbit/s of 424-bit cells, rounded up, printed as cells/s.
        #expect(printed.stdout.contains("[[interface.pvc]]\nvc = \"0/100\"\npeer = \"198.18.0.2\"\ncategory = \"cbr\"\npcr = 47170\n"),
                "\(printed.stdout)")
        #expect(printed.stdout.contains("pcap_pdu = \"/tmp/pdu.pcap\""))
        let again = try temporaryFile(printed.stdout)
        defer { try? FileManager.default.removeItem(atPath: again) }
        let checked = try Harness.run([Harness.rtudBinary, "--check-config", again])
        #expect(checked.ok, "the printed configuration does not validate: \(checked.stderr)")
    }

    @Test func aPDUCaptureWithoutAnATMInterfaceIsRefused() throws {
        let r = try Harness.run([Harness.rtudBinary, "--print-config", "--pcap-pdu", "/tmp/pdu.pcap"])
        #expect(r.status == 78)
        #expect(r.stderr.contains("daemon.pcap_pdu = \"/tmp/pdu.pcap\": applies only with an interface with link = \"atm\""), "\(r.stderr)")
    }

    @Test func anOverbookedLineIsRefusedWithTheNumbers() throws {
        let path = try temporaryFile(Self.atmInterface + """
            [[interface.pvc]]
            vc = "0/101"
            peer = "198.18.0.3"
            category = "vbr"
            pcr = 353207
            scr = 310000
            mbs = 100
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try Harness.run([Harness.rtudBinary, "--check-config", path])
        #expect(r.status == 78)
        #expect(r.stderr.contains("interface[0].pvc[1].scr = 310000: overbooks the line: Σ PCR(CBR) + Σ SCR(VBR) would be "
                                  + "357170 cells/s (47170 reserved by the PVCs above), over the line's 353207"), "\(r.stderr)")
    }
}
