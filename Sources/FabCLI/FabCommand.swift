import ArgumentParser

/// fab's command line: global options, then tasks with their arguments.
///
/// `fab --help` starts with the one-line abstract and the usage; the guide to tasks, argument syntax,
/// host lists, exit statuses and environment variables is in README.md and FabCore's Getting Started.
///
/// ArgumentParser parses the global options and stops at the first task name; everything from there on
/// is left to ``TaskCommandLine``, which needs the fabfile's tasks to read it.
struct FabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fab",
        abstract: "Run the tasks of a Swift fabfile on hosts over SSH.",
        usage: """
        fab [<options>] <task>[:<value>,<name>=<value>,hosts=<h1>;<h2>,...] [<task> ...]
        fab [<options>] <task> [--<name> <value> ...] [<task> ...]
        fab -l | --shortlist | -d <task>
        """,
        version: "fab \(FabVersion.current)")

    @OptionGroup(title: "Fabfile")
    var fabfileOptions: FabfileOptions

    @OptionGroup(title: "Hosts and connections")
    var connection: ConnectionOptions

    @OptionGroup(title: "Running")
    var running: RunningOptions

    @OptionGroup(title: "Output")
    var output: OutputOptions

    @Argument(parsing: .captureForPassthrough,
              help: ArgumentHelp("Tasks to run, in order, each followed by its arguments.", valueName: "task"),
              completion: .custom { words, _, _ in FabCLI.completeTaskNames(words: words) })
    var tasks: [String] = []

    /// Spellings of the global options that take or are flags, to explain misplaced ones.
    static let globalOptionSpellings: Set<String> = [
        "-f", "--fabfile", "-l", "--list", "--shortlist", "-d", "--display", "--rebuild",
        "-H", "--hosts", "-R", "--roles", "-x", "--exclude-hosts", "-A", "--forward-agent", "--set", "-u", "--user", "-i", "--identity", "--use-agent", "--no-use-agent",
        "--known-hosts-policy", "--keepalive", "-g", "--gateway", "-F", "--ssh-config",
        "--sudo-password-file", "--sudo-password-fd",
        "-P", "--parallel", "-z", "--pool-size", "--dry-run", "-w", "--warn-only", "--answer",
        "--hide", "--show", "--version",
    ]

    /// The global options as a ``RunOptions``.
    var runOptions: RunOptions {
        var options = RunOptions()
        options.hosts = HostList.split(connection.hosts)
        options.roles = HostList.split(connection.roles)
        options.excludedHosts = HostList.split(connection.excludedHosts)
        options.values = running.setTable
        options.user = connection.user
        options.identityFiles = connection.identityFiles
        options.useAgent = connection.useAgent
        options.knownHostsPolicy = connection.knownHostsPolicy
        options.gateway = connection.gateway
        options.keepalive = connection.keepalive
        options.sshConfigFile = connection.sshConfig
        options.sudoPasswordFile = connection.sudoPasswordFile
        options.sudoPasswordFD = connection.sudoPasswordFD
        options.parallel = running.parallel
        options.poolSize = running.poolSize
        options.dryRun = running.dryRun
        options.warnOnly = running.warnOnly
        options.answers = running.answerTable
        options.shownOutput = output.shownOutput
        return options
    }
}
