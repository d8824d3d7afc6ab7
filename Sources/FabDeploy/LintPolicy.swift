import FabCore
import Foundation

/// How a build is checked with lintian, and what makes it fail.
///
/// lintian runs on the build host (the kit installs it there with the build dependencies) while the
/// package travels to this machine, so it costs almost nothing on the critical path. The package
/// ships fab's own overrides for the layout fab chose (an install root under `/srv` or `/opt`, or a
/// top-level directory outside the FHS, the byte-code the virtualenv ships, libraries bundled by
/// wheels), each with a comment saying why, followed by the project's
/// `debian/PACKAGE.lintian-overrides` (or `debian/lintian-overrides`), as `dh_lintian` installs them.
///
/// Errors fail the build by default (``failOn``); a fabfile accepts a tag it knows about with a reason,
/// which is written into the package's overrides beside the tag:
///
/// ```swift
/// let deploy = try await Deployment(fab, app: "shop") {
///     $0.lint.accept["package-contains-vcs-control-file"] = "the app reads its own .gitignore at start-up"
///     $0.lint.failOn = .warning
/// }
/// ```
///
/// A build that fails the policy never reaches a repository: its .deb moves to the artifact
/// directory's `rejected/` folder, with a manifest saying why (see ``ArtifactManifest``).
public struct LintPolicy: Sendable, Equatable {
    /// The least severe lintian hint that fails a build.
    public enum FailLevel: String, Sendable, Equatable {
        /// Errors (`E:`) fail the build; warnings are printed.
        case error
        /// Errors and warnings (`W:`) fail the build.
        case warning
    }

    /// Run lintian at all. Turning it off records "lintian: skipped" in the artifact's manifest.
    public var enabled = true
    /// What fails the build: errors by default.
    public var failOn: FailLevel = .error
    /// Tags accepted for this package, each with the reason (required, one line); they become
    /// overrides in the package, so lintian run anywhere later agrees.
    public var accept: [String: String] = [:]
    /// How long lintian may take on the build host, in seconds, before the build fails.
    public var timeoutSeconds: Double = 600

    public init() {}

    /// Checks the accepted tags and the timeout.
    /// - Throws: ``FabError`` `.invalidArgument` for a tag that is not a lintian tag name, an accepted
    ///   tag without a reason or with a line break in it, or a timeout that is not positive.
    public func validate() throws {
        for (tag, reason) in accept.sorted(by: { $0.key < $1.key }) {
            guard tag.range(of: #"^[a-z0-9][a-z0-9+._-]*$"#, options: .regularExpression) != nil else {
                throw FabError(.invalidArgument, "lint.accept: '\(tag)' is not a lintian tag name (lowercase letters, digits, '-', '.', '+', '_'); use the tag as lintian prints it.")
            }
            let trimmed = reason.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else {
                throw FabError(.invalidArgument, "lint.accept[\"\(tag)\"] has no reason; say why this package may carry \(tag), for example lint.accept[\"\(tag)\"] = \"the app needs it because ...\".")
            }
            guard !reason.contains(where: \.isNewline) else {
                throw FabError(.invalidArgument, "lint.accept[\"\(tag)\"]'s reason has a line break; give it on one line (it becomes a comment in the package's lintian overrides).")
            }
        }
        guard timeoutSeconds > 0, timeoutSeconds.isFinite else {
            throw FabError(.invalidArgument, "lint.timeoutSeconds is \(timeoutSeconds); give a positive number of seconds (600 by default).")
        }
    }
}

/// The lintian overrides fab writes into a package, for the layout it chose.
enum LintOverrides {
    /// Directories of the FHS that may hold packaged files without an override.
    static let standardTopLevel: Set<String> = ["bin", "boot", "etc", "lib", "lib32", "lib64", "libx32", "sbin", "usr", "var"]

