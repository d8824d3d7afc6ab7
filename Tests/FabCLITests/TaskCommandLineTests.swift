import FabCore
import Testing
@testable import FabCLI

@Suite("Task arguments on the command line")
struct TaskCommandLineTests {
    /// `deploy(_ fab: Fab, branch: String = "main", fast: Bool = false, count: Int, ratio: Double? = nil, dryRun: Bool = false)`
    /// and `push(_ fab: Fab)`.
    static let tasks: [TaskDefinition] = [
        TaskDefinition(name: "deploy", summary: "", help: "", parameters: [
            TaskParameter(name: "branch", typeName: "String", defaultValue: "\"main\"", help: "the branch"),
            TaskParameter(name: "fast", typeName: "Bool", defaultValue: "false"),
            TaskParameter(name: "count", typeName: "Int"),
            TaskParameter(name: "ratio", typeName: "Double?", defaultValue: "nil"),
            TaskParameter(name: "dryRun", typeName: "Bool", defaultValue: "false"),
        ], body: { _, _ in }),
        TaskDefinition(name: "push", summary: "", help: "", parameters: [], body: { _, _ in }),
        TaskDefinition(name: "greet", summary: "", help: "", parameters: [
            TaskParameter(name: "name", typeName: "String"),
            TaskParameter(name: "times", typeName: "Optional<Int>"),
        ], body: { _, _ in }),
    ]

