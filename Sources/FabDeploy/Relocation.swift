import Foundation

/// Making a virtualenv built in a per-build directory correct at the path where the package installs it.
///
/// A virtualenv names its own location in many places: console-script shebangs, the activate scripts,
/// `pyvenv.cfg`, `direct_url.json`, `.pth` and `.egg-link` files, byte-code. fab builds it at
/// ``buildRoot`` (say `/home/deploy/fab-builds/whois/20260101-abc/vrmd/whois/venv`) and the package
/// installs it at ``finalRoot`` (`/vrmd/whois/venv`). ``RelocateScript`` runs on the build machine,
/// rewrites every reference, recompiles byte-code with production paths, brings `*.dist-info/RECORD`
/// hashes up to date with the changed files, then audits the whole tree for
/// the build path's bytes; ``report(exitStatus:standardOutput:standardError:)`` turns its output into a
/// ``RelocationReport`` or a ``RelocationError`` that lists what is left.
///
/// The command is a value: run ``command`` with ``script`` on standard input, or
/// ``commandWithEmbeddedScript`` (a here-document) where standard input cannot be given.
public struct Relocation: Sendable {
    /// Where the tree is now, on the build machine: an absolute path.
    public let buildRoot: String
    /// Where the package installs the tree: an absolute path that does not contain ``buildRoot``.
    public let finalRoot: String
    /// Only search the tree for the build path; change nothing.
    public var auditOnly: Bool
    /// Remove the debug information of ELF files that still name the build path after their search
    /// path was fixed (`strip --strip-debug`, as dh_strip does); without it such files fail the audit.
    public var stripDebugInfo: Bool
    /// The interpreter that runs the script on the build machine (any Python 3.7 or later; byte-code is
    /// compiled by the virtualenv's own interpreter whatever this is).
    public var python: String
    /// How many byte-code compilers run at once on the build machine; `nil` means one per processor
    /// the script may use. The byte-code is the same whatever this is: the sources are split among a
    /// fixed number of compiler processes, and this only says how many of them run together.
    public var compileJobs: Int?

    /// Describes a relocation.
    /// - Parameters:
    ///   - buildRoot: Where the tree is on the build machine.
    ///   - finalRoot: Where it will be installed.
    ///   - auditOnly: Only search for the build path.
    ///   - stripDebugInfo: Strip debug information from ELF files that still name the build path.
    ///   - python: The build machine's interpreter for the script; Debian's by default (not a pyenv shim).
    ///   - compileJobs: Byte-code compilers run at once; `nil` for one per processor.
    /// - Throws: ``RelocationError`` with code `invalidArguments` when a path is not absolute, contains a
    ///   line break, is `/`, when the final path contains the build path (the audit could not tell
    ///   them apart), or when `compileJobs` is less than 1.
    public init(buildRoot: String, finalRoot: String, auditOnly: Bool = false, stripDebugInfo: Bool = true,
                python: String = "/usr/bin/python3", compileJobs: Int? = nil) throws(RelocationError) {
        func trimmed(_ path: String) -> String {
            var path = path
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            return path
        }
        let build = trimmed(buildRoot), final = trimmed(finalRoot)
        for (name, path) in [("build root", build), ("final root", final)] {
            guard path.hasPrefix("/"), !path.contains(where: { $0.isNewline || $0 == "\0" }) else {
                throw RelocationError(code: .invalidArguments,
                                      message: "The \(name) '\(path)' must be an absolute path without line breaks.")
            }
        }
        guard build != "/" else {
            throw RelocationError(code: .invalidArguments, message: "The build root cannot be /.")
        }
        guard !final.contains(build) else {
            throw RelocationError(code: .invalidArguments,
                                  message: "The final root \(final) contains the build root \(build), so the audit could not tell them apart; build under a directory whose path is not part of the final path.")
        }
        if let jobs = compileJobs, jobs < 1 {
            throw RelocationError(code: .invalidArguments,
                                  message: "compileJobs is \(jobs); give at least 1 byte-code compiler, or nil for one per processor.")
        }
        self.buildRoot = build
        self.finalRoot = final
        self.auditOnly = auditOnly
        self.stripDebugInfo = stripDebugInfo
        self.python = python
        self.compileJobs = compileJobs
    }

