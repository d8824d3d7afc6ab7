import FabArchive
import Foundation

/// The shell commands and output parsers of ``Deployment``, as values.
///
/// Every function returns a command string with each interpolated value quoted (so a dry run can print
/// it and tests can compare it), or parses a command's output. Nothing here touches a host.
public enum DeploymentCommands {
    /// apt-get's options for unattended runs: wait for a lock held by another apt, fail `update` when a
    /// source fails (apt-get exits 0 otherwise).
    static let aptOptions = "-o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any"

    /// `apt-get update` that fails when any source fails. Run with sudo.
    /// - Parameter translations: also fetch the package descriptions' translations (apt's default);
    ///   the build host skips them (`Acquire::Languages=none`: 33 MB fewer lists, about 1.5 s of a
    ///   fresh host's 4 s update), since nothing there reads a description.
    public static func aptUpdate(translations: Bool = true) -> String {
        "DEBIAN_FRONTEND=noninteractive apt-get \(aptOptions)\(translations ? "" : " -o Acquire::Languages=none") -q update"
    }

    /// Non-interactive `apt-get install -y --no-install-recommends` of `packages` (`name` or
    /// `name=version`). Run with sudo.
    /// - Parameters:
    ///   - allowDowngrades: pass `--allow-downgrades` (for a rollback to an older version).
    ///   - unsafeIO: let dpkg skip syncing each file (`--force-unsafe-io`); for the build host only
    ///     (``Deployment/Settings/buildHostUnsafeIO`` says why), never for a server.
    public static func aptInstall(_ packages: [String], allowDowngrades: Bool = false, unsafeIO: Bool = false) -> String {
        "DEBIAN_FRONTEND=noninteractive " + aptGetInstall(packages, allowDowngrades: allowDowngrades, unsafeIO: unsafeIO)
    }

    /// `apt-get ... install PACKAGES` without the environment: ``aptInstall(_:allowDowngrades:unsafeIO:)``'s command.
    static func aptGetInstall(_ packages: [String], allowDowngrades: Bool = false, unsafeIO: Bool = false) -> String {
        var command = "apt-get \(aptOptions) -q -y --no-install-recommends"
        if allowDowngrades { command += " --allow-downgrades" }
        command += " -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
        if unsafeIO { command += " -o Dpkg::Options::=--force-unsafe-io" }
        return command + " install " + packages.map(LocalShell.quote).joined(separator: " ")
    }

    /// The versions apt knows of `package` from every configured source, one paragraph each
    /// (`apt-cache show`; exit status 100 when apt knows none). Parse with ``versions(fromAptCacheShow:)``.
    public static func aptCacheShow(_ package: String) -> String {
        "apt-cache show \(LocalShell.quote(package))"
    }

    /// The `Version` fields of `apt-cache show` output, in order, duplicates removed.
    /// - Throws: an error of FabArchive's ``ControlParagraph`` when the output is not control data.
    public static func versions(fromAptCacheShow output: String) throws -> [String] {
        guard !output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        var seen = Set<String>()
        return try ControlParagraph.parseAll(output).compactMap(\.version).filter { seen.insert($0).inserted }
    }

