import Foundation
import Testing
@testable import FabCLI
import FabfileModel

/// One scanner case: a fabfile source, and the tasks (in the compact form of ``TaskSummary``) it declares.
struct ScannerCase: CustomTestStringConvertible, Sendable {
    var name: String
    var source: String
    var tasks: [TaskSummary]
    var testDescription: String { name }
}

/// The parts of a scanned task a case checks, written compactly.
struct TaskSummary: Equatable, Sendable, CustomStringConvertible {
    var name: String
    /// `label name: Type = default` per parameter, as the scanner read it.
    var parameters: [String] = []
    var effects: String = ""
    var line: Int? = nil

    init(_ name: String, _ parameters: [String] = [], effects: String = "", line: Int? = nil) {
        self.name = name
        self.parameters = parameters
        self.effects = effects
        self.line = line
    }

    init(_ task: ScannedTask, includeLine: Bool) {
        name = task.name
        parameters = task.parameters.map { parameter in
            var text = "\(parameter.label ?? "_") \(parameter.name): \(parameter.typeName)"
            if let value = parameter.defaultValue { text += " = \(value)" }
            return text
        }
        effects = [task.isActorIsolated ? "isolated" : nil, task.isAsync ? "async" : nil,
                   task.isThrowing ? "throws" : nil]
            .compactMap { $0 }.joined(separator: " ")
        line = includeLine ? task.line : nil
    }

    var description: String { "\(name)(\(parameters.joined(separator: ", "))) \(effects)" }
}

