import ArgumentParser
import FabCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The `fab` command: parses the command line, loads the fabfile, and hands a ``RunRequest`` to an executor.
public enum FabCLI {
    /// Runs fab with command-line arguments (without the program name) and returns the exit status.
    /// - Parameters:
    ///   - arguments: the arguments after `fab`.
    ///   - environment: the process environment.
    ///   - currentDirectory: where fabfile discovery starts.
    ///   - console: where fab's own output goes.
    ///   - executor: runs the tasks; ``HostTaskExecutor`` when nil.
    public static func main(arguments: [String],
                            environment: [String: String] = ProcessInfo.processInfo.environment,
                            currentDirectory: String = FileManager.default.currentDirectoryPath,
                            console: Console = .standard,
                            executor: (any TaskExecuting)? = nil) async -> Int32 {
        switch start(arguments: arguments, environment: environment, currentDirectory: currentDirectory,
                     console: console, executor: executor) {
        case .finished(let status):
            return status
        case .runTasks(let run):
            return await run()
        }
    }

    /// What is left to do once the command line is read and the fabfile loaded.
    public enum Outcome: Sendable {
        /// Nothing: fab is done and exits with this status (help, a listing, an error).
        case finished(Int32)
        /// Running tasks on hosts, which needs Swift concurrency; the closure returns the exit status.
        case runTasks(@Sendable () async -> Int32)
    }

    /// Does everything that needs no concurrency: parses the command line, loads the fabfile, and answers
    /// help, `--version`, `-l`, `--shortlist` and `-d` itself.
    ///
    /// The `fab` executable calls this from synchronous code, so a listing never starts the concurrency
    /// runtime's threads; only ``Outcome/runTasks(_:)`` needs an async context. Parameters as in
    /// ``main(arguments:environment:currentDirectory:console:executor:)``.
    public static func start(arguments: [String],
                             environment: [String: String] = ProcessInfo.processInfo.environment,
                             currentDirectory: String = FileManager.default.currentDirectoryPath,
                             console: Console = .standard,
                             executor: (any TaskExecuting)? = nil) -> Outcome {
        if let listing = Listing(arguments: arguments) {
            do {
                let (location, registry) = try loadFabfile(
                    listing.fabfile, rebuild: false, shownOutput: OutputLevel.shownByDefault,
                    environment: environment, currentDirectory: currentDirectory, console: console)
                console.write(listing.short ? shortList(registry)
                                            : TaskHelpFormatter.list(registry, fabfilePath: location.path))
                return .finished(ExitStatus.success)
            } catch {
                console.error(error.description)
                return .finished(ExitStatus.forError(error))
            }
        }
        let command: FabCommand
        do {
            guard let parsed = try FabCommand.parseAsRoot(arguments) as? FabCommand else {
                return .finished(ExitStatus.usage)
            }
            command = parsed
        } catch {
            // --help, --version, completion scripts, and command-line errors.
            let status = FabCommand.exitCode(for: error).rawValue
            let message = FabCommand.fullMessage(for: error)
            if status == ExitStatus.success {
                if !message.isEmpty { console.write(message + "\n") }
            } else {
                // ArgumentParser's message starts with "Error: " and ends with the usage.
                console.writeError(message.hasSuffix("\n") ? message : message + "\n")
            }
            return .finished(status)
        }

        // The task words are captured unparsed, and with them --help and --version when they come first.
        switch command.tasks.first {
        case "--help", "-h", "-help":
            console.write(FabCommand.helpMessage(columns: nil) + "\n")
            return .finished(ExitStatus.success)
        case "--version":
            console.write("fab \(FabVersion.current)\n")
            return .finished(ExitStatus.success)
        default:
            break
        }

        do {
            return try prepare(command, environment: environment, currentDirectory: currentDirectory,
                               console: console, executor: executor)
        } catch {
            console.error(error.description)
            return .finished(ExitStatus.forError(error))
        }
    }

