import Foundation
import Testing

/// Hot-path rule 2 (ARCHITECTURE.md): no allocation per packet. Runs the
/// alloc-check program with a counting allocator preloaded; it drives frames
/// through the link, the stack's input, ICMP output and reassembly, the
/// socket path, and the emulated ATM adaptor (segmentation on the cell
/// clock, reassembly, and the drop paths of a corrupted PDU and lost last
/// cells, at MTU 9180 and 1500), and fails if any of those paths allocated
/// after warm-up.
@Suite struct AllocationTests {
    @Test func dataPathAllocatesNothingPerFrame() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rtud-alloc-\(Harness.uniqueSuffix())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let so = dir.appendingPathComponent("malloc_count.so").path
        let cc = try Harness.run(["gcc", "-O2", "-shared", "-fPIC", "-o", so,
                                  Harness.packageRoot.appendingPathComponent("bench/c/malloc_count.c").path])
        try #require(cc.ok, "gcc: \(cc.stderr)")
        // The preloaded counter counts (found the way alloc-check finds it,
        // in the global scope); otherwise "0 allocations" below would prove nothing.
        let control = try Harness.run(["env", "LD_PRELOAD=\(so)", "python3", "-c", """
            import ctypes
            count = ctypes.CDLL(None).rtu_malloc_count
            count.restype = ctypes.c_uint64
            before = count()
            blocks = [bytearray(100000) for _ in range(10)]
            print(count() - before)
            """])
        let counted = Int(control.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(counted >= 10, "malloc_count.so missed 10 allocations: \(control.stdout)\(control.stderr)")
        let bin = Harness.builtBinary("alloc-check")
        try #require(FileManager.default.isExecutableFile(atPath: bin), "alloc-check not built at \(bin)")
        let r = try Harness.run(["env", "LD_PRELOAD=\(so)", bin], timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("no allocation per frame"), "\(r.stdout)")
        // Each path really carried frames (alloc-check also fails when a
        // path carried fewer packets or counted fewer drops than it sent).
        #expect(!r.stdout.contains(" over 0 "), "\(r.stdout)")
        // Every path named above ran and allocated nothing: link and stack input,
        // ICMP output, reassembly, the socket path both ways.
        let lines = r.stdout.split(separator: "\n")
        for path in ["udp 64-byte datagrams, receive and deliver", "udp 1472-byte datagrams, receive and deliver",
                     "icmp echo: request in, reply built and sent", "udp 4000-byte datagrams, fragmented and reassembled",
                     "udp socket path, 64 bytes", "udp socket path, 1472 bytes"] {
            #expect(lines.contains { $0.hasPrefix(path) && $0.contains(": 0 allocations over ") }, "no \(path) line: \(r.stdout)")
        }
        // The ATM paths ran, at both MTUs, drop paths included.
        for mtu in [9180, 1500] {
            for path in ["datagrams", "icmp echo", "corrupted cell payload", "lost last cell, next PDU", "rx_timeout"] {
                #expect(lines.contains { $0.hasPrefix("atm mtu=\(mtu):") && $0.contains(path) },
                        "no atm mtu=\(mtu) \(path) line: \(r.stdout)")
            }
        }
    }
}
