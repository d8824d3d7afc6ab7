import Foundation
import Testing
@testable import FabDeploy

/// Runs the relocation program locally, as the kit runs it on the build machine.
private func relocate(_ relocation: Relocation, environment: [String: String]? = nil) throws -> (ProcessOutput, Result<RelocationReport, RelocationError>) {
    let output = try runProcess(relocation.arguments, stdin: relocation.script, environment: environment)
    do {
        return (output, .success(try relocation.report(exitStatus: output.status, standardOutput: output.stdout,
                                                        standardError: output.stderr)))
    } catch {
        return (output, .failure(error))
    }
}

/// The RUNPATH or RPATH of an ELF file, as readelf shows it.
private func searchPath(of file: String) throws -> String? {
    let output = try mustRun(["/usr/bin/readelf", "-d", file]).stdout
    for line in output.split(separator: "\n") where line.contains("(RUNPATH)") || line.contains("(RPATH)") {
        if let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") {
            return String(line[line.index(after: open)..<close])
        }
    }
    return nil
}

/// Writes a pure-Python wheel `hello-1.0` (package `hello`, console script `hello`) into `directory`.
private func makeHelloWheel(in directory: String) throws -> String {
    try makeHelloWheel(in: directory, files: [
        "hello/__init__.py": "def main():\n    print('hello from ' + __file__)\n",
        "hello/core.py": "def boom():\n    raise RuntimeError('boom')\n",
        "hello-1.0.dist-info/entry_points.txt": "[console_scripts]\nhello = hello:main\n",
    ])
}

/// What importlib.metadata (pip's view of installed files) finds wrong in the RECORD files of the
/// virtualenv whose interpreter is `python`: the number of hashed rows, then one line per file whose
/// hash or size differs from its row, or that is missing.
private func recordMismatches(python: String) throws -> (checked: Int, wrong: [String]) {
    let program = """
        import base64, hashlib, importlib.metadata as md
        checked, wrong = 0, []
        for dist in md.distributions():
            for f in dist.files or []:
                if not f.hash:
                    continue
                checked += 1
                try:
                    data = open(f.locate(), "rb").read()
                except OSError:
                    wrong.append("missing " + str(f))
                    continue
                digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=").decode()
                if digest != f.hash.value or len(data) != f.size:
                    wrong.append(str(f))
        print(checked)
        print("\\n".join(wrong))
        """
    let lines = try mustRun([python, "-I", "-c", program]).stdout.split(separator: "\n").map(String.init)
    return (Int(lines.first ?? "") ?? 0, Array(lines.dropFirst()))
}

@Suite("Relocation: command and summary")
struct RelocationCommandTests {
    @Test func argumentsAndQuoting() throws {
        let relocation = try Relocation(buildRoot: "/home/deploy/fab builds/it's/venv/", finalRoot: "/vrmd/whois/venv")
        #expect(relocation.buildRoot == "/home/deploy/fab builds/it's/venv")
        #expect(relocation.arguments == ["/usr/bin/python3", "-", "/home/deploy/fab builds/it's/venv", "/vrmd/whois/venv"])
        #expect(relocation.command == #"/usr/bin/python3 - '/home/deploy/fab builds/it'\''s/venv' /vrmd/whois/venv"#)
        var auditOnly = relocation
        auditOnly.auditOnly = true
        auditOnly.stripDebugInfo = false
        #expect(auditOnly.arguments.suffix(2) == ["--audit-only", "--no-strip"])
        #expect(try Relocation(buildRoot: "/b/venv", finalRoot: "/f/venv", compileJobs: 3).arguments.last == "--jobs=3")
        #expect(throws: RelocationError.self) { try Relocation(buildRoot: "/b/venv", finalRoot: "/f/venv", compileJobs: 0) }
    }

    @Test(arguments: [
        ("venv", "/vrmd/whois/venv"),
        ("/build/venv", "relative/venv"),
        ("/", "/vrmd/whois/venv"),
        ("/vrmd", "/vrmd/whois/venv"),
        ("/build/ven\nv", "/vrmd/whois/venv"),
    ])
    func rejectsUnusablePaths(build: String, final: String) {
        #expect(throws: RelocationError.self) { try Relocation(buildRoot: build, finalRoot: final) }
    }

