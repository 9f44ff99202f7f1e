import ArgumentParser
import Config
import Glibc
import Wire

/// rtud: the real-time userspace network stack daemon.
struct RtudCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtud",
        abstract: "Userspace TCP/UDP/IPv4 stack with reserved bandwidth and bounded latency.",
        discussion: "With no --config, rtud runs with its built-in defaults (see --print-config).")

    @Option(name: .long, help: ArgumentHelp("Run with this configuration file.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("check-config"),
            help: ArgumentHelp("Validate a configuration file and exit (0 when valid).", valueName: "file"))
    var checkConfig: String?

    @Flag(name: .customLong("print-config"),
          help: "Print the effective configuration (defaults included) as TOML and exit.")
    var printConfig = false

    @Option(name: .customLong("probe"), parsing: .singleValue,
            help: ArgumentHelp("At start, resolve this IPv4 neighbour by ARP and ping it (repeatable).",
                               valueName: "address"))
    var probe: [String] = []

    @Option(name: .customLong("pcap"), help: ArgumentHelp("Write every frame to this pcap file (overrides daemon.pcap); on an ATM interface, the carrier's cell frames.", valueName: "file"))
    var pcap: String?

    @Option(name: .customLong("pcap-pdu"),
            help: ArgumentHelp("Write the AAL5 PDUs of the ATM interfaces to this file as ERF records (overrides daemon.pcap_pdu).",
                               valueName: "file"))
    var pcapPDU: String?

    @Option(name: .customLong("control"), help: ArgumentHelp("Listen for clients on this Unix socket (overrides daemon.control_socket).", valueName: "path"))
    var control: String?

    @Flag(name: .customLong("no-reservations"),
          help: "Serve every socket best effort on SCHED_OTHER dispatchers (a baseline for benchmarks; nothing is guaranteed).")
    var noReservations = false

    @Option(name: .customLong("log-level"), help: "debug, info, warning or error (overrides daemon.log_level).")
    var logLevel: String?

    func validate() throws {
        if checkConfig != nil && (config != nil || printConfig) {
            throw ValidationError("--check-config stands alone: it validates a file and exits.")
        }
        for p in probe where IPv4Address(p) == nil {
            throw ValidationError("--probe \(p): not an IPv4 address (expected e.g. 198.18.0.2)")
        }
        if let l = logLevel, LogLevel(rawValue: l) == nil {
            throw ValidationError("--log-level \(l): expected one of debug, info, warning, error")
        }
    }

    func run() throws {
        let cpus = RtudConfig.machineCPUCount
        if let path = checkConfig {
            do {
                _ = try RtudConfig.load(path: path, cpuCount: cpus)
                print("\(path): valid")
                return
            } catch {
                fputs("\(error)\n", stderr)
                throw ExitCode(78)   // EX_CONFIG
            }
        }
        var effective = RtudConfig.defaults
        if let path = config {
            do { effective = try RtudConfig.load(path: path, cpuCount: cpus) } catch {
                fputs("rtud: refusing to start: invalid configuration\n\(error)\n", stderr)
                throw ExitCode(78)
            }
        }
        if config == nil {
            // The built-in defaults name core 1: on a one-CPU machine they need a file.
            do { try effective.validate(cpuCount: cpus) } catch {
                fputs("rtud: refusing to start: the built-in defaults do not suit this machine\n\(error)\n", stderr)
                throw ExitCode(78)
            }
        }
        let pcap = self.pcap, pcapPDU = self.pcapPDU, level = logLevel.flatMap(LogLevel.init(rawValue:)), control = self.control
        let overrides: (inout RtudConfig) -> Void = { c in
            if let pcap { c.daemon.pcap = pcap }
            if let pcapPDU { c.daemon.pcapPDU = pcapPDU }
            if let level { c.daemon.logLevel = level }
            if let control { c.daemon.controlSocket = control }
        }
        overrides(&effective)
        if pcap != nil || pcapPDU != nil || control != nil {
            // The command line's values are held to the file's rules (a PDU capture needs an ATM interface).
            do { try effective.validate(cpuCount: cpus) } catch {
                fputs("rtud: refusing to start: invalid configuration with the command line's options\n\(error)\n", stderr)
                throw ExitCode(78)
            }
        }
        if printConfig {
            print(effective.renderTOML(), terminator: "")
            return
        }
        let daemon = Daemon(config: effective, configPath: config, probes: probe.compactMap { IPv4Address($0) },
                            reservationsEnabled: !noReservations, overrides: overrides)
        do { try daemon.run() } catch {
            daemon.log.error("\(error)")
            throw ExitCode(1)
        }
    }
}

RtudCommand.main()
