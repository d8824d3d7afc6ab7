import FabProcess
import Foundation
import Testing
@testable import FabCLI

/// A fabfile already compiled runs without the Swift toolchain and the -dev headers; a compile that lacks
/// them says what to install instead of blaming the fabfile.
@Suite("fab without the toolchain")
struct ToolchainTests {
    /// A PATH without the Swift toolchain's bin folder.
    static let pathWithoutSwift = "/usr/sbin:/usr/bin:/sbin:/bin"

    /// Runs `fab arguments` in a private mount namespace where `/usr/include` shows everything but the
    /// libssh2 headers, with `PATH` lacking swiftc.
    static func runWithoutHeaders(_ fab: FabProcess, _ arguments: [String], scratch: URL,
                                  environment: [String: String] = [:]) throws -> FabProcess.Output {
        let binary = try #require(FabProcess.binary)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("original"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("include"), withIntermediateDirectories: true)
        let script = """
            set -e
            mount --bind /usr/include "$1/original"
            for entry in "$1"/original/*; do
                case "${entry##*/}" in libssh2*) ;; *) ln -s "$entry" "$1/include/" ;; esac
            done
            mount --bind "$1/include" /usr/include
            test ! -e /usr/include/libssh2.h
            shift
            exec "$@"
            """
        var merged = environment
        merged["PATH"] = pathWithoutSwift
        if merged["SWIFTC"] == nil { merged["SWIFTC"] = "" }
        return try fab.run(["--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh", scratch.path, binary]
                           + arguments, executable: "/usr/bin/unshare", environment: merged)
    }

    static var canUnshare: Bool { getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") }

    @Test("a cached fabfile lists and runs its tasks with swiftc off PATH; a changed one says swiftc is missing")
    func cachedWithoutCompiler() throws {
        #expect(!FileManager.default.isExecutableFile(atPath: "/usr/bin/swiftc"), "this test needs swiftc outside \(Self.pathWithoutSwift)")
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let compiled = try fab.run(["-l"])
        #expect(compiled.status == 0, "\(compiled.stderr)")

        let noCompiler = ["PATH": Self.pathWithoutSwift, "SWIFTC": ""]
        let listed = try fab.run(["-l"], environment: noCompiler)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout == compiled.stdout)
        let ran = try fab.run(["hello"], environment: noCompiler)
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(fab.logLines == ["hello world"])

        let fabfile = fab.directory.appendingPathComponent("fabfile.swift")
        try (try String(contentsOf: fabfile, encoding: .utf8) + "\n// changed\n").write(to: fabfile, atomically: true, encoding: .utf8)
        let changed = try fab.run(["-l"], environment: noCompiler)
        #expect(changed.status == 69)
        #expect(changed.stderr.contains("found none on PATH"), "\(changed.stderr)")
        #expect(!changed.stderr.contains(fabfile.path), "the error blames the fabfile: \(changed.stderr)")
    }

    @Test("a cached fabfile runs with the libssh2 headers hidden; compiling without them names libssh2-1-dev",
          .enabled(if: canUnshare, "needs root for a mount namespace"))
    func withoutHeaders() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let compiled = try fab.run(["-l"])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        let scratch = fab.directory.deletingLastPathComponent().appendingPathComponent("headers")
        let cached = try Self.runWithoutHeaders(fab, ["-l"], scratch: scratch.appendingPathComponent("a"))
        #expect(cached.status == 0, "\(cached.stderr)")
        #expect(cached.stdout == compiled.stdout)

