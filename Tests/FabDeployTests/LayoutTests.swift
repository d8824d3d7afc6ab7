import FabCore
import Foundation
import Testing
@testable import FabDeploy

/// A deployment of the whois example with `configure`d settings: nothing connects.
private func makeDeployment(configure: (inout Deployment.Settings) -> Void = { _ in }) async throws -> Deployment {
    let pool = ConnectionPool(resolver: { host in throw FabError(.noHost, "no host \(host) in these tests") }, secrets: { _ in nil })
    let runtime = FabRuntime(pool: pool, output: OutputSink(write: { _ in }), dryRun: true, answers: [:], roledefs: [:])
    let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fabfiles/whois").path
    return try await Deployment(Fab(host: nil, runtime: runtime), app: "whois", projectDirectory: project, configure: configure)
}

/// The message of the FabError `body` throws, or nil.
private func failure(_ body: () throws -> Void) -> String? {
    do { try body() } catch let error as FabError { return error.description } catch { return "\(error)" }
    return nil
}

@Suite("Deployment layout")
struct LayoutTests {
    @Test func theDefaultIsTheKitsOriginalLayout() async throws {
        let deploy = try await makeDeployment()
        let layout = deploy.settings.layout
        #expect(layout.codePath(installRoot: deploy.installRoot) == "/vrmd/whois/app")
        #expect(layout.virtualenvPath(installRoot: deploy.installRoot) == "/vrmd/whois/venv")
        #expect(layout.directories.isEmpty && layout.links.isEmpty)
    }

