import FabSSH

/// What every task context of one `fab` run shares: connections, output, state, options.
public final class FabRuntime: Sendable {
    public let pool: ConnectionPool
    public let output: OutputSink
    public let state: SharedState
    /// Print commands and transfers instead of running them (read-only probes still run).
    public let dryRun: Bool
    /// Answers to prompts given on the command line (`--answer key=value`).
    public let answers: [String: String]
    /// Role definitions from the fabfile.
    public let roledefs: [String: [String]]
    /// Asks the user a question on the terminal; nil when there is no terminal.
    public let ask: @Sendable (_ question: String, _ secret: Bool) -> String?
    /// Print detail for diagnosing a run (`--show debug` or `FAB_DEBUG=1`), such as every
    /// dpkg-shlibdeps warning the deploy kit otherwise counts in one line.
    public let debug: Bool
    /// Values from `--set KEY=VALUE`, which tasks read through ``Fab/values``.
    public let values: CommandLineValues

    public init(pool: ConnectionPool, output: OutputSink = OutputSink(), state: SharedState = SharedState(),
                dryRun: Bool = false, answers: [String: String] = [:], roledefs: [String: [String]] = [:],
                ask: @escaping @Sendable (String, Bool) -> String? = { _, _ in nil }, debug: Bool = false,
                values: CommandLineValues = CommandLineValues()) {
        self.pool = pool
        self.output = output
        self.state = state
        self.dryRun = dryRun
        self.answers = answers
        self.roledefs = roledefs
        self.ask = ask
        self.debug = debug
        self.values = values
    }
}
