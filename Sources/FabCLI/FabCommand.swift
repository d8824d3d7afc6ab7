import ArgumentParser

/// fab's command line: global options, then tasks with their arguments.
///
/// ArgumentParser parses the global options and stops at the first task name; everything from there on
/// is left to ``TaskCommandLine``, which needs the fabfile's tasks to read it.
struct FabCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fab",
        abstract: "Run the tasks of a Swift fabfile on hosts over SSH.",
        usage: """
        fab [<options>] <task>[:<value>,<name>=<value>,...] [<task> ...]
        fab [<options>] <task> [--<name> <value> ...] [<task> ...]
        fab -l | -d <task>
        """,
        discussion: """
        A task is a top-level function of the fabfile whose first parameter is a Fab
        and that returns nothing; private functions and functions that return a
        value are helpers, not tasks:

          /// Deploy the app.
          /// - Roles: web
          /// - Parameter branch: the branch to deploy
          func deploy(_ fab: Fab, branch: String = "main", migrate: Bool = false)
              async throws { ... }

        fab looks for fabfile.swift, or a Fabfiles/ folder of .swift files compiled
        together, in the current folder and then in each folder above it (-f names
        another file or folder). The fabfile is compiled on first use and cached
        until it, fab or the Swift compiler changes.

        Task arguments, in Fabric's style or as options:
          fab deploy:main,migrate=yes         values in parameter order, then
                                              name=value; \\, and \\= escape , and =
          fab deploy --branch main --migrate  --name value or --name=value; a Bool
                                              alone means yes, --no-name means no
          fab build deploy:branch=main        several tasks run in order

        Examples:
          fab -l                              list the tasks
          fab -d deploy                       show deploy's help and parameters
          fab -H web1,deploy@web2:2222 deploy run deploy on two hosts
          fab -R web -P -z 5 deploy           run on the web role, 5 hosts at a time

        Exit status: 0 success; 1 a task failed; 64 wrong command line or task
        arguments; 65 the fabfile does not compile; 66 no fabfile; 69 no Swift
        compiler or fab modules; 70 the compiled fabfile cannot be loaded; 73 the
        cache folder is not writable.

        Environment: SWIFTC chooses the compiler (default: swiftc on PATH); compiled
        fabfiles go to $XDG_CACHE_HOME/fab or ~/.cache/fab (FAB_CACHE_DIR overrides);
        FAB_DEBUG=1 (or --show debug) reports whether the fabfile was compiled or
        taken from the cache; FAB_SUDO_PASSWORD_FILE names a 0600 file holding the
        sudo password, for runs without a terminal.
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
        "-f", "--fabfile", "-l", "--list", "-d", "--display", "--rebuild",
        "-H", "--hosts", "-R", "--roles", "-u", "--user", "-i", "--identity", "--use-agent", "--no-use-agent",
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