    private static func prepare(_ command: FabCommand, environment: [String: String], currentDirectory: String,
                                console: Console, executor: (any TaskExecuting)?) throws(FabCLIError) -> Outcome {
        let options = command.runOptions
        let (location, registry) = try loadFabfile(
            command.fabfileOptions.fabfile, rebuild: command.fabfileOptions.rebuild, shownOutput: options.shownOutput,
            environment: environment, currentDirectory: currentDirectory, console: console)

        if command.fabfileOptions.list {
            console.write(TaskHelpFormatter.list(registry, fabfilePath: location.path))
            return .finished(ExitStatus.success)
        }
        if command.fabfileOptions.shortlist {
            console.write(shortList(registry))
            return .finished(ExitStatus.success)
        }
        if let name = command.fabfileOptions.display {
            guard let task = registry.task(named: name) else {
                throw TaskCommandLine.unknownTask(name, tasks: registry.tasks)
            }
            console.write(TaskHelpFormatter.details(task))
            return .finished(ExitStatus.success)
        }

        let parsed = try TaskCommandLine.parse(command.tasks, tasks: registry.tasks,
                                               globalOptions: FabCommand.globalOptionSpellings)
        if let name = parsed.helpTask, let task = registry.task(named: name) {
            console.write(TaskHelpFormatter.details(task))
            return .finished(ExitStatus.success)
        }
        if parsed.invocations.isEmpty {
            console.write(TaskHelpFormatter.list(registry, fabfilePath: location.path))
            return .finished(ExitStatus.success)
        }
        let request = RunRequest(invocations: parsed.invocations, options: options)
        let executor = executor ?? HostTaskExecutor(console: console)
        return .runTasks { await executor.execute(request, registry: registry) }
    }

    /// Finds the fabfile (`-f`, or discovery from `currentDirectory`) and loads its tasks.
    private static func loadFabfile(_ explicitPath: String?, rebuild: Bool, shownOutput: Set<OutputLevel>,
                                    environment: [String: String], currentDirectory: String,
                                    console: Console) throws(FabCLIError) -> (FabfileLocation, FabfileRegistry) {
        let debug = shownOutput.contains(.debug) || ["1", "yes", "true"].contains(environment["FAB_DEBUG"]?.lowercased() ?? "")
        let location = try FabfileLocation.locate(explicitPath: explicitPath, from: currentDirectory)
        let loader = FabfileLoader(environment: environment, console: console, debug: debug,
                                   announceCompiles: isatty(STDERR_FILENO) == 1)
        return (location, try loader.load(location, rebuild: rebuild).registry)
    }

    /// `--shortlist`: the task names, one per line.
    private static func shortList(_ registry: FabfileRegistry) -> String {
        registry.tasks.map { $0.name + "\n" }.joined()
    }

    /// A listing command line (`-l`, `--list`, `--shortlist`, and at most one `-f PATH`), read without
    /// ArgumentParser.
    ///
    /// ArgumentParser builds its option table by reflection (several passes over ``FabCommand``'s option
    /// groups, each resolving generic types and protocol conformances at run time) on every run: about a
    /// sixth of a warm `fab -l`'s CPU time. For these command lines every other option keeps its default
    /// and passes validation, so the outcome is known without it; any other word sends the whole command
    /// line to ArgumentParser, which also reports errors.
    struct Listing: Equatable {
        /// The `-f` path, if given.
        var fabfile: String?
        /// Names only (`--shortlist` without `-l`).
        var short: Bool

        /// The listing these arguments ask for, or nil when they are anything else.
        init?(arguments: [String]) {
            var list = false
            var shortlist = false
            var fabfile: String?
            var index = 0
            while index < arguments.count {
                let word = arguments[index]
                switch word {
                case "-l", "--list":
                    list = true
                case "--shortlist":
                    shortlist = true
                case "-f", "--fabfile":
                    guard fabfile == nil, index + 1 < arguments.count else { return nil }
                    let path = arguments[index + 1]
                    guard !path.isEmpty, !path.hasPrefix("-") else { return nil }
                    fabfile = path
                    index += 1
                default:
                    guard fabfile == nil, word.hasPrefix("--fabfile=") else { return nil }
                    let path = String(word.dropFirst("--fabfile=".count))
                    guard !path.isEmpty, !path.hasPrefix("-") else { return nil }
                    fabfile = path
                }
                index += 1
            }
            guard list || shortlist else { return nil }
            self.fabfile = fabfile
            self.short = !list
        }
    }

    /// Task names for shell completion: loads the fabfile named by `-f` in `words`, or found from the
    /// current directory, without printing anything.
    static func completeTaskNames(words: [String]) -> [String] {
        var explicitPath: String?
        for (index, word) in words.enumerated() {
            if word == "-f" || word == "--fabfile", index + 1 < words.count { explicitPath = words[index + 1] }
            if word.hasPrefix("--fabfile=") { explicitPath = String(word.dropFirst("--fabfile=".count)) }
        }
        let environment = ProcessInfo.processInfo.environment
        let silent = Console { _, _ in }
        do {
            let location = try FabfileLocation.locate(explicitPath: explicitPath,
                                                      from: FileManager.default.currentDirectoryPath)
            let loader = FabfileLoader(environment: environment, console: silent, debug: false, announceCompiles: false)
            return try loader.load(location, diagnostics: .discard).registry.tasks.map(\.name)
        } catch {
            return []
        }
    }
}
