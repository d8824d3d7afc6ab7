import ArgumentParser
import FabCore

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

    @Option(name: .customLong("set"),
            help: ArgumentHelp("Give tasks values they read with fab.values[\"KEY\"], comma-separated (\\, for a comma in a value); KEY alone means true; repeat for more.",
                               valueName: "key=value,..."))
    var sets: [String] = []

    mutating func validate() throws {
        _ = try Self.parseSets(sets)
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

    /// `--set a=1,b=x\,y` → `["a": "1", "b": "x,y"]`; `--set flag` → `["flag": "true"]`.
    /// - Throws: `ValidationError` for an invalid or repeated key.
    static func parseSets(_ sets: [String]) throws -> [String: String] {
        var table: [String: String] = [:]
        for set in sets {
            var pieces: [String] = []
            var piece = ""
            var escaped = false
            for character in set {
                if escaped {
                    if character != "," && character != "\\" { piece.append("\\") }
                    piece.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "," {
                    pieces.append(piece)
                    piece = ""
                } else {
                    piece.append(character)
                }
            }
            if escaped { piece.append("\\") }
            pieces.append(piece)
            for piece in pieces {
                let key: String, value: String
                if let equals = piece.firstIndex(of: "=") {
                    key = String(piece[..<equals])
                    value = String(piece[piece.index(after: equals)...])
                } else {
                    key = piece
                    value = "true"
                }
                guard CommandLineValues.isValidKey(key) else {
                    let shown = key.isEmpty ? "an empty key" : "the key '\(key)'"
                    throw ValidationError("--set \(set): \(shown) is not a name; write KEY=VALUE with a key of letters, digits, _, . or - (starting with a letter or _), and separate pairs with commas.")
                }
                guard table[key] == nil else {
                    throw ValidationError("--set gives '\(key)' twice; give each key one value.")
                }
                table[key] = value
            }
        }
        return table
    }

    /// The `--set` values by key (already validated).
    var setTable: [String: String] { (try? Self.parseSets(sets)) ?? [:] }

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
