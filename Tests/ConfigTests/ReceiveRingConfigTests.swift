import Testing
@testable import Config

/// `[[interface]] rx_ring`: the AF_PACKET receive ring of an af_packet interface.
@Suite struct ReceiveRingConfigTests {
    private let packet = "driver = \"af_packet\"\ndevice = \"veth0\""

    @Test func defaultsToV3AndAcceptsV2() throws {
        #expect(try RtudConfig.parse(text: interface(packet), cpuCount: 2).interfaces[0].rxRing == .v3)
        let v2 = try RtudConfig.parse(text: interface(packet + "\nrx_ring = \"v2\""), cpuCount: 2)
        #expect(v2.interfaces[0].rxRing == .v2)
        #expect(v2.renderTOML().contains("rx_ring = \"v2\""))
        #expect(try RtudConfig.parse(text: v2.renderTOML(), cpuCount: 2) == v2)
    }

    @Test func refusedForTapAndUnknownValues() {
        #expect(problems(interface("rx_ring = \"v2\"")) ==
            [#"rtud.toml:4: interface[0].rx_ring = "v2": applies only to driver = "af_packet""#])
        #expect(problems(interface(packet + "\nrx_ring = \"v1\"")) ==
            [#"rtud.toml:6: interface[0].rx_ring = "v1": expected one of "v2", "v3""#])
    }

    @Test func printedOnlyForAFPacket() {
        #expect(!RtudConfig.defaults.renderTOML().contains("rx_ring"))
    }
}
