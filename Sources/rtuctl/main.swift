import ArgumentParser
import Config
import CShims
import Control
import Glibc
import RTUClient
import Wire

/// rtuctl: creates QoS-reserved sockets in rtud and shows what it is doing.
struct RtuCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtuctl",
        abstract: "Control rtud: reserved sockets, RTUs, statistics.",
        subcommands: [Status.self, SocketCommand.self, RTUs.self, Stats.self, Watch.self])
}

/// Options every subcommand takes.
struct Common: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The daemon's control socket (default: $RTUD_CONTROL or /run/rtud/control.sock).",
                                            valueName: "path"))
    var control: String?

    @Flag(name: .long, help: "Print JSON for programs instead of tables for people.")
    var json = false

    func connect() throws -> RTUClient {
        do { return try RTUClient(controlPath: control ?? RTUClient.environmentControlPath, client: "rtuctl") } catch {
            throw Failure(error.description)
        }
    }

    /// Connects and asks once: what a command that makes one request runs.
    func ask<T>(_ request: (RTUClient) throws -> T) throws -> T {
        let client = try connect()
        return try checked { try request(client) }
    }
}

/// An error that is printed as it is, with exit status 1.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`, turning a refusal into its message.
func checked<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as RTUClientError { throw Failure(e.description) }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The daemon: version, interfaces, cores, sockets.")
    @OptionGroup var common: Common

    func run() throws {
        let s = try common.ask { try $0.status() }
        if common.json {
            let interfaces: [JSON] = s.interfaces.map { i in
                .object([("name", .string(i.name)), ("driver", .string(i.driver)), ("address", .string(i.address)),
                         ("mac", .string(i.mac)), ("mtu", .number(Double(i.mtu))), ("link", .string(i.link))])
            }
            let cores: [JSON] = s.cores.map { c in
                .object([("cpu", .number(Double(c.cpu))), ("realtime", .bool(c.realtime)),
                         ("admitted", .number(Double(c.admittedPPB) / 1e9)), ("measured", .number(Double(c.measuredPPB) / 1e9)),
                         ("rtus", .number(Double(c.rtus)))])
            }
            var fields: [(String, JSON)] = [("version", .string(s.version)), ("pid", .number(Double(s.pid)))]
            fields += [("uptime_s", .number(Double(s.uptimeNs) / 1e9)), ("realtime", .bool(s.realtime))]
            fields += [("sockets", .number(Double(s.sockets))), ("clients", .number(Double(s.clients)))]
            fields += [("interfaces", .array(interfaces)), ("cores", .array(cores))]
            print(JSON.object(fields).text)
            return
        }
        print("\(s.version), pid \(s.pid), up \(Format.duration(Int64(s.uptimeNs))), \(s.sockets) socket(s), \(s.clients) client(s)")
        print(s.realtime ? "real time: SCHED_FIFO on every RT core" : "real time: NO — the dispatchers run SCHED_OTHER; nothing is guaranteed")
        print("")
        print(Table(["INTERFACE", "DRIVER", "ADDRESS", "MAC", "MTU", "LINK"],
                    s.interfaces.map { [$0.name, $0.driver, $0.address, $0.mac, "\($0.mtu)", $0.link] }).text)
        print("")
        print(Table(["CORE", "POLICY", "ADMITTED", "MEASURED", "RTUS"],
                    s.cores.map { ["\($0.cpu)", $0.realtime ? "fifo" : "other", Format.percent($0.admittedPPB),
                                   Format.percent($0.measuredPPB), "\($0.rtus)"] }).text)
    }
}

