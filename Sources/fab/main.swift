import FabCLI
#if canImport(Glibc)
import Glibc
#endif

exit(await FabCLI.main(arguments: Array(CommandLine.arguments.dropFirst())))
