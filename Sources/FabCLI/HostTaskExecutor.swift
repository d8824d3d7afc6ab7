import FabCore
import FabSSH
import Foundation

/// Runs a request's tasks on their hosts with FabCore's ``TaskRunner``: resolves hosts through
/// ssh_config and the command line, connects on first use, prints `[host]`-prefixed output and
/// a closing summary. Ctrl-C cancels the run, which closes remote commands' channels.
public struct HostTaskExecutor: TaskExecuting {
    public var console: Console
    /// Where remote output goes (standard output by default; tests capture it).
    public var output: OutputSink?

    public init(console: Console = .standard, output: OutputSink? = nil) {
        self.console = console
        self.output = output
    }

    /// Validates every task name, then runs the tasks in order; 0 when all succeeded on every host.
    public func execute(_ request: RunRequest, registry: FabfileRegistry) async -> Int32 {
        var invocations: [TaskCall] = []
        for invocation in request.invocations {
            guard let task = registry.task(named: invocation.taskName) else {
                let error = TaskCommandLine.unknownTask(invocation.taskName, tasks: registry.tasks)
                console.error(error.description)
                return ExitStatus.forError(error)
            }
            invocations.append(TaskCall(task: task, arguments: invocation.arguments,
                                        hosts: invocation.hosts, roles: invocation.roles))
        }
        let options = request.options
        let overrides = Self.overrides(options)
        let resolver: TargetResolver
        do {
            resolver = try TargetResolver.loadingDefault(configFile: options.sshConfigFile)
        } catch {
            console.error("\(error)")
            return ExitStatus.usage
        }
        let sudoPassword: Secret?
        do {
            sudoPassword = try SudoPasswordSource.load(file: options.sudoPasswordFile, descriptor: options.sudoPasswordFD,
                                                       environment: ProcessInfo.processInfo.environment)
        } catch {
            console.error("\(error)")
            return ExitStatus.forError(error)
        }
        let sink = output ?? OutputSink(hidden: Self.hidden(options.shownOutput), colour: isatty(1) != 0)
        let pool = ConnectionPool(resolver: { host in try resolver.resolve(host, overrides: overrides) },
                                  secrets: { request in
                                      if case .sudoPassword = request, let sudoPassword { return sudoPassword }
                                      return Terminal.secret(request)
                                  },
                                  warnings: { host, text in sink.line(host, .warning, text) })
        let runtime = FabRuntime(pool: pool, output: sink, dryRun: options.dryRun, answers: options.answers,
                                 roledefs: registry.roledefs, ask: Terminal.ask,
                                 debug: options.shownOutput.contains(.debug) || ["1", "yes", "true"].contains(ProcessInfo.processInfo.environment["FAB_DEBUG"]?.lowercased() ?? ""),
                                 values: CommandLineValues(options.values))
        let runner = TaskRunner(runtime: runtime, options: RunnerOptions(
            hosts: options.hosts, roles: options.roles, excludedHosts: options.excludedHosts,
            parallel: options.parallel, poolSize: options.poolSize ?? 10))
        do {
            // Every host of every task is resolved before anything runs, so an unknown role, a malformed host or
            // an ssh_config setting fab cannot honour (ForwardAgent) stops the run before anything changes.
            var resolved: Set<String> = []
            for host in options.hosts where resolved.insert(host).inserted { _ = try resolver.resolve(host, overrides: overrides) }
            for call in invocations {
                for case let host? in try runner.hosts(for: call) where resolved.insert(host).inserted {
                    _ = try resolver.resolve(host, overrides: overrides)
                }
                if runner.hostSource(for: call) == .task, !options.hosts.isEmpty || !options.roles.isEmpty {
                    console.note("task '\(call.task.name)' runs on its own hosts and roles (its - Hosts:/- Roles: lines), not on -H/-R's; to choose its hosts, write \(call.task.name):hosts=HOST;HOST.")
                }
            }
        } catch {
            console.error("\(error)")
            return ExitStatus.usage
        }
        var settings = Settings()
        settings.warnOnly = options.warnOnly

        let run = Task {
            await Settings.$current.withValue(settings) { await runner.run(invocations) }
        }
        // Ctrl-C: cancel the run; remote commands see their channels closed, local ones SIGTERM.
        signal(SIGINT, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let interrupted = InterruptFlag()
        interrupt.setEventHandler {
            interrupted.set()
            run.cancel()
        }
        interrupt.resume()
        let outcomes = await run.value
        interrupt.cancel()
        signal(SIGINT, SIG_DFL)
        await pool.closeAll()
        runner.printSummary(outcomes)
        if interrupted.isSet {
            console.error("interrupted; remote commands were stopped.")
            return 130
        }
        if outcomes.contains(where: \.isArgumentError) { return ExitStatus.usage }
        return outcomes.allSatisfy(\.succeeded) ? ExitStatus.success : ExitStatus.taskFailed
    }

    static func overrides(_ options: RunOptions) -> TargetResolver.Overrides {
        TargetResolver.Overrides(
            user: options.user, identityFiles: options.identityFiles, useAgent: options.useAgent,
            hostKeyPolicy: options.knownHostsPolicy, serverAliveInterval: options.keepalive?.interval,
            serverAliveCountMax: options.keepalive?.count, gateway: options.gateway)
    }

    static func hidden(_ shown: Set<OutputLevel>) -> OutputGroups {
        var hidden: OutputGroups = []
        if !shown.contains(.running) { hidden.insert(.running) }
        if !shown.contains(.stdout) { hidden.insert(.stdout) }
        if !shown.contains(.stderr) { hidden.insert(.stderr) }
        if !shown.contains(.status) { hidden.insert(.status) }
        return hidden
    }
}

/// Set from the signal handler's queue, read after the run.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

/// Questions and secrets asked on the controlling terminal; nil when there is none (CI, pipes).
enum Terminal {
    /// Reads a secret with echo off from /dev/tty.
    static let secret: SecretProvider = { request in
        ask("\(request)", true).map { Secret($0) }
    }

    /// Asks on /dev/tty; with `secret`, echo is off and the answer is never shown.
    static let ask: @Sendable (String, Bool) -> String? = { question, secret in
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        let haveTerminal = tcgetattr(fd, &saved) == 0
        guard haveTerminal else { return nil }
        _ = question.withCString { write(fd, $0, strlen($0)) }
        if secret {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(fd, TCSANOW, &quiet)
        }
        defer {
            if secret {
                tcsetattr(fd, TCSANOW, &saved)
                _ = write(fd, "\n", 1)
            }
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 && byte != UInt8(ascii: "\n") { bytes.append(byte) }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        return String(decoding: bytes, as: UTF8.self)
    }
}