    @Test func theHereDocumentCarriesTheScriptIntact() throws {
        let relocation = try Relocation(buildRoot: "/b/venv", finalRoot: "/f/venv")
        #expect(!RelocateScript.source.split(separator: "\n").contains { $0 == Relocation.hereDocumentDelimiter })
        let tmp = try TemporaryDirectory("heredoc")
        defer { tmp.remove() }
        // The shell must hand the program over byte for byte: print it back instead of running it.
        let echo = relocation.commandWithEmbeddedScript.replacingOccurrences(of: relocation.command, with: "cat")
        let printed = try mustRun(["/bin/sh", "-c", echo]).stdout
        #expect(printed == RelocateScript.source + "\n")
    }

    @Test func theScriptIsPython37Syntax() throws {
        try mustRun([debianPython, "-c", "import ast, sys; ast.parse(sys.stdin.read(), feature_version=(3, 7))"],
                    stdin: RelocateScript.source)
    }

    @Test func readsASummary() throws {
        let relocation = try Relocation(buildRoot: "/b/venv", finalRoot: "/f/venv")
        let line = #"FAB-RELOCATE-SUMMARY {"audit": {"offending": [], "ok": true, "scanned": 12}, "build_root": "/b/venv", "elf": {"search_path_fixed": 1, "stripped": 0, "tool": "patchelf"}, "error": null, "final_root": "/f/venv", "mode": "relocate", "other_text_files": ["share/x.txt"], "pyc": {"compiled": 5, "failed": ["bad.py"], "interpreter": "/b/venv/bin/python3", "removed": 4}, "rewritten": {"activate": 3, "shebang": 2}}"#
        let report = try relocation.report(exitStatus: 0, standardOutput: "noise\n" + line + "\n", standardError: "")
        #expect(report.rewritten == ["activate": 3, "shebang": 2])
        #expect(report.totalRewritten == 5)
        #expect(report.elfSearchPathsFixed == 1 && report.elfTool == "patchelf")
        #expect(report.bytecodeCompiled == 5 && report.bytecodeRemoved == 4 && report.bytecodeFailed == ["bad.py"])
        #expect(report.filesScanned == 12 && report.offendingFiles.isEmpty && !report.auditOnly)
        #expect(report.otherTextFiles == ["share/x.txt"])
    }

    @Test func noSummaryIsAnErrorQuotingStandardError() throws {
        let relocation = try Relocation(buildRoot: "/b/venv", finalRoot: "/f/venv")
        let error = #expect(throws: RelocationError.self) {
            try relocation.report(exitStatus: 127, standardOutput: "", standardError: "sh: 1: /usr/bin/python3: not found\n")
        }
        #expect(error?.code == .noSummary)
        #expect(error?.message.contains("status 127") == true)
        #expect(error?.message.contains("python3: not found") == true)
    }
}

