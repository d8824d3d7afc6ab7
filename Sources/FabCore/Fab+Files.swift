import FabSSH
import Foundation
import Stencil

/// The file helpers of Fabric's `fabric.contrib.files`, with every path and text quoted.
extension Fab {
    /// Whether `path` exists on the host (a read-only probe: it runs under `--dry-run` too).
    public func exists(_ path: String, useSudo: Bool = false) async throws -> Bool {
        try await probe("test -e \(quote(path))", useSudo: useSudo).succeeded
    }

    /// Whether `path` is a symbolic link on the host.
    public func isLink(_ path: String, useSudo: Bool = false) async throws -> Bool {
        try await probe("test -L \(quote(path))", useSudo: useSudo).succeeded
    }

    /// Whether the file contains `text` (as a fixed string; `exact` matches whole lines only).
    public func contains(_ path: String, _ text: String, exact: Bool = false, caseSensitive: Bool = true,
                         useSudo: Bool = false) async throws -> Bool {
        let flags = "-qF" + (exact ? "x" : "") + (caseSensitive ? "" : "i")
        return try await probe("grep \(flags) -- \(quote(text)) \(quote(path))", useSudo: useSudo).succeeded
    }

    /// Appends each line that the file does not already contain as a whole line (idempotent).
    public func append(_ path: String, _ lines: [String], useSudo: Bool = false) async throws {
        for line in lines where !(try await contains(path, line, exact: true, useSudo: useSudo)) {
            try await modify("printf '%s\\n' \(quote(line)) >> \(quote(path))", useSudo: useSudo)
        }
    }

    /// Replaces `before` (an extended regular expression) with `after` in place, keeping a backup
    /// with the `backup` suffix (empty for none).
    public func sed(_ path: String, _ before: String, _ after: String, flags: String = "g",
                    backup: String = ".bak", useSudo: Bool = false) async throws {
        let expression = "s/\(Self.escapeSlashes(before))/\(Self.escapeSlashes(after))/\(flags)"
        try await modify("sed -i\(backup.isEmpty ? "" : quote(backup)) -r -e \(quote(expression)) \(quote(path))", useSudo: useSudo)
    }

    /// Comments out lines matching `regex` (anchored at line start) with `char`.
    public func comment(_ path: String, _ regex: String, char: String = "#", backup: String = ".bak",
                        useSudo: Bool = false) async throws {
        let pattern = regex.hasPrefix("^") ? String(regex.dropFirst()) : regex
        try await sed(path, "^(\(pattern))", "\(char)\\1", flags: "", backup: backup, useSudo: useSudo)
    }

    /// Removes `char` comments from lines whose rest matches `regex`.
    public func uncomment(_ path: String, _ regex: String, char: String = "#", backup: String = ".bak",
                          useSudo: Bool = false) async throws {
        let pattern = regex.hasPrefix("^") ? String(regex.dropFirst()) : regex
        try await sed(path, "^([[:space:]]*)\(char)+[[:space:]]?(\(pattern))", "\\1\\2", flags: "", backup: backup, useSudo: useSudo)
    }

    /// Creates a directory and its parents (`mkdir -p`), with `mode` when given.
    public func mkdirs(_ path: String, mode: Int32? = nil, useSudo: Bool = false) async throws {
        var command = "mkdir -p -- \(quote(path))"
        if let mode { command += " && chmod \(String(mode, radix: 8)) -- \(quote(path))" }
        try await modify(command, useSudo: useSudo)
    }

    /// Renders a Stencil (Jinja-like) template with `context` and uploads the result atomically.
    /// - Throws: ``FabError`` `.template` naming the template and the problem, before anything is uploaded.
    public func uploadTemplate(_ templatePath: String, to remotePath: String, context: [String: any Sendable],
                               mode: Int32? = nil, useSudo: Bool = false, owner: String? = nil) async throws {
        let source = Self.join(Settings.current.localDirectory, templatePath)
        let rendered: String
        do {
            let text = try String(contentsOfFile: source, encoding: .utf8)
            rendered = try Environment().renderTemplate(string: text, context: context)
        } catch {
            throw FabError(.template, "template \(source) could not be rendered: \(error); fix the template or the values passed to it.")
        }
        let staging = FileManager.default.temporaryDirectory.appendingPathComponent("fab-template-\(UUID().uuidString.prefix(8))").path
        guard FileManager.default.createFile(atPath: staging, contents: Data(rendered.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw FabError(.localFile, "could not write the rendered template to \(staging).")
        }
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try await put(staging, remotePath, mode: mode ?? 0o644, useSudo: useSudo, owner: owner)
    }

    private func modify(_ command: String, useSudo: Bool) async throws {
        if useSudo { try await sudo(command) } else { try await run(command) }
    }

    static func escapeSlashes(_ text: String) -> String {
        text.replacingOccurrences(of: "/", with: "\\/")
    }
}

extension Fab {
    /// Asks the user for a value: the `--answer key=value` given on the command line wins, then the
    /// terminal, then `defaultValue`.
    /// - Parameters:
    ///   - key: the name used with `--answer`; defaults to the question.
    ///   - validate: a regular expression the answer must match.
    /// - Throws: ``FabError`` `.prompt` when no answer can be had, or the answer does not match.
    public func prompt(_ question: String, key: String? = nil, default defaultValue: String? = nil,
                       validate: String? = nil) throws -> String {
        let name = key ?? question
        var answer = runtime.answers[name]
        if answer == nil {
            let shown = defaultValue.map { "\(question) [\($0)] " } ?? "\(question) "
            answer = runtime.ask(shown, false).map { $0.isEmpty ? (defaultValue ?? "") : $0 }
        }
        guard let value = answer ?? defaultValue else {
            throw FabError(.prompt, "'\(question)' needs an answer and there is no terminal to ask on; give it with --answer \(ShellQuoting.quote("\(name)=VALUE")).")
        }
        if let validate, value.range(of: "^(\(validate))$", options: .regularExpression) == nil {
            throw FabError(.prompt, "the answer '\(value)' to '\(question)' does not match \(validate).")
        }
        return value
    }

    /// Asks a yes/no question; see ``prompt(_:key:default:validate:)`` for where answers come from.
    public func confirm(_ question: String, key: String? = nil, default defaultValue: Bool = true) throws -> Bool {
        let answer = try prompt("\(question) [\(defaultValue ? "Y/n" : "y/N")]", key: key ?? question,
                                default: defaultValue ? "y" : "n")
        guard let value = Bool(taskArgument: answer) else {
            throw FabError(.prompt, "'\(answer)' is not a yes/no answer to '\(question)'.")
        }
        return value
    }
}