    /// The program's argument vector: `[python, "-", buildRoot, finalRoot, flags...]`.
    public var arguments: [String] {
        var argv = [python, "-", buildRoot, finalRoot]
        if auditOnly { argv.append("--audit-only") }
        if !stripDebugInfo { argv.append("--no-strip") }
        if let jobs = compileJobs { argv.append("--jobs=\(max(jobs, 1))") }
        return argv
    }

    /// The shell command, every argument quoted; it reads ``script`` from standard input.
    public var command: String { arguments.map(LocalShell.quote).joined(separator: " ") }

    /// The Python program to give ``command`` on standard input.
    public var script: String { RelocateScript.source }

    /// ``command`` with the script in a quoted here-document, for a runner that cannot feed standard input.
    public var commandWithEmbeddedScript: String {
        "\(command) <<'\(Self.hereDocumentDelimiter)'\n\(RelocateScript.source)\n\(Self.hereDocumentDelimiter)\n"
    }

    /// The here-document delimiter of ``commandWithEmbeddedScript``; no line of the script equals it.
    static let hereDocumentDelimiter = "FAB_RELOCATE_PY_EOF"

    /// The prefix of the script's summary line on standard output, followed by a JSON object.
    static let summaryMarker = "FAB-RELOCATE-SUMMARY "

    /// Reads the outcome of running ``command``.
    /// - Parameters:
    ///   - exitStatus: The command's exit status.
    ///   - standardOutput: Its standard output (the summary is its last `FAB-RELOCATE-SUMMARY` line).
    ///   - standardError: Its standard error, quoted in errors when there is no summary.
    /// - Returns: What was rewritten, compiled and audited, when the audit passed.
    /// - Throws: ``RelocationError``: `auditFailed` with ``RelocationError/offendingFiles`` when files
    ///   still name the build path; `stepFailed` when the script could not do a step (its sentence
    ///   says which, e.g. that patchelf is missing); `invalidArguments`; `noSummary` when the program
    ///   did not get as far as printing its summary (no Python, killed).
    public func report(exitStatus: Int32, standardOutput: String, standardError: String) throws(RelocationError) -> RelocationReport {
        guard let line = standardOutput.split(whereSeparator: \.isNewline).last(where: { $0.hasPrefix(Self.summaryMarker) }) else {
            let tail = standardError.split(whereSeparator: \.isNewline).suffix(10).joined(separator: "\n")
            throw RelocationError(code: .noSummary,
                                  message: "The relocation program exited with status \(exitStatus) without a summary\(tail.isEmpty ? "." : "; its last error output:\n\(tail)")")
        }
        let summary: Summary
        do {
            summary = try JSONDecoder().decode(Summary.self, from: Data(line.dropFirst(Self.summaryMarker.count).utf8))
        } catch {
            throw RelocationError(code: .noSummary, message: "The relocation program's summary line could not be read: \(error).")
        }
        let report = RelocationReport(summary)
        if let message = summary.error {
            throw RelocationError(code: exitStatus == 2 ? .invalidArguments : .stepFailed,
                                  message: "Relocating \(buildRoot) to \(finalRoot) failed: \(message).", report: report)
        }
        if !summary.audit.ok {
            let files = summary.audit.offending
            let shown = files.prefix(20).joined(separator: ", ") + (files.count > 20 ? " and \(files.count - 20) more" : "")
            throw RelocationError(code: .auditFailed,
                                  message: "\(files.count) file(s) under \(buildRoot) still contain that path after relocation, so the package would refer to the build machine: \(shown). fab rewrites only UTF-8 text and ELF search paths; rebuild these without the build path or remove them from the package.",
                                  offendingFiles: files, report: report)
        }
        guard exitStatus == 0 else {
            throw RelocationError(code: .stepFailed, message: "The relocation program exited with status \(exitStatus) although its audit passed.", report: report)
        }
        return report
    }

    /// The JSON summary the script prints.
    struct Summary: Decodable {
        struct ELF: Decodable {
            var search_path_fixed: Int
            var stripped: Int
            var tool: String?
        }
        struct Bytecode: Decodable {
            var removed: Int
            var compiled: Int
            var failed: [String]
            var interpreter: String?
        }
        struct Record: Decodable {
            var files: Int
            var entries: Int
        }
        struct Audit: Decodable {
            var ok: Bool
            var scanned: Int
            var offending: [String]
        }
        var build_root: String?
        var final_root: String?
        var mode: String
        var rewritten: [String: Int]
        var other_text_files: [String]
        var elf: ELF
        var pyc: Bytecode
        /// Absent from a summary of a script older than RECORD refreshing.
        var record: Record?
        var audit: Audit
        var error: String?
    }
}

