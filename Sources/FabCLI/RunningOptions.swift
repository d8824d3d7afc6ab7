import ArgumentParser

/// Options that shape how tasks run.
struct RunningOptions: ParsableArguments {
    @Flag(name: [.customShort("P"), .customLong("parallel")], help: "Run each task on all its hosts at once.")
    var parallel = false

    @Option(name: [.customShort("z"), .customLong("pool-size")],
            help: ArgumentHelp("With -P, run on at most this many hosts at a time.", valueName: "n"))
    var poolSize: Int?

    @Flag(name: .customLong("dry-run"), help: "Print the commands tasks would run, without running them.")
    var dryRun = false

    @Flag(name: [.customShort("w"), .customLong("warn-only")],
          help: "Treat a failing command as a warning and carry on, instead of stopping the task.")
    var warnOnly = false

    @Option(name: .customLong("answer"),
            help: ArgumentHelp("Answer a prompt without asking: KEY is the prompt's name (or its text); repeat for several.",
                               valueName: "key=value"))
    var answers: [String] = []

    mutating func validate() throws {
        if let poolSize, poolSize < 1 {
            throw ValidationError("--pool-size must be at least 1, not \(poolSize).")
        }
        var keys: Set<String> = []
        for answer in answers {
            guard let equals = answer.firstIndex(of: "="), equals != answer.startIndex else {
                throw ValidationError("--answer takes KEY=VALUE, not '\(answer)'.")
            }
            let key = String(answer[..<equals])
            guard keys.insert(key).inserted else {
                throw ValidationError("--answer gives '\(key)' twice; give each prompt one answer.")
            }
        }
    }

    /// The `--answer` values by key.
    var answerTable: [String: String] {
        var table: [String: String] = [:]
        for answer in answers {
            guard let equals = answer.firstIndex(of: "=") else { continue }
            table[String(answer[..<equals])] = String(answer[answer.index(after: equals)...])
        }
        return table
    }
}