    struct Case: Sendable, CustomTestStringConvertible {
        var words: [String]
        var expected: [TaskInvocation]
        var testDescription: String { words.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(words: ["push"], expected: [TaskInvocation(taskName: "push")]),
        Case(words: ["deploy:count=3"], expected: [TaskInvocation(taskName: "deploy", values: ["count": "3"])]),
        Case(words: ["deploy:branch=dev,fast=yes,count=2"],
             expected: [TaskInvocation(taskName: "deploy", values: ["branch": "dev", "fast": "yes", "count": "2"])]),
        Case(words: ["deploy:dev,no,7"],
             expected: [TaskInvocation(taskName: "deploy", values: ["branch": "dev", "fast": "no", "count": "7"])]),
        Case(words: ["deploy:dev,count=7"],
             expected: [TaskInvocation(taskName: "deploy", values: ["branch": "dev", "count": "7"])]),
        Case(words: [#"greet:name=Smith\, Jr\=1"#], expected: [TaskInvocation(taskName: "greet", values: ["name": "Smith, Jr=1"])]),
        Case(words: [#"greet:a\\b"#], expected: [TaskInvocation(taskName: "greet", values: ["name": #"a\b"#])]),
        Case(words: ["greet:name=a=b"], expected: [TaskInvocation(taskName: "greet", values: ["name": "a=b"])]),
        Case(words: ["greet:name="], expected: [TaskInvocation(taskName: "greet", values: ["name": ""])]),
        Case(words: ["greet:x:y"], expected: [TaskInvocation(taskName: "greet", values: ["name": "x:y"])]),
        // Empty positional values are values (Fabric passes '' too), not skipped.
        Case(words: ["greet:,7"], expected: [TaskInvocation(taskName: "greet", values: ["name": "", "times": "7"])]),
        Case(words: ["deploy:,no,3"], expected: [TaskInvocation(taskName: "deploy", values: ["branch": "", "fast": "no", "count": "3"])]),
        Case(words: ["deploy", "--count", "3", "--branch", "dev"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "3", "branch": "dev"])]),
        Case(words: ["deploy", "--count=3", "--fast"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "3", "fast": "true"])]),
        Case(words: ["deploy", "--fast=no", "--count", "-4"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "-4", "fast": "no"])]),
        Case(words: ["deploy", "--no-fast", "--count", "1"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "1", "fast": "false"])]),
        Case(words: ["deploy", "--dry-run", "--count", "1"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "1", "dryRun": "true"])]),
        Case(words: ["deploy", "--dry_run=off", "--count", "1", "--ratio", "0.5"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "1", "dryRun": "off", "ratio": "0.5"])]),
        Case(words: ["deploy", "--dryRun", "--count", "1"],
             expected: [TaskInvocation(taskName: "deploy", values: ["count": "1", "dryRun": "true"])]),
        Case(words: ["deploy:count=1", "--fast", "push", "deploy", "--count", "2", "push"], expected: [
            TaskInvocation(taskName: "deploy", values: ["count": "1", "fast": "true"]),
            TaskInvocation(taskName: "push"),
            TaskInvocation(taskName: "deploy", values: ["count": "2"]),
            TaskInvocation(taskName: "push"),
        ]),
        Case(words: ["deploy", "--fast", "--count", "2", "push"], expected: [
            TaskInvocation(taskName: "deploy", values: ["count": "2", "fast": "true"]),
            TaskInvocation(taskName: "push"),
        ]),
        Case(words: [], expected: []),
    ]

    @Test("parses both syntaxes", arguments: cases)
    func parses(_ testCase: Case) throws {
        let parsed = try TaskCommandLine.parse(testCase.words, tasks: Self.tasks)
        #expect(parsed.invocations == testCase.expected)
        #expect(parsed.helpTask == nil)
    }

    @Test("TASK --help asks for the task's help")
    func taskHelp() throws {
        let parsed = try TaskCommandLine.parse(["push", "deploy", "--help"], tasks: Self.tasks)
        #expect(parsed.helpTask == "deploy")
    }

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var words: [String]
        var code: FabCLIError.Code
        var fragments: [String]
        var testDescription: String { words.joined(separator: " ") }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(words: ["deplyo"], code: .unknownTask,
                  fragments: ["no task named 'deplyo'", "Did you mean 'deploy'?", "deploy, push, greet"]),
        ErrorCase(words: ["deploy", "--brnach", "x", "--count", "1"], code: .invalidTaskArgument,
                  fragments: ["task 'deploy' has no parameter 'brnach'", "Did you mean 'branch'?",
                              "Parameters of deploy:", "branch  String", "count   Int", "required", "the branch"]),
        ErrorCase(words: ["deploy:bogus=1"], code: .invalidTaskArgument,
                  fragments: ["no parameter 'bogus'", "Parameters of deploy:"]),
        ErrorCase(words: ["deploy"], code: .invalidTaskArgument,
                  fragments: ["needs a value for 'count' (Int)", "deploy:count=N", "deploy --count N", "Parameters of deploy:"]),
        ErrorCase(words: ["deploy:count=many"], code: .invalidTaskArgument,
                  fragments: ["'many' is not a valid value for 'count' (Int)", "whole number"]),
        ErrorCase(words: ["deploy", "--count", "1", "--ratio", "half"], code: .invalidTaskArgument,
                  fragments: ["'half' is not a valid value for 'ratio' (Double?)"]),
        ErrorCase(words: ["deploy", "--count", "1", "--fast=maybe"], code: .invalidTaskArgument,
                  fragments: ["'maybe' is not a valid value for 'fast' (Bool)", "yes or no"]),
        ErrorCase(words: ["greet:bob,many"], code: .invalidTaskArgument,
                  fragments: ["'many' is not a valid value for 'times' (Optional<Int>)", "times  Optional<Int>  optional"]),
        ErrorCase(words: ["deploy", "--count"], code: .invalidTaskArgument,
                  fragments: ["--count needs a value"]),
        ErrorCase(words: ["deploy:count=1", "--count", "2"], code: .invalidTaskArgument,
                  fragments: ["got 'count' twice"]),
        ErrorCase(words: ["deploy:main,yes,1,0.5,no,extra"], code: .invalidTaskArgument,
                  fragments: ["takes 5 parameters", "more values"]),
        ErrorCase(words: ["push:1"], code: .invalidTaskArgument, fragments: ["takes 0 parameters"]),
        ErrorCase(words: ["push", "--x"], code: .invalidTaskArgument,
                  fragments: ["no parameter 'x'", "Task 'push' takes no parameters."]),
        ErrorCase(words: ["--hosts", "a", "push"], code: .invalidTaskArgument,
                  fragments: ["--hosts is not an option of fab", "before the first task"]),
        ErrorCase(words: ["push", "-H", "web1"], code: .invalidTaskArgument,
                  fragments: ["-H is a global option: put it before the first task"]),
        ErrorCase(words: ["push", "--parallel"], code: .invalidTaskArgument,
                  fragments: ["--parallel is a global option: put it before the first task"]),
    ]

    @Test("rejects bad arguments before anything runs, listing the parameters", arguments: errorCases)
    func errors(_ testCase: ErrorCase) {
        let error = #expect(throws: FabCLIError.self) {
            try TaskCommandLine.parse(testCase.words, tasks: Self.tasks, globalOptions: FabCommand.globalOptionSpellings)
        }
        #expect(error?.code == testCase.code)
        for fragment in testCase.fragments {
            #expect(error?.message.contains(fragment) == true, "missing \(fragment) in: \(error?.message ?? "")")
        }
    }

    @Test("an error in a later task stops the whole command line")
    func laterErrorsStopEverything() {
        #expect(throws: FabCLIError.self) {
            try TaskCommandLine.parse(["push", "deploy:count=x"], tasks: Self.tasks)
        }
    }

    @Test("kebab case of Swift names", arguments: [
        ("dryRun", "dry-run"), ("dry_run", "dry-run"), ("url", "url"), ("maxURLCount", "max-url-count"), ("dry-run", "dry-run"),
    ])
    func kebabCase(_ pair: (String, String)) {
        #expect(TaskCommandLine.kebabCase(pair.0) == pair.1)
    }
}