@Suite("Relocation of real trees", .serialized)
struct RelocationTreeTests {
    /// A virtualenv built at a long per-build path (so pip writes /bin/sh polyglot shebangs), with a wheel
    /// whose direct_url.json names the build path, an editable install (.pth, .egg-link), and a C extension
    /// with an RPATH and debug information naming the build path. Relocated, moved, and used at the final path.
    /// Without patchelf or chrpath on the machine the extension gets no RPATH (the relocation would rightly
    /// refuse it); install patchelf so the test covers that part.
    @Test(.enabled(if: haveTool("/usr/bin/gcc") && haveTool("/usr/bin/readelf")))
    func relocatesARealVirtualenv() throws {
        let canFixSearchPaths = which("patchelf") != nil || which("chrpath") != nil
        let tmp = try TemporaryDirectory("reloc")
        defer { tmp.remove() }
        let build = tmp.path + "/fab-builds/hello/20260101-1a2b3c4-" + String(repeating: "x", count: 80) + "/vrmd/hello/venv"
        let final = tmp.path + "/installed/vrmd/hello/venv"
        try mustRun([debianPython, "-m", "venv", build])
        let pip = [build + "/bin/python3", "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", "-q",
                   "install", "--no-index", "--no-build-isolation"]
        try FileManager.default.createDirectory(atPath: build + "/wheels", withIntermediateDirectories: true)
        let wheel = try makeHelloWheel(in: build + "/wheels")
        try mustRun(pip + [wheel])

        try tmp.write(String(build.dropFirst(tmp.path.count + 1)) + "/src/edit/setup.py", """
            from setuptools import setup
            setup(name="edit", version="1.0", py_modules=["edit"],
                  entry_points={"console_scripts": ["edit-tool = edit:main"]})
            """)
        try tmp.write(String(build.dropFirst(tmp.path.count + 1)) + "/src/edit/edit.py", "def main():\n    print(__file__)\n")
        try mustRun(pip + ["-e", build + "/src/edit"])

        let cext = String(build.dropFirst(tmp.path.count + 1)) + "/src/cext"
        try tmp.write(cext + "/setup.py", """
            import os, sys
            from setuptools import setup, Extension
            rpath = [os.path.join(sys.prefix, "lib")] if \(canFixSearchPaths ? "True" : "False") else []
            setup(name="cext", version="1.0", ext_modules=[Extension(
                "cext", ["cext.c"], runtime_library_dirs=rpath, extra_compile_args=["-g"])])
            """)
        try tmp.write(cext + "/cext.c", """
            #include <Python.h>
            static PyObject *where(PyObject *self, PyObject *args) { return PyUnicode_FromString("compiled"); }
            static PyMethodDef methods[] = {{"where", where, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
            static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, methods};
            PyMODINIT_FUNC PyInit_cext(void) { return PyModule_Create(&module); }
            """)
        try mustRun(pip + [build + "/src/cext"])
        let pythonDirectory = try #require(try FileManager.default.contentsOfDirectory(atPath: build + "/lib")
            .first { $0.hasPrefix("python3") })
        let sitePackages = build + "/lib/" + pythonDirectory + "/site-packages"
        let extensionName = try #require(try FileManager.default.contentsOfDirectory(atPath: sitePackages)
            .first { $0.hasPrefix("cext") && $0.hasSuffix(".so") })
        #expect(try searchPath(of: sitePackages + "/" + extensionName) == (canFixSearchPaths ? build + "/lib" : nil))
        #expect(try String(contentsOfFile: build + "/bin/hello", encoding: .utf8).hasPrefix("#!/bin/sh\n'''exec'"))

        let before = try recordMismatches(python: build + "/bin/python3")
        #expect(before.checked > 100 && before.wrong.isEmpty, "\(before.wrong)")

        let relocation = try Relocation(buildRoot: build, finalRoot: final)
        let (output, result) = try relocate(relocation)
        let report = try result.get()
        #expect(output.status == 0)
        // The scripts of hello and pip lost their polyglot shebangs, direct_url.json names the final path
        // (pip records byte-code without hashes): their RECORD rows say so.
        #expect(report.recordEntriesUpdated >= 5 && report.recordFilesUpdated >= 2, "\(report)")
        #expect(report.rewritten["polyglot_shebang", default: 0] >= 2)  // hello, pip, ...
        #expect(report.rewritten["activate"] == 3)  // activate, activate.csh, activate.fish
        #expect(report.rewritten["pyvenv_cfg"] == 1)
        #expect(report.rewritten["direct_url", default: 0] >= 1)
        #expect(report.rewritten["pth", default: 0] >= 1)
        #expect(report.rewritten["egg_link"] == 1)
        #expect(report.elfSearchPathsFixed >= (canFixSearchPaths ? 1 : 0))
        #expect(report.elfStripped >= 1)
        #expect(report.bytecodeCompiled > 100)
        #expect(report.offendingFiles.isEmpty)

        // What the package will contain, at the place where it will be installed.
        try FileManager.default.createDirectory(atPath: tmp.path + "/installed/vrmd/hello", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: build, toPath: final)
        let finalSitePackages = final + sitePackages.dropFirst(build.count)

        let after = try recordMismatches(python: final + "/bin/python3")
        #expect(after.checked == before.checked && after.wrong.isEmpty, "\(after.wrong)")
        let helloRecord = try String(contentsOfFile: finalSitePackages + "/hello-1.0.dist-info/RECORD", encoding: .utf8)
        #expect(helloRecord.contains("../../../bin/hello,sha256="))

        let hello = try String(contentsOfFile: final + "/bin/hello", encoding: .utf8)
        #expect(hello.hasPrefix("#!\(final)/bin/python3\n"))
        #expect(try mustRun([final + "/bin/hello"]).stdout == "hello from \(finalSitePackages)/hello/__init__.py\n")
        #expect(try mustRun([final + "/bin/edit-tool"]).stdout.hasPrefix(final + "/src/edit/edit.py"))
        #expect(try mustRun([final + "/bin/python", "-c", "import cext; print(cext.where())"]).stdout == "compiled\n")
        #expect(try searchPath(of: finalSitePackages + "/" + extensionName) == (canFixSearchPaths ? final + "/lib" : nil))

        let activated = try mustRun(["/bin/bash", "-c", ". \"$1/bin/activate\" && printf %s \"$VIRTUAL_ENV\"", "-", final])
        #expect(activated.stdout == final)
        let config = try String(contentsOfFile: final + "/pyvenv.cfg", encoding: .utf8)
        #expect(config.contains("home = /usr/bin\n"))
        #expect(!config.contains(build))
        #expect(!config.contains("command = ") || config.contains("command = \(debianPython) -m venv \(final)\n"))

        // Byte-code names the production path, so tracebacks do.
        let pycName = try #require(try FileManager.default.contentsOfDirectory(atPath: finalSitePackages + "/hello/__pycache__")
            .first { $0.hasPrefix("core.") })
        let embedded = try mustRun([final + "/bin/python", "-c",
                                    "import marshal, sys; f = open(sys.argv[1], 'rb'); f.read(16); print(marshal.load(f).co_filename)",
                                    finalSitePackages + "/hello/__pycache__/" + pycName])
        #expect(embedded.stdout == finalSitePackages + "/hello/core.py\n")
        let traceback = try runProcess([final + "/bin/python", "-c", "import hello.core; hello.core.boom()"])
        #expect(traceback.status == 1)
        #expect(traceback.stderr.contains("File \"\(finalSitePackages)/hello/core.py\""))

        // Nothing anywhere names the build path: file contents or symlink targets.
        let grep = try runProcess(["/bin/grep", "-rlF", "--", build, final])
        #expect(grep.status == 1, "grep found the build path in: \(grep.stdout)")
        let links = try mustRun(["/usr/bin/find", final, "-type", "l", "-lname", "*\(build)*"])
        #expect(links.stdout.isEmpty)
    }

    /// Byte-code is compiled by several processes at once; how many run together must not change a
    /// byte of it (nor of RECORD, which lists its hashes), and a source that does not compile is
    /// reported whichever process had it.
    @Test func byteCodeIsTheSameWhateverTheNumberOfCompilers() throws {
        let tmp = try TemporaryDirectory("jobs")
        defer { tmp.remove() }
        let build = tmp.path + "/build/vrmd/jobs/venv", final = "/vrmd/jobs/venv"
        try mustRun([debianPython, "-m", "venv", build])  // pip's own sources: about 800 files
        let pythonDirectory = try #require(try FileManager.default.contentsOfDirectory(atPath: build + "/lib")
            .first { $0.hasPrefix("python3") })
        let sitePackages = build + "/lib/" + pythonDirectory + "/site-packages"
        try tmp.write(String(sitePackages.dropFirst(tmp.path.count + 1)) + "/zz_broken.py", "def broken(:\n")
        try tmp.write(String(sitePackages.dropFirst(tmp.path.count + 1)) + "/aa_consts.py",
                      "WORDS = frozenset({'alpha', 'beta', 'gamma', 'delta'})\n")

        /// Every byte-code file and RECORD of the tree, by relative path.
        func snapshot() throws -> [String: Data] {
            var files: [String: Data] = [:]
            let enumerator = try #require(FileManager.default.enumerator(atPath: build))
            while let relative = enumerator.nextObject() as? String {
                if relative.hasSuffix(".pyc") || relative.hasSuffix("/RECORD") {
                    files[relative] = try Data(contentsOf: URL(fileURLWithPath: build + "/" + relative))
                }
            }
            return files
        }
        var reports: [RelocationReport] = []
        var snapshots: [[String: Data]] = []
        for jobs in [1, 5] {  // a second relocation of the same tree removes the byte-code and compiles it again
            let (output, result) = try relocate(try Relocation(buildRoot: build, finalRoot: final, compileJobs: jobs))
            #expect(output.status == 0, "\(output.stderr)")
            reports.append(try result.get())
            snapshots.append(try snapshot())
        }
        let one = try #require(reports.first), five = try #require(reports.last)
        #expect(one.bytecodeCompiled > 500 && one.bytecodeCompiled == five.bytecodeCompiled)
        #expect(five.bytecodeRemoved == one.bytecodeCompiled)
        #expect(one.bytecodeFailed == [String(sitePackages.dropFirst(build.count + 1)) + "/zz_broken.py"])
        #expect(five.bytecodeFailed == one.bytecodeFailed)
        let pycs = snapshots[0].keys.filter { $0.hasSuffix(".pyc") }
        #expect(pycs.count == one.bytecodeCompiled)
        #expect(snapshots[0] == snapshots[1], "files that differ: \(snapshots[0].keys.filter { snapshots[0][$0] != snapshots[1][$0] }.sorted().prefix(10))")
        // Checked-hash byte-code (PEP 552 flags 0b11), naming the final path.
        let consts = try #require(pycs.first { $0.contains("aa_consts.") })
        let header = try #require(snapshots[0][consts])
        #expect(header.count > 16 && header[header.startIndex + 4] == 3)
        #expect(header.range(of: Data((final + sitePackages.dropFirst(build.count) + "/aa_consts.py").utf8)) != nil)
    }

    /// Bytes the script may not edit make the audit fail, naming each file, and the rest is still fixed.
    @Test func auditListsFilesItCannotFix() throws {
        let tmp = try TemporaryDirectory("audit")
        defer { tmp.remove() }
        let build = tmp.path + "/build/venv"
        try tmp.write("build/venv/share/blob.bin", Data([0, 1, 2]) + Data(build.utf8) + Data([0, 255]))
        try tmp.write("build/venv/share/latin1.txt", Data("caf".utf8) + Data([0xE9, 0x20]) + Data(build.utf8))
        try tmp.write("build/venv/share/fixable.txt", "see \(build)/share\n")
        try tmp.write("build/venv/bin/tool", "#!\(build)/bin/python3\nprint('hi')\n", mode: 0o755)
        try FileManager.default.createSymbolicLink(atPath: build + "/share/link", withDestinationPath: build + "/bin/tool")

        let relocation = try Relocation(buildRoot: build, finalRoot: "/opt/app/venv")
        let (output, result) = try relocate(relocation)
        #expect(output.status == 1)
        guard case .failure(let error) = result else {
            Issue.record("the audit passed although share/blob.bin names the build path")
            return
        }
        #expect(error.code == .auditFailed)
        #expect(error.offendingFiles == ["share/blob.bin", "share/latin1.txt"])
        #expect(error.message.contains("share/blob.bin") && error.message.contains("share/latin1.txt"))
        #expect(error.report?.rewritten["shebang"] == 1)
        #expect(error.report?.rewritten["symlink"] == 1)
        #expect(error.report?.otherTextFiles == ["share/fixable.txt"])
        #expect(try String(contentsOfFile: build + "/share/fixable.txt", encoding: .utf8) == "see /opt/app/venv/share\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: build + "/share/link") == "/opt/app/venv/bin/tool")
        #expect(output.stderr.contains("share/blob.bin"))

        // --audit-only changes nothing and reports the same files.
        var audit = relocation
        audit.auditOnly = true
        let (again, auditResult) = try relocate(audit)
        #expect(again.status == 1)
        if case .failure(let auditError) = auditResult {
            #expect(auditError.offendingFiles == ["share/blob.bin", "share/latin1.txt"])
            #expect(auditError.report?.auditOnly == true)
            #expect(auditError.report?.totalRewritten == 0)
        } else {
            Issue.record("the audit-only run passed")
        }
    }

    /// Compiles a shared library whose RUNPATH names the build path.
    private func libraryWithBuildRunpath(_ tmp: TemporaryDirectory, build: String) throws -> String {
        try tmp.write("x.c", "int fab_x(void) { return 42; }\n")
        try FileManager.default.createDirectory(atPath: build + "/lib", withIntermediateDirectories: true)
        let library = build + "/lib/libx.so"
        try mustRun(["/usr/bin/gcc", "-shared", "-fPIC", "-o", library, tmp.path + "/x.c", "-Wl,-rpath,\(build)/lib:/usr/lib/fab-other"])
        #expect(try searchPath(of: library) == "\(build)/lib:/usr/lib/fab-other")
        return library
    }

    @Test(.enabled(if: haveTool("/usr/bin/gcc") && haveTool("/usr/bin/readelf")))
    func withoutPatchelfOrChrpathAnELFSearchPathIsAClearFailure() throws {
        let tmp = try TemporaryDirectory("notools")
        defer { tmp.remove() }
        let build = tmp.path + "/build/venv"
        _ = try libraryWithBuildRunpath(tmp, build: build)
        try FileManager.default.createDirectory(atPath: tmp.path + "/emptybin", withIntermediateDirectories: true)
        let relocation = try Relocation(buildRoot: build, finalRoot: "/opt/app/venv")
        let (output, result) = try relocate(relocation, environment: ["PATH": tmp.path + "/emptybin"])
        #expect(output.status == 3)
        guard case .failure(let error) = result else {
            Issue.record("relocation succeeded without patchelf or chrpath")
            return
        }
        #expect(error.code == .stepFailed)
        #expect(error.message.contains("lib/libx.so"))
        #expect(error.message.contains("add patchelf to the build dependencies"))
    }

    @Test(.enabled(if: haveTool("/usr/bin/gcc") && haveTool("/usr/bin/readelf") && which("chrpath") != nil))
    func fallsBackToChrpath() throws {
        let tmp = try TemporaryDirectory("chrpath")
        defer { tmp.remove() }
        let build = tmp.path + "/build/some/long/path/venv"
        let library = try libraryWithBuildRunpath(tmp, build: build)
        try FileManager.default.createDirectory(atPath: tmp.path + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: tmp.path + "/bin/chrpath", withDestinationPath: try #require(which("chrpath")))
        let relocation = try Relocation(buildRoot: build, finalRoot: "/opt/v")
        let (_, result) = try relocate(relocation, environment: ["PATH": tmp.path + "/bin"])
        let report = try result.get()
        #expect(report.elfTool == "chrpath" && report.elfSearchPathsFixed == 1)
        #expect(try searchPath(of: library) == "/opt/v/lib:/usr/lib/fab-other")
    }

    @Test(.enabled(if: haveTool("/usr/bin/gcc") && haveTool("/usr/bin/readelf") && which("patchelf") != nil))
    func patchelfRewritesTheSearchPath() throws {
        let tmp = try TemporaryDirectory("patchelf")
        defer { tmp.remove() }
        let build = tmp.path + "/b"
        let library = try libraryWithBuildRunpath(tmp, build: build)
        // Longer than the original: chrpath could not do this one.
        let final = "/vrmd/some-much-longer-application-name/releases/current/venv"
        let (_, result) = try relocate(try Relocation(buildRoot: build, finalRoot: final))
        let report = try result.get()
        #expect(report.elfTool == "patchelf" && report.elfSearchPathsFixed == 1)
        #expect(try searchPath(of: library) == "\(final)/lib:/usr/lib/fab-other")
    }

    /// With network access (FAB_NETWORK_TESTS=1): psycopg2 compiled from its source distribution by pip
    /// against libpq-dev, as the whois example does, relocated and imported at the final path.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FAB_NETWORK_TESTS"] == "1" && haveTool("/usr/bin/pg_config")))
    func relocatesACompiledPsycopg2() throws {
        let tmp = try TemporaryDirectory("psycopg2")
        defer { tmp.remove() }
        let build = tmp.path + "/build/vrmd/pg/venv", final = tmp.path + "/final/vrmd/pg/venv"
        try mustRun([debianPython, "-m", "venv", build])
        try mustRun([build + "/bin/pip", "install", "-q", "--no-cache-dir", "psycopg2==2.9.9"])
        let (_, result) = try relocate(try Relocation(buildRoot: build, finalRoot: final))
        _ = try result.get()
        try FileManager.default.createDirectory(atPath: tmp.path + "/final/vrmd/pg", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: build, toPath: final)
        let version = try mustRun([final + "/bin/python", "-c", "import psycopg2; print(psycopg2.__file__)"])
        #expect(version.stdout.hasPrefix(final + "/lib/"))
        #expect(try runProcess(["/bin/grep", "-rlF", "--", build, final]).status == 1)
    }
}
