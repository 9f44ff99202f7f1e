// Reading a configuration file: TOML syntax, then types and unknown keys,
// then the semantic rules; all problems are reported together, in file order.

import Glibc

extension RtudConfig {
    /// Parses and validates `text`. `source` names the text in messages
    /// ("rtud.toml:12: …"); `cpuCount` bounds `daemon.rt_cores`.
    public static func parse(text: String, source: String = "rtud.toml", cpuCount: Int) throws(ConfigError) -> RtudConfig {
        let table: TOMLTable
        do {
            table = try TOML.parse(text)
        } catch {
            throw ConfigError([ConfigProblem(source: source, line: error.line, column: error.column, message: error.message)])
        }
        let diagnostics = Diagnostics(source: source)
        let config = decode(table, diagnostics)
        for issue in config.issues(cpuCount: cpuCount) { diagnostics.add(issue) }
        guard diagnostics.problems.isEmpty else { throw ConfigError(diagnostics.sortedProblems) }
        return config
    }

    /// Reads, parses and validates the file at `path` (named by `path` in messages).
    public static func load(path: String, cpuCount: Int) throws(ConfigError) -> RtudConfig {
        guard let file = fopen(path, "rb") else {
            throw ConfigError([ConfigProblem(source: path, message: "cannot read the file: \(String(cString: strerror(errno)))")])
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            bytes += chunk[..<n]
            if n < chunk.count { break }
        }
        if ferror(file) != 0 {
            throw ConfigError([ConfigProblem(source: path, message: "cannot read the file: \(String(cString: strerror(errno)))")])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError([ConfigProblem(source: path, message: "the file is not valid UTF-8")])
        }
        return try parse(text: text, source: path, cpuCount: cpuCount)
    }

    /// The number of CPUs online on this machine, for `cpuCount`.
    public static var machineCPUCount: Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
}
