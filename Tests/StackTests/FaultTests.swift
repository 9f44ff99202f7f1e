import Links
@testable import Stack
import Testing
import Wire

/// The whole stack over a link that drops, duplicates, reorders and corrupts
/// frames (seeded, so each run is the same): what arrives is intact, what is
/// damaged is counted, and no buffer is lost.
@Suite struct FaultTests {
    struct Outcome: Equatable {
        var replies: Int
        var intact: Bool
        var checksumDrops: UInt64
        var faults: FaultCounters
    }

    static func run(seed: UInt64) throws -> Outcome {
        var injector: FaultInjector<MemoryLink>!
        let h = try TwoHosts(wrapA: { link in
            injector = FaultInjector(wrapping: link, seed: seed, drop: 0.05, duplicate: 0.05, reorder: 0.1, corrupt: 0.05)
            return injector
        })
        let echoes = EchoLog(h.a)
        for seq in 1...60 {
            h.a.sendEchoRequest(to: TwoHosts.addrB, identifier: 3, sequence: UInt16(seq), dataLength: 3000, now: h.now)
            try h.run()
            try h.advance(.milliseconds(100))
        }
        // Let ARP retries and reassembly timeouts run out.
        for _ in 0..<40 { try h.advance(.seconds(1)) }
        let c = h.a.counters, d = h.b.counters
        let checksumDrops = c[.ipv4BadChecksum] + c[.icmpBadChecksum] + d[.ipv4BadChecksum] + d[.icmpBadChecksum]
        // Nothing held: every pool buffer is back (the stacks are idle).
        #expect(h.a.pool.available == h.a.pool.count)
        #expect(h.b.pool.available == h.b.pool.count)
        #expect(h.a.reassembler.contextsInUse == 0 && h.b.reassembler.contextsInUse == 0)
        let sum = injector.rxFaults
        var all = injector.txFaults
        all.dropped += sum.dropped; all.duplicated += sum.duplicated
        all.reordered += sum.reordered; all.corrupted += sum.corrupted
        return Outcome(replies: Set(echoes.replies.map(\.1)).count,
                       intact: echoes.replies.allSatisfy { $0.2 == 3000 },
                       checksumDrops: checksumDrops, faults: all)
    }

    @Test func impairedLinkDeliversIntactOrNothing() throws {
        let o = try Self.run(seed: 0x5EED)
        #expect(o.faults.dropped > 0 && o.faults.duplicated > 0 && o.faults.reordered > 0 && o.faults.corrupted > 0)
        #expect(o.intact)
        // Most pings survive 5 % loss per frame (each needs six frames through A's link).
        #expect(o.replies > 20 && o.replies < 60, "\(o)")
        // Corruption that lands in a header or payload is caught by a checksum.
        #expect(o.checksumDrops > 0)
    }

    @Test func sameSeedSameRun() throws {
        #expect(try Self.run(seed: 42) == Self.run(seed: 42))
    }
}