    /// fab's overrides for a package installed at `installRoot` (such as `/srv/shop`, `/opt/shop` or
    /// `/vrmd/whois`) with more of its layout's directories and links at `directories` and `links`
    /// (absolute paths), in lintian 2.116's syntax (`package: tag [pointer]`, `*` matching any text),
    /// each group after a comment saying why.
    static func forLayout(package: String, installRoot: String, directories: [String] = [], links: [String] = []) -> String {
        var lines: [String] = []
        var seen = Set<String>()
        func add(_ comment: String, _ overrides: [String]) {
            let fresh = overrides.filter { seen.insert($0).inserted }
            guard !fresh.isEmpty else { return }
            lines.append("# " + comment)
            lines += fresh.map { "\(package): \($0)" }
        }
        /// Where the FHS leaves a path: the overrides for it, or none.
        func placement(_ path: String, isDirectory: Bool) {
            let components = path.split(separator: "/").map(String.init)
            guard let top = components.first else { return }
            let relative = components.joined(separator: "/")
            let pointer = isDirectory ? relative + "/*" : relative
            // The directories between the top level and the path, each reported on its own.
            let parents = (1..<max(components.count, 1)).map { components.prefix($0).joined(separator: "/") + "/" }
            switch top {
            case "srv":
                add("fab: the fabfile's layout installs /\(relative); where site software lives under /srv is the administrator's choice (FHS 3.17), which lintian cannot know.",
                    parents.dropFirst().map { "dir-or-file-in-srv [\($0)]" } + ["dir-or-file-in-srv [\(pointer)]"])
            case "opt":
                add("fab: the fabfile's layout installs /\(relative), part of a self-contained tree of software not shipped by Debian (FHS 3.13).",
                    parents.dropFirst().map { "dir-or-file-in-opt [\($0)]" } + ["dir-or-file-in-opt [\(pointer)]"])
            case _ where standardTopLevel.contains(top):
                break
            default:
                add("fab: the fabfile's layout installs /\(relative), in a top-level directory of the site's own convention outside the FHS.",
                    ["non-standard-toplevel-dir [\(top)/]", "file-in-unusual-dir [\(pointer)]"])
            }
        }
        placement(installRoot, isDirectory: true)
        let root = String(installRoot.split(separator: "/").joined(separator: "/"))
        add("fab: the virtualenv ships byte-code compiled for its final path at build time, because the service user cannot write to /\(root) to compile it.",
            ["package-installs-python-pycache-dir [\(root)/*]"])
        add("fab: the virtualenv's scripts run its own interpreter, which this package ships under /\(root).",
            ["unusual-interpreter /\(root)/* [\(root)/*]"])
        add("fab: wheels bundle the exact shared libraries they were built against in PKG.libs/ (auditwheel), mode 0755 as pip installs them; they are loaded through the extension's $ORIGIN RUNPATH, never from the system's paths.",
            ["shared-library-is-executable * [\(root)/*.libs/*]", "embedded-library * [\(root)/*.libs/*]"])
        add("fab: extensions built from source by pip keep a RUNPATH into the virtualenv, which fab rewrote to the install path; it points inside this package only.",
            ["custom-library-search-path RUNPATH /\(root)/* [\(root)/*]"])
        for directory in directories.sorted() where !directory.hasPrefix(installRoot + "/") { placement(directory, isDirectory: true) }
        for link in links.sorted() where !link.hasPrefix(installRoot + "/") { placement(link, isDirectory: false) }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    /// The overrides for the tags a fabfile accepts (``LintPolicy/accept``), each with its reason.
    static func accepted(package: String, accept: [String: String]) -> String {
        accept.sorted(by: { $0.key < $1.key }).map { tag, reason in
            "# Accepted in the fabfile: \(reason.trimmingCharacters(in: .whitespaces))\n\(package): \(tag)\n"
        }.joined()
    }

    /// Writes the package's overrides file at `destination` on the build host: `fabOverrides`
    /// (given on standard input), then the project's `debian/PACKAGE.lintian-overrides` (or
    /// `debian/lintian-overrides`) from `sourceDirectory` when it has one.
    static func installCommand(package: String, sourceDirectory: String, destination: String) -> String {
        let q = LocalShell.quote
        let specific = q(sourceDirectory + "/debian/" + package + ".lintian-overrides")
        let generic = q(sourceDirectory + "/debian/lintian-overrides")
        return "mkdir -p \(q((destination as NSString).deletingLastPathComponent)) && { cat; "
            + "for f in \(specific) \(generic); do if [ -f \"$f\" ]; then printf '# From the project: %s\\n' \"${f##*/debian/}\"; cat \"$f\"; break; fi; done; } > \(q(destination))"
    }
}

/// What one lintian run said about a package.
public struct LintReport: Sendable, Equatable, Codable {
    /// lintian's version (`2.116.3`), as it prints it.
    public var lintianVersion: String
    /// The `E:` hints, as lintian printed them.
    public var errors: [String]
    /// The `W:` hints.
    public var warnings: [String]
    /// How many hints each tag had overridden (by fab's, the project's or accepted overrides).
    public var overridden: [String: Int]
    /// How long lintian ran, in seconds, when known.
    public var seconds: Double?

