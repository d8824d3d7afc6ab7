#if os(Linux)
import FabProcess
import Foundation
import Glibc
import Synchronization

/// A reprepro apt repository on this host for tests, served over HTTP on loopback.
///
/// ```swift
/// let repository = try AptRepository.start()
/// defer { try? repository.stop() }
/// try repository.include(debAt: "/tmp/hello_1.0_amd64.deb")
/// try machine.run("echo \(TestShell.quote(repository.sourcesListLine)) > /etc/apt/sources.list.d/fab.list")
/// ```
///
/// The repository has one distribution (``codename``, default `fab`) with component `main` and
/// architectures `amd64 source` (reprepro rejects `all`; arch-all packages land in binary-amd64).
/// It is unsigned: clients use `[trusted=yes]`. Requires `reprepro` and `/usr/bin/python3` on the host.
///
/// A `final class` because it owns a server process that must be stopped exactly once; its mutable
/// state is behind a `Mutex`, which makes it `Sendable`.
public final class AptRepository: Sendable {
    /// The repository's base directory (`reprepro -b`), the one served over HTTP.
    public let directory: String
    /// The distribution's codename, such as `fab`.
    public let codename: String
    /// The component packages go into.
    public let component = "main"
    /// The HTTP server's port on 127.0.0.1.
    public let port: Int
    /// The private directory holding the repository (when created by ``start(codename:directory:)``),
    /// the server's log and lock.
    public let workDirectory: String

    /// The repository's URL, `http://127.0.0.1:PORT`.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// The one-line sources.list entry for clients: `deb [trusted=yes] http://127.0.0.1:PORT fab main`.
    public var sourcesListLine: String { "deb [trusted=yes] \(url) \(codename) \(component)" }

    private struct State: ~Copyable {
        var server: ChildProcess?
        var lock: FileLock?
        var isStopped = false
    }

    private let state: Mutex<State>
    private let ownsDirectory: Bool

    private init(directory: String, codename: String, port: Int, workDirectory: String, ownsDirectory: Bool,
                 server: ChildProcess, lock: FileLock) {
        self.directory = directory
        self.codename = codename
        self.port = port
        self.workDirectory = workDirectory
        self.ownsDirectory = ownsDirectory
        self.state = Mutex(State(server: server, lock: lock))
    }

    deinit {
        try? stop()
    }

    /// Where repositories live while they run: `fab-apt-repositories` in the temporary directory.
    public static var repositoriesDirectory: String {
        LocalSystem.realPath(NSTemporaryDirectory()) + "/fab-apt-repositories"
    }

    /// The `conf/distributions` text for a repository with one distribution: `Codename`,
    /// `Components: main`, `Architectures: amd64 source`. Use it to set up reprepro elsewhere
    /// (on a clean machine that is the push target, say).
    public static func distributionsConfiguration(codename: String = "fab") -> String {
        """
        Origin: fab-tests
        Label: fab-tests
        Codename: \(codename)
        Components: main
        Architectures: amd64 source
        Description: fab test repository

        """
    }

    /// Creates a repository and starts serving it on a free port of 127.0.0.1.
    ///
    /// Also stops servers and removes repositories left behind by crashed test processes.
    /// - Parameters:
    ///   - codename: the distribution's codename.
    ///   - directory: where to create the repository; `nil` makes one in ``repositoriesDirectory``,
    ///     removed again by ``stop()``. An existing directory is used as it is if it already has
    ///     `conf/distributions`, and is never removed.
    /// - Throws: ``TestEnvironmentError`` with `repositoryFailed` if the server does not start.
    public static func start(codename: String = "fab", directory: String? = nil) throws -> AptRepository {
        guard codename.range(of: "^[a-z0-9][a-z0-9.+-]*$", options: .regularExpression) != nil else {
            throw TestEnvironmentError(.invalidArgument, "\(TestShell.quote(codename)) is not a usable codename; use lowercase letters, digits, ., + and -.")
        }
        try cleanUpStaleRepositories()
        let (work, lock) = try createWorkDirectory()
        do {
            let repository = directory ?? work + "/repo"
            let distributions = repository + "/conf/distributions"
            if !FileManager.default.fileExists(atPath: distributions) {
                try CleanMachine.createDirectory(repository + "/conf", mode: 0o755)
                try CleanMachine.write(distributionsConfiguration(codename: codename), to: distributions)
            }
            // reprepro writes dists/ on the first include; an empty one makes apt-get update fail.
            try TestShell.run("reprepro", ["-b", repository, "export", codename]).checked("export the empty repository \(repository)")
            let (server, port) = try startServer(directory: repository, work: work)
            return AptRepository(directory: repository, codename: codename, port: port, workDirectory: work,
                                 ownsDirectory: directory == nil, server: server, lock: lock)
        } catch {
            try? tearDown(work: work)
            lock.unlock()
            throw error
        }
    }

    private static func createWorkDirectory() throws -> (String, FileLock) {
        let parent = repositoriesDirectory
        try CleanMachine.createDirectory(parent, mode: 0o755)
        let global = try FileLock(path: parent + "/.lock", wait: true)
        defer { global.unlock() }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        for _ in 0..<10 {
            let work = parent + "/r-" + String((0..<10).map { _ in alphabet.randomElement()! })
            guard mkdir(work, 0o755) == 0 else {
                if currentErrno() == EEXIST { continue }
                throw TestEnvironmentError.systemCall("Creating \(work)")
            }
            return (work, try FileLock(path: work + "/repository.lock", wait: false))
        }
        throw TestEnvironmentError(.repositoryFailed, "Could not find a free directory name in \(parent); remove stale entries there.")
    }

