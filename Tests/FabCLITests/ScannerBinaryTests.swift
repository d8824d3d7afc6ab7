import FabProcess
import FabfileModel
import Foundation
import Testing
@testable import FabCLI

/// What `fab` shows for fabfiles with `#if` and parameter types it cannot read: the compiler's view, and
/// errors about the user's own file only, never about the code fab generates.
@Suite("fab executable: the scanner agrees with the compiler")
struct ScannerBinaryTests {
    @Test("tasks under #if exist only where the compiler compiles them; macOS-only code is never compiled")
    func conditionalTasks() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        try Self.write(fab, """
            import FabCore
            #if canImport(Glibc)
            import Glibc
            #endif

            /// Runs everywhere.
            func everywhere(_ fab: Fab) {}

            #if os(macOS)
            import AppKit
            /// Only on macOS.
            func macOnly(_ fab: Fab, screen: NSScreen, hosts: [String]) {}
            #elseif os(Linux)
            /// Only on Linux.
            @MainActor @discardableResult
            func linuxOnly(_ fab: Fab) async {}
            #endif

            struct Deployer {
                func step(_ fab: Fab) {}
            }
            extension Deployer {
                func other(_ fab: Fab) {}
            }
            """)
        let output = try fab.run(["-l"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("everywhere"))
        #expect(output.stdout.contains("linuxOnly"))
        for absent in ["macOnly", "step", "other"] {
            #expect(!output.stdout.contains(absent), "\(absent) is listed: \(output.stdout)")
        }
    }

    @Test("an unsupported parameter type names the fabfile's line, the parameter and the supported types")
    func unsupportedType() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let file = try Self.write(fab, """
            import FabCore

            func deploy(_ fab: Fab, hosts: [String]) {}
            """)
        let output = try fab.run(["-l"])
        #expect(output.status == 65)
        #expect(output.stderr.contains("\(file):3: parameter 'hosts' of task 'deploy' is an array ([String]); task parameters are values fab reads from the command line: String, Int, Double, Bool, their optionals (String?), or a type of your own conforming to TaskArgumentValue."),
                "\(output.stderr)")
        #expect(!output.stderr.contains(RegistrationGenerator.fileName), "\(output.stderr)")
        #expect(output.stdout.isEmpty)
    }

    @Test("a type of the fabfile's own that is not a TaskArgumentValue is reported at the parameter's line")
    func nonConformingType() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let file = try Self.write(fab, """
            import FabCore

            struct Mode {}

            func deploy(_ fab: Fab,
                        mode: Mode) {}
            """)
        let output = try fab.run(["-l"])
        #expect(output.status == 65)
        #expect(output.stderr.hasPrefix("\(file):6: error: instance method 'required(_:as:)' requires that 'Mode' conform to 'TaskArgumentValue'\n            mode: Mode) {}\n"),
                "\(output.stderr)")
        // Nothing of the generated code or of fab's own sources.
        for generated in [RegistrationGenerator.fileName, "_arg_", "_args", "TaskRegistry.swift", "note:"] {
            #expect(!output.stderr.contains(generated), "\(generated) shown: \(output.stderr)")
        }
    }

    @Test("an installed fab compiles with PREFIX/lib/fab/fab-scan and only the modules fabfiles need; a cached fabfile runs without fab-scan, a changed one says how to reinstall")
    func installedScanner() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let prefix = fab.directory.deletingLastPathComponent().appendingPathComponent("prefix")
        try Self.install(to: prefix)
        let lib = prefix.appendingPathComponent("lib/fab")
        let helper = lib.appendingPathComponent(FabfileScanner.helperName)
        #expect(FileManager.default.isExecutableFile(atPath: helper.path))
        let modules = try FileManager.default.contentsOfDirectory(atPath: lib.appendingPathComponent("Modules").path)
            .filter { $0.hasSuffix(".swiftmodule") }.sorted()
        #expect(modules == ["FabArchive", "FabCore", "FabDeploy", "FabProcess", "FabSSH", "PathKit", "Stencil"].map { $0 + ".swiftmodule" })

        // FabDeploy too, so the installed modules are all a fabfile may need.
        let file = try Self.write(fab, """
            import FabCore
            import FabDeploy

            /// Runs everywhere.
            func everywhere(_ fab: Fab) {}
            #if os(macOS)
            func macOnly(_ fab: Fab, hosts: [String]) {}
            #else
            /// Not on macOS.
            func elsewhere(_ fab: Fab) async throws {}
            #endif
            """)
        let installed = prefix.appendingPathComponent("bin/fab").path
        let compiled = try fab.run(["--shortlist"], executable: installed)
        #expect(compiled.status == 0, "\(compiled.stderr)")
        #expect(compiled.stdout == "everywhere\nelsewhere\n")

        try FileManager.default.removeItem(at: helper)
        let cached = try fab.run(["--shortlist"], executable: installed)
        #expect(cached.status == 0, "the warm run needed fab-scan: \(cached.stderr)")
        #expect(cached.stdout == compiled.stdout)

        try (try String(contentsOfFile: file, encoding: .utf8) + "\n// changed\n").write(toFile: file, atomically: true, encoding: .utf8)
        let changed = try fab.run(["--shortlist"], executable: installed)
        #expect(changed.status == 69)
        #expect(changed.stderr.contains("fab cannot find its fabfile scanner fab-scan (looked for \(helper.path) and \(prefix.path)/bin/fab-scan), which it needs to compile a fabfile; reinstall fab with scripts/install.sh PREFIX"),
                "\(changed.stderr)")
        #expect(changed.stdout.isEmpty)
    }

    /// Installs the fab built with these tests into `prefix` with scripts/install.sh.
    static func install(to prefix: URL) throws {
        let binary = try #require(FabProcess.binary)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/install.sh")
        let install = try ProcessRunner.run(
            executable: "/bin/sh", arguments: [script.path, prefix.path],
            environment: .inherit.updating(["FAB_BIN_PATH": URL(fileURLWithPath: binary).deletingLastPathComponent().path]),
            deadline: .seconds(120))
        try #require(install.termination.succeeded, "\(install.stderr)")
    }

    /// Replaces the copied fixture's fabfile; returns its path.
    @discardableResult
    static func write(_ fab: FabProcess, _ source: String) throws -> String {
        let file = fab.directory.appendingPathComponent("fabfile.swift")
        try source.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }
}