        // A cache of its own: nothing compiled, not even the C modules.
        let emptyCache = fab.directory.deletingLastPathComponent().appendingPathComponent("empty-cache")
        let uncached = try Self.runWithoutHeaders(fab, ["-l"], scratch: scratch.appendingPathComponent("b"),
                                                  environment: ["FAB_CACHE_DIR": emptyCache.path, "SWIFTC": "/opt/swift/usr/bin/swiftc"])
        #expect(uncached.status == 69, "\(uncached.stderr)")
        #expect(uncached.stderr.contains("needs the C header libssh2.h, which is not installed; install it with `apt-get install libssh2-1-dev`"),
                "\(uncached.stderr)")
        for blame in ["did not compile", "fabfile.swift", RegistrationGenerator.fileName, "shim.h", "module.modulemap"] {
            #expect(!uncached.stderr.contains(blame), "the error mentions \(blame): \(uncached.stderr)")
        }
        #expect(uncached.stdout.isEmpty)
    }

    /// A compiler wrapper that logs each command line to `log`, then runs the real swiftc.
    static func loggingCompiler(in directory: URL, log: URL) throws -> String {
        let wrapper = directory.appendingPathComponent("swiftc-logging")
        try "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '\(log.path)'\nexec /opt/swift/usr/bin/swiftc \"$@\"\n"
            .write(to: wrapper, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)
        return wrapper.path
    }

    @Test("the compiler's version is asked only for a fabfile whose #if may test it")
    func versionAskedOnlyWhenTested() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let log = fab.directory.appendingPathComponent("swiftc.log")
        let cache = fab.directory.deletingLastPathComponent().appendingPathComponent("cache")
        let environment = ["SWIFTC": try Self.loggingCompiler(in: fab.directory, log: log), "FAB_CACHE_DIR": cache.path]
        let plain = try fab.run(["-l"], environment: environment)
        #expect(plain.status == 0, "\(plain.stderr)")
        let calls = try String(contentsOf: log, encoding: .utf8)
        #expect(calls.contains("-emit-library"), "\(calls)")
        #expect(!calls.contains("--version"), "\(calls)")

        let fabfile = fab.directory.appendingPathComponent("fabfile.swift")
        try (try String(contentsOf: fabfile, encoding: .utf8)
             + "\n#if compiler(>=6.0)\n/// Only with a Swift 6 compiler.\nfunc modern(_ fab: Fab) async throws {}\n#endif\n")
            .write(to: fabfile, atomically: true, encoding: .utf8)
        let tested = try fab.run(["-l"], environment: environment)
        #expect(tested.status == 0, "\(tested.stderr)")
        #expect(tested.stdout.contains("modern"), "\(tested.stdout)")
        #expect(try String(contentsOf: log, encoding: .utf8).contains("--version"))

        #expect(SwiftCompiler.mayTestVersion("#if swift (>=6)\n#endif"))
        #expect(SwiftCompiler.mayTestVersion("#if compiler\n(>=6.1)"))
        #expect(SwiftCompiler.mayTestVersion("#if _compiler_version(\"5.9\")\n#endif"))
        #expect(!SwiftCompiler.mayTestVersion("import Foundation\n// the swift compiler\nlet swiftVersion = 6"))
    }

    @Test("a module cache written under another path is rebuilt, not blamed on the fabfile")
    func movedModuleCache() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let scratch = fab.directory.deletingLastPathComponent()
        let first = scratch.appendingPathComponent("cache-a"), moved = scratch.appendingPathComponent("cache-b")
        let compiled = try fab.run(["-l"], environment: ["FAB_CACHE_DIR": first.path])
        #expect(compiled.status == 0, "\(compiled.stderr)")
        // Another folder holding a copy of the first one's module cache and no plugin: clang's modules
        // there name the first folder.
        try FileManager.default.createDirectory(at: moved, withIntermediateDirectories: true)
        let moduleCache = try #require(try FileManager.default.contentsOfDirectory(atPath: first.path).first { $0 == "ModuleCache" },
                                       "no ModuleCache in \(first.path)")
        try FileManager.default.copyItem(at: first.appendingPathComponent(moduleCache), to: moved.appendingPathComponent(moduleCache))
        let listed = try fab.run(["-l"], environment: ["FAB_CACHE_DIR": moved.path])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout == compiled.stdout)
        #expect(!listed.stderr.contains("did not compile"), "\(listed.stderr)")
    }

    @Test("a compiler that fails without a word is reported as the installation's fault")
    func silentCompilerFailure() throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        let broken = fab.directory.appendingPathComponent("swiftc-broken")
        try "#!/bin/sh\nexit 3\n".write(to: broken, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: broken.path)
        let result = try fab.run(["-l"], environment: ["SWIFTC": broken.path,
                                                       "FAB_CACHE_DIR": fab.directory.deletingLastPathComponent().appendingPathComponent("c").path])
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("failed (exit status 3) without saying why"), "\(result.stderr)")
        #expect(!result.stderr.contains("did not compile"), "\(result.stderr)")
    }

    @Test("fab starts without loading libarchive (opened on first use)")
    func libarchiveNotLoadedAtStart() throws {
        let binary = try #require(FabProcess.binary)
        // What ldd prints: the dynamic loader lists the libraries it would load, and runs nothing.
        let listed = try ProcessRunner.run(executable: binary, arguments: [], environment: .exactly(["LD_TRACE_LOADED_OBJECTS": "1"]),
                                           deadline: .seconds(30))
        let libraries = listed.stdout
        #expect(libraries.contains("libssh2"), "\(libraries)")
        #expect(!libraries.contains("libarchive"), "\(libraries)")
        #expect(!libraries.contains("libxml2"), "\(libraries)")
    }

    @Test("cache keys hash with SHA-256")
    func digestVectors() {
        #expect(Digest.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.sha256(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("missing headers in compiler output map to their Debian packages")
    func missingHeaderPackages() {
        let cases: [(String, MissingHeader?)] = [
            ("<module-includes>:1:10: note: in file included from\n/x/shim.h:5:10: error: 'libssh2.h' file not found\n",
             MissingHeader(header: "libssh2.h", package: "libssh2-1-dev")),
            ("/x/shim.h:3:10: fatal error: 'archive_entry.h' file not found", MissingHeader(header: "archive_entry.h", package: "libarchive-dev")),
            ("/x/shim.h:3:10: error: 'openssl/evp.h' file not found", MissingHeader(header: "openssl/evp.h", package: "libssl-dev")),
            ("/x/y.h:1:10: error: 'zstd.h' file not found", MissingHeader(header: "zstd.h", package: nil)),
            ("fabfile.swift:3:5: error: cannot find 'x' in scope", nil),
        ]
        for (output, expected) in cases {
            #expect(MissingHeader.find(in: output) == expected, "\(output)")
        }
        #expect(MissingHeader(header: "zstd.h", package: nil).message.contains("apt-file search zstd.h"))
    }
}