    private static func startServer(directory: String, work: String) throws -> (ChildProcess, Int) {
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
        var lastLog = ""
        for _ in 1...3 {
            let port = try LocalSystem.freePort(on: "127.0.0.1")
            guard let executable = TestShell.resolveExecutable(python) else {
                throw TestEnvironmentError(.repositoryFailed, "python3 is not installed; apt-get install python3 to serve the test repository.")
            }
            let logPath = work + "/http.log"
            let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard log >= 0 else { throw TestEnvironmentError.systemCall("Creating \(logPath)") }
            defer { close(log) }
            let process: ChildProcess
            do {
                process = try ChildProcess.spawn(executable: executable,
                                                 arguments: ["-m", "http.server", "--bind", "127.0.0.1", String(port), "--directory", directory],
                                                 standardOutput: .descriptor(log), standardError: .descriptor(log))
            } catch {
                throw TestEnvironmentError(.repositoryFailed, "Could not start \(executable) -m http.server: \(error).")
            }
            try "\(process.pid)\n\(directory)\n".write(toFile: work + "/http.pid", atomically: true, encoding: .utf8)
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline, process.isRunning {
                if LocalSystem.accepts(address: "127.0.0.1", port: port) { return (process, port) }
                usleep(10_000)
            }
            lastLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if process.isRunning {
                process.signal(SIGKILL)
                _ = process.wait(timeout: .seconds(5))
                break
            }
            // Most likely another process took the port in between: try another.
        }
        throw TestEnvironmentError(.repositoryFailed, "The test repository's HTTP server did not start accepting connections; see its log below.",
                                   command: "python3 -m http.server --bind 127.0.0.1 PORT --directory \(directory)",
                                   outputTail: lastLog.split(separator: "\n").suffix(20).joined(separator: "\n"))
    }

    /// Adds a binary package: `reprepro -b DIRECTORY includedeb CODENAME DEB`.
    ///
    /// reprepro keeps one version per package: a higher version replaces the old one (deleted from
    /// the pool), a lower one is skipped with success, the same version with other contents fails.
    /// The package's control must have Section and Priority, or reprepro skips it.
    /// - Throws: ``TestEnvironmentError`` with `commandFailed` and reprepro's output if it fails.
    public func include(debAt path: String) throws {
        try TestShell.run("reprepro", ["-b", directory, "includedeb", codename, path])
            .checked("add \(path) to the test repository \(directory)")
    }

    /// The packages in the distribution, as reprepro lists them (`name version` per entry).
    /// - Throws: ``TestEnvironmentError`` if reprepro fails.
    public func packages() throws -> [String] {
        let result = try TestShell.run("reprepro", ["-b", directory, "--list-format", "${package} ${version}\\n", "list", codename])
            .checked("list the test repository \(directory)")
        return Array(Set(result.stdout.split(separator: "\n").map(String.init))).sorted()
    }

    /// Whether ``stop()`` has run.
    public var isStopped: Bool { state.withLock { $0.isStopped } }

    /// Stops the HTTP server and, if ``start(codename:directory:)`` created the repository, deletes it. Idempotent.
    /// - Throws: ``TestEnvironmentError`` with `cleanupFailed` if the server does not exit.
    public func stop() throws {
        let owned = state.withLock { state -> (ChildProcess?, FileLock?)? in
            if state.isStopped { return nil }
            state.isStopped = true
            defer { state.server = nil; state.lock = nil }
            return (state.server, state.lock)
        }
        guard let (server, lock) = owned else { return }
        defer { lock?.unlock() }
        if let server {
            server.signal(SIGTERM)
            if server.wait(timeout: .seconds(5)) == nil {
                server.signal(SIGKILL)
                if server.wait(timeout: .seconds(5)) == nil {
                    throw TestEnvironmentError(.cleanupFailed, "The test repository's HTTP server (pid \(server.pid)) did not exit after SIGKILL.")
                }
            }
        }
        if ownsDirectory {
            try Self.tearDown(work: workDirectory)
        } else {
            try CleanMachine.removeTree(workDirectory)
        }
    }

    /// Stops the server recorded in `work/http.pid` (if that pid is still that server) and removes `work`.
    private static func tearDown(work: String) throws {
        // http.pid holds the server's pid and the directory it serves, to recognise it before killing.
        if let text = try? String(contentsOfFile: work + "/http.pid", encoding: .utf8),
           case let lines = text.split(separator: "\n").map(String.init), lines.count == 2,
           let pid = pid_t(lines[0]),
           let commandLine = LocalSystem.commandLine(of: pid), commandLine.contains("http.server"),
           commandLine.contains(lines[1]) {
            kill(pid, SIGTERM)
            if !LocalSystem.waitForExit(pid, timeout: 5) { kill(pid, SIGKILL) }
        }
        try CleanMachine.removeTree(work)
    }

    /// Removes repositories whose test process died without stopping them (their lock is free),
    /// stopping their HTTP servers. Called by ``start(codename:directory:)``.
    private static func cleanUpStaleRepositories() throws {
        let parent = repositoriesDirectory
        guard FileManager.default.fileExists(atPath: parent) else { return }
        let global = try FileLock(path: parent + "/.lock", wait: true)
        defer { global.unlock() }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix("r-") {
            let work = parent + "/" + entry
            guard let lock = FileLock.tryLock(path: work + "/repository.lock") else { continue }
            defer { lock.unlock() }
            try tearDown(work: work)
        }
    }
}
#endif
