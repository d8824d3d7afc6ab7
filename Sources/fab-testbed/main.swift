// fab-testbed: starts clean Debian "machines" on loopback (see FabTestSupport's CleanMachine) so the
// deploy kit can be tried without real VMs: a build host, optionally an apt repository host and
// target hosts. It writes an ssh_config with their aliases, then waits until it is told to stop
// (SIGINT, SIGTERM) and shuts every machine down.
//
//   fab-testbed --dir DIR [--build buildvm] [--repo repo] [--target web1 ...]
//
// Files in DIR: ssh_config (give it to fab with -F), ready (written once every machine answers),
// repo-sources.list (the sources.list line for the repository, when --repo is given).
// Needs root (chroots, mounts) and debootstrap; the first start builds the cached base tree (~45 s).
#if os(Linux)
import FabTestSupport
import Foundation
import Glibc

struct Options {
    var directory = ""
    var build: String? = "buildvm"
    var repo: String?
    var targets: [String] = []
}

func usage(_ message: String) -> Never {
    FileHandle.standardError.write(Data("fab-testbed: \(message)\nusage: fab-testbed --dir DIR [--build ALIAS|--no-build] [--repo ALIAS] [--target ALIAS]...\n".utf8))
    exit(64)
}

func parse() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        func value() -> String {
            guard let next = arguments.next(), !next.hasPrefix("--") else { usage("\(argument) needs a value") }
            return next
        }
        switch argument {
        case "--dir": options.directory = value()
        case "--build": options.build = value()
        case "--no-build": options.build = nil
        case "--repo": options.repo = value()
        case "--target": options.targets.append(value())
        case "-h", "--help": usage("starts clean machines on loopback")
        default: usage("unknown argument \(argument)")
        }
    }
    guard !options.directory.isEmpty else { usage("--dir is required") }
    return options
}

nonisolated func log(_ text: String) { FileHandle.standardError.write(Data("fab-testbed: \(text)\n".utf8)) }

let options = parse()
var machines: [CleanMachine] = []
var repository: AptRepository?
// Stop on SIGINT/SIGTERM: block them here and wait for them with sigwait after start-up.
var signals = sigset_t()
sigemptyset(&signals)
sigaddset(&signals, SIGINT)
sigaddset(&signals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &signals, nil)

@MainActor func shutDown() {
    try? repository?.stop()
    for machine in machines { try? machine.shutdown() }
}

do {
    try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
    let ready = options.directory + "/ready"
    try? FileManager.default.removeItem(atPath: ready)
    var config = "# Written by fab-testbed; valid while it runs.\n"
    let clock = ContinuousClock()
    if let alias = options.build {
        let start = clock.now
        let machine = try CleanMachine.start(.init(passwordlessSudo: true))
        machines.append(machine)
        config += machine.sshConfigSnippet(alias: alias)
        log("build host '\(alias)' at \(machine.user)@\(machine.host):\(machine.port) (passwordless sudo) in \(clock.now - start)")
    }
    if let alias = options.repo {
        let start = clock.now
        let machine = try CleanMachine.start(.init(passwordlessSudo: false, extraPackages: ["reprepro"]))
        machines.append(machine)
        // The push target recipe: /srv/apt on the machine, owned by its login user, served from this host.
        let user = machine.user
        // The rollback archive lives beside the served tree, in /srv/apt-archive.
        try machine.run("mkdir -p /srv/apt/conf && chown -R \(user): /srv/apt && install -d -o \(user) /srv/apt-archive").checked("create /srv/apt and /srv/apt-archive")
        try AptRepository.distributionsConfiguration(codename: "fab")
            .write(toFile: machine.root + "/srv/apt/conf/distributions", atomically: true, encoding: .utf8)
        try machine.run("chown -R \(user): /srv/apt && su -s /bin/sh \(user) -c 'reprepro -b /srv/apt export fab'").checked("export the empty repository")
        let served = try AptRepository.start(codename: "fab", directory: machine.root + "/srv/apt")
        repository = served
        try (served.sourcesListLine + "\n").write(toFile: options.directory + "/repo-sources.list", atomically: true, encoding: .utf8)
        config += machine.sshConfigSnippet(alias: alias)
        log("repository host '\(alias)' at \(machine.host):\(machine.port), /srv/apt served at \(served.url) in \(clock.now - start)")
    }
    for alias in options.targets {
        let machine = try CleanMachine.start(.init(passwordlessSudo: true))
        machines.append(machine)
        config += machine.sshConfigSnippet(alias: alias)
        log("target '\(alias)' at \(machine.host):\(machine.port)")
    }
    try config.write(toFile: options.directory + "/ssh_config", atomically: true, encoding: .utf8)
    try "\(getpid())\n".write(toFile: ready, atomically: true, encoding: .utf8)
    log("ready: fab -F \(options.directory)/ssh_config ...; stop with kill \(getpid())")
} catch {
    log("could not start: \(error)")
    shutDown()
    exit(1)
}

var received: Int32 = 0
sigwait(&signals, &received)
log("stopping (signal \(received))")
shutDown()
try? FileManager.default.removeItem(atPath: options.directory + "/ready")
exit(0)
#else
print("fab-testbed needs Linux (chroots and overlayfs).")
#endif
