import FabArchive
import FabCore
import FabProcess
import Foundation

/// The committed tree of a project directory on one branch, read from the local git repository.
///
/// Only what is committed goes into a build: the tree of `BRANCH:path/to/project` (`git ls-tree -r`),
/// its blobs read with one `git cat-file --batch`, written as a tar with libarchive (``TarWriter``).
/// Uncommitted changes are not part of it (``uncommittedChanges`` lists them for a warning).
public struct DeploymentSource: Sendable {
    /// The repository's top directory.
    public let repositoryRoot: String
    /// The project's directory relative to ``repositoryRoot`` (empty for the top), without a trailing `/`.
    public let prefix: String
    /// The branch (or other ref) the tree comes from.
    public let branch: String
    /// The full commit hash.
    public let commit: String
    /// The abbreviated commit hash (7 digits).
    public var shortCommit: String { String(commit.prefix(7)) }
    /// The commit's committer time, in seconds since the epoch: the build's `SOURCE_DATE_EPOCH`, so
    /// two builds of one commit date every file, the changelog and the archive alike.
    public let commitTime: Int

    init(repositoryRoot: String, prefix: String, branch: String, commit: String, commitTime: Int) {
        self.repositoryRoot = repositoryRoot
        self.prefix = prefix
        self.branch = branch
        self.commit = commit
        self.commitTime = commitTime
    }

    /// The committer time of `commit` in the repository at `top`.
    static func committerTime(_ commit: String, in top: String) throws -> Int {
        let text = try git(["log", "-1", "--format=%ct", commit], in: top, failure: "cannot read the time of commit \(commit)")
        guard let time = Int(text) else {
            throw FabError(.invalidArgument, "git gave '\(text)' as the time of commit \(commit), not a number of seconds.")
        }
        return time
    }

    /// One entry of the tree.
    public struct Entry: Sendable, Equatable {
        /// The path relative to the project directory.
        public var path: String
        /// `100644`, `100755` or `120000` (symlink).
        public var mode: String
        public var object: String
    }

    /// Resolves the project's repository, branch and commit.
    /// - Parameters:
    ///   - projectDirectory: A directory inside a git work tree.
    ///   - branch: A branch or other ref; nil for the checked-out branch.
    /// - Throws: ``FabError`` `.invalidArgument` when the directory is not in a git repository, the branch
    ///   does not exist, or the project directory is not committed on it.
    public static func resolve(projectDirectory: String, branch: String?) throws -> DeploymentSource {
        let top = try git(["rev-parse", "--show-toplevel"], in: projectDirectory,
                          failure: "\(projectDirectory) is not inside a git work tree; the kit builds committed code only (git init and commit it)")
        let prefix = try git(["rev-parse", "--show-prefix"], in: projectDirectory, failure: "cannot read the project's place in the repository")
        var ref = branch ?? ""
        if ref.isEmpty {
            ref = (try? git(["symbolic-ref", "--short", "-q", "HEAD"], in: projectDirectory, failure: "")) ?? "HEAD"
        }
        if ref.hasPrefix("-") || ref.contains(where: { $0.isWhitespace || $0 == ":" }) {
            throw FabError(.invalidArgument, "'\(ref)' is not a usable branch name.")
        }
        let commit = try git(["rev-parse", "--verify", "-q", ref + "^{commit}"], in: projectDirectory,
                             failure: "the branch '\(ref)' does not exist in \(top); give an existing branch (git branch -a lists them)")
        var trimmed = prefix
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        let source = DeploymentSource(repositoryRoot: top, prefix: trimmed, branch: ref, commit: commit,
                                      commitTime: try committerTime(commit, in: top))
        if try source.entries().isEmpty {
            throw FabError(.invalidArgument, "\(trimmed.isEmpty ? "the repository" : trimmed) has no committed files on \(ref) (\(source.shortCommit)); commit the project first.")
        }
        return source
    }

    /// The files of the committed tree, excluding paths any component of which matches one of
    /// `excludes` (shell patterns such as `.git`, `*.bak`); submodules are skipped.
    public func entries(excluding excludes: [String] = []) throws -> [Entry] {
        let treeish = prefix.isEmpty ? commit : "\(commit):\(prefix)"
        let listing = try Self.gitData(["ls-tree", "-r", "-z", "--full-tree", treeish], in: repositoryRoot)
        var entries: [Entry] = []
        for record in listing.split(separator: 0) {
            guard let text = String(bytes: record, encoding: .utf8), let tab = text.firstIndex(of: "\t") else { continue }
            let fields = text[..<tab].split(separator: " ")
            guard fields.count == 3, fields[1] == "blob" else { continue }
            let path = String(text[text.index(after: tab)...])
            if Self.isExcluded(path, excludes) { continue }
            entries.append(Entry(path: path, mode: String(fields[0]), object: String(fields[2])))
        }
        return entries
    }

