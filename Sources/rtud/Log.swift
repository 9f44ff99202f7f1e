import Config
import Glibc

/// rtud's log: one line per event on standard error, with a syslog priority
/// prefix (`<6>`) that journald understands when rtud runs under systemd, and
/// a plain level word otherwise. The control thread logs; the data path only
/// counts (a log line per packet would be an allocation per packet).
struct Log {
    var level: LogLevel
    let journal: Bool

    init(level: LogLevel) {
        self.level = level
        journal = getenv("JOURNAL_STREAM") != nil
    }

    private func rank(_ l: LogLevel) -> Int {
        switch l {
        case .debug: 0
        case .info: 1
        case .warning: 2
        case .error: 3
        }
    }

    private func emit(_ l: LogLevel, _ message: String) {
        guard rank(l) >= rank(level) else { return }
        let line: String
        if journal {
            let priority = [7, 6, 4, 3][rank(l)]
            line = "<\(priority)>\(message)\n"
        } else {
            line = "rtud: \(l.rawValue): \(message)\n"
        }
        fputs(line, stderr)
    }

    func debug(_ m: @autoclosure () -> String) { if level == .debug { emit(.debug, m()) } }
    func info(_ m: String) { emit(.info, m) }
    func warning(_ m: String) { emit(.warning, m) }
    func error(_ m: String) { emit(.error, m) }
}