    /// Reads lintian's output (run with `--show-overrides`): `E:`, `W:` and `O:` lines.
    /// - Parameters:
    ///   - package: with several packages in one run (`packages`), only the lines of this one, and
    ///     the lines that name none of `packages` (they count against every package of the run).
    static func parse(_ output: String, version: String, seconds: Double? = nil, package: String? = nil, packages: [String] = []) -> LintReport {
        var report = LintReport(lintianVersion: version, errors: [], warnings: [], overridden: [:], seconds: seconds)
        for line in output.split(whereSeparator: \.isNewline) {
            if let package, let named = packageName(of: line), named != package, packages.contains(named) { continue }
            if line.hasPrefix("E: ") { report.errors.append(String(line)) }
            else if line.hasPrefix("W: ") { report.warnings.append(String(line)) }
            else if line.hasPrefix("O: ") {
                // O: package[ type]: tag context...
                let afterColon = line.split(separator: ":", maxSplits: 2)
                if afterColon.count == 3, let tag = afterColon[2].split(separator: " ").first {
                    report.overridden[String(tag), default: 0] += 1
                }
            }
        }
        return report
    }

    /// The package a hint line names (`E: vrmd-whois: tag ...`, `O: vrmd-whois binary: tag`), or nil
    /// for a line of another kind.
    static func packageName(of line: Substring) -> String? {
        guard line.count > 3, line.dropFirst().hasPrefix(": "), let colon = line.dropFirst(3).firstIndex(of: ":") else { return nil }
        return line[line.index(line.startIndex, offsetBy: 3)..<colon].split(separator: " ").first.map(String.init)
    }

    /// The tags of `lines` (`E: package: tag context`), each once, in order.
    static func tags(of lines: [String]) -> [String] {
        var seen = Set<String>()
        return lines.compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2)
            return parts.count == 3 ? parts[2].split(separator: " ").first.map(String.init) : nil
        }.filter { seen.insert($0).inserted }
    }

    /// The hints that fail the build under `level`.
    func failures(at level: LintPolicy.FailLevel) -> [String] {
        level == .warning ? errors + warnings : errors
    }

    /// One line: `lintian 2.116.3: 0 errors, 2 warnings, 2412 hints overridden (dir-or-file-in-srv 2400, ...)`.
    public var summary: String {
        let total = overridden.values.reduce(0, +)
        var text = "lintian \(lintianVersion)\(seconds.map { String(format: " (%.1f s)", $0) } ?? ""): \(errors.count) error\(errors.count == 1 ? "" : "s"), \(warnings.count) warning\(warnings.count == 1 ? "" : "s")"
        if total > 0 {
            let top = overridden.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            text += ", \(total) hints overridden (" + top.prefix(6).map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + (top.count > 6 ? ", ..." : "") + ")"
        }
        return text
    }
}

/// Running lintian on the build host in the background, so it overlaps the artifact's transfer.
enum LintCommands {
    /// Starts lintian on `deb` in the background in `directory` on the build host, detached from the
    /// SSH channel (its own session, so an interrupted fab does not leave the channel open): output in
    /// `lintian.out`, exit status in `lintian.status` (written last), the process group in `lintian.pid`.
    static func start(deb: String, directory: String) -> String {
        start(debs: [deb], directory: directory)
    }

    /// Starts one lintian process on every package of `debs` (its start-up, most of its time on a
    /// small package, is paid once), as ``start(deb:directory:)`` does for one.
    static func start(debs: [String], directory: String) -> String {
        let q = LocalShell.quote
        return launch("lintian --fail-on none --show-overrides --tag-display-limit 0 -- \(debs.map(q).joined(separator: " "))", in: directory)
    }

    /// The FIFO in a prestarted job's directory that lintian reads its package list from.
    static let packageList = "lintian.packages"

