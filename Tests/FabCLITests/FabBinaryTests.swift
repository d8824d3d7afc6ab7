import FabProcess
import Foundation
import Testing

/// Runs the built `fab` executable on fixture fabfiles, as a user would.
@Suite("fab executable on fixture fabfiles")
struct FabBinaryTests {
    @Test("-l lists the tasks with their summaries, and the roles")
    func list() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["-l"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(Self.listed("record", "Record the arguments this task got.", in: output.stdout))
        #expect(Self.listed("hello", "Say hello.", in: output.stdout))
        #expect(Self.listed("fail", "Fail on purpose.", in: output.stdout))
        #expect(output.stdout.contains("web    web1, web2"))
        let tasks = Self.taskNames(in: output.stdout)
        #expect(tasks == ["record", "hello", "fail", "boundary"])
        for helper in ["helper", "hiddenTask", "inside", "log"] {
            #expect(!tasks.contains(helper), "\(helper) is not a task")
        }
        #expect(fab.logLines.isEmpty)
    }

    @Test("-d shows a task's help, hosts, roles and parameters")
    func display() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["-d", "record"])
        #expect(output.status == 0, "\(output.stderr)")
        let expected = """
            Task record

                Record the arguments this task got.

                Appends one line to the file named by FAB_TEST_LOG, so tests see
                what ran, in which order, with which values.

            Hosts: buildvm
            Roles: web
            (these win over -H and -R; record:hosts=H1;H2 or record:roles=R runs it elsewhere)

            Parameters:
                branch  String?  default: nil             the branch to build
                fast    Bool     default: false
                count   Int      required                 how many copies
                ratio   Double   default: 0.5
                note    String   default: "a, \\"b\\" (c)"

            Usage: fab record:count=N[,branch=VALUE,fast=yes,ratio=N,note=VALUE]
                   fab record --count N [--branch VALUE] [--fast] [--ratio N] [--note VALUE]
            """
        #expect(output.stdout.hasPrefix(expected), "\(output.stdout)")

        let unknown = try fab.run(["-d", "recrod"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("no task named 'recrod'. Did you mean 'record'?"))
    }

    @Test("runs a task with Fabric-style arguments, escapes included")
    func fabricStyle() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run([#"record:main,count=3,fast=yes,note=x\,y\=z,hosts=buildvm"#])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == ["record branch=main fast=true count=3 ratio=0.5 note=x,y=z"])
    }

    @Test("runs a task with option-style arguments; defaults fill the rest")
    func optionStyle() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["record:hosts=buildvm", "--branch", "dev", "--count=2", "--fast", "--ratio", "1.25"])
        #expect(output.status == 0, "\(output.stderr)")
        let defaults = try fab.run(["record:host=buildvm", "--count", "1"])
        #expect(defaults.status == 0, "\(defaults.stderr)")
        #expect(fab.logLines == [
            "record branch=dev fast=true count=2 ratio=1.25 note=a, \"b\" (c)",
            "record branch=nil fast=false count=1 ratio=0.5 note=a, \"b\" (c)",
        ])
    }

    @Test("runs several tasks in command-line order")
    func severalTasks() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["-H", "buildvm", "hello:name=first", "record:hosts=buildvm", "--count", "1", "--no-fast", "hello"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == [
            "hello first",
            "record branch=nil fast=false count=1 ratio=0.5 note=a, \"b\" (c)",
            "hello world",
        ])
    }

    @Test("without -H, a task runs on the hosts and roles its doc comment declares")
    func declaredHosts() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["record", "--count", "1"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines.count == 3) // buildvm, then role web: web1, web2
        #expect(output.stdout.contains("[web2] Executing task 'record'"))
    }

    @Test("a bad argument anywhere stops the run before any task runs")
    func argumentErrorsRunNothing() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let malformed = try fab.run(["hello", "record:count=three"])
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("'three' is not a valid value for 'count' (Int)"))
        #expect(malformed.stderr.contains("Parameters of record:"))
        let missing = try fab.run(["hello", "record"])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("task 'record' needs a value for 'count' (Int)"))
        let unknown = try fab.run(["hello", "record", "--count", "1", "--colour", "red"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("task 'record' has no parameter 'colour'"))
        let unknownTask = try fab.run(["hello", "helo"])
        #expect(unknownTask.status == 64)
        #expect(unknownTask.stderr.contains("Did you mean 'hello'?"))
        #expect(fab.logLines.isEmpty)
    }

    @Test("fabfile types, FabCore globals and errors cross the plugin boundary as one copy of FabCore")
    func pluginBoundary() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["boundary", "boundary:color=red,pause=no"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == [
            "boundary color=green symbol=fab_plugin_register_v1 context=Fab",
            "boundary color=red symbol=fab_plugin_register_v1 context=Fab",
        ])
        // FabCore throws its TaskArgumentError from the plugin's task body; fab recognises the type.
        let rejected = try fab.run(["boundary:color=purple"])
        #expect(rejected.status == 64, "\(rejected.stderr)")
        #expect(rejected.stderr.contains("task 'boundary': parameter 'color' 'purple' is not a valid Color."))
        #expect(fab.logLines.count == 2)
    }

    @Test("a failing task stops the run with status 1 and says why")
    func failingTask() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["hello", "fail", "hello:name=never"])
        #expect(output.status == 1)
        #expect(output.stderr.contains("task 'fail' failed: the fail task failed on purpose"))
        #expect(fab.logLines == ["hello world", "fail"])
    }

    @Test("a compile error shows the compiler's diagnostic at the fabfile's line, and nothing runs")
    func compileError() throws {
        let fab = try FabProcess(fixture: "broken")
        defer { fab.remove() }
        let output = try fab.run(["wouldRun"])
        #expect(output.status == 65)
        let file = fab.directory.appendingPathComponent("fabfile.swift").path
        #expect(output.stderr.contains("\(file):11:"), "\(output.stderr)")
        #expect(output.stderr.contains("error: cannot convert value of type 'String' to specified type 'Int'"))
        #expect(output.stderr.contains("the fabfile did not compile"))
        #expect(output.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: fab.log.path), "the task ran")
        #expect(fab.plugins.isEmpty, "a failed compile left \(fab.plugins)")
    }

    @Test("an unchanged fabfile is compiled once; a changed one again")
    func cache() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let debug = ["FAB_DEBUG": "1"]
        let first = try fab.run(["-l"], environment: debug)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("fab: compiled "))
        let plugin = try #require(fab.plugins.first)
        #expect(fab.plugins.count == 1)
        let before = try FileManager.default.attributesOfItem(atPath: plugin.path)

        let second = try fab.run(["-l"], environment: debug)
        #expect(second.status == 0)
        #expect(second.stderr.contains("fab: cached "))
        #expect(!second.stderr.contains("fab: compiled "))
        #expect(second.stdout == first.stdout)
        let after = try FileManager.default.attributesOfItem(atPath: plugin.path)
        #expect(after[.systemFileNumber] as? Int == before[.systemFileNumber] as? Int)
        #expect(after[.modificationDate] as? Date == before[.modificationDate] as? Date)
        #expect(second.seconds < 1.0, "a cached start took \(second.seconds) s")
        #expect(second.seconds < first.seconds)

        let fabfile = fab.directory.appendingPathComponent("fabfile.swift")
        let source = try String(contentsOf: fabfile, encoding: .utf8)
        try (source + "\n/// Added later.\nfunc added(_ fab: Fab) {}\n").write(to: fabfile, atomically: true, encoding: .utf8)
        let third = try fab.run(["-l"], environment: debug)
        #expect(third.status == 0)
        #expect(third.stderr.contains("fab: compiled "))
        #expect(Self.listed("added", "Added later.", in: third.stdout))
        #expect(fab.plugins.count == 2)
    }

    @Test("a cached plugin that cannot be loaded is reported, dropped, and compiled again on the next run")
    func unloadablePlugin() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        _ = try fab.run(["-l"])
        let plugin = try #require(fab.plugins.first)
        try Data("not a shared library".utf8).write(to: plugin)
        let broken = try fab.run(["hello"])
        #expect(broken.status == 70)
        #expect(broken.stderr.contains("fab cannot load the compiled fabfile \(plugin.path)"))
        #expect(fab.logLines.isEmpty)
        let again = try fab.run(["hello"], environment: ["FAB_DEBUG": "1"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("fab: compiled "))
        #expect(fab.logLines == ["hello world"])
    }

    @Test("--rebuild compiles even when the cache has the plugin")
    func rebuild() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        _ = try fab.run(["-l"])
        let output = try fab.run(["--rebuild", "-l"], environment: ["FAB_DEBUG": "1"])
        #expect(output.status == 0)
        #expect(output.stderr.contains("fab: compiled "))
    }

    @Test("concurrent first runs all succeed and leave one complete plugin")
    func concurrentRuns() async throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let outputs = try await withThrowingTaskGroup(of: FabProcess.Output.self) { group in
            for _ in 0..<4 {
                group.addTask { try fab.run(["hello:name=parallel"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for output in outputs {
            #expect(output.status == 0, "\(output.stderr)")
        }
        #expect(fab.logLines == Array(repeating: "hello parallel", count: 4))
        #expect(fab.plugins.count == 1, "\(fab.plugins)")
        #expect(fab.plugins.allSatisfy { $0.pathExtension == "so" })
    }

    @Test("a Fabfiles/ folder compiles all its files together")
    func folder() throws {
        let fab = try FabProcess(fixture: "folder")
        defer { fab.remove() }
        let list = try fab.run(["-l"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(Self.listed("greet", "Greet someone, with a helper from another file.", in: list.stdout))
        #expect(!list.stdout.contains("appendToLog"))
        let output = try fab.run(["greet:name=Ann"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == ["Hello, Ann!"])
    }

    @Test("the fabfile is found from a subfolder, or named with -f; without one the error says what to do")
    func discovery() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let sub = fab.directory.appendingPathComponent("deep/er")
        try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let fromSub = try fab.run(["hello:name=sub"], in: "deep/er")
        #expect(fromSub.status == 0, "\(fromSub.stderr)")
        #expect(fab.logLines == ["hello sub"])

        let byFile = try fab.run(["-f", "../../fabfile.swift", "-l"], in: "deep/er")
        #expect(byFile.status == 0)
        #expect(byFile.stdout.contains("record"))
        let byFolder = try fab.run(["-f", fab.directory.path, "-l"], in: "deep/er")
        #expect(byFolder.status == 0)
        #expect(byFolder.stdout == byFile.stdout)

        let missing = try fab.run(["-f", "nowhere.swift", "-l"])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("-f names"))
        #expect(missing.stderr.contains("nowhere.swift, which does not exist"))

        let empty = try FabProcess(fixture: "basic")
        defer { empty.remove() }
        try FileManager.default.removeItem(at: empty.directory.appendingPathComponent("fabfile.swift"))
        let none = try empty.run(["-l"])
        #expect(none.status == 66)
        #expect(none.stderr.contains("fab found no fabfile.swift or Fabfiles/ folder in \(empty.directory.path)"))
    }

    @Test("an installed prefix (scripts/install.sh) finds its modules next to the executable")
    func installedLayout() throws {
        let binary = try #require(FabProcess.binary)
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let prefix = fab.directory.deletingLastPathComponent().appendingPathComponent("prefix")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/install.sh")
        let install = try ProcessRunner.run(
            executable: "/bin/sh", arguments: [script.path, prefix.path],
            environment: .inherit.updating(["FAB_BIN_PATH": URL(fileURLWithPath: binary).deletingLastPathComponent().path]),
            deadline: .seconds(120))
        try #require(install.termination.succeeded, "\(install.stderr)")
        let lib = prefix.appendingPathComponent("lib/fab")
        #expect(FileManager.default.fileExists(atPath: lib.appendingPathComponent("Modules/FabCore.swiftmodule").path))
        #expect(FileManager.default.fileExists(atPath: lib.appendingPathComponent("include/CLibSSH2/module.modulemap").path))
        #expect(FileManager.default.fileExists(atPath: lib.appendingPathComponent("include/CLibSSH2/shim.h").path))

        let output = try fab.run(["hello:name=installed"], executable: prefix.appendingPathComponent("bin/fab").path,
                                 environment: ["FAB_DEBUG": "1"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stderr.contains("compiling against \(lib.path)/Modules"), "\(output.stderr)")
        #expect(fab.logLines == ["hello installed"])
    }

    @Test("--help and --version need no fabfile")
    func helpAndVersion() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        try FileManager.default.removeItem(at: fab.directory.appendingPathComponent("fabfile.swift"))
        let help = try fab.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("USAGE: fab"))
        #expect(help.stdout.contains("-H, --hosts <hosts>"))
        #expect(help.stdout.contains("--known-hosts-policy <policy>"))
        let version = try fab.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("fab "))
    }

    @Test("TASK --help shows that task's help")
    func taskHelp() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let output = try fab.run(["hello", "--help"])
        #expect(output.status == 0)
        #expect(output.stdout.hasPrefix("Task hello\n"))
        #expect(fab.logLines.isEmpty)
    }

    /// Whether `fab -l` output has a line for the task with its summary.
    /// The task names of `fab -l`'s "Available tasks" section, in order.
    static func taskNames(in output: String) -> [String] {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("Available tasks") }) else { return [] }
        return lines[(start + 1)...].drop { $0.isEmpty }.prefix { !$0.isEmpty }
            .compactMap { $0.split(separator: " ").first.map(String.init) }
    }

    static func listed(_ task: String, _ summary: String, in output: String) -> Bool {
        output.split(separator: "\n").contains { line in
            line.hasPrefix("    \(task) ") && line.hasSuffix("    \(summary)")
                && line.dropFirst(4 + task.count).dropLast(4 + summary.count).allSatisfy { $0 == " " }
        }
    }
}