struct SocketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "socket", abstract: "Create, delete and list sockets.",
                                                    subcommands: [Create.self, Delete.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a named socket that applications attach to.",
            discussion: """
                Example: rtuctl socket create video0 --protocol udp --bind 198.18.0.1:5000 --rate 40Mbit --message-size 8192 --period 10ms
                On an ATM interface, --vc 0/100 puts the socket on that PVC (its datagrams travel on it both ways); a reservation must fit the VC's contract in cells/s.
                """)
        @OptionGroup var common: Common
        @Argument(help: "Name: 1 to 32 of a-z 0-9 _ -.") var name: String
        @Option(name: .long, help: "udp (tcp is not there yet).") var `protocol` = "udp"
        @Option(name: .long, help: ArgumentHelp("Local address:port (port 0: rtud chooses).", valueName: "address:port"))
        var bind: String
        @Option(name: .long, help: ArgumentHelp("Peer address:port: send there by default, receive only from there.",
                                                valueName: "address:port"))
        var connect: String?
        @Option(name: .long, help: ArgumentHelp("Reserved rate, e.g. 40Mbit, 500k.", valueName: "rate")) var rate: String?
        @Option(name: .customLong("message-size"), help: ArgumentHelp("Bytes per message of the reservation (1-65507).", valueName: "bytes"))
        var messageSize: Int?
        @Option(name: .long, help: ArgumentHelp("Period of the reservation's RTUs (default 10ms).", valueName: "duration"))
        var period: String?
        @Option(name: .long, help: ArgumentHelp("The ATM PVC the socket's datagrams travel on (the interface must be link = \"atm\").",
                                                valueName: "VPI/VCI"))
        var vc: String?

        func validate() throws {
            guard `protocol` == "udp" || `protocol` == "tcp" else { throw ValidationError("--protocol \(`protocol`): udp or tcp") }
            guard SocketAddress(bind) != nil else { throw ValidationError("--bind \(bind): expected address:port, e.g. 198.18.0.1:5000") }
            if let c = connect, SocketAddress(c) == nil { throw ValidationError("--connect \(c): expected address:port") }
            if (rate == nil) != (messageSize == nil) {
                throw ValidationError("a reservation needs both --rate and --message-size (and may give --period)")
            }
            if period != nil && rate == nil { throw ValidationError("--period belongs to a reservation: give --rate and --message-size too") }
            if let r = rate, BitRate(r) == nil { throw ValidationError("--rate \(r): expected a rate like 40Mbit, 2.5M, 800kbit") }
            if let p = period, ConfigDuration(p) == nil { throw ValidationError("--period \(p): expected a duration like 10ms, 500us") }
            if let s = messageSize, !(1...65_507).contains(s) { throw ValidationError("--message-size \(s): 1 to 65507 bytes") }
            // VCI 0..31 parse (the cell header's width) but are reserved: no PVC has one.
            if let v = vc, ATMVirtualChannel(text: v).map({ $0.isReserved }) ?? true {
                throw ValidationError("--vc \(v): expected VPI/VCI, e.g. 0/100 (VPI 0-255, VCI 32-65535)")
            }
        }

        func run() throws {
            var reserve: ReservationSpec?
            if let rate = rate.flatMap(BitRate.init), let size = messageSize {
                reserve = ReservationSpec(rateBitsPerSecond: rate.bitsPerSecond, messageSize: UInt32(size),
                                          periodNanoseconds: UInt64(period.flatMap(ConfigDuration.init)?.nanoseconds ?? 10_000_000))
            }
            let spec = SocketSpec(proto: `protocol` == "udp" ? .udp : .tcp, name: name, bind: SocketAddress(bind)!,
                                  connect: connect.flatMap { SocketAddress($0) }, reserve: reserve, persistent: true, attach: false,
                                  vc: vc.flatMap { ATMVirtualChannel(text: $0) })
            let info = try common.ask { try $0.createSocket(spec) }
            if common.json { print(JSON.socket(info).text) } else { print("created \(Format.describe(info))") }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a named socket (its attached client loses it).")
        @OptionGroup var common: Common
        @Argument var name: String

        func run() throws {
            try common.ask { try $0.delete(name) }
            if !common.json { print("deleted \(name)") } else { print(JSON.object([("deleted", .string(name))]).text) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sockets (yours; all of them for root).")
        @OptionGroup var common: Common

        func run() throws {
            let all = try common.ask { try $0.sockets() }
            if common.json { print(JSON.array(all.map(JSON.socket)).text); return }
            print(Table(["ID", "NAME", "LOCAL", "REMOTE", "VC", "RESERVED", "OWNER", "ATTACHED", "RX", "TX", "DROPS"],
                        all.map { s in
                            [ "\(s.id)", s.name, "\(s.local)", s.remote.map { "\($0)" } ?? "-", s.vc.map { "\($0)" } ?? "-",
                              Format.reservation(s.reserve),
                              "\(s.ownerUID)", s.attached ? "yes" : "no", "\(s.counter("received"))", "\(s.counter("sent"))",
                              "\(s.drops)" ]
                        }).text)
        }
    }
}

struct RTUs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rtus", abstract: "Real-time upcalls: reservations and how they run.")
    @OptionGroup var common: Common

    static func row(_ r: RTUInfo) -> [String] {
        let bestEffort = r.kind == .bestEffort
        var cells: [String] = ["\(r.id)", r.name, "\(r.core)", Format.kind(r.kind)]
        cells += [bestEffort ? "-" : Format.duration(r.periodNs), bestEffort ? "-" : Format.duration(r.budgetNs)]
        cells += [bestEffort ? "-" : "\(r.batch)", "\(r.invocations)", Format.duration(r.latenessP50Ns)]
        cells += [Format.duration(r.latenessP99Ns), Format.duration(r.latenessMaxNs), Format.duration(r.executionP99Ns)]
        cells += ["\(r.overruns)", "\(r.deadlineMisses)"]
        return cells
    }

    func run() throws {
        let all = try common.ask { try $0.rtus() }
        if common.json { print(JSON.array(all.map(JSON.rtu)).text); return }
        print(Table(["ID", "NAME", "CORE", "KIND", "PERIOD", "BUDGET", "BATCH", "RUNS", "LATE P50", "LATE P99", "LATE MAX",
                     "EXEC P99", "OVERRUNS", "MISSES"],
                    all.map(Self.row)).text)
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Counters of every interface and of the control plane.")
    @OptionGroup var common: Common

    func run() throws {
        let groups = try common.ask { try $0.stats() }
        if common.json {
            let fields: [(String, JSON)] = groups.map { g in
                (g.name, JSON.object(g.counters.map { c -> (String, JSON) in (c.name, .number(Double(c.value))) }))
            }
            print(JSON.object(fields).text)
            return
        }
        for (i, g) in groups.enumerated() {
            if i > 0 { print("") }
            print("\(g.name):")
            print(Table(["COUNTER", "VALUE"], g.counters.map { [$0.name, "\($0.value)"] }).text)
        }
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A live view of socket rates, drops and RTU lateness, refreshed in place.")
    @OptionGroup var common: Common
    @Option(name: .long, help: ArgumentHelp("Refresh interval (default 1s).", valueName: "duration")) var interval = "1s"
    @Option(name: .long, help: "Stop after this many refreshes (default: until interrupted).") var count: Int?

    func validate() throws {
        guard let d = ConfigDuration(interval), d.nanoseconds >= 100_000_000 else {
            throw ValidationError("--interval \(interval): a duration of at least 100ms")
        }
        if let c = count, c < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let client = try common.connect()
        let step = ConfigDuration(interval)!.nanoseconds
        let tty = isatty(STDOUT_FILENO) != 0
        var previous: [UInt32: (rx: UInt64, rxBytes: UInt64, tx: UInt64, drops: UInt64)] = [:]
        var last = rtu_sched_monotonic_ns()
        var n = 0
        while count.map({ n < $0 }) ?? true {
            let sockets = try checked { try client.sockets() }
            let rtus = try checked { try client.rtus() }
            let now = rtu_sched_monotonic_ns()
            let seconds = max(1e-3, Double(now - last) / 1e9)
            last = now
            var rows: [[String]] = []
            for s in sockets {
                let current = (rx: s.counter("received"), rxBytes: s.counter("received_bytes"), tx: s.counter("sent"), drops: s.drops)
                let before = previous[s.id] ?? current
                previous[s.id] = current
                let mbit = Double(current.rxBytes &- before.rxBytes) * 8 / seconds / 1e6
                rows.append([s.name, Format.reservation(s.reserve), DecimalText.fixed(Double(current.rx &- before.rx) / seconds, 0),
                             DecimalText.fixed(mbit, 2), DecimalText.fixed(Double(current.tx &- before.tx) / seconds, 0),
                             "\(current.drops &- before.drops)"])
            }
            var text = Table(["SOCKET", "RESERVED", "RX/S", "RX MBIT/S", "TX/S", "DROPS"], rows).text + "\n\n"
            text += Table(["RTU", "KIND", "LATE P99", "LATE MAX", "MISSES"],
                          rtus.filter { $0.kind != .bestEffort }.map {
                              [$0.name, Format.kind($0.kind), Format.duration($0.latenessP99Ns), Format.duration($0.latenessMaxNs),
                               "\($0.deadlineMisses)"]
                          }).text
            if tty { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            print(text)
            if !tty { print("") }
            fflush(stdout)
            n += 1
            if count.map({ n >= $0 }) ?? false { break }
            _ = rtu_sched_sleep_until(rtu_sched_monotonic_ns() + step)
        }
    }
}

extension SocketInfo {
    func counter(_ name: String) -> UInt64 { counters.first { $0.name == name }?.value ?? 0 }
    /// Every datagram the socket lost: channel full, ring full, bad checksum, malformed, not its own (a bound VC's).
    var drops: UInt64 {
        counter("dropped_channel_full") + counter("dropped_ring_full") + counter("dropped_bad_checksum") + counter("dropped_malformed")
            + counter("dropped_not_for_socket")
    }
}

do {
    var command = try RtuCtl.parseAsRoot()
    try command.run()
} catch let failure as Failure {
    fputs("rtuctl: \(failure.description)\n", stderr)
    exit(1)
} catch {
    RtuCtl.exit(withError: error)
}
