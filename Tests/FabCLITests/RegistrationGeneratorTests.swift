import Testing
@testable import FabCLI
import FabfileModel

@Suite("Registration code generation")
struct RegistrationGeneratorTests {
    @Test("reads each kind of parameter so that every combination compiles", arguments: [
        (ScannedTask.Parameter(label: "branch", name: "branch", typeName: "String?", defaultValue: "nil", line: 1),
         #"let _arg_branch: String? = try _args.value("branch", as: String.self) ?? (nil)"#),
        (ScannedTask.Parameter(label: "fast", name: "fast", typeName: "Bool", defaultValue: "false", line: 1),
         #"let _arg_fast: Bool = try _args.value("fast", as: Bool.self) ?? (false)"#),
        (ScannedTask.Parameter(label: "count", name: "count", typeName: "Int", line: 1),
         #"let _arg_count: Int = try _args.required("count", as: Int.self)"#),
        (ScannedTask.Parameter(label: "ratio", name: "ratio", typeName: "Optional<Double>", line: 1),
         #"let _arg_ratio: Optional<Double> = try _args.value("ratio", as: Double.self)"#),
        (ScannedTask.Parameter(label: nil, name: "note", typeName: "String", defaultValue: #""a, b" + (c)"#, line: 1),
         #"let _arg_note: String = try _args.value("note", as: String.self) ?? ("a, b" + (c))"#),
    ])
    func argumentStatements(_ pair: (ScannedTask.Parameter, String)) {
        #expect(RegistrationGenerator.argumentStatement(pair.0) == pair.1)
    }

    @Test("calls the function with its labels and effects, attributing lines to the fabfile")
    func call() {
        let task = ScannedTask(
            name: "default", functionName: "`default`", path: "/p/fab\"file.swift", line: 7, contextLabel: "context",
            parameters: [ScannedTask.Parameter(label: "`class`", name: "class", typeName: "String", line: 8),
                         ScannedTask.Parameter(label: nil, name: "level", typeName: "Int", defaultValue: "1", line: 9)],
            documentation: TaskDocumentation(summary: "S", help: "S\n\"quoted\"", hosts: ["h1"], roles: ["web"],
                                             parameterHelp: ["class": "the class"]),
            isAsync: false, isThrowing: true, isActorIsolated: true)
        let code = RegistrationGenerator.registration(task, index: 0)
        #expect(code.contains(#"            try await `default`(context: _fab, class: _arg_class, _arg_level)"#))
        #expect(code.contains(#"#sourceLocation(file: "/p/fab\"file.swift", line: 8)"#))
        #expect(code.contains(#"#sourceLocation(file: "/p/fab\"file.swift", line: 7)"#))
        #expect(code.contains(#"help: "S\n\"quoted\"""#))
        #expect(code.contains(#"FabCore.TaskParameter(name: "class", typeName: "String", defaultValue: nil, help: "the class")"#))
        #expect(code.contains(#"FabCore.TaskParameter(name: "level", typeName: "Int", defaultValue: "1", help: "")"#))
        #expect(code.contains(#"hosts: ["h1"]"#) && code.contains(#"roles: ["web"]"#))
    }

    @Test("a plain task is called without try, await or _ =")
    func plainCall() {
        let task = ScannedTask(name: "t", functionName: "t", path: "/p", line: 1, contextLabel: nil, parameters: [],
                               documentation: TaskDocumentation(), isAsync: false, isThrowing: false,
                               isActorIsolated: false)
        #expect(RegistrationGenerator.registration(task, index: 0).contains("\n            t(_fab)\n"))
    }

    @Test("a fabfile without tasks or roledefs still gets a register function, without unused values")
    func empty() {
        let code = RegistrationGenerator.source(for: FabfileScanner.Result(imports: ["FabCore", "Foundation"]))
        #expect(code.contains(#"@_cdecl("fab_plugin_register_v1")"#))
        #expect(code.contains("    _ = registry\n    return 0\n"))
        #expect(!code.contains("let _registry"))
        #expect(code.contains("#if canImport(Foundation)\nimport Foundation\n#endif\n"))
    }

    @Test("string literals escape what Swift needs escaped")
    func literals() {
        #expect(RegistrationGenerator.literal("a\"b\\c\nd\te\u{1}") == #""a\"b\\c\nd\te\u{1}""#)
    }
}
