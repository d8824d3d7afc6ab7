import Foundation
import Testing
@testable import FabDeploy

/// The repository's Fabfiles/django example.
private let djangoExample = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fabfiles/django").path

/// The environment for running the steps: Debian's lessc finds its modules under /usr/share/nodejs,
/// which a node from elsewhere (NodeSource) does not search by itself.
private var stepEnvironment: [String: String] {
    var environment = ProcessInfo.processInfo.environment
    environment["NODE_PATH"] = "/usr/share/nodejs"
    return environment
}

private func rcssminAvailable() -> Bool {
    (try? runProcess([debianPython, "-c", "import rcssmin"]).status) == 0
}

private func copyExample(to directory: String) throws {
    try mustRun(["/bin/cp", "-R", djangoExample, directory])
}

@Suite("DjangoSteps")
struct DjangoStepsTests {
    @Test func commandsQuoteEveryValue() throws {
        #expect(DjangoSteps.compileLess(input: "/src/it's/site.less", output: "/src/css/site.css")
            == #"mkdir -p /src/css && lessc --no-color '/src/it'\''s/site.less' /src/css/site.css"#)
        #expect(DjangoSteps.compileMessages(projectDirectory: "/b/src dir", venv: "/b/venv")
            == "cd '/b/src dir' && /b/venv/bin/python -m django compilemessages")
        #expect(try DjangoSteps.collectStatic(venv: "/b/venv", settingsModule: "vrmdsite.settings",
                                              environment: ["VRMD_DJANGO_STATIC_ROOT": "/b/stage/vrmd/django/static", "A": "x y"])
            == "env DJANGO_SETTINGS_MODULE=vrmdsite.settings A='x y' VRMD_DJANGO_STATIC_ROOT=/b/stage/vrmd/django/static /b/venv/bin/python -m django collectstatic --noinput --clear --ignore '*.less'")
        let bust = try DjangoSteps.replaceCacheBustToken(directories: ["/b/src/hello"], version: "1:42~rc1")
        #expect(bust.hasPrefix("/usr/bin/python3 -c 'import os, sys"))
        #expect(bust.hasSuffix(" '{{CACHE_BUST}}' '1:42~rc1' /b/src/hello"))
    }

    @Test func refusesWhatCannotBeQuotedSafely() {
        #expect(throws: DjangoStepsError.self) { try DjangoSteps.replaceCacheBustToken(directories: ["/b"], version: "42; rm -rf /") }
        #expect(throws: DjangoStepsError.self) { try DjangoSteps.replaceCacheBustToken(directories: ["/b"], version: "42", token: "") }
        #expect(throws: DjangoStepsError.self) { try DjangoSteps.replaceCacheBustToken(directories: [], version: "42") }
        #expect(throws: DjangoStepsError.self) { try DjangoSteps.collectStatic(venv: "/v", settingsModule: "site;settings") }
        #expect(throws: DjangoStepsError.self) { try DjangoSteps.collectStatic(venv: "/v", settingsModule: "s", environment: ["A-B": "1"]) }
    }

    /// The cache-busting command, run through a shell, on the example's templates and static files.
    @Test func cacheBustingReplacesTheTokenInTextFiles() throws {
        let tmp = try TemporaryDirectory("bust")
        defer { tmp.remove() }
        try copyExample(to: tmp.path + "/src")
        try tmp.write("src/hello/static/hello/img/blob.bin", Data([0xff, 0xfe]) + Data("{{CACHE_BUST}}".utf8))
        let command = try DjangoSteps.replaceCacheBustToken(
            directories: [tmp.path + "/src/hello/templates", tmp.path + "/src/hello/static"], version: "42")
        let output = try mustRun(["/bin/sh", "-c", command])
        #expect(output.stdout == "cache busting: replaced {{CACHE_BUST}} with 42 in 3 file(s)\n")  // template, less, js
        let template = try String(contentsOfFile: tmp.path + "/src/hello/templates/hello/index.html", encoding: .utf8)
        #expect(template.contains("site.css' %}?v=42\""))
        #expect(!template.contains("{{CACHE_BUST}}"))
        #expect(try String(contentsOfFile: tmp.path + "/src/hello/static/hello/js/app.js", encoding: .utf8)
            .contains("window.VRMD_RELEASE = \"42\";"))
        // A file that is not UTF-8 text is left alone.
        #expect(try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/src/hello/static/hello/img/blob.bin")).count == 16)
        let missing = try runProcess(["/bin/sh", "-c", try DjangoSteps.replaceCacheBustToken(directories: [tmp.path + "/nope"], version: "42")])
        #expect(missing.status != 0 && missing.stderr.contains("is not a directory"))
    }

    /// LESS compiled by Debian's lessc, then minified by rcssmin, through the commands the kit runs.
    @Test(.enabled(if: haveTool("/usr/bin/lessc") && rcssminAvailable()))
    func compilesAndCompressesTheStylesheet() throws {
        let tmp = try TemporaryDirectory("less")
        defer { tmp.remove() }
        try copyExample(to: tmp.path + "/src")
        let staticDirectory = tmp.path + "/src/hello/static"
        let css = staticDirectory + "/hello/css/site.css"
        try mustRun(["/bin/sh", "-c", DjangoSteps.compileLess(input: staticDirectory + "/hello/less/site.less", output: css)],
                    environment: stepEnvironment)
        let compiled = try String(contentsOfFile: css, encoding: .utf8)
        #expect(compiled.contains("body h1 {"))
        #expect(compiled.contains("color: #1d2a44;"))
        let output = try mustRun(["/bin/sh", "-c", DjangoSteps.compressCSS(directories: [staticDirectory])])
        #expect(output.stdout == "CSS compression: minified 1 file(s)\n")
        let minified = try String(contentsOfFile: css, encoding: .utf8)
        #expect(minified.split(separator: "\n").count == 1)
        #expect(minified.contains("body h1{"))
        #expect(minified.count < compiled.count)
    }

    /// The whole Django build, as the kit will run it, with network access for pip (FAB_NETWORK_TESTS=1):
    /// requirements into a virtualenv at a build path, LESS, cache busting, compression, messages, the
    /// project installed, collectstatic into the staging tree, relocation, and the page rendered in French
    /// from the final path.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["FAB_NETWORK_TESTS"] == "1"
                   && haveTool("/usr/bin/lessc") && haveTool("/usr/bin/msgfmt") && rcssminAvailable()))
    func buildsTheExampleProject() throws {
        let tmp = try TemporaryDirectory("django")
        defer { tmp.remove() }
        let src = tmp.path + "/build/src", stage = tmp.path + "/build/stage"
        let venv = stage + "/vrmd/django/venv", staticRoot = stage + "/vrmd/django/static"
        try FileManager.default.createDirectory(atPath: tmp.path + "/build", withIntermediateDirectories: true)
        try copyExample(to: src)
        try mustRun([debianPython, "-m", "venv", venv])
        try mustRun([venv + "/bin/pip", "install", "-q", "--disable-pip-version-check", "-r", src + "/requirements.txt"])
        let staticSources = src + "/hello/static"
        for command in [
            DjangoSteps.compileLess(input: staticSources + "/hello/less/site.less", output: staticSources + "/hello/css/site.css"),
            try DjangoSteps.replaceCacheBustToken(directories: [src + "/hello/templates", staticSources], version: "42"),
            DjangoSteps.compressCSS(directories: [staticSources]),
            DjangoSteps.compileMessages(projectDirectory: src, venv: venv),
        ] {
            try mustRun(["/bin/sh", "-c", command], environment: stepEnvironment)
        }
        try mustRun([venv + "/bin/pip", "install", "-q", "--disable-pip-version-check", src])
        try mustRun(["/bin/sh", "-c", try DjangoSteps.collectStatic(venv: venv, settingsModule: "vrmdsite.settings",
                                                                     environment: ["VRMD_DJANGO_STATIC_ROOT": staticRoot])])
        #expect(try String(contentsOfFile: staticRoot + "/hello/css/site.css", encoding: .utf8).contains("logo.svg?v=42"))
        #expect(FileManager.default.fileExists(atPath: staticRoot + "/hello/img/logo.svg"))
        #expect(!FileManager.default.fileExists(atPath: staticRoot + "/hello/less/site.less"))

        let final = tmp.path + "/final/vrmd/django"
        let relocation = try Relocation(buildRoot: stage + "/vrmd/django", finalRoot: final)
        let run = try runProcess(relocation.arguments, stdin: relocation.script)
        _ = try relocation.report(exitStatus: run.status, standardOutput: run.stdout, standardError: run.stderr)
        try FileManager.default.createDirectory(atPath: tmp.path + "/final/vrmd", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: stage + "/vrmd/django", toPath: final)

        var environment = ProcessInfo.processInfo.environment
        environment["VRMD_DJANGO_ALLOWED_HOSTS"] = "testserver"
        environment["DJANGO_SETTINGS_MODULE"] = "vrmdsite.settings"
        let page = try mustRun([final + "/venv/bin/python", "-c", """
            import django
            django.setup()
            from django.test import Client
            print(Client().get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode())
            """], environment: environment).stdout
        #expect(page.contains("<h1>Bonjour de vrmd</h1>"))
        #expect(page.contains("/static/hello/css/site.css?v=42"))
        #expect(page.contains("Version 42"))
        #expect(try runProcess(["/bin/grep", "-rlF", "--", stage, final]).status == 1)
    }
}
