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

    /// Replaces the copied fixture's fabfile; returns its path.
    @discardableResult
    static func write(_ fab: FabProcess, _ source: String) throws -> String {
        let file = fab.directory.appendingPathComponent("fabfile.swift")
        try source.write(to: file, atomically: true, encoding: .utf8)
        return file.path
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