    @Test func aLayoutOfItsOwn() async throws {
        let deploy = try await makeDeployment {
            $0.installRoot = "/srv/thumbs"
            $0.layout = .init(codeDirectory: "thumbs", virtualenvDirectory: "lib/venv",
                              directories: ["conf": "/etc/thumbs", "static": "/srv/thumbs/static"],
                              links: ["/usr/bin/thumbs": "/srv/thumbs/lib/venv/bin/thumbs"])
        }
        #expect(deploy.settings.layout.destinations(installRoot: deploy.installRoot).map(\.path)
            == ["/etc/thumbs", "/srv/thumbs/lib/venv", "/srv/thumbs/static", "/srv/thumbs/thumbs", "/usr/bin/thumbs"])
        let venvOnly = try await makeDeployment { $0.layout.codeDirectory = nil }
        #expect(venvOnly.settings.layout.codePath(installRoot: venvOnly.installRoot) == nil)
    }

    /// Each bad path is refused when the Deployment is made, with a sentence naming the setting and the value.
    @Test(arguments: [
        (Deployment.Layout(codeDirectory: "/srv/app"), "layout.codeDirectory: '/srv/app'"),
        (Deployment.Layout(codeDirectory: "../app"), "layout.codeDirectory: '../app'"),
        (Deployment.Layout(codeDirectory: "my app"), "layout.codeDirectory: 'my app'"),
        (Deployment.Layout(codeDirectory: ""), "layout.codeDirectory: ''"),
        (Deployment.Layout(virtualenvDirectory: "venv/"), "layout.virtualenvDirectory: 'venv/'"),
        (Deployment.Layout(virtualenvDirectory: "a/./b"), "layout.virtualenvDirectory: 'a/./b'"),
        (Deployment.Layout(virtualenvDirectory: "ve\nnv"), #"layout.virtualenvDirectory: 've\nnv'"#),
        (Deployment.Layout(directories: ["conf": "etc/thumbs"]), #"layout.directories["conf"]: 'etc/thumbs'"#),
        (Deployment.Layout(directories: ["conf": "/etc/../thumbs"]), #"layout.directories["conf"]: '/etc/../thumbs'"#),
        (Deployment.Layout(directories: ["../conf": "/etc/thumbs"]), "a source of layout.directories: '../conf'"),
        (Deployment.Layout(directories: ["debian": "/etc/thumbs"]), "debian/ holds the maintainer scripts"),
        (Deployment.Layout(directories: ["conf": "/lib/thumbs"]), "use /usr/lib/thumbs instead"),
        (Deployment.Layout(directories: ["conf": "/tmp/thumbs"]), "the system fills at run time"),
        (Deployment.Layout(links: ["usr/bin/thumbs": "/vrmd/whois/venv/bin/x"]), #"layout.links["usr/bin/thumbs"]"#),
        (Deployment.Layout(links: ["/usr/bin": "/vrmd/whois/venv/bin"]), "would replace the system directory /usr/bin"),
        (Deployment.Layout(links: ["/usr/lib/python3/dist-packages": "/vrmd"]), "would replace the system directory"),
        (Deployment.Layout(links: ["/usr/bin/x": "a b"]), "must be a path without white space"),
        (Deployment.Layout(links: ["/usr/bin/x": ""]), "must be a path without white space"),
        (Deployment.Layout(codeDirectory: "venv"), "layout.codeDirectory and layout.virtualenvDirectory both install /vrmd/whois/venv"),
        (Deployment.Layout(codeDirectory: "app", virtualenvDirectory: "app/venv"), "layout.virtualenvDirectory installs /vrmd/whois/app/venv inside /vrmd/whois/app"),
        (Deployment.Layout(directories: ["static": "/vrmd/whois/app/static"]), "installs /vrmd/whois/app/static inside /vrmd/whois/app"),
        (Deployment.Layout(directories: ["static": "/vrmd/whois"]), "inside /vrmd/whois"),
        (Deployment.Layout(links: ["/vrmd/whois/venv/bin/x": "/usr/bin/true"]), "inside /vrmd/whois/venv"),
        (Deployment.Layout(directories: ["a": "/etc/x", "b": "/etc/x"]), "both install /etc/x"),
    ])
    func refusesBadPaths(layout: Deployment.Layout, expected: String) async throws {
        do {
            _ = try await makeDeployment { $0.layout = layout }
            Issue.record("accepted \(layout)")
        } catch let error as FabError {
            #expect(error.code == .invalidArgument)
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test(arguments: [("/srv/a/../b", "installRoot: '/srv/a/../b'"), ("/srv//b", "installRoot: '/srv//b'"),
                      ("/tmp/app", "which the system fills at run time"), ("/lib/app", "use /usr/lib/app instead")])
    func refusesABadInstallRoot(root: String, expected: String) async throws {
        do {
            _ = try await makeDeployment { $0.installRoot = root }
            Issue.record("accepted \(root)")
        } catch let error as FabError {
            #expect(error.code == .invalidArgument && error.description.contains(expected), "\(error.description)")
        }
    }

    @Test func stepsThatNeedCodeAreRefusedWithoutCode() async throws {
        var deploy = try await makeDeployment { $0.layout.codeDirectory = nil }
        deploy.compileMessages()
        let source = try DeploymentSource.resolve(projectDirectory: deploy.projectDirectory, branch: nil)
        #expect(failure { try deploy.checkLayout(against: source) }?.contains("no code is shipped") == true)
    }

    @Test func directoriesMustBeCommitted() async throws {
        let deploy = try await makeDeployment { $0.layout.directories = ["whoisd": "/usr/share/whoisd", "nothing-here": "/etc/x"] }
        let source = try DeploymentSource.resolve(projectDirectory: deploy.projectDirectory, branch: nil)
        #expect(failure { try deploy.checkLayout(against: source) }
            == #"layout.directories["nothing-here"]: the project has no committed file in nothing-here/ on \#(source.branch); commit it or remove the entry."#)
        let fine = try await makeDeployment { $0.layout.directories = ["whoisd": "/usr/share/whoisd"] }
        try fine.checkLayout(against: source)
    }

    /// The staging commands, run with /bin/sh on a project tree, give the layout's tree; a value with
    /// quotes and a `$` in it stays one word.
    @Test func stagingCommandsBuildTheTree() throws {
        let tmp = try TemporaryDirectory("layout")
        defer { tmp.remove() }
        let src = tmp.path + "/src it's", staging = tmp.path + "/pkg $HOME"
        try tmp.write("src it's/app.py", "print(1)\n")
        try tmp.write("src it's/app.pyc", "junk")
        try tmp.write("src it's/debian/postinst", "#!/bin/sh\n")
        try tmp.write("src it's/etc/thumbs/default.conf", "a=1\n")
        try tmp.write("src it's/conf/thumbs.ini", "[x]\n")
        try tmp.write("src it's/static/css/site.css", "body{}\n")
        let layout = Deployment.Layout(codeDirectory: "thumbs", virtualenvDirectory: "venv",
                                       directories: ["conf": "/etc/thumbs-conf", "static": "/srv/thumbs/static"],
                                       links: ["/usr/bin/thumbs": "/srv/thumbs/venv/bin/thumbs", "/srv/thumbs/current": "thumbs"])
        try layout.validate(installRoot: "/srv/thumbs")
        for command in layout.stagingCommands(installRoot: "/srv/thumbs", source: src, staging: staging, excludes: ["*.pyc"]) {
            try mustRun(["/bin/sh", "-c", command])
        }
        let files = try mustRun(["/bin/sh", "-c", "cd \"$1\" && find . \\( -type f -o -type l \\) | LC_ALL=C sort", "sh", staging]).stdout
        #expect(files == """
            ./etc/thumbs-conf/thumbs.ini
            ./etc/thumbs/default.conf
            ./srv/thumbs/current
            ./srv/thumbs/static/css/site.css
            ./srv/thumbs/thumbs/app.py
            ./usr/bin/thumbs

            """)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: staging + "/usr/bin/thumbs") == "/srv/thumbs/venv/bin/thumbs")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: staging + "/srv/thumbs/current") == "thumbs")

        // A directory the project's etc/ already fills, and a missing one, fail with a sentence.
        let clash = Deployment.Layout(directories: ["conf": "/etc/thumbs"])
        let commands = clash.stagingCommands(installRoot: "/srv/thumbs", source: src, staging: tmp.path + "/pkg2", excludes: [])
        var last: ProcessOutput?
        for command in commands {
            last = try runProcess(["/bin/sh", "-c", command])
            if last?.status != 0 { break }
        }
        #expect(last?.status == 1)
        #expect(last?.stderr == "layout.directories[\"conf\"]: /etc/thumbs already holds files of the package (the project's etc/ or code); choose another path.\n")
        let missing = Deployment.Layout(directories: ["nope": "/etc/nope"])
        let result = try runProcess(["/bin/sh", "-c", missing.stagingCommands(installRoot: "/srv/thumbs", source: src, staging: tmp.path + "/pkg3", excludes: []).last ?? ""])
        #expect(result.status == 1 && result.stderr.contains("the project has no directory nope"))
    }
}
