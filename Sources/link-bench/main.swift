// link-bench: frames/s received and sent by the Swift TAP and AF_PACKET
// drivers, run by scripts/bench-links.sh inside a namespace it creates,
// next to the C loops of bench/c/linkloop.c (same modes, same output line).
//
//   link-bench rx-packet IF MAC SECS   PacketSocketDevice receive loop, TPACKET_V3 ring
//   link-bench rx-packet-v2 IF MAC SECS  the same with the TPACKET_V2 ring (same ring memory)
//   link-bench tx-packet IF SECS       PacketSocketDevice transmit loop (64-byte frames)
//   link-bench rx-tap NAME SECS        TapDevice (attach) receive loop
//   link-bench tx-tap NAME SECS        TapDevice (attach) transmit loop
// Output: frames=N seconds=S busy=B cpu=C allocs=A kdrops=K (receive is
// measured receiver-bound: `busy` is the time spent draining a full
// ring/queue; `kdrops`: frames the kernel found no room for, rxKernelDropped)
// `allocs` counts malloc-family calls during the timed loop when
// bench/c/malloc_count.so is LD_PRELOADed ("n/a" otherwise).
import CShims
import Glibc
import Links
import Wire

typealias Counter = @convention(c) () -> UInt64
let mallocCount: Counter? = dlsym(nil /* RTLD_DEFAULT */, "rtu_malloc_count")
    .map { unsafeBitCast($0, to: Counter.self) }

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func cpu() -> Double {
    var ru = rusage()
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + Double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6
}

func fail(_ message: String) -> Never {
    fputs("link-bench: \(message)\n", stderr)
    exit(1)
}

let ourMAC = EthernetAddress(0x02, 0, 0xC6, 0x12, 0x09, 0x01)
let peerMAC = EthernetAddress(0x02, 0, 0xC6, 0x12, 0x09, 0x02)

/// Timed results: frames, wall seconds, busy seconds, CPU seconds, malloc calls, kernel drops.
typealias Result = (frames: UInt64, seconds: Double, busy: Double, cpu: Double, allocs: UInt64?, kernelDropped: UInt64)

/// The timed receive loop, receiver-bound like bench/c/linkloop.c: when the
/// device has nothing, sleep 50 ms while the generator refills the ring or
/// queue, then drain it; `busy` is the time spent draining.
func receiveLoop(_ device: some LinkDevice, seconds: Double) throws(LinkError) -> Result {
    let pool = try BufferPool(slotSize: 2048, count: 4096)
    let batch = FrameBatch(capacity: 256)
    var frames: UInt64 = 0
    var busy = 0.0
    let a0 = mallocCount?()
    let t0 = now(), c0 = cpu(), end = t0 + seconds
    var t1 = t0
    while now() < end {
        let n = try device.receive(into: batch, limit: 256, pool: pool)
        if n == 0 {
            busy += now() - t1
            usleep(50_000)
            t1 = now()
            continue
        }
        frames &+= UInt64(n)
        batch.releaseAll(to: pool)
    }
    busy += now() - t1
    let t = now() - t0, c = cpu() - c0
    let allocs = a0.map { mallocCount!() - $0 }
    return (frames, t, busy, c, allocs, device.counters.rxKernelDropped)
}

/// The timed transmit loop: 64 frames of 64 bytes per call, rebuilt each time.
func transmitLoop(_ device: some LinkDevice, seconds: Double) throws(LinkError) -> Result {
    let pool = try BufferPool(slotSize: 2048, count: 4096)
    let batch = FrameBatch(capacity: 64)
    var frames: UInt64 = 0
    var seq: UInt32 = 0
    let a0 = mallocCount?()
    let t0 = now(), c0 = cpu(), end = t0 + seconds
    while now() < end {
        while !batch.isFull, var b = pool.take() {
            b.length = 64
            let f = b.bytes
            f.initializeMemory(as: UInt8.self, repeating: 0)
            peerMAC.store(into: f, at: 0)
            ourMAC.store(into: f, at: 6)
            f[12] = 0x88
            f[13] = 0xB5
            f.storeBytes(of: seq, toByteOffset: 14, as: UInt32.self)
            seq &+= 1
            batch.append(b)
        }
        frames &+= UInt64(try device.transmit(batch, pool: pool))
    }
    let t = now() - t0, c = cpu() - c0
    let allocs = a0.map { mallocCount!() - $0 }
    batch.releaseAll(to: pool)
    return (frames, t, t, c, allocs, 0)
}

func report(_ r: Result) {
    print("frames=\(r.frames) seconds=\(format(r.seconds)) busy=\(format(r.busy)) cpu=\(format(r.cpu)) allocs="
        + (r.allocs.map { String($0) } ?? "n/a") + " kdrops=\(r.kernelDropped)")
}

func format(_ x: Double) -> String {
    let us = Int((x * 10000).rounded())
    let frac = String(us % 10000)
    return "\(us / 10000)." + String(repeating: "0", count: 4 - frac.count) + frac
}

let args = CommandLine.arguments
guard args.count >= 4 else { fail("usage: see the header of Sources/link-bench/main.swift") }
guard let seconds = Double(args[args.count - 1]) else { fail("bad seconds") }
do throws(LinkError) {
    switch args[1] {
    case "rx-packet", "rx-packet-v2":
        guard args.count == 5, let mac = EthernetAddress(args[3]) else { fail("\(args[1]) IF MAC SECS") }
        // The same ring memory as the C loop: 64 blocks of 1 MiB (32,768 slots of 2 KiB for V2).
        let ring: PacketSocketDevice.ReceiveRing = args[1] == "rx-packet" ? .v3 : .v2
        let dev = try PacketSocketDevice(interface: args[2], hardwareAddress: mac, ring: ring,
                                         blockSize: 1 << 20, blockCount: 64)
        report(try receiveLoop(dev, seconds: seconds))
    case "tx-packet":
        let dev = try PacketSocketDevice(interface: args[2], hardwareAddress: ourMAC)
        report(try transmitLoop(dev, seconds: seconds))
    case "rx-tap":
        let dev = try TapDevice(name: args[2], create: false, hardwareAddress: ourMAC)
        report(try receiveLoop(dev, seconds: seconds))
    case "tx-tap":
        let dev = try TapDevice(name: args[2], create: false, hardwareAddress: ourMAC)
        report(try transmitLoop(dev, seconds: seconds))
    default:
        fail("unknown mode \(args[1])")
    }
} catch {
    fail(error.description)
}
