import Testing
@testable import Config

/// `[[interface]] rx_ring`: the AF_PACKET receive ring of an af_packet interface.
@Suite struct ReceiveRingConfigTests {
    private let packet = "driver = \"af_packet\"\ndevice = \"veth0\""

    @Test func defaultsToV2AndAcceptsV3() throws {
        #expect(try RtudConfig.parse(text: interface(packet), cpuCount: 2).interfaces[0].rxRing == .v2)
        let v3 = try RtudConfig.parse(text: interface(packet + "\nrx_ring = \"v3\""), cpuCount: 2)
        #expect(v3.interfaces[0].rxRing == .v3)
        #expect(v3.renderTOML().contains("rx_ring = \"v3\""))
        #expect(try RtudConfig.parse(text: v3.renderTOML(), cpuCount: 2) == v3)
    }

    @Test func refusedForTapAndUnknownValues() {
        #expect(problems(interface("rx_ring = \"v2\"")) ==
            [#"rtud.toml:4: interface[0].rx_ring = "v2": applies only to driver = "af_packet""#])
        #expect(problems(interface(packet + "\nrx_ring = \"v1\"")) ==
            [#"rtud.toml:6: interface[0].rx_ring = "v1": expected one of "v2", "v3""#])
    }

    @Test func printedOnlyForAFPacket() throws {
        #expect(!RtudConfig.defaults.renderTOML().contains("rx_ring"))
        // An af_packet interface prints it even when left out (the default, v2).
        let packetDefault = try RtudConfig.parse(text: interface(packet), cpuCount: 2)
        #expect(packetDefault.renderTOML().contains("rx_ring = \"v2\""))
    }
}