    /// How long a prestarted lintian may live, waiting for its packages and checking them: a fab that
    /// vanished before ``feed(debs:directory:)`` (killed, its connection lost) leaves no reader behind
    /// for longer. A build that outlasts it gets a lintian of its own at the end (see `feed`).
    /// (`timeout --foreground` keeps lintian in the job's process group, which ``stop(directory:)`` kills.)
    static let prestartDeadlineSeconds = 3 * 3600

    /// Starts lintian in `directory` before its packages exist, as ``start(debs:directory:)`` does,
    /// when lintian is installed: through ``warmStart`` it starts perl, loads its profile and compiles
    /// its checks while the build goes on, then waits on the FIFO ``packageList`` for the list
    /// ``feed(debs:directory:)`` writes. Prints `prestarted` when it started one.
    static func prestart(directory: String) -> String {
        let q = LocalShell.quote
        return "command -v lintian > /dev/null 2>&1 || exit 0; mkdir -p \(q(directory)) && cd \(q(directory)) && rm -f \(packageList) lintian.warm && mkfifo \(packageList)"
            + " && printf '%s' \(q(warmStart)) > lintian-warm.pl && "
            + launch("timeout --foreground -k 10 \(prestartDeadlineSeconds) perl lintian-warm.pl \"$(command -v lintian)\" --fail-on none --show-overrides --tag-display-limit 0 --packages-from-file \(packageList)",
                     in: directory)
            + " && echo prestarted"
    }

    /// A perl program that runs the lintian given as its first argument with the other arguments,
    /// having first compiled the checks of lintian's profile the way lintian loads them (its own
    /// `Lintian::Profile` finds them, and each is `require`d by the path lintian `require`s), which
    /// is most of lintian's start-up before its first package: lintian's program then runs unchanged
    /// in the same process. When any of that fails (another lintian, another layout), it runs lintian
    /// as a process of its own instead, so the verdict never depends on it. It notes a warm start in
    /// the file `lintian.warm` of the directory it runs in.
    static let warmStart = """
        use strict;
        use warnings;
        use Cwd qw(realpath);
        use File::Basename qw(dirname);
        my $lintian = shift @ARGV // '';
        my $program = $lintian eq '' ? undef : realpath($lintian);
        my $warm = defined($program) && -f $program && eval {
            my $base = realpath(dirname($program) . '/..');
            unshift @INC, "$base/lib";
            local $ENV{LINTIAN_BASE} = $base;
            require Lintian::Profile;
            my $profile = Lintian::Profile->new;
            $profile->load(undef, undef, 1);
            my $paths = $profile->check_path_by_name;
            require $paths->{$_} for sort keys %{$paths};
            1;
        };
        unless ($warm) {
            exec { $lintian } $lintian, @ARGV or die "cannot run lintian ($lintian): $!\\n";
        }
        if (open(my $note, '>', 'lintian.warm')) { close($note); }
        do $program;
        die $@ if $@;
        die "$program returned without exiting\\n";

        """

    /// Hands a lintian started by ``prestart(directory:)`` its packages (the job's seconds count from
    /// here). When that lintian has ended or its process group is gone, or it does not take the list
    /// within 60 s, stops it and starts a new one on `debs` (``start(debs:directory:)``); either way
    /// ``wait(directory:)`` follows.
    static func feed(debs: [String], directory: String) -> String {
        let q = LocalShell.quote
        let list = debs.map(q).joined(separator: " ")
        return "cd \(q(directory)) && date +%s.%N > lintian.fed && { [ ! -f lintian.status ] && kill -0 -\"$(cat lintian.pid)\" 2>/dev/null"
            + " && timeout 60 sh -c 'printf \"%s\\n\" \"$@\" > \(packageList)' sh \(list); }"
            + " || { \(stop(directory: directory)); rm -f lintian.fed; \(start(debs: debs, directory: directory)); }"
    }

