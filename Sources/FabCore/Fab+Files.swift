import FabSSH
import Foundation
import Stencil

/// The file helpers of Fabric's `fabric.contrib.files`, with every path and text passed as data.
///
/// Paths are quoted and placed after `--`; texts, patterns and replacements never become part of a
/// program: `contains`, `sed`, `comment` and `uncomment` run one fixed Perl program (`perl-base` is
/// Essential on Debian, so every Debian host has it) that receives them as arguments. Values that
/// cannot be passed as data are refused with ``FabError`` `.invalidArgument` before anything runs:
/// a NUL byte anywhere (no command line can carry one), unknown `sed` flags, and a `backup` suffix
/// with `/` or `*`.
extension Fab {
    /// Whether `path` exists on the host (a read-only probe: it runs under `--dry-run` too).
    public func exists(_ path: String, useSudo: Bool = false) async throws -> Bool {
        try await probe("test -e \(quote(path))", useSudo: useSudo).succeeded
    }

    /// Whether `path` is a symbolic link on the host.
    public func isLink(_ path: String, useSudo: Bool = false) async throws -> Bool {
        try await probe("test -L \(quote(path))", useSudo: useSudo).succeeded
    }

    /// Whether the file contains `text`: anywhere (a fixed string, not a pattern), or with `exact`
    /// as whole lines (a text with newlines must match that many consecutive lines). Bytes are
    /// compared as they are; `caseSensitive: false` folds ASCII letters only. A missing or
    /// unreadable file contains nothing.
    /// - Throws: ``FabError`` when the host has no `perl`; ``SSHError`` when it cannot be reached.
    public func contains(_ path: String, _ text: String, exact: Bool = false, caseSensitive: Bool = true,
                         useSudo: Bool = false) async throws -> Bool {
        let arguments = [text, exact ? "1" : "0", caseSensitive ? "0" : "1", path]
        let result = try await probe("perl -e \(quote(Self.containsProgram)) -- \(ShellQuoting.join(arguments))", useSudo: useSudo)
        if result.exitStatus == 127 {
            throw FabError(.invalidArgument, "[\(label)] contains needs perl on the host (Debian's Essential perl-base package provides it), and the shell found none; install perl-base.")
        }
        return result.succeeded
    }

    /// Appends each line that the file does not already contain as a whole line (idempotent).
    public func append(_ path: String, _ lines: [String], useSudo: Bool = false) async throws {
        for line in lines where !(try await contains(path, line, exact: true, useSudo: useSudo)) {
            try await modify("printf '%s\\n' \(quote(line)) >> \(quote(path))", useSudo: useSudo)
        }
    }

    /// Replaces matches of `before` with `after` in every line of the file, in place, as
    /// `sed -i -r 's/before/after/flags'` does, keeping a copy of the old file under the `backup` suffix.
    ///
    /// `before` is a Perl-compatible regular expression, matched against each line without its
    /// newline: POSIX extended syntax works as written (groups, `|`, `+`, `?`, `{m,n}`,
    /// `[[:space:]]`, `^`, `$`); a `/` needs no escaping. Code in the pattern (`(?{ })`) is refused
    /// by Perl. In `after`, `\1`...`\9` are the groups, `&` is the whole match, `\n` and `\t` are a
    /// newline and a tab, and a backslash makes any other character literal (`\&`, `\\`). The file's
    /// mode is kept; a symbolic link is replaced by the edited file, as with `sed -i`.
    /// - Parameters:
    ///   - flags: `g` replaces every match in a line (not only the first), `i` (or `I`) ignores ASCII case.
    ///   - backup: the suffix of the copy of the old file (`.bak`); empty for none. No `/` or `*`.
    /// - Throws: ``FabError`` `.invalidArgument` for other flags, a bad backup suffix or a NUL byte,
    ///   before anything runs; ``CommandFailure`` when the file is missing or cannot be rewritten.
    public func sed(_ path: String, _ before: String, _ after: String, flags: String = "g",
                    backup: String = ".bak", useSudo: Bool = false) async throws {
        if let flag = flags.first(where: { !"giI".contains($0) }) {
            throw FabError(.invalidArgument, "sed: the flag '\(flag)' in '\(flags)' is not supported; use g (every match in a line) and/or i (ignore case).")
        }
        if backup.contains("/") || backup.contains("*") {
            throw FabError(.invalidArgument, "sed: the backup suffix '\(backup)' contains '/' or '*'; give a plain suffix such as .bak, or an empty one for no backup.")
        }
        let arguments = [backup, before, after, flags, path]
        try await modify("perl -e \(quote(Self.sedProgram)) -- \(ShellQuoting.join(arguments))", useSudo: useSudo)
    }