    /// The versions in `apt-cache madison` output (`package | version | source` lines), in order,
    /// duplicates removed; lines that are not of that form are skipped.
    public static func versions(fromAptCacheMadison output: String) -> [String] {
        var seen = Set<String>()
        return output.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let columns = line.split(separator: "|", omittingEmptySubsequences: false)
            guard columns.count >= 3 else { return nil }
            let version = columns[1].trimmingCharacters(in: .whitespaces)
            return version.isEmpty ? nil : version
        }.filter { seen.insert($0).inserted }
    }

    /// `MAJOR.MINOR` of an interpreter: prints e.g. `3.11`.
    public static func pythonVersion(_ python: String) -> String {
        "\(LocalShell.quote(python)) -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'"
    }

    /// The Debian packages the build needs besides the project's build dependencies, for the
    /// interpreter `python` of version `pythonVersion` (`/usr/bin/python3.11` needs `python3.11-venv`
    /// and `python3.11-dev`; `/usr/bin/python3` needs `python3-venv` and `python3-dev`).
    public static func kitPackages(python: String, needsGit: Bool) -> [String] {
        let name = (python as NSString).lastPathComponent
        let base = name.range(of: #"^python3(\.[0-9]+)?$"#, options: .regularExpression) != nil ? name : "python3"
        var packages = [base, "\(base)-venv", "\(base)-dev", "gcc", "libc6-dev", "binutils", "patchelf", "dpkg-dev"]
        if needsGit { packages.append("git") }
        return packages
    }

    /// Creates a virtualenv with `python` at `venv` (an existing one is replaced).
    public static func createVirtualenv(python: String, venv: String) -> String {
        "rm -rf -- \(LocalShell.quote(venv)) && \(LocalShell.quote(python)) -m venv \(LocalShell.quote(venv))"
    }

    /// pip's options: the persistent cache, the index settings, no prompts or version check.
    ///
    /// `--no-compile`: pip's byte-code would be thrown away, since relocation deletes every `.pyc`
    /// and compiles the tree again with the production paths and checked hashes (``RelocateScript``).
    static func pipOptions(cacheDirectory: String, indexURL: String?, extraIndexURLs: [String]) -> String {
        var options = ["--cache-dir", cacheDirectory, "--disable-pip-version-check", "--no-input", "--progress-bar", "off", "--no-compile"]
        if let indexURL { options += ["--index-url", indexURL] }
        for url in extraIndexURLs { options += ["--extra-index-url", url] }
        return options.map(LocalShell.quote).joined(separator: " ")
    }

    /// Installs into the virtualenv with its own pip: `arguments` are pip install's (requirement
    /// files with `-r`, directories, names); each is quoted.
    public static func pipInstall(venv: String, arguments: [String], cacheDirectory: String,
                                  indexURL: String? = nil, extraIndexURLs: [String] = []) -> String {
        "\(LocalShell.quote(venv + "/bin/python")) -m pip install -q "
            + pipOptions(cacheDirectory: cacheDirectory, indexURL: indexURL, extraIndexURLs: extraIndexURLs)
            + " " + arguments.map(LocalShell.quote).joined(separator: " ")
    }

    /// uv's environment on the build host: TLS trusts the system's certificates (a proxy's CA lives
    /// there, not in uv's bundled roots), and uv never downloads an interpreter of its own.
    static let uvEnvironment = "UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never"

    /// Where Debian keeps the pip wheel that `python -m venv` installs pip from (package `python3-pip-whl`).
    static let pipWheels = "/usr/share/python-wheels"

    /// Installs uv `version` from PyPI (with pip, in a throwaway virtualenv made by `python`) as the
    /// single binary `binary`, unless `binary` already is that version. The binary lands with one
    /// rename, so a build that is interrupted leaves no half-installed uv behind. Where Debian's pip
    /// wheel is installed, pip runs straight from it in a virtualenv made without pip (as `ensurepip`
    /// runs it): installing pip into the throwaway virtualenv first took 2-3 s of a cold build.
    public static func installUV(version: String, binary: String, python: String, pipCache: String,
                                 indexURL: String? = nil, extraIndexURLs: [String] = []) -> String {
        let directory = (binary as NSString).deletingLastPathComponent
        let root = (directory as NSString).deletingLastPathComponent
        let q = LocalShell.quote
        let wanted = "uv " + version
        let pip = "install -q \(pipOptions(cacheDirectory: pipCache, indexURL: indexURL, extraIndexURLs: extraIndexURLs)) --no-deps \(q("uv==" + version))"
        let wheel = "w=; for f in \(pipWheels)/pip-*.whl; do [ ! -f \"$f\" ] || w=$f; done; "
            + "if [ -n \"$w\" ]; then \(q(python)) -m venv --without-pip \"$t\" && \"$t/bin/python\" \"$w/pip\" \(pip);"
            + " else \(q(python)) -m venv \"$t\" && \"$t/bin/python\" -m pip \(pip); fi"
        return "case \"$(\(q(binary)) --version 2>/dev/null)\" in \(q(wanted))|\(q(wanted + " "))*) ;; *) "
            + "mkdir -p \(q(directory)) && t=$(mktemp -d \(q(root + "/.install-XXXXXX"))) && { "
            + wheel + " && mv -f \"$t/bin/uv\" \(q(binary)); s=$?; rm -rf \"$t\"; [ $s = 0 ]; } && \(q(binary)) --version ;; esac"
    }

    /// Creates a virtualenv with `python` at `venv` with uv (an existing one is replaced), without
    /// the `.gitignore` and `CACHEDIR.TAG` uv writes at its top (one is a VCS file lintian flags,
    /// the other tells backup tools to skip the installed tree).
    public static func uvCreateVirtualenv(uv: String, python: String, venv: String, cacheDirectory: String) -> String {
        let q = LocalShell.quote
        return "rm -rf -- \(q(venv)) && \(uvEnvironment) \(q(uv)) venv -q --python \(q(python)) --cache-dir \(q(cacheDirectory)) \(q(venv))"
            + " && rm -f -- \(q(venv + "/.gitignore")) \(q(venv + "/CACHEDIR.TAG"))"
    }

    /// Installs into the virtualenv at `venv` with `uv pip install`: files copied out of uv's cache
    /// (never hard-linked: relocation rewrites them in place), no byte-code (relocation compiles it
    /// with the installed paths); `arguments` as for ``pipInstall(venv:arguments:cacheDirectory:indexURL:extraIndexURLs:)``.
    /// uv looks for a package in the extra indexes first and stops at the first index that has it
    /// (pip takes the highest version from all of them).
    public static func uvPipInstall(uv: String, venv: String, arguments: [String], cacheDirectory: String,
                                    indexURL: String? = nil, extraIndexURLs: [String] = []) -> String {
        var options = ["--python", venv + "/bin/python", "--cache-dir", cacheDirectory, "--link-mode", "copy"]
        if let indexURL { options += ["--index-url", indexURL] }
        for url in extraIndexURLs { options += ["--extra-index-url", url] }
        return "\(uvEnvironment) \(LocalShell.quote(uv)) pip install -q "
            + (options + arguments).map(LocalShell.quote).joined(separator: " ")
    }

    /// Lists the ELF files (not symlinks) under `directory`, one absolute path a line, with `python`.
    public static func listELFFiles(under directory: String, python: String) -> String {
        let program = "import os,sys\nfor top,dirs,files in os.walk(sys.argv[1]):\n for n in files:\n  p=os.path.join(top,n)\n  if os.path.islink(p): continue\n  try:\n   with open(p,'rb') as f:\n    if f.read(4)==b'\\x7fELF': print(p)\n  except OSError: pass\n"
        return "\(LocalShell.quote(python)) -c \(LocalShell.quote(program)) \(LocalShell.quote(directory))"
    }

    /// dpkg-shlibdeps over `files`, run in `workDirectory` (which gets the fake `debian/control` that
    /// dpkg-shlibdeps insists on). Prints `shlibs:Depends=...`; libraries found in `libraryDirectories`
    /// (the package's own) are not looked up in the dpkg database.
    public static func shlibdeps(files: [String], libraryDirectories: [String], workDirectory: String) -> String {
        let control = "Source: fab-shlibdeps\\n\\nPackage: fab-shlibdeps\\nArchitecture: any\\n"
        var command = "mkdir -p \(LocalShell.quote(workDirectory + "/debian")) && cd \(LocalShell.quote(workDirectory))"
        command += " && printf '\(control)' > debian/control && dpkg-shlibdeps -O --ignore-missing-info --warnings=1"
        for directory in libraryDirectories { command += " " + LocalShell.quote("-l" + directory) }
        command += " -e " + files.map(LocalShell.quote).joined(separator: " -e ")
        return command
    }

    /// The relations of dpkg-shlibdeps's `shlibs:Depends=` line (empty when there is none).
    public static func shlibsDepends(fromShlibdepsOutput output: String) -> [String] {
        guard let line = output.split(whereSeparator: \.isNewline).last(where: { $0.hasPrefix("shlibs:Depends=") }) else { return [] }
        return line.dropFirst("shlibs:Depends=".count).split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Writes `DEBIAN/md5sums` for every regular file of the staging tree (DEBIAN excluded).
    public static func md5sums(stagingDirectory: String) -> String {
        "cd \(LocalShell.quote(stagingDirectory)) && mkdir -p DEBIAN && find . -path ./DEBIAN -prune -o -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 -r md5sum > DEBIAN/md5sums"
    }

    /// Sets the modes dpkg and lintian expect: nothing group- or world-writable, directories 0755, no
    /// set-user-ID or set-group-ID bit (a build directory under a setgid parent passes it on). Modes then
    /// depend on the owner's bits only, not on the build user's umask.
    public static func normalizeModes(stagingDirectory: String) -> String {
        "chmod -R u+rwX,go+rX,go-w,ug-s -- \(LocalShell.quote(stagingDirectory))"
    }

    /// `dpkg-deb --build` with every file owned by root (no fakeroot, no root), gzip compression.
    ///
    /// With `sourceDateEpoch` (a build of a commit: its committer time) the package is reproducible:
    /// every entry of the staging tree (`DEBIAN/` included) first gets that modification time
    /// (``setModificationTimes(directory:epoch:)``), and dpkg-deb runs with `SOURCE_DATE_EPOCH`, which
    /// dpkg-deb (1.18.8 and later) uses as the ar members' time and to clamp the tar entries' times.
    /// dpkg-deb already writes the tar members in sorted order (its tree walk sorts, since 1.17.x),
    /// owned by root with `--root-owner-group`, and its gzip and xz streams carry no time or file
    /// name, so the same tree gives the same bytes.
    public static func buildDeb(stagingDirectory: String, output: String, compression: String = "gzip", level: Int = 6,
                                sourceDateEpoch: Int? = nil) -> String {
        let build = "dpkg-deb --root-owner-group -Z\(LocalShell.quote(compression)) -z\(level) --build \(LocalShell.quote(stagingDirectory)) \(LocalShell.quote(output))"
        guard let sourceDateEpoch else { return build }
        return setModificationTimes(directory: stagingDirectory, epoch: sourceDateEpoch) + " && SOURCE_DATE_EPOCH=\(sourceDateEpoch) " + build
    }

    /// Gives every file, directory and symbolic link (`touch -h`: the link, not its target) under
    /// `directory` the modification time `epoch`.
    ///
    /// Every entry, not only those newer than `epoch` (a clamp): an older time is no more
    /// deterministic than a newer one (a file copied with its time preserved from a cache the build
    /// host filled days ago, or a wheel's member times), and a package built from one commit has
    /// nothing to say with a file's time. The code from git already has the commit's time.
    public static func setModificationTimes(directory: String, epoch: Int) -> String {
        "find \(LocalShell.quote(directory)) -exec touch -h -d @\(epoch) -- {} +"
    }

    /// The environment of every build-host command that writes package content, for a build of a
    /// commit made at `sourceDateEpoch`: `SOURCE_DATE_EPOCH` (honoured by dpkg-deb, setuptools' and
    /// other wheel builders' archives, Sphinx, gzip-writing tools...) and `PYTHONHASHSEED=0`, so that
    /// Python programs run by build steps iterate sets and dicts of strings in the same order every
    /// time (a set literal's frozenset constant, for one, is marshalled in that order).
    public static func reproducibleEnvironment(sourceDateEpoch: Int) -> [String: String] {
        ["SOURCE_DATE_EPOCH": String(sourceDateEpoch), "PYTHONHASHSEED": "0"]
    }

    /// The SHA-256 of a file: prints the 64 hex digits only.
    public static func sha256(_ path: String) -> String {
        "sha256sum -- \(LocalShell.quote(path)) | cut -d' ' -f1"
    }

    /// `reprepro list` of one package in one distribution, printing `VERSION ARCHITECTURE` lines.
    public static func repreproList(base: String, codename: String, package: String) -> String {
        "reprepro -b \(LocalShell.quote(base)) --list-format '${version} ${architecture}\\n' list \(LocalShell.quote(codename)) \(LocalShell.quote(package))"
    }

    /// The distinct versions of ``repreproList(base:codename:package:)`` output.
    public static func versions(fromRepreproList output: String) -> [String] {
        var seen = Set<String>()
        return output.split(whereSeparator: \.isNewline)
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { seen.insert($0).inserted }
    }

    /// `reprepro includedeb`.
    public static func repreproInclude(base: String, codename: String, deb: String) -> String {
        "reprepro -b \(LocalShell.quote(base)) includedeb \(LocalShell.quote(codename)) \(LocalShell.quote(deb))"
    }

    /// `reprepro remove` of a package from a distribution.
    public static func repreproRemove(base: String, codename: String, package: String) -> String {
        "reprepro -b \(LocalShell.quote(base)) remove \(LocalShell.quote(codename)) \(LocalShell.quote(package))"
    }

    /// The installed version of `package` (`dpkg-query -W`); prints nothing and fails when it is not installed.
    public static func installedVersion(_ package: String) -> String {
        "dpkg-query -W -f '${db:Status-Abbrev} ${Version}\\n' \(LocalShell.quote(package)) 2>/dev/null | awk '$1 == \"ii\" { print $2 }' | grep ."
    }

    /// The versions of `package` kept in an archive directory (`PACKAGE_VERSION_ARCH.deb` names), one a line.
    public static func listArchive(directory: String, package: String) -> String {
        "cd \(LocalShell.quote(directory)) 2>/dev/null && ls -1 -- \(LocalShell.quote(package))_*.deb 2>/dev/null || true"
    }

    /// Versions from the file names of ``listArchive(directory:package:)`` output (URL-decoded `%3a` epochs).
    public static func versions(fromArchiveListing output: String, package: String) -> [String] {
        output.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let name = String(line)
            guard name.hasPrefix(package + "_"), name.hasSuffix(".deb") else { return nil }
            let parts = name.dropFirst(package.count + 1).dropLast(4).split(separator: "_")
            guard parts.count == 2 else { return nil }
            return parts[0].replacingOccurrences(of: "%3a", with: ":")
        }
    }

    /// The file name dpkg-deb and dpkg-name give a package: `PACKAGE_VERSION_ARCH.deb` (epoch without `:`).
    public static func debFileName(package: String, version: String, architecture: String) -> String {
        let shown = version.split(separator: ":", maxSplits: 1).last.map(String.init) ?? version
        return "\(package)_\(shown)_\(architecture).deb"
    }

    /// Moves systemd units from `etc/systemd/system` (the administrator's place) to
    /// `lib/systemd/system`, where packages install them.
    public static func moveSystemdUnits(stagingDirectory: String) -> String {
        let from = LocalShell.quote(stagingDirectory + "/etc/systemd/system")
        let to = LocalShell.quote(stagingDirectory + "/lib/systemd/system")
        return "if [ -d \(from) ]; then mkdir -p \(to) && find \(from) -maxdepth 1 -type f \\( -name '*.service' -o -name '*.socket' -o -name '*.timer' \\) -exec mv -t \(to) {} + && find \(LocalShell.quote(stagingDirectory + "/etc/systemd")) -depth -type d -empty -delete; fi"
    }

    /// Removes symbols from ELF files, as dh_strip does (`--strip-unneeded`, no `.comment`/`.note`),
    /// and the GNU build ID (`.note.gnu.build-id`).
    ///
    /// The build ID is the linker's hash over the whole file, debug information included, and the
    /// debug information of an extension pip compiles names pip's temporary directory, a new random
    /// name on every build: two builds of psycopg2 from one commit get two build IDs and differ in
    /// those 20 bytes only. Without the debug information (stripped here, and no debug package is
    /// made) the ID identifies nothing a server can use.
    public static func strip(files: [String]) -> String {
        "strip --strip-unneeded --remove-section=.comment --remove-section=.note --remove-section=.note.gnu.build-id -- "
            + files.map(LocalShell.quote).joined(separator: " ")
    }

    /// A machine-readable `copyright` file for a package of a site's own app.
    public static func copyright(package: String, app: String, maintainer: String) -> String {
        """
        Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
        Upstream-Name: \(package)
        Comment: Built by fab's deploy kit: the app \(app) with its Python virtualenv. The
         third-party packages in the virtualenv carry their own licences in their dist-info directories.

        Files: *
        Copyright: \(maintainer)
        License: proprietary
         Internal software; not for distribution.

        """
    }

    /// A one-entry Debian changelog for the build (to be gzipped into `changelog.gz`).
    public static func changelog(package: String, version: String, branch: String, commit: String, maintainer: String, date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return "\(package) (\(version)) unstable; urgency=medium\n\n  * Automated build. Branch: \(branch) Commit: \(commit)\n\n -- \(maintainer)  \(formatter.string(from: date))\n"
    }

    /// Merges dependency lists the way the package's `Depends` gets them: explicit run dependencies,
    /// then the shared-library ones, then the interpreter; duplicates and weaker relations dropped.
    /// - Throws: ``ControlFileError`` for a relation that does not parse.
    public static func mergeDepends(run: [String], shlibs: [String], pythonVersion: String?) throws -> [String] {
        var builder = ControlFileBuilder(package: "fab-merge", version: "1", architecture: "all",
                                         maintainer: "fab <fab@example.com>", synopsis: "merge")
        builder.runDepends = run
        builder.shlibsDepends = shlibs
        builder.pythonVersion = pythonVersion
        return try builder.mergedDepends()
    }
}