@Suite("Fabfile scanner")
struct FabfileScannerTests {
    static let cases: [ScannerCase] = [
        ScannerCase(name: "minimal task", source: """
            import FabCore
            func deploy(_ fab: Fab) {}
            """, tasks: [TaskSummary("deploy")]),
        ScannerCase(name: "any label for the Fab parameter, and FabCore.Fab", source: """
            func a(context: Fab) {}
            func b(c fab: FabCore.Fab) async {}
            """, tasks: [TaskSummary("a"), TaskSummary("b", effects: "async")]),
        ScannerCase(name: "functions whose first parameter is not a Fab are helpers", source: """
            func helper(x: Int) {}
            func later(x: Int, fab: Fab) {}
            func none() {}
            var computed: Int { 3 }
            """, tasks: []),
        ScannerCase(name: "private and fileprivate functions are skipped", source: """
            private func hidden(_ fab: Fab) {}
            fileprivate func alsoHidden(_ fab: Fab) {}
            @MainActor private func isolatedHidden(_ fab: Fab) {}
            public func shown(_ fab: Fab) {}
            internal func shownToo(_ fab: Fab) {}
            """, tasks: [TaskSummary("shown"), TaskSummary("shownToo")]),
        ScannerCase(name: "functions in types, extensions, closures and functions are skipped", source: """
            struct Tasks {
                func inType(_ fab: Fab) {}
                static func staticInType(_ fab: Fab) {}
            }
            extension Fab {
                func inExtension(_ fab: Fab) {}
            }
            let closure = { () -> Void in
                func inClosure(_ fab: Fab) {}
            }
            func outer(_ fab: Fab) {
                func nested(_ fab: Fab) {}
                let text = "}"
                func nestedAfterBrace(_ fab: Fab) {}
            }
            enum E { case a; func inEnum(_ fab: Fab) {} }
            func after(_ fab: Fab) {}
            """, tasks: [TaskSummary("outer"), TaskSummary("after")]),
        ScannerCase(name: "parameters: labels, types, defaults", source: """
            func deb(_ fab: Fab, branch: String? = nil, fast: Bool = false, count: Int, for host: String, _ level: Double = 1.5) async throws {}
            """, tasks: [TaskSummary("deb", [
                "branch branch: String? = nil", "fast fast: Bool = false", "count count: Int",
                "for host: String", "_ level: Double = 1.5",
            ], effects: "async throws")]),
        ScannerCase(name: "defaults with commas, parentheses, brackets and strings", source: #"""
            func t(_ fab: Fab,
                   a: String = "x, y (z",
                   b: Int = max(1, min(2, 3)),
                   c: String = ["k": "v,w"]["k", default: ")"],
                   d: String = "say \"hi\", \(1 + (2 * 3))",
                   e: String = #"raw "quote", \(no)"#,
                   f: Bool = 1 < 2, g: Int = 4 > 3 ? 1 : 0,
                   h: String = { "}" }()) {}
            """#, tasks: [TaskSummary("t", [
                #"a a: String = "x, y (z""#,
                "b b: Int = max(1, min(2, 3))",
                #"c c: String = ["k": "v,w"]["k", default: ")"]"#,
                #"d d: String = "say \"hi\", \(1 + (2 * 3))""#,
                ##"e e: String = #"raw "quote", \(no)"#"##,
                "f f: Bool = 1 < 2",
                "g g: Int = 4 > 3 ? 1 : 0",
                #"h h: String = { "}" }()"#,
            ])]),
        ScannerCase(name: "generic types with commas in parameter types", source: """
            func t(_ fab: Fab, a: Dictionary<String, Int>? = nil, b: Optional<Int> = 3) {}
            """, tasks: [TaskSummary("t", ["a a: Dictionary<String, Int>? = nil", "b b: Optional<Int> = 3"])]),
        ScannerCase(name: "multi-line signature with comments", source: """
            /// Doc.
            @MainActor
            func release(
                _ fab: Fab,          // the context
                version: String,     /* the version */
                notes: String = \"""
                    multi, line
                    \""",
                dryRun: Bool = false
            ) async
              throws
            {
                print(1)
            }
            """, tasks: [TaskSummary("release", [
                "version version: String", "notes notes: String = \"\"\"\n        multi, line\n        \"\"\"",
                "dryRun dryRun: Bool = false",
            ], effects: "isolated async throws", line: 3)]),
        ScannerCase(name: "typed throws, rethrows, Void and Never returns", source: """
            func a(_ fab: Fab) throws(MyError) -> Void {}
            func b(_ fab: Fab) -> () {}
            func c(_ fab: Fab) -> Never { fatalError() }
            func d(_ fab: Fab) -> Swift.Void {}
            """, tasks: [TaskSummary("a", effects: "throws"), TaskSummary("b"), TaskSummary("c"), TaskSummary("d")]),
        ScannerCase(name: "functions that return a value are helpers, not tasks", source: """
            func release(_ fab: Fab) async throws -> String { "" }
            func counts(_ fab: Fab) -> [String: Int] where Int: Equatable { [:] }
            @discardableResult func tuple(_ fab: Fab, x: Int) -> (Int, Int) { (x, x) }
            func optional(_ fab: Fab) -> Void? { nil }
            func deploy(_ fab: Fab) async throws {}
            """, tasks: [TaskSummary("deploy", effects: "async throws")]),
        ScannerCase(name: "backticked names, attributes with arguments, #if blocks", source: """
            @available(macOS 13, *)
            func `default`(_ fab: Fab, `class`: String = "") {}
            #if os(Linux)
            func linuxOnly(_ fab: Fab) {}
            #endif
            """, tasks: [TaskSummary("default", ["`class` class: String = \"\""]), TaskSummary("linuxOnly")]),
        ScannerCase(name: "strings and comments that look like code do not confuse it", source: """
            let s = "func fake(_ fab: Fab) {"
            /* func commented(_ fab: Fab) { /* nested */ } */
            // func lineComment(_ fab: Fab) {
            let m = \"""
                func inMultiline(_ fab: Fab) {
                \"""
            let r = #/func(\\w+)\\{/#
            func real(_ fab: Fab) {}
            """, tasks: [TaskSummary("real")]),
        ScannerCase(name: "operators and functions without parentheses are not tasks", source: """
            func + (lhs: Fab, rhs: Fab) -> Fab { lhs }
            func ok(_ fab: Fab) {}
            """, tasks: [TaskSummary("ok")]),
    ]

    @Test("finds tasks", arguments: cases)
    func findsTasks(_ testCase: ScannerCase) throws {
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/fabfile.swift", text: testCase.source))
        let includeLine = testCase.tasks.contains { $0.line != nil }
        #expect(result.tasks.map { TaskSummary($0, includeLine: includeLine) } == testCase.tasks)
    }

    @Test("reads doc comments: summary, help, hosts, roles, parameter help")
    func docComments() throws {
        let source = """
            /// Build the package on the build VM.
            ///
            /// Longer help
            /// on two lines.
            /// - Hosts: buildvm, build2
            /// - Roles: web
            /// - Parameter branch: the branch to build,
            ///   continued here
            /// - Note: stays in the help.
            func deb(_ fab: Fab, branch: String? = nil) {}

            /**
             * Block comment summary.
             *
             * - Parameters:
             *   - a: first
             *   - b: second
             */
            func block(_ fab: Fab, a: Int, b: Int) {}

            /// Belongs to the constant.
            let constant = 1
            func undocumented(_ fab: Fab) {}
            """
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/fabfile.swift", text: source))
        let deb = try #require(result.tasks.first)
        #expect(deb.documentation.summary == "Build the package on the build VM.")
        #expect(deb.documentation.help == "Build the package on the build VM.\n\nLonger help\non two lines.\n- Note: stays in the help.")
        #expect(deb.documentation.hosts == ["buildvm", "build2"])
        #expect(deb.documentation.roles == ["web"])
        #expect(deb.documentation.parameterHelp == ["branch": "the branch to build, continued here"])

        let block = try #require(result.tasks.dropFirst().first)
        #expect(block.documentation.summary == "Block comment summary.")
        #expect(block.documentation.help == "Block comment summary.")
        #expect(block.documentation.parameterHelp == ["a": "first", "b": "second"])

        let undocumented = try #require(result.tasks.last)
        #expect(undocumented.name == "undocumented")
        #expect(undocumented.documentation == TaskDocumentation())
    }

    @Test("finds a top-level roledefs and the imported modules")
    func roledefsAndImports() throws {
        let result = try FabfileScanner.scan([
            FabfileSource(path: "/p/a.swift", text: "import FabCore\nimport struct Foundation.URL\n"),
            FabfileSource(path: "/p/b.swift", text: "import Foundation\n\n\nlet roledefs: [String: [String]] = [:]\n"),
        ])
        #expect(result.roledefs == SourceLocation(path: "/p/b.swift", line: 4))
        #expect(result.imports == ["FabCore", "Foundation"])
    }

    @Test("roledefs inside a type is not the fabfile's")
    func nestedRoledefs() throws {
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/f.swift", text: "struct S { let roledefs = 1 }"))
        #expect(result.roledefs == nil)
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var sources: [String]
        var line: Int
        var message: String
        var testDescription: String { name }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(name: "a task declared twice across files",
                  sources: ["func deploy(_ fab: Fab) {}", "\nfunc deploy(_ fab: Fab, x: Int) {}"],
                  line: 2, message: "task 'deploy' is declared twice (also at /p/0.swift:1)"),
        ErrorCase(name: "a generic task", sources: ["func g<T>(_ fab: Fab, x: T) {}"],
                  line: 1, message: "task 'g' is generic"),
        ErrorCase(name: "an inout parameter", sources: ["func t(_ fab: Fab,\n x: inout Int) {}"],
                  line: 2, message: "parameter 'x' of task 't' is inout"),
        ErrorCase(name: "a variadic parameter", sources: ["func t(_ fab: Fab, x: Int...) {}"],
                  line: 1, message: "parameter 'x' of task 't' is variadic"),
        ErrorCase(name: "a closure parameter", sources: ["func t(_ fab: Fab, x: @escaping () -> Void) {}"],
                  line: 1, message: "parameter 'x' of task 't' is a function"),
        ErrorCase(name: "an autoclosure parameter", sources: ["func t(_ fab: Fab, x: @autoclosure () throws -> Int) {}"],
                  line: 1, message: "parameter 'x' of task 't' is a function"),
        ErrorCase(name: "an unreadable parameter", sources: ["func t(_ fab: Fab, 3) {}"],
                  line: 1, message: "fab cannot read this parameter of task 't'"),
        ErrorCase(name: "a private roledefs", sources: ["\nprivate let roledefs = [String: [String]]()"],
                  line: 2, message: "roledefs is private"),
        ErrorCase(name: "an unterminated string", sources: ["func t(_ fab: Fab) {}\nlet s = \"abc\n"],
                  line: 2, message: "this string literal is never closed"),
        ErrorCase(name: "an unterminated comment", sources: ["/* open\n\n"],
                  line: 1, message: "this /* comment is never closed"),
    ]

    @Test("rejects what it cannot turn into a task, naming the file and line", arguments: errorCases)
    func errors(_ testCase: ErrorCase) {
        let sources = testCase.sources.enumerated().map { FabfileSource(path: "/p/\($0.offset).swift", text: $0.element) }
        let error = #expect(throws: FabCLIError.self) { try FabfileScanner.scan(sources) }
        #expect(error?.code == .fabfileInvalid)
        #expect(error?.line == testCase.line)
        #expect(error?.path == sources.last?.path)
        #expect(error?.message.contains(testCase.message) == true, "\(error?.message ?? "no error")")
    }
}

/// The scanner sees what the compiler compiles: `#if` as the compiler evaluates it, declarations at the
/// top level only, and parameter types a command line can provide.
@Suite("Fabfile scanner agrees with the compiler")
struct FabfileScannerCompilerTests {
    static let cases: [ScannerCase] = [
        ScannerCase(name: "#if os(macOS) is absent on Linux, #if os(Linux) present, #elseif and #else branches", source: """
            #if os(macOS)
            import AppKit
            func macOnly(_ fab: Fab, screen: NSScreen, hosts: [String]) {}
            #elseif os(Linux)
            func linuxOnly(_ fab: Fab) {}
            #else
            func otherOS(_ fab: Fab) {}
            #endif
            #if os(Windows)
            func windows(_ fab: Fab) {}
            #else
            func notWindows(_ fab: Fab) {}
            #endif
            #if !os(Linux) || arch(arm)
            func neither(_ fab: Fab) {}
            #endif
            """, tasks: [TaskSummary("linuxOnly"), TaskSummary("notWindows")]),
        ScannerCase(name: "#if with compiler and language versions, -D flags, nesting, and one task per branch", source: """
            #if compiler(>=6.0) && swift(>=6)
            func modern(_ fab: Fab) {}
            #endif
            #if swift(>=7)
            func future(_ fab: Fab) {}
            #endif
            #if DEBUG
            func debugOnly(_ fab: Fab) {}
            #endif
            #if os(Linux)
              #if arch(x86_64) || arch(arm64)
              func nested(_ fab: Fab) {}
              #endif
            func deploy(_ fab: Fab, fast: Bool) {}
            #else
            func deploy(_ fab: Fab, slow: Bool) {}
            #endif
            """, tasks: [TaskSummary("modern"), TaskSummary("nested"), TaskSummary("deploy", ["fast fast: Bool"])]),
        ScannerCase(name: "attributes before a task", source: """
            @discardableResult
            func a(_ fab: Fab) {}
            @MainActor func b(_ fab: Fab) async {}
            @available(*, deprecated, message: "use b") @MainActor
            func c(_ fab: Fab) throws {}
            @inline(never) @Sendable func d(_ fab: Fab) {}
            """, tasks: [TaskSummary("a"), TaskSummary("b", effects: "isolated async"),
                         TaskSummary("c", effects: "isolated throws"), TaskSummary("d")]),
        ScannerCase(name: "functions taking Fab in nested types and extensions are not tasks", source: """
            struct Deployer {
                func run(_ fab: Fab) {}
                static func make(_ fab: Fab) {}
                struct Inner { func deep(_ fab: Fab) {} }
            }
            final class Steps { func step(_ fab: Fab) async throws {} }
            actor Worker { func work(_ fab: Fab) {} }
            enum Kind { case a; static func choose(_ fab: Fab) {} }
            protocol Task { func perform(_ fab: Fab) }
            extension Fab { func helper(_ fab: Fab) {} }
            extension String { func x(_ fab: Fab) {} }
            #if os(Linux)
            extension Deployer { func linux(_ fab: Fab) {} }
            #endif
            func real(_ fab: Fab) {}
            """, tasks: [TaskSummary("real")]),
    ]