    /// Comments out the lines whose start matches `regex` (a ``sed(_:_:_:flags:backup:useSudo:)``
    /// pattern, anchored at the line's start) by putting `char` before them.
    /// - Throws: as ``sed(_:_:_:flags:backup:useSudo:)``.
    public func comment(_ path: String, _ regex: String, char: String = "#", backup: String = ".bak",
                        useSudo: Bool = false) async throws {
        let pattern = regex.hasPrefix("^") ? String(regex.dropFirst()) : regex
        try await sed(path, "^(\(pattern))", Self.replacementLiteral(char) + "\\1", flags: "", backup: backup, useSudo: useSudo)
    }

    /// Removes the `char` comment marks (and one space after them) from lines whose rest matches
    /// `regex` (a ``sed(_:_:_:flags:backup:useSudo:)`` pattern); leading blanks stay.
    /// - Throws: as ``sed(_:_:_:flags:backup:useSudo:)``.
    public func uncomment(_ path: String, _ regex: String, char: String = "#", backup: String = ".bak",
                          useSudo: Bool = false) async throws {
        let pattern = regex.hasPrefix("^") ? String(regex.dropFirst()) : regex
        try await sed(path, "^([[:space:]]*)(?:\(Self.regexLiteral(char)))+[[:space:]]?(\(pattern))", "\\1\\2",
                      flags: "", backup: backup, useSudo: useSudo)
    }

    /// Creates a directory and its parents (`mkdir -p`), with `mode` when given.
    /// - Throws: ``FabError`` `.invalidArgument` for a mode outside 0...0o7777.
    public func mkdirs(_ path: String, mode: Int32? = nil, useSudo: Bool = false) async throws {
        var command = "mkdir -p -- \(quote(path))"
        if let mode { command += " && chmod \(try Self.octalMode(mode)) -- \(quote(path))" }
        try await modify(command, useSudo: useSudo)
    }