    /// The committed content of `path` (relative to the project), or nil when the tree has no such file.
    /// - Throws: ``FabError`` when git cannot read the blob.
    public func fileContents(_ path: String) throws -> String? {
        guard let entry = try entries().first(where: { $0.path == path }) else { return nil }
        return String(decoding: try Self.gitData(["cat-file", "blob", entry.object], in: repositoryRoot), as: UTF8.self)
    }

    /// Whether a component of `path` matches one of the shell patterns.
    public static func isExcluded(_ path: String, _ patterns: [String]) -> Bool {
        path.split(separator: "/").contains { component in
            patterns.contains { fnmatch($0, String(component), 0) == 0 }
        }
    }

    /// Writes the tree as an uncompressed pax tar (files under `./`, root-owned, mtime of the commit).
    /// - Returns: how many files were written.
    /// - Throws: ``FabError`` when git fails, ``ArchiveError`` when the tar cannot be written.
    @discardableResult
    public func writeTar(to path: String, excluding excludes: [String]) throws -> Int {
        let entries = try entries(excluding: excludes)
        let time = commitTime
        let batch = try Self.gitData(["cat-file", "--batch"], in: repositoryRoot,
                                     input: Data(entries.map { $0.object + "\n" }.joined().utf8))
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw FabError(.localFile, "cannot create \(path) for the source tar.")
        }
        defer { try? handle.close() }
        let writer = try TarWriter(name: "the source tar \(path)") { bytes in handle.write(Data(bytes)) }
        var offset = batch.startIndex
        var directories = Set<String>()
        for entry in entries {
            // Each object: "<oid> blob <size>\n<content>\n".
            guard let newline = batch[offset...].firstIndex(of: 10),
                  let header = String(data: batch[offset..<newline], encoding: .utf8),
                  let size = header.split(separator: " ").last.flatMap({ Int($0) }) else {
                throw FabError(.localFile, "git cat-file gave unexpected output for \(entry.path).")
            }
            let content = batch[(newline + 1)..<(newline + 1 + size)]
            offset = newline + 1 + size + 1
            var parent = (entry.path as NSString).deletingLastPathComponent
            var missing: [String] = []
            while !parent.isEmpty && !directories.contains(parent) {
                missing.append(parent)
                directories.insert(parent)
                parent = (parent as NSString).deletingLastPathComponent
            }
            for directory in missing.reversed() { try writer.addDirectory(path: "./" + directory, mtime: time) }
            if entry.mode == "120000" {
                try writer.addSymlink(path: "./" + entry.path, target: String(decoding: content, as: UTF8.self), mtime: time)
            } else {
                try writer.addFile(path: "./" + entry.path, contents: Array(content),
                                   mode: entry.mode == "100755" ? 0o755 : 0o644, mtime: time)
            }
        }
        try writer.finish()
        return entries.count
    }

    /// Files under the project directory with uncommitted changes (modified, added, deleted, renamed or
    /// untracked and not ignored), relative to the project directory, for a warning: they are not built.
    /// - Parameter excludes: shell patterns as in ``entries(excluding:)``; files the package never holds
    ///   (`fabfile.swift`, `*.deb`...) are not worth a warning.
    public func uncommittedChanges(excluding excludes: [String] = []) -> [String] {
        let arguments = ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", prefix.isEmpty ? "." : prefix]
        guard let output = try? Self.gitData(arguments, in: repositoryRoot) else { return [] }
        return Self.changedPaths(porcelain: output, prefix: prefix).filter { !Self.isExcluded($0, excludes) }
    }

    /// The paths of `git status --porcelain=v1 -z` output (records `XY PATH`, a rename or copy followed
    /// by a record holding its source path), relative to `prefix`.
    static func changedPaths(porcelain: Data, prefix: String) -> [String] {
        var paths: [String] = []
        var records = porcelain.split(separator: 0, omittingEmptySubsequences: true).makeIterator()
        while let record = records.next() {
            let text = String(decoding: record, as: UTF8.self)
            guard text.count > 3 else { continue }
            let status = text.prefix(2)
            var path = String(text.dropFirst(3))
            // A rename or copy names its source in the next record, which is not a change of its own here.
            if status.contains("R") || status.contains("C") { _ = records.next() }
            if !prefix.isEmpty {
                guard path.hasPrefix(prefix + "/") else { continue }
                path.removeFirst(prefix.count + 1)
            }
            paths.append(path)
        }
        return paths
    }

    // MARK: Running git

    static func git(_ arguments: [String], in directory: String, failure: String) throws -> String {
        do {
            let data = try gitData(arguments, in: directory)
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch let error as FabError where !failure.isEmpty {
            throw FabError(.invalidArgument, "\(failure) (\(error.message))")
        }
    }

    /// How long one git command may run: reading a large tree's objects takes seconds, not minutes.
    static let gitDeadline = Deadline.seconds(600)
    /// The most output one git command may give (`cat-file --batch` of the whole tree).
    static let gitOutputLimit = 4 << 30

    /// Runs git with `input` on standard input (written while its output is read, so a large output
    /// cannot deadlock against a large input) and returns its standard output.
    /// - Throws: ``FabError`` `.localFile` when git is missing, fails, runs past ``gitDeadline`` or
    ///   writes more than ``gitOutputLimit``.
    static func gitData(_ arguments: [String], in directory: String, input: Data? = nil) throws -> Data {
        let display = "git " + arguments.joined(separator: " ")
        let output: ProcessRunner.Output
        do {
            output = try ProcessRunner.run(executable: "git", arguments: ["-C", directory] + arguments,
                                           input: input.map { Array($0) }, captureLimit: gitOutputLimit, deadline: gitDeadline)
        } catch let error as ProcessError where error.code == .notFound {
            throw FabError(.localFile, "cannot run git: it is not on PATH; install git.")
        } catch let error as ProcessError where error.code == .timedOut {
            throw FabError(.localFile, "\(display) in \(directory) was still running after \(gitDeadline) and was stopped; check the repository (git fsck) and the machine's load.")
        } catch {
            throw FabError(.localFile, "cannot run git: \(error)")
        }
        guard output.termination.succeeded else {
            let message = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw FabError(.localFile, "\(display) failed: \(message.isEmpty ? output.termination.description : message)")
        }
        guard !output.truncated else {
            throw FabError(.localFile, "\(display) wrote more than \(gitOutputLimit >> 30) GiB; package a smaller tree (exclude large files).")
        }
        return Data(output.standardOutput)
    }
}