    @Test("finds the tasks the compiler compiles", arguments: cases)
    func findsTasks(_ testCase: ScannerCase) throws {
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/fabfile.swift", text: testCase.source))
        #expect(result.tasks.map { TaskSummary($0, includeLine: false) } == testCase.tasks)
    }

    @Test("canImport finds fab's modules, the toolchain's, and the C modules, as the compile does")
    func canImport() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scanner-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("Helpers.swiftmodule"),
                                                withIntermediateDirectories: true)
        let configuration = FabfileBuildConfiguration(moduleDirectories: [directory.path], clangModules: ["CLibSSH2"],
                                                      compilerVersion: [6, 3])
        let source = """
            #if canImport(Helpers)
            import Helpers
            func withHelpers(_ fab: Fab) {}
            #endif
            #if canImport(CLibSSH2)
            func withC(_ fab: Fab) {}
            #endif
            #if canImport(UIKit)
            func ios(_ fab: Fab) {}
            #endif
            #if compiler(>=6.4)
            func newer(_ fab: Fab) {}
            #endif
            """
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/f.swift", text: source), configuration: configuration)
        #expect(result.tasks.map(\.name) == ["withHelpers", "withC"])
        #expect(result.imports == ["Helpers"])
    }

    @Test("the configuration reads the compiler's version and finds the toolchain's modules")
    func configurationFromCompiler() throws {
        #expect(FabfileBuildConfiguration.version(fromCompilerOutput: "Swift version 6.3.1 (swift-6.3.1-RELEASE)\nTarget: x86_64-unknown-linux-gnu")
                == [6, 3, 1])
        #expect(FabfileBuildConfiguration.version(fromCompilerOutput: "something else") == nil)
        let installation = FabInstallation(executablePath: "/x/fab", modulesDirectory: "/x/Modules",
                                           moduleMapPaths: ["/x/include/CLibArchive/module.modulemap"], identity: "")
        let configuration = FabfileBuildConfiguration(
            installation: installation, compiler: SwiftCompiler(path: "/opt/swift/usr/bin/swiftc", version: "Swift version 6.3.1"))
        #expect(configuration.moduleDirectories == ["/x/Modules", "/opt/swift/usr/lib/swift/linux"])
        #expect(configuration.clangModules == ["CLibArchive"])
        #expect(configuration.compilerVersion == [6, 3, 1])
        // The scanner finds the toolchain's Foundation through this configuration, as the compiler does.
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/f.swift", text: """
            #if canImport(Foundation)
            func withFoundation(_ fab: Fab) {}
            #endif
            """), configuration: configuration)
        #expect(result.tasks.map(\.name) == (FileManager.default.fileExists(atPath: "/opt/swift/usr/lib/swift/linux/Foundation.swiftmodule")
                                              ? ["withFoundation"] : []))
    }

    struct UnsupportedCase: Sendable, CustomTestStringConvertible {
        var type: String
        var problem: String
        var testDescription: String { type }
    }

    static let unsupported: [UnsupportedCase] = [
        UnsupportedCase(type: "[String]", problem: "is an array ([String])"),
        UnsupportedCase(type: "[String]?", problem: "is an array ([String]?)"),
        UnsupportedCase(type: "[String: Int]", problem: "is a dictionary ([String: Int])"),
        UnsupportedCase(type: "(Int, Int)", problem: "is a tuple ((Int, Int))"),
        UnsupportedCase(type: "Int??", problem: "is an optional of an optional (Int??)"),
        UnsupportedCase(type: "any Error", problem: "has the type any Error"),
        UnsupportedCase(type: "Int.Type", problem: "has the type Int.Type"),
    ]

    @Test("an unsupported parameter type is an error naming the file, line, parameter and the supported types",
          arguments: unsupported)
    func unsupportedType(_ testCase: UnsupportedCase) {
        let source = FabfileSource(path: "/p/fabfile.swift", text: """
            /// Deploys.
            func deploy(_ fab: Fab,
                        value: \(testCase.type)) {}
            """)
        let error = #expect(throws: FabCLIError.self) { try FabfileScanner.scan(source) }
        #expect(error?.code == .fabfileInvalid)
        #expect(error?.description == "/p/fabfile.swift:3: parameter 'value' of task 'deploy' \(testCase.problem); task parameters are values fab reads from the command line: String, Int, Double, Bool, their optionals (String?), or a type of your own conforming to TaskArgumentValue.")
    }

    @Test("supported parameter types, optionals and named types of the fabfile's own pass")
    func supportedTypes() throws {
        let result = try FabfileScanner.scan(FabfileSource(path: "/p/f.swift", text: """
            func t(_ fab: Fab, a: String, b: Int?, c: Double = 1, d: Bool! = nil, e: Optional<String>, f: Mode, g: FabCore.Mode?) {}
            """))
        #expect(result.tasks.first?.parameters.map(\.typeName) == ["String", "Int?", "Double", "Bool!", "Optional<String>", "Mode", "FabCore.Mode?"])
    }
}
