import FabCore
import Foundation

extension Deployment {
    /// Where and how to build and publish; every field has a default.
    public struct Settings: Sendable {
        /// Prepended to the app's name to make the package name: `vrmd-` makes `vrmd-whois`.
        public var packagePrefix = "vrmd-"
        /// Where the package installs the app (the virtualenv in `venv/`, the code in `app/`, as
        /// ``layout`` says); nil for `/vrmd/APP`.
        public var installRoot: String?
        /// Where the code, the virtualenv, more directories and links go; the default is the code in
        /// `INSTALL_ROOT/app` and the virtualenv in `INSTALL_ROOT/venv`.
        public var layout = Layout()
        /// The interpreter on the build host that makes the virtualenv. `/usr/bin/python3.11` makes
        /// the package depend on `python3.11`.
        public var python = "/usr/bin/python3.11"
        /// The build host's name (an ssh_config alias).
        public var buildHost = "buildvm"
        /// The repository host's name (an ssh_config alias).
        public var repositoryHost = "repo"
        /// Where built packages are fetched to: nil for the project's `debian/` folder (its
        /// `.gitignore` keeps `*.deb` out of git). `FAB_ARTIFACT_DIR` in the environment overrides it.
        public var artifactDirectory: String?
        /// How packages are published.
        public var repository: Repository = .reprepro(base: "/srv/apt", codename: "fab")
        /// The `Maintainer` field.
        public var maintainer = "vrmd operations <ops@vrmd.example>"
        /// The description's first line; nil for "Python app APP built by fab" (worded so that lintian's
        /// `description-starts-with-package-name` holds for any prefix, the empty one included).
        public var synopsis: String?
        /// The archive section (`Section`).
        public var section = "misc"
        /// The package priority (`Priority`).
        public var priority = "optional"
        /// pip's index (`--index-url`), nil for pip's configuration.
        public var indexURL: String?
        /// More indexes (`--extra-index-url`), such as a private one.
        public var extraIndexURLs: [String] = []
        /// pip's cache on the build host, relative to the login user's home: it survives builds, so a
        /// second build downloads and compiles nothing that did not change.
        public var pipCacheDirectory = ".cache/fab-pip"
        /// Where builds happen on the build host, relative to the login user's home.
        public var buildDirectory = "fab-builds"
        /// Upgrade pip (and install wheel) in the new virtualenv before the requirements (pip only:
        /// uv's virtualenv holds no pip).
        public var upgradePip = true
        /// What installs the virtualenv's packages: ``Installer/uv`` (the default; ``Installer`` says
        /// why) or ``Installer/pip``. `FAB_INSTALLER` in the environment (`pip`, `uv`, `uv==VERSION`) overrides it.
        public var installer: Installer = .uv
        /// Files and directories left out of the package (shell patterns matched against each path component).
        public var excludes = [".git", "*.bak", "*.orig", ".gitignore", "fabfile.swift", "__pycache__", "*.pyc", "*.deb", "VERSION"]
        /// The project's version file (one version a line, relative to the project): when it exists it
        /// sets the version, and ``Deployment/bumpVersionFile()`` increments it.
        public var versionFile = "VERSION"
        /// How lintian checks the package (on the build host, while the package travels here) and
        /// what fails the build: errors by default; see ``LintPolicy``.
        public var lint = LintPolicy()
        @available(*, unavailable, message: "use lint.enabled; lint also accepts named tags with a reason and sets what fails the build")
        public var lintian: Bool { get { lint.enabled } set { lint.enabled = newValue } }
        /// Keep the build directory on the build host after a successful build.
        public var keepBuildDirectory = false
        /// How recent (in minutes) the build host's last successful `apt-get update` and install of the
        /// build dependencies must be for a build to skip apt-get, when every build dependency is
        /// installed and no apt source changed since; 0 runs apt-get update and install on every build.
        public var aptUpdateMaxAgeMinutes = 60
        /// Whether dpkg installs the build host's build dependencies without syncing each file to disk
        /// (`-o Dpkg::Options::=--force-unsafe-io`): on a fresh build host the install of the kit's
        /// 222 packages takes 24 s instead of 35 s. The default, because the build host is a dedicated
        /// build VM, whose packages can always be installed again: Docker's Debian images and the build
        /// chroots of mmdebstrap and sbuild install this way too. What it risks is a power cut or crash
        /// during the install leaving files empty that dpkg counts as installed; reinstall them
        /// (`apt-get install --reinstall`) or start from a new VM then. Set it to false on a build host
        /// that is not disposable. Servers never get it: `install`, `upgrade` and rollbacks keep dpkg's
        /// safe writes.
        public var buildHostUnsafeIO = true
        /// dpkg-deb's gzip level (1 to 9): 1 packs in about half the time of dpkg-deb's 6, for a
        /// package about 10 % larger.
        public var compressionLevel = 1
        /// How the build host gets the branch's committed tree: streamed from here (default) or cloned
        /// there from a git server it can reach.
        public var source: SourceTransport = .stream

        public init() {}
    }
}
