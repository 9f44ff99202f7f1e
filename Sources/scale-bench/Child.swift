import Foundation

/// This program run again as a child process with `arguments`, talked to in
/// lines over its standard input and output (its standard error is ours).
final class Child {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var buffer = Data()

    static let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()

    init(_ arguments: [String]) {
        process.executableURL = Self.executable
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        do { try process.run() } catch { fail("cannot start \(arguments.first ?? "") child: \(error)") }
    }

    var pid: Int32 { process.processIdentifier }

    func send(_ line: String) {
        input.fileHandleForWriting.write((line + "\n").data(using: .utf8)!)
    }

    /// The next line the child writes; nil when it closed its output.
    func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { return nil }
            buffer.append(more)
        }
    }

    /// Sends `command` and returns the answer's words, failing the run on an
    /// error answer or a child that died.
    func ask(_ command: String, expect word: String) -> [Substring] {
        send(command)
        guard let line = readLine() else { fail("child \(pid) exited during '\(command)'") }
        let words = line.split(separator: " ")
        guard words.first.map(String.init) == word else { fail("child \(pid) answered '\(command)' with: \(line)") }
        return words
    }

    func wait() -> Int32 {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Comma-separated integers (how children report per-operation times).
func parseList(_ word: Substring?) -> [Int64] {
    guard let word, !word.isEmpty, word != "-" else { return [] }
    return word.split(separator: ",").compactMap { Int64($0) }
}

func formatList(_ values: [Int64]) -> String { values.isEmpty ? "-" : values.map(String.init).joined(separator: ",") }
