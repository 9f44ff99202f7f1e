import Control
import Foundation
import RTUClient
import SharedRings
import Synchronization
import Testing
import UserUDP
import Wire

/// The Swift client library's own API against a real daemon, in this process
/// (issue 5, item 3): the receive handler on a thread of the application,
/// batched receive and batched send, the content checked end to end with the
/// kernel peer.
@Suite(.serialized) struct SwiftClientTests {
    @Test func handlerAndBatchesCarryTheKernelsTraffic() throws {
        guard Harness.requireRoot("the Swift client library against rtud") else { return }
        let t = try DaemonTopology()
        defer { t.close() }
        let client = try RTUClient(controlPath: t.controlPath, client: "swift-client-test")
        let rtud = DaemonTopology.rtudAddress

        // The handler: every datagram from the kernel, in order, content intact.
        let handled = try client.openSocket(bind: SocketAddress("\(rtud):5101")!)
        let seen = Mutex<(count: Int, bad: Int, next: UInt64)>((0, 0, 0))
        let receiver = handled.startReceiving { payload, _ in
            seen.withLock { s in
                if PayloadPattern.check(payload) != s.next { s.bad += 1 }
                s.next += 1
                s.count += 1
            }
        }
        let count = 5_000
        #expect(try t.kernelSends(to: 5101, size: 700, count: count, rate: 5_000).ok)
        #expect(Harness.waitUntil(10) { seen.withLock { $0.count } == count }, "handler saw \(seen.withLock { $0 }): \(t.drops())")
        receiver.stop()
        #expect(seen.withLock { $0.bad } == 0)
        #expect(receiver.ending == nil)

        // Batched receive: all of them, in batches of up to 32, checked. The
        // first call is made once the daemon has delivered two batches' worth
        // (13 ms of the stream; the socket's 256 KiB ring holds about 150 ms),
        // so it must come back with a whole batch.
        let batched = try client.openSocket(bind: SocketAddress("\(rtud):5102")!)
        let buffers = (0..<32).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16) }
        defer { buffers.forEach { $0.deallocate() } }
        var batch = buffers.map { IncomingDatagram(buffer: $0) }
        let sender = try t.peer.udptoolInBackground(["send", "--dst", "\(rtud):5102", "--size", "300", "--count", "\(count)",
                                                     "--rate", "5000", "--cpu", "0"])   // pinned: see kernelSends
        func delivered() throws -> UInt64 {
            try client.sockets().first { $0.name == batched.name }?.counters.first { $0.name == "received" }?.value ?? 0
        }
        let queueDeadline = Date().addingTimeInterval(10)
        while try delivered() < 2 * UInt64(buffers.count) && Date() < queueDeadline { usleep(1_000) }
        var received = 0, bad = 0, largest = 0
        let deadline = Date().addingTimeInterval(20)
        while received < count && Date() < deadline {
            let n = try batch.withUnsafeMutableBufferPointer { try batched.receive(batch: $0, timeout: 500_000_000) }
            largest = max(largest, n)
            for i in 0..<n {
                let payload = UnsafeRawBufferPointer(rebasing: batch[i].buffer[0..<batch[i].received.stored])
                if PayloadPattern.check(payload) != UInt64(received + i) || batch[i].received.length != 300 { bad += 1 }
            }
            received += n
        }
        #expect(sender.finish(timeout: 20).ok)
        #expect(received == count && bad == 0, "received \(received), bad \(bad): \(t.drops())")
        #expect(largest == buffers.count, "the largest batch held \(largest) of \(buffers.count)")

        // Batched send to a kernel receiver, which checks every datagram.
        let out = try client.openSocket(bind: SocketAddress("\(rtud):0")!, connect: SocketAddress("198.18.0.2:5103")!)
        let kernel = try t.peer.udptoolReceiver(bind: "198.18.0.2:5103", ["--count", "\(count)", "--check", "--size", "400",
                                                                         "--rcvbuf", "16777216"])
        let payloads = (0..<16).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: 400, alignment: 16) }
        defer { payloads.forEach { $0.deallocate() } }
        var sent = 0
        while sent < count {
            let k = min(16, count - sent)
            for i in 0..<k { PayloadPattern.fill(payloads[i], seq: UInt64(sent + i)) }
            let peer = try out.peer(nil)
            let list = (0..<k).map { OutgoingDatagram(payload: UnsafeRawBufferPointer(payloads[$0]), peer: peer) }
            sent += try list.withUnsafeBufferPointer { try out.send(batch: $0) }
            usleep(2_000)   // about 8,000/s: well inside the kernel receiver's buffer
        }
        let report = lastJSON(kernel.finish(timeout: 30).stdout)
        #expect(int(report, "received") == count && int(report, "content_errors") == 0 && int(report, "missing") == 0, "\(report)")

        // Closing through the client removes the sockets from the daemon.
        handled.close()
        batched.close()
        out.close()
        #expect(try t.rtud.sockets().isEmpty)
    }

    /// A socket a connection created (not persistent, never attached) counts
    /// against that connection's `max_sockets_per_client` only while it
    /// exists: when another client deletes it, its creator may create again.
    @Test func aSocketDeletedByAnotherClientNoLongerCountsForItsCreator() throws {
        guard Harness.requireRoot("rtud with a per-client socket limit") else { return }
        let t = try DaemonTopology(config: { DaemonTopology.config(device: $0, extra: "[limits]\nmax_sockets_per_client = 1\n") })
        defer { t.close() }
        let creator = try RTUClient(controlPath: t.controlPath, client: "creator")
        let other = try RTUClient(controlPath: t.controlPath, client: "other")
        func spec(_ name: String, _ port: Int) -> SocketSpec {
            SocketSpec(proto: .udp, name: name, bind: SocketAddress("\(DaemonTopology.rtudAddress):\(port)")!, connect: nil,
                       reserve: nil, persistent: false, attach: false)
        }
        // The refusal is the per-connection limit's, not some other reason.
        let overLimit = RTUClientError.refused(.limitExceeded, "this connection holds 1 sockets ([limits] max_sockets_per_client)")
        _ = try creator.createSocket(spec("first", 5201))
        #expect(throws: overLimit) { _ = try creator.createSocket(spec("second", 5202)) }
        try other.delete("first")
        #expect(try creator.sockets().isEmpty)
        let second = try creator.createSocket(spec("second", 5202))
        #expect(second.name == "second")
        // The socket it has now counts as the first did.
        #expect(throws: overLimit) { _ = try creator.createSocket(spec("third", 5203)) }
    }
}