    /// Runs `command` in `directory` in the background, detached from the SSH channel (its own
    /// session): the installed lintian's version in `lintian.version`, output in `lintian.out`, the
    /// seconds it ran (from `lintian.fed` when a list was fed) in `lintian.seconds`, exit status in
    /// `lintian.status` (written last), the process group in `lintian.pid`.
    private static func launch(_ command: String, in directory: String) -> String {
        let q = LocalShell.quote
        // The version from dpkg's database: `lintian --version` costs a perl start-up (a second or two).
        let inner = "{ dpkg-query -W -f '${Version}\\n' lintian 2>/dev/null || echo unknown; } > lintian.version; started=$(date +%s.%N);"
            + " \(command) > lintian.out 2>&1; status=$?; [ ! -f lintian.fed ] || started=$(cat lintian.fed);"
            + " awk -v s=\"$started\" -v e=\"$(date +%s.%N)\" 'BEGIN { printf \"%.1f\\n\", e - s }' > lintian.seconds;"
            + " echo $status > lintian.status.tmp && mv lintian.status.tmp lintian.status"
        return "cd \(q(directory)) && rm -f lintian.version lintian.out lintian.status lintian.status.tmp"
            + " && { setsid sh -c \(q(inner)) < /dev/null > /dev/null 2>&1 & echo $! > lintian.pid; }"
    }

    /// Waits until lintian started by ``start(deb:directory:)`` finishes (the caller's command
    /// timeout is the deadline), then prints its version line, the seconds it ran, a separator line
    /// and its output, and exits with its exit status.
    static func wait(directory: String) -> String {
        let q = LocalShell.quote
        return "cd \(q(directory)) && while [ ! -f lintian.status ]; do sleep 0.2; done; cat lintian.version; cat lintian.seconds; echo \(separator); cat lintian.out; exit \"$(cat lintian.status)\""
    }

    /// Stops a lintian that has not finished (its whole process group); does nothing once it has.
    /// (`kill -TERM -PGID`, not `kill -TERM -- -PGID`: dash, the login shell of accounts made by
    /// `useradd`, refuses the `--` after a signal.)
    /// Its status is then 143 (what a shell reports for a process ended by SIGTERM), so a later
    /// ``wait(directory:)`` fails and ``feed(debs:directory:)`` starts a new lintian at once.
    static func stop(directory: String) -> String {
        "cd \(LocalShell.quote(directory)) 2>/dev/null && [ ! -f lintian.status ] && pid=$(cat lintian.pid 2>/dev/null)"
            + " && { kill -TERM -\"$pid\" 2>/dev/null; echo 143 > lintian.status.tmp && mv lintian.status.tmp lintian.status; }; true"
    }

    /// Removes everything in the .deb's directory but the .deb and lintian's files (started by
    /// ``start(deb:directory:)``), while lintian is still reading the .deb.
    static func removeAllBut(deb: String) -> String {
        let q = LocalShell.quote
        let directory = (deb as NSString).deletingLastPathComponent
        return "find \(q(directory)) -mindepth 1 -maxdepth 1 ! -name \(q((deb as NSString).lastPathComponent)) ! -name 'lintian.*' -exec rm -rf -- {} +"
    }

    /// The line between lintian's version and its output in ``wait(directory:)``'s output.
    static let separator = "--fab-lintian-output--"

    /// Splits ``wait(directory:)``'s output into lintian's version, the seconds it ran and its output.
    static func split(_ output: String) -> (version: String, seconds: Double?, output: String) {
        guard let range = output.range(of: separator + "\n") ?? output.range(of: separator) else { return ("unknown", nil, output) }
        let head = output[..<range.lowerBound].split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        // "2.116.3+deb12u1" (or lintian's own "Lintian v2.116.3+deb12u1"), then "17.2"
        let version = head.first?.split(separator: " ").last.map { $0.hasPrefix("v") ? String($0.dropFirst()) : String($0) } ?? "unknown"
        let seconds = head.dropFirst().first.flatMap { Double($0) }
        return (version.isEmpty ? "unknown" : version, seconds, String(output[range.upperBound...]))
    }
}

extension ControlFileBuilder {
    /// The synopsis fab gives a package when the fabfile sets none: `Python app APP built by fab`,
    /// worded so that it never starts with the package name (lintian's
    /// `description-starts-with-package-name`, which an empty package prefix would trip) nor with an article.
    static func defaultSynopsis(package: String, app: String) -> String {
        let candidates = ["Python app \(app) built by fab", "Built by fab: Python app \(app)", "Python app built by fab"]
        return candidates.first { candidate in
            candidate.count <= 80 && candidate.lowercased().range(
                of: "^" + NSRegularExpression.escapedPattern(for: package.lowercased()) + #"\b"#, options: .regularExpression) == nil
        } ?? "Python app built by fab"
    }
}
