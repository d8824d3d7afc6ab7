import Dispatch
import FabCLI
#if canImport(Glibc)
import Glibc
#endif

// Help, listings and errors are answered without Swift concurrency: an async main would start the
// concurrency runtime's threads first, which a warm `fab -l` does not need. Only running tasks does.
switch FabCLI.start(arguments: Array(CommandLine.arguments.dropFirst())) {
case .finished(let status):
    exit(status)
case .runTasks(let run):
    Task { exit(await run()) }
    dispatchMain()
}