    /// Renders a Stencil (Jinja-like) template with `context` and uploads the result atomically.
    ///
    /// The rendered text is staged in a local file that is unlinked as soon as it is opened, so
    /// nothing is left in the local temporary directory even if fab is killed.
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
        let staged = try StagedText(rendered)
        defer { staged.close() }
        try await upload(staged.path, shown: source, to: remotePath, mode: mode ?? 0o644, useSudo: useSudo, owner: owner)
    }

    private func modify(_ command: String, useSudo: Bool) async throws {
        if useSudo { try await sudo(command) } else { try await run(command) }
    }

    /// A mode as chmod's octal argument.
    static func octalMode(_ mode: Int32) throws -> String {
        guard (0...0o7777).contains(mode) else {
            throw FabError(.invalidArgument, "the mode \(mode) (octal \(String(mode, radix: 8))) is not a permission mode; give one between 0 and 0o7777, such as 0o644.")
        }
        return String(mode, radix: 8)
    }

    /// `text` as a literal in a ``sed(_:_:_:flags:backup:useSudo:)`` replacement (`\` and `&` escaped).
    static func replacementLiteral(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "&", with: "\\&")
    }

    /// `text` as a literal in a Perl regular expression: every ASCII character other than a letter,
    /// digit or `_` gets a backslash (which Perl reads as "this character itself"), as `quotemeta` does.
    static func regexLiteral(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII, !(scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_") {
                out.append("\\")
            }
            out.unicodeScalars.append(scalar)
        }
        return out
    }

    /// The fixed program behind ``sed(_:_:_:flags:backup:useSudo:)``: its arguments are the backup
    /// suffix (set as `$^I`, Perl's in-place edit, which `-i` cannot take when it has blanks), the
    /// pattern, the replacement, the flags and the one file (opened with `<<>>`, which never reads a
    /// name as a command). Warnings (such as a file it cannot rewrite) are fatal.
    static let sedProgram = #"""
    BEGIN { $SIG{__WARN__} = sub { die "fab sed: $_[0]" }; ($^I, my ($re, $rep, $fl)) = splice @ARGV, 0, 4;
      @ARGV == 1 or die "fab sed: one file expected\n"; -f $ARGV[0] or die "fab sed: $ARGV[0] is not a file\n";
      $G = $fl =~ /g/; $R = $fl =~ /[iI]/ ? qr/$re/i : qr/$re/;
      while (length $rep) {
        if ($rep =~ s/\A\\([0-9])//) { push @P, \(my $n = $1) } elsif ($rep =~ s/\A&//) { push @P, \(my $n = 0) }
        elsif ($rep =~ s/\A\\n//) { push @P, "\n" } elsif ($rep =~ s/\A\\t//) { push @P, "\t" }
        elsif ($rep =~ s/\A\\(.)//s) { push @P, $1 } else { $rep =~ s/\A([^\\&]+|\\)//; push @P, $1 } } }
    sub fab_r { join "", map { ref $_ ? ($$_ ? ${^CAPTURE}[$$_ - 1] : $&) // "" : $_ } @P }
    while (<<>>) { my $e = s/\n\z// ? "\n" : ""; if ($G) { s/$R/fab_r()/ge } else { s/$R/fab_r()/e } print $_ . $e }
    """#

    /// The fixed program behind ``contains(_:_:exact:caseSensitive:useSudo:)``: arguments text,
    /// exact (1/0), ignore case (1/0) and the file; exit status 0 when found.
    static let containsProgram = #"""
    my ($t, $x, $i) = splice @ARGV, 0, 3; @ARGV == 1 or exit 2; $SIG{__WARN__} = sub { die @_ };
    local $/; my $c = <<>> // exit 1; if ($i) { $c = lc $c; $t = lc $t }
    exit(index($c, $t) < 0 ? 1 : 0) unless $x;
    my @l = split /\n/, $c, -1; pop @l if @l && $l[-1] eq ""; my @w = split /\n/, $t, -1; @w = ("") unless @w;
    L: for my $s (0 .. @l - @w) { $l[$s + $_] eq $w[$_] or next L for 0 .. $#w; exit 0 } exit 1
    """#
}

/// A text staged for upload in a local file that is unlinked right after it is written: the open
/// descriptor keeps it readable through `/proc/self/fd/N` until ``close()``, and no name is left
/// behind whatever happens to the process.
struct StagedText {
    let descriptor: Int32
    var path: String { "/proc/self/fd/\(descriptor)" }

    init(_ text: String) throws {
        var template = Array((FileManager.default.temporaryDirectory.path + "/fab-template-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FabError(.localFile, "could not stage the rendered template in \(FileManager.default.temporaryDirectory.path): \(String(cString: strerror(errno))); check that the directory is writable.")
        }
        _ = template.withUnsafeBufferPointer { unlink($0.baseAddress!) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let reason = String(cString: strerror(errno))
                Glibc.close(fd)
                throw FabError(.localFile, "could not stage the rendered template: \(reason); free space in the local temporary directory.")
            }
            offset += written
        }
        descriptor = fd
    }

    func close() { Glibc.close(descriptor) }
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