/// What a relocation did, from the summary the script prints.
public struct RelocationReport: Sendable, Equatable {
    /// Text files rewritten (and symlinks re-pointed) by kind: `shebang`, `polyglot_shebang`, `activate`,
    /// `pyvenv_cfg`, `direct_url`, `pth`, `egg_link`, `record`, `other_text`, `symlink`.
    public var rewritten: [String: Int]
    /// The text files rewritten that are of none of the known kinds (relative paths).
    public var otherTextFiles: [String]
    /// ELF files whose RPATH or RUNPATH was rewritten.
    public var elfSearchPathsFixed: Int
    /// ELF files whose debug information was stripped because it named the build path.
    public var elfStripped: Int
    /// `patchelf` or `chrpath`, when one was used.
    public var elfTool: String?
    /// Byte-code files deleted.
    public var bytecodeRemoved: Int
    /// Byte-code files compiled anew, with production paths.
    public var bytecodeCompiled: Int
    /// Python files that did not compile (relative paths): they get no byte-code, as when pip installs them.
    public var bytecodeFailed: [String]
    /// The interpreter that compiled the byte-code.
    public var interpreter: String?
    /// `*.dist-info/RECORD` files whose hashes were brought up to date with the relocated files.
    public var recordFilesUpdated: Int
    /// RECORD rows (files) whose hash and size were rewritten.
    public var recordEntriesUpdated: Int
    /// Files and symlinks the audit searched.
    public var filesScanned: Int
    /// Files that still contain the build path (relative paths); empty when the audit passed.
    public var offendingFiles: [String]
    /// Whether only the audit ran.
    public var auditOnly: Bool

    /// All rewritten files and symlinks.
    public var totalRewritten: Int { rewritten.values.reduce(0, +) }

    init(_ summary: Relocation.Summary) {
        rewritten = summary.rewritten
        otherTextFiles = summary.other_text_files
        elfSearchPathsFixed = summary.elf.search_path_fixed
        elfStripped = summary.elf.stripped
        elfTool = summary.elf.tool
        bytecodeRemoved = summary.pyc.removed
        bytecodeCompiled = summary.pyc.compiled
        bytecodeFailed = summary.pyc.failed
        interpreter = summary.pyc.interpreter
        recordFilesUpdated = summary.record?.files ?? 0
        recordEntriesUpdated = summary.record?.entries ?? 0
        filesScanned = summary.audit.scanned
        offendingFiles = summary.audit.offending
        auditOnly = summary.mode == "audit-only"
    }
}

/// A relocation that cannot be described, could not be done, or left references to the build path.
public struct RelocationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { name }
        /// A path given to ``Relocation`` cannot be used.
        public static let invalidArguments = Code(name: "invalidArguments")
        /// The script could not do a step (a missing tool, a command that failed).
        public static let stepFailed = Code(name: "stepFailed")
        /// Files still contain the build path: see ``RelocationError/offendingFiles``.
        public static let auditFailed = Code(name: "auditFailed")
        /// The program printed no readable summary.
        public static let noSummary = Code(name: "noSummary")
    }

    /// What kind of problem it is.
    public let code: Code
    /// The sentence to show the user.
    public let message: String
    /// For `auditFailed`: every file (relative to the build root) that still contains the build path.
    public let offendingFiles: [String]
    /// The summary, when the script printed one.
    public let report: RelocationReport?

    init(code: Code, message: String, offendingFiles: [String] = [], report: RelocationReport? = nil) {
        self.code = code
        self.message = message
        self.offendingFiles = offendingFiles
        self.report = report
    }

    /// The sentence to show the user.
    public var description: String { message }
}

/// POSIX shell quoting for the commands this module builds. FabDeploy must not depend on FabCore's quoting
/// yet; once FabCore has its quoting function, this one should call it.
enum LocalShell {
    /// `value` as one shell word: unchanged when it contains only characters no shell treats specially,
    /// otherwise in single quotes, with each `'` written as `'\''`.
    static func quote(_ value: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-")
        if !value.isEmpty && value.allSatisfy({ safe.contains($0) }) { return value }
        return "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