/// How fab talks to `fab-scan`, and what it says when the helper is missing or misbehaves.
@Suite("The fab-scan helper")
struct ScannerHelperTests {
    static let source = FabfileSource(path: "/p/fabfile.swift", text: "import FabCore\nfunc deploy(_ fab: Fab) {}\n")

    @Test("the built helper answers in JSON: the tasks, or a problem naming the file and line")
    func protocolRoundTrip() throws {
        let helper = try FabfileScanner.locateHelper(candidates: [
            (FabInstallation.executablePath() as NSString).deletingLastPathComponent,
        ])
        #expect(try FabfileScanner.scan(Self.source, helper: helper).tasks.map(\.name) == ["deploy"])
        let error = #expect(throws: FabCLIError.self) {
            try FabfileScanner.scan(FabfileSource(path: "/p/f.swift", text: "\nfunc t(_ fab: Fab, x: [Int]) {}"), helper: helper)
        }
        #expect(error?.code == .fabfileInvalid)
        #expect(error?.path == "/p/f.swift")
        #expect(error?.line == 2)
    }

    @Test("a folder without fab-scan: the error names where fab looked and how to reinstall")
    func missing() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("no-scanner-\(UUID().uuidString)")
        let error = #expect(throws: FabCLIError.self) { try FabfileScanner.locateHelper(candidates: [folder.path, folder.path]) }
        #expect(error?.code == .installationIncomplete)
        #expect(error?.description == "fab cannot find its fabfile scanner fab-scan (looked for \(folder.path)/fab-scan), which it needs to compile a fabfile; reinstall fab with scripts/install.sh PREFIX, or rebuild it with swift build.")
        #expect(ExitStatus.forError(try #require(error)) == ExitStatus.unavailable)
    }

    @Test("a helper that fails or answers something else is reported as a broken installation, not as the fabfile's fault")
    func misbehaving() throws {
        let failing = #expect(throws: FabCLIError.self) { try FabfileScanner.scan(Self.source, helper: "/bin/false") }
        #expect(failing?.code == .installationIncomplete)
        #expect(failing?.message.hasPrefix("fab's fabfile scanner /bin/false failed (exit status 1); reinstall fab") == true, "\(failing?.message ?? "")")
        #expect(failing?.path == nil)

        // cat echoes the request, which is not a reply.
        let foreign = #expect(throws: FabCLIError.self) { try FabfileScanner.scan(Self.source, helper: "/bin/cat") }
        #expect(foreign?.code == .installationIncomplete)
        #expect(foreign?.message.contains("answered in a form this fab cannot read") == true, "\(foreign?.message ?? "")")
    }
}

@Suite("Compiler diagnostics shown to the user")
struct CompilerDiagnosticsTests {
    @Test("quotes the fabfile's own line, drops notes about fab's files, keeps the fabfile's diagnostics as they are")
    func rewrite() {
        let sources = [FabfileSource(path: "/p/fabfile.swift", text: "import FabCore\nfunc t(_ fab: Fab,\n       mode: Mode) {}\nlet x: Int = \"s\"\n")]
        let output = """
            /p/fabfile.swift:3:45: error: requires that 'Mode' conform to 'TaskArgumentValue'
                        let _arg_mode: Mode = try _args.required("mode", as: Mode.self)
                                                        ^
            /src/Sources/FabCore/TaskRegistry.swift:129:17: note: where 'T' = 'Mode'
                public func required<T: TaskArgumentValue>(_ name: String, as type: T.Type) throws -> T {
                            ^
            /p/fabfile.swift:4:14: error: cannot convert value of type 'String' to specified type 'Int'
            let x: Int = "s"
                         ^~~
            /tmp/b/FabfileRegistration.swift:9:1: error: something fab generated wrong
            error: fatal error without a location

            """
        #expect(CompilerDiagnostics.rewrite(output, sources: sources) == """
            /p/fabfile.swift:3: error: requires that 'Mode' conform to 'TaskArgumentValue'
                   mode: Mode) {}
            /p/fabfile.swift:4:14: error: cannot convert value of type 'String' to specified type 'Int'
            let x: Int = "s"
                         ^~~
            /tmp/b/FabfileRegistration.swift:9:1: error: something fab generated wrong
            error: fatal error without a location

            """)
    }
}
