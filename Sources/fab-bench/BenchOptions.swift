/// What `fab-bench ssh` measures, and how much of it.
struct BenchOptions: Sendable {
    /// Repetitions of connect+auth+`true` (scenario 1).
    var connectRepetitions = 20
    /// Commands run over one connection (scenario 2).
    var sequentialCommands = 100
    /// sshd instances in the fan-out (scenario 3).
    var fanOutHosts = 20
    /// Repetitions of the whole fan-out (scenario 3).
    var fanOutRepetitions = 5
    /// Size of the transferred file, in MiB (scenario 4).
    var transferMiB = 256
    /// Repetitions of each transfer (scenario 4).
    var transferRepetitions = 3
    /// The scenarios to run (1 to 4).
    var scenarios: Set<Int> = [1, 2, 3, 4]

    /// Smaller sizes and fewer repetitions, for a fast smoke run.
    static let quick = BenchOptions(connectRepetitions: 5, sequentialCommands: 20, fanOutHosts: 5,
                                    fanOutRepetitions: 2, transferMiB: 32, transferRepetitions: 1)

    static let usage = """
        usage: fab-bench ssh [--quick] [--size MIB] [--repeat N] [--hosts N] [--commands N] [--only LIST]

        Compares fab's SSH layer (libssh2) with the OpenSSH client on this machine, against
        sshd instances the benchmark starts on loopback (as the test user, not root) and stops.

          --quick        small sizes and few repetitions (a smoke run of well under a minute)
          --size MIB     size of the transferred file (default 256)
          --repeat N     repetitions of connect+auth+command (default 20)
          --hosts N      sshd instances in the fan-out (default 20, at most 200)
          --commands N   commands over one connection (default 100)
          --transfers N  repetitions of each transfer (default 3)
          --only LIST    scenarios to run, comma-separated: 1 connect, 2 sequential, 3 fan-out, 4 transfers
        """

    /// Parses the arguments after `ssh`.
    /// - Throws: ``BenchUsageError`` with a sentence for the user when an argument is wrong.
    static func parse(_ arguments: [String]) throws -> BenchOptions {
        var options = arguments.contains("--quick") ? BenchOptions.quick : BenchOptions()
        var remaining = arguments.filter { $0 != "--quick" }[...]
        func number(_ flag: String, in range: ClosedRange<Int>) throws -> Int {
            guard let text = remaining.popFirst() else { throw BenchUsageError("\(flag) needs a number.") }
            guard let value = Int(text), range.contains(value) else {
                throw BenchUsageError("\(flag) takes a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'.")
            }
            return value
        }
        while let argument = remaining.popFirst() {
            switch argument {
            case "--size": options.transferMiB = try number(argument, in: 1...16384)
            case "--repeat": options.connectRepetitions = try number(argument, in: 1...10000)
            case "--hosts": options.fanOutHosts = try number(argument, in: 1...200)
            case "--commands": options.sequentialCommands = try number(argument, in: 1...100000)
            case "--transfers": options.transferRepetitions = try number(argument, in: 1...100)
            case "--only":
                guard let list = remaining.popFirst() else { throw BenchUsageError("--only needs a list such as 1,4.") }
                let numbers = list.split(separator: ",").map { Int($0) }
                guard !numbers.isEmpty, numbers.allSatisfy({ $0.map((1...4).contains) ?? false }) else {
                    throw BenchUsageError("--only takes scenario numbers from 1 to 4 separated by commas (such as 1,4), not '\(list)'.")
                }
                options.scenarios = Set(numbers.compactMap { $0 })
            case "-h", "--help": throw BenchUsageError(nil)
            default: throw BenchUsageError("unknown argument '\(argument)'.")
            }
        }
        return options
    }
}

/// A wrong command line: the message (if any) and the usage are printed, exit status 2.
struct BenchUsageError: Error {
    let message: String?
    init(_ message: String?) { self.message = message }
}
