import ArgumentParser

/// Options that choose what fab prints.
struct OutputOptions: ParsableArguments {
    @Option(name: .customLong("hide"),
            help: ArgumentHelp("Hide these kinds of output, comma-separated: \(OutputLevel.allNames.joined(separator: ", ")).",
                               valueName: "levels"))
    var hide: [String] = []

    @Option(name: .customLong("show"),
            help: ArgumentHelp("Show these kinds of output (same names as --hide; debug reports compile and cache decisions).",
                               valueName: "levels"))
    var show: [String] = []

    mutating func validate() throws {
        for (option, lists) in [("--hide", hide), ("--show", show)] {
            for list in lists {
                if case .failure(let unknown) = OutputLevel.parseList(list) {
                    throw ValidationError("\(option) does not know '\(unknown.name)'; use \(OutputLevel.allNames.joined(separator: ", ")).")
                }
            }
        }
    }

    /// The default levels with `--hide` removed, then `--show` added.
    var shownOutput: Set<OutputLevel> {
        var shown = OutputLevel.shownByDefault
        for list in hide {
            if case .success(let levels) = OutputLevel.parseList(list) { shown.subtract(levels) }
        }
        for list in show {
            if case .success(let levels) = OutputLevel.parseList(list) { shown.formUnion(levels) }
        }
        return shown
    }
}