// MARK: - Skipping work a previous build already did

extension DeploymentCommands {
    /// Where the kit notes, in the login user's home on the build host, that `apt-get update` and the
    /// install of the build dependencies succeeded.
    public static let aptStampFile = ".cache/fab-apt-updated"

    /// A command that succeeds when the build host needs no apt-get run: every package of `packages`
    /// is installed, the stamp at `stamp` (written after the last successful update and install) is
    /// younger than `maxAgeMinutes`, and no apt source file changed since. Runs without sudo.
    /// Returns nil when a package is not a plain name (`name=version`, a relation), so apt always runs then.
    public static func aptAlreadyReady(_ packages: [String], stamp: String, maxAgeMinutes: Int) -> String? {
        let names = Array(Set(packages)).sorted()
        guard maxAgeMinutes > 0, !names.isEmpty,
              names.allSatisfy({ $0.range(of: #"^[a-z0-9][a-z0-9.+-]+(:[a-z0-9-]+)?$"#, options: .regularExpression) != nil }) else { return nil }
        let quotedStamp = LocalShell.quote(stamp)
        let list = names.map(LocalShell.quote).joined(separator: " ")
        return "[ -n \"$(find \(quotedStamp) -mmin -\(maxAgeMinutes) 2>/dev/null)\" ]"
            + " && [ -z \"$(find /etc/apt/sources.list /etc/apt/sources.list.d /etc/apt/preferences.d -newer \(quotedStamp) 2>/dev/null)\" ]"
            + " && [ \"$(dpkg-query -W -f '${db:Status-Abbrev}\\n' -- \(list) 2>/dev/null | grep -c '^ii')\" = \(names.count) ]"
    }

    /// Records a successful `apt-get update` and install for ``aptAlreadyReady(_:stamp:maxAgeMinutes:)``. Runs without sudo.
    public static func touchAptStamp(_ stamp: String) -> String {
        "mkdir -p \(LocalShell.quote((stamp as NSString).deletingLastPathComponent)) && touch \(LocalShell.quote(stamp))"
    }
}

// MARK: - The build host's apt-get in the background

extension DeploymentCommands {
    /// Where, in the login user's home on the build host, each build's background apt-get keeps its
    /// files (a directory per build).
    public static let backgroundAptDirectory = ".cache/fab-apt-background"

    /// Repairs a dpkg that was interrupted (a background install stopped with its build, or a crash):
    /// runs `dpkg --configure -a` when dpkg's journal is not empty, which apt-get otherwise refuses to
    /// go on with. Run with sudo.
    public static let repairInterruptedDpkg = "if [ -n \"$(ls -A /var/lib/dpkg/updates 2>/dev/null)\" ]; then dpkg --configure -a; fi"

    /// Starts ``aptInstall(_:allowDowngrades:unsafeIO:)`` of `packages` in the background, detached from
    /// the SSH channel (its own session), stopped after `deadlineSeconds` (then killed 30 s later):
    /// output in `apt.out`, the process to stop in `apt.pid`, exit status in `apt.status` (written
    /// last), all in `directory`, which the login user made. It ignores the hang-up that sudo's
    /// terminal (`use_pty`) sends when the starting command ends before `setsid` ran. Run with sudo.
    public static func startBackgroundAptInstall(_ packages: [String], directory: String, unsafeIO: Bool, deadlineSeconds: Int) -> String {
        let q = LocalShell.quote
        let inner = "DEBIAN_FRONTEND=noninteractive timeout -k 30 \(deadlineSeconds) \(aptGetInstall(packages, unsafeIO: unsafeIO)) > apt.out 2>&1 &"
            + " echo $! > apt.pid; wait $!; echo $? > apt.status.tmp && mv apt.status.tmp apt.status"
        return "cd \(q(directory)) && rm -f apt.out apt.pid apt.status apt.status.tmp"
            + " && { trap '' HUP; setsid sh -c \(q(inner)) < /dev/null > /dev/null 2>&1 & }"
    }

    /// Waits until the install started by ``startBackgroundAptInstall(_:directory:unsafeIO:deadlineSeconds:)``
    /// ends (the caller's command timeout is the deadline), prints the last 40 lines of its output and
    /// exits with its exit status (124 or 137: it ran past its deadline). Runs without sudo.
    public static func waitForBackgroundApt(directory: String) -> String {
        "cd \(LocalShell.quote(directory)) && while [ ! -f apt.status ]; do sleep 0.2; done; tail -n 40 apt.out; exit \"$(cat apt.status)\""
    }

    /// Stops a background install that has not ended (`timeout` passes the signal to apt-get and
    /// dpkg; ``repairInterruptedDpkg`` cleans up after it on the next build); does nothing once it
    /// has ended. Run with sudo.
    public static func stopBackgroundApt(directory: String) -> String {
        "cd \(LocalShell.quote(directory)) 2>/dev/null && [ ! -f apt.status ] && pid=$(cat apt.pid 2>/dev/null) && kill -TERM \"$pid\" 2>/dev/null; true"
    }
}

// MARK: - Where a build's time goes

/// How long each step of a package build took; ``Deployment/buildDeb()`` prints ``summary`` at its end.
public struct BuildTimings: Sendable, Equatable {
    /// One step and its wall time, in seconds.
    public struct Step: Sendable, Equatable {
        public var name: String
        public var seconds: Double
    }

    /// The steps in the order they first ran; a step timed twice adds up.
    public private(set) var steps: [Step] = []

    public init() {}

    /// Adds `seconds` to the step `name` (appending it the first time).
    public mutating func add(_ name: String, seconds: Double) {
        if let index = steps.firstIndex(where: { $0.name == name }) {
            steps[index].seconds += seconds
        } else {
            steps.append(Step(name: name, seconds: seconds))
        }
    }

    /// Adds the time from `start` to now to the step `name`, and returns now (the next step's start).
    @discardableResult
    public mutating func add(_ name: String, since start: ContinuousClock.Instant) -> ContinuousClock.Instant {
        let now = ContinuousClock.now
        let duration = now - start
        add(name, seconds: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
        return now
    }

    /// The sum of the steps.
    public var total: Double { steps.reduce(0) { $0 + $1.seconds } }

    /// One line: `step timings: apt 1.7 s, version 0.3 s, ...; total 45.2 s`.
    public var summary: String {
        "step timings: " + steps.map { String(format: "%@ %.1f s", $0.name, $0.seconds) }.joined(separator: ", ")
            + String(format: "; total %.1f s", total)
    }
}

// MARK: - Versions

extension DeploymentCommands {
    /// `versions` with each version once (as dpkg compares them), sorted in Debian order; strings that
    /// are not versions go last, as given.
    public static func distinctSorted(_ versions: [String]) -> [String] {
        var parsed: [(DebianVersion, String)] = []
        var invalid: [String] = []
        for version in versions {
            if let value = try? DebianVersion(version) {
                if !parsed.contains(where: { $0.0 == value }) { parsed.append((value, version)) }
            } else if !invalid.contains(version) {
                invalid.append(version)
            }
        }
        return parsed.sorted { $0.0 < $1.0 }.map(\.1) + invalid
    }
}