/// How the build host gets the committed tree of the branch being built.
public enum SourceTransport: Sendable, Equatable {
    /// Read here from the local repository and streamed to the build host as a tar (the default; the
    /// build host needs no access to the git server).
    case stream
    /// Cloned on the build host from `url` (a git server it can reach; `git` is added to the build
    /// dependencies). The commit built is the one the branch names here, so it must be pushed.
    case clone(url: String)
}

extension DeploymentSource {
    /// A tree on `branch` at `prefix` (relative to the top of the repository holding `directory`),
    /// which need not exist in the work tree: a sub-app on another branch.
    /// - Throws: ``FabError`` `.invalidArgument` when the repository, the branch or the tree does not exist.
    public static func resolve(repository directory: String, prefix: String, branch: String) throws -> DeploymentSource {
        let top = try git(["rev-parse", "--show-toplevel"], in: directory,
                          failure: "\(directory) is not inside a git work tree")
        if branch.isEmpty || branch.hasPrefix("-") || branch.contains(where: { $0.isWhitespace || $0 == ":" }) {
            throw FabError(.invalidArgument, "'\(branch)' is not a usable branch name.")
        }
        let commit = try git(["rev-parse", "--verify", "-q", branch + "^{commit}"], in: top,
                             failure: "the branch '\(branch)' does not exist in \(top); give an existing branch (git branch -a lists them)")
        let trimmed = prefix.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
        let source = DeploymentSource(repositoryRoot: top, prefix: trimmed, branch: branch, commit: commit,
                                      commitTime: try committerTime(commit, in: top))
        if try source.entries().isEmpty {
            throw FabError(.invalidArgument, "\(trimmed.isEmpty ? "the repository" : trimmed) has no committed files on \(branch) (\(source.shortCommit)) in \(top).")
        }
        return source
    }

    /// The shell command that clones `url` into `checkout` on the build host, checks out exactly
    /// `commit` (found on `branch`), and copies its tree at `prefix` into `destination` (created).
    /// Fails, naming the commit, when the server does not have it (it was not pushed).
    /// - Parameter commit: a full commit hash, or nil for the branch's head on the server.
    public static func cloneCommand(url: String, branch: String, commit: String?, prefix: String,
                                    checkout: String, destination: String) -> String {
        let q = LocalShell.quote
        let tree = (commit ?? "HEAD") + (prefix.isEmpty ? "" : ":" + prefix)
        var steps = [
            "rm -rf -- \(q(checkout))",
            "git clone -q --no-checkout --single-branch --branch \(q(branch)) -- \(q(url)) \(q(checkout))",
        ]
        if let commit {
            steps.append("{ git -C \(q(checkout)) cat-file -e \(q(commit + "^{commit}")) 2>/dev/null || { echo \(q("the git server has no commit \(commit) on \(branch): push it first")) >&2; exit 1; }; }")
        }
        steps += [
            "mkdir -p \(q(destination))",
            "git -C \(q(checkout)) archive --format=tar \(q(tree)) | tar -x -f - -C \(q(destination))",
            "git -C \(q(checkout)) rev-parse \(q((commit ?? "HEAD") + "^{commit}"))",
            "rm -rf -- \(q(checkout))",
        ]
        return "set -e; " + steps.joined(separator: "; ")
    }
}
