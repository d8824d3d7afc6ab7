import ArgumentParser

/// Options that choose the fabfile and what to do with it.
struct FabfileOptions: ParsableArguments {
    @Option(name: [.customShort("f"), .customLong("fabfile")],
            help: ArgumentHelp("Use this fabfile: a .swift file, or a folder whose .swift files compile together.",
                               valueName: "path"))
    var fabfile: String?

    @Flag(name: [.customShort("l"), .customLong("list")], help: "List the fabfile's tasks and exit.")
    var list = false

    @Flag(name: .customLong("shortlist"), help: "Print the task names only, one per line, and exit (for scripts and completion).")
    var shortlist = false

    @Option(name: [.customShort("d"), .customLong("display")],
            help: ArgumentHelp("Show a task's help, hosts and parameters, and exit.", valueName: "task"))
    var display: String?

    @Flag(help: "Compile the fabfile even if the cache has it.")
    var rebuild = false
}
