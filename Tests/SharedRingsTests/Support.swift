import CShims
import Glibc
import SharedRings
import Synchronization

/// `n` bytes counting up from `seed`: content a test can check record by record.
func pattern(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0) } }

/// Runs `body` on a plain pthread (the rings' users are pthreads, not tasks);
/// `join` waits for it.
struct TestThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    private let thread: pthread_t

    init(_ body: @escaping () -> Void) {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { Unmanaged<Body>.fromOpaque($0!).takeRetainedValue().run(); return nil }, box)
        precondition(rc == 0, "pthread_create: \(rc)")
        self.thread = thread
    }

    func join() { pthread_join(thread, nil) }
}

/// The ring words of `MessageRing`'s layout, for tests that play a hostile peer.
enum RingWord {
    static let tail = 0
    static let head = 64
}

extension MessageRing {
    func load(_ word: Int) -> UInt64 { rtu_atomic_load_acquire(region + word) }
    func scribble(_ word: Int, _ value: UInt64) { rtu_atomic_store_release(region + word, value) }
    /// The record header at data offset `offset`.
    func record(at offset: Int) -> UnsafeMutableRawPointer { region + MessageRing.headerBytes + offset }
}

extension SocketRegion {
    /// What a client gets: the same region mapped again from duplicates of
    /// the descriptors the daemon would send.
    func clientView() throws -> SocketRegion {
        try SocketRegion.map(descriptors: descriptors.map { dup($0) })
    }
}

/// Failures found on threads other than the test's (where `#expect` has no
/// test to report to), checked by the test after joining them.
final class Failures: Sendable {
    private let list = Mutex<[String]>([])
    func record(_ what: String) { list.withLock { $0.append(what) } }
    var all: [String] { list.withLock { $0 } }
}

/// A flag one thread sets and another reads.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Runs `call`, which should wait for good, here while another thread runs
/// `close` 20 ms later (marks the socket closed and rings the doorbell the
/// call waits on); returns what `call` threw and whether it had to be
/// unblocked: should it still wait 5 s after `close`, the thread runs
/// `unblock` (data or room arrive), so a wait that closing does not end
/// fails the test instead of hanging it.
func whileAnotherThreadCloses(_ close: @escaping () -> Void, unblock: @escaping () -> Void,
                              _ call: () throws -> Void) -> (error: (any Error)?, unblocked: Bool) {
    let returned = Flag(), unblocked = Flag()
    let closer = TestThread {
        _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 20_000_000)
        close()
        let giveUp = rtu_sched_monotonic_ns() + 5_000_000_000
        while !returned.isSet {
            if rtu_sched_monotonic_ns() > giveUp {
                unblocked.set()
                return unblock()
            }
            _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + 1_000_000)
        }
    }
    var error: (any Error)?
    do { try call() } catch let e { error = e }
    returned.set()
    closer.join()
    return (error, unblocked.isSet)
}
