import Foundation
import Testing

/// scripts/install.sh with --destdir and --no-build, from a build directory of
/// stand-in binaries (the script copies them; what they are does not matter),
/// so the test needs no release build.
@Suite struct InstallScriptTests {
    let script = repositoryRoot + "/scripts/install.sh"

    /// A build directory holding `files`, each a small executable script.
    func buildDirectory(in scratch: TemporaryDirectory, _ files: [String]) throws -> String {
        let dir = scratch.path + "/build"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in files {
            try "#!/bin/sh\necho \(name)\n".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/" + name)
        }
        return dir
    }

    func install(_ arguments: [String]) throws -> CommandOutput {
        try runCommand(["bash", script, "--no-build"] + arguments, timeout: 60)
    }

    func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    func mode(_ path: String) throws -> Int {
        try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    /// Every regular file under `root`, as paths relative to it.
    func tree(_ root: String) -> [String] {
        let items = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        return items.filter { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
        }.sorted()
    }

    @Test func stagesEverythingUnderDestdir() throws {
        let scratch = try TemporaryDirectory()
        let build = try buildDirectory(in: scratch, ["rtud", "rtuctl", "librtuclient.so"])
        let root = scratch.path + "/root"
        let run = try install(["--build-dir", build, "--destdir", root])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")

        // The header comes with the library (the other tests install no library, hence no header).
        let expected = ["etc/rtud/rtud.toml", "usr/local/bin/rtuctl", "usr/local/bin/rtud", "usr/local/include/rtuclient.h",
                        "usr/local/lib/librtuclient.so", "usr/local/lib/systemd/system/rtud.service"]
        #expect(tree(root) == expected)
        #expect(try read(root + "/usr/local/include/rtuclient.h") == read(repositoryRoot + "/include/rtuclient.h"))

        #expect(try read(root + "/usr/local/bin/rtud") == read(build + "/rtud"))
        #expect(try read(root + "/usr/local/bin/rtuctl") == read(build + "/rtuctl"))
        #expect(try mode(root + "/usr/local/bin/rtud") == 0o755)
        #expect(try read(root + "/etc/rtud/rtud.toml") == read(repositoryRoot + "/etc/rtud.toml"))
        #expect(try mode(root + "/etc/rtud/rtud.toml") == 0o644)
        // The prefix is /usr/local, as in the shipped unit: the unit is copied as it is.
        #expect(try read(root + "/usr/local/lib/systemd/system/rtud.service") == read(unitPath))
        #expect(try mode(root + "/usr/local/lib/systemd/system/rtud.service") == 0o644)

        #expect(run.stdout.contains("install: \(root)/usr/local/bin/rtud <- \(build)/rtud\n"))
        #expect(run.stdout.contains("install: \(root)/etc/rtud/rtud.toml <- etc/rtud.toml\n"))
        #expect(run.stdout.contains("install: group rtud not created (--destdir"))
    }

    @Test func runningAgainChangesNothingAndKeepsAnEditedConfiguration() throws {
        let scratch = try TemporaryDirectory()
        let build = try buildDirectory(in: scratch, ["rtud"])
        let root = scratch.path + "/root"
        #expect(try install(["--build-dir", build, "--destdir", root]).status == 0)
        let edited = "[daemon]\nlog_level = \"debug\"\n"
        try edited.write(toFile: root + "/etc/rtud/rtud.toml", atomically: true, encoding: .utf8)

        let again = try install(["--build-dir", build, "--destdir", root])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try read(root + "/etc/rtud/rtud.toml") == edited)
        #expect(again.stdout.contains("install: \(root)/usr/local/bin/rtud unchanged\n"))
        #expect(again.stdout.contains("install: \(root)/usr/local/lib/systemd/system/rtud.service unchanged\n"))
        #expect(again.stdout.contains("install: \(root)/etc/rtud/rtud.toml exists, kept"))
        #expect(!again.stdout.contains(" <- "), "\(again.stdout)")
        #expect(again.stdout.contains("install: no rtuctl in \(build), skipped"))
        #expect(again.stdout.contains("install: no librtuclient.so in \(build), skipped"))
        #expect(tree(root) == ["etc/rtud/rtud.toml", "usr/local/bin/rtud", "usr/local/lib/systemd/system/rtud.service"])

        // A new binary replaces the old one.
        try "#!/bin/sh\necho newer\n".write(toFile: build + "/rtud", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: build + "/rtud")
        let update = try install(["--build-dir", build, "--destdir", root])
        #expect(update.stdout.contains("install: \(root)/usr/local/bin/rtud <- \(build)/rtud\n"))
        #expect(try read(root + "/usr/local/bin/rtud") == "#!/bin/sh\necho newer\n")
    }

    @Test func anotherPrefixIsWrittenIntoTheUnit() throws {
        let scratch = try TemporaryDirectory()
        let build = try buildDirectory(in: scratch, ["rtud"])
        let root = scratch.path + "/root"
        let run = try install(["--prefix", "/opt/rtud/", "--build-dir", build, "--destdir", root])
        #expect(run.status == 0, "\(run.stderr)")
        // Outside /usr and /usr/local the unit goes where systemd looks regardless of prefix.
        #expect(tree(root) == ["etc/rtud/rtud.toml", "etc/systemd/system/rtud.service", "opt/rtud/bin/rtud"])
        let unit = try read(root + "/etc/systemd/system/rtud.service")
        #expect(unitSettings(unit)["ExecStart"] == ["/opt/rtud/bin/rtud --config /etc/rtud/rtud.toml"])
        let shipped = try read(unitPath)
        #expect(unit == shipped.replacingOccurrences(of: "ExecStart=/usr/local/bin/rtud ", with: "ExecStart=/opt/rtud/bin/rtud "))
    }

    /// "DEST" stands for a staging directory of the test's own.
    @Test(arguments: [
        (["--prefix", "relative", "--destdir", "DEST"], "--prefix must be an absolute path"),
        (["--destdir", "DEST", "--frobnicate"], "unknown argument '--frobnicate'"),
        (["--destdir"], "--destdir needs a value"),
    ])
    func badArgumentsAreRefused(arguments: [String], message: String) throws {
        let scratch = try TemporaryDirectory()
        let run = try install(arguments.map { $0 == "DEST" ? scratch.path + "/root" : $0 })
        #expect(run.status == 2)
        #expect(run.stderr.contains(message), "\(run.stderr)")
        #expect(tree(scratch.path).isEmpty)
    }

    @Test func aMissingDaemonBinaryStopsTheInstall() throws {
        let scratch = try TemporaryDirectory()
        let build = try buildDirectory(in: scratch, ["rtuctl"])
        let run = try install(["--build-dir", build, "--destdir", scratch.path + "/root"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("no rtud binary in \(build)"))
        #expect(tree(scratch.path + "/root").isEmpty)
    }
}
