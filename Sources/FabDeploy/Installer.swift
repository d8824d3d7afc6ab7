import FabCore
import Foundation

/// The tool that installs a virtualenv's Python packages on the build host: pip (the virtualenv's
/// own) or uv (installed from PyPI into the build host's `~/.cache/fab-uv/VERSION/` on first use).
///
/// ```swift
/// let deploy = try await Deployment(fab, app: "whois") { $0.installer = .pip }
/// ```
///
/// Both install the same requirements from the same indexes (``Deployment/Settings/indexURL``,
/// ``Deployment/Settings/extraIndexURLs``) with a persistent cache in the login user's home, and the
/// relocation and its audit treat both virtualenvs alike. What differs in the package: uv's
/// virtualenv holds no pip, setuptools or wheel (nothing on a server installs into it) and its
/// `dist-info/INSTALLER` files say `uv`.
///
/// uv is the default because it is the faster of the two where builds repeat, and the whois example
/// and the kit's test projects build and pass every gate with it (`fab-bench deb --installer uv,pip`
/// measures both, each on a fresh build VM). For whois's requirements on this kind of machine uv
/// makes the virtualenv and installs in 1.6 s warm where pip takes 8.8 s (9.6 s and 17.4 s cold): uv
/// keeps every downloaded archive in its own cache, while pip's HTTP cache stays empty behind a proxy
/// that strips caching headers, so a warm pip downloads everything again and reuses only the wheels
/// it built. A fresh build host pays once for uv itself (a 17 MB wheel: about 19 s through this
/// proxy), which the first cold build carries.
public struct Installer: Sendable, Hashable, CustomStringConvertible {
    /// Which program installs.
    public enum Tool: String, Sendable, Hashable {
        /// The virtualenv's own pip (`python -m venv`, then `python -m pip install`).
        case pip
        /// Astral's uv (`uv venv`, then `uv pip install`).
        case uv
    }

    /// Which program installs.
    public let tool: Tool
    /// uv's version, installed from PyPI (`uv==VERSION`); nil for pip, whose version is the one
    /// `python -m venv` brings (and `upgradePip` upgrades).
    public let version: String?

    /// The virtualenv's own pip.
    public static let pip = Installer(tool: .pip, version: nil)
    /// uv at ``defaultUVVersion``.
    public static let uv = Installer(tool: .uv, version: defaultUVVersion)
    /// uv at `version` (such as `0.13.9`): a release that knows `UV_SYSTEM_CERTS` (0.9.14 and later).
    public static func uv(version: String) -> Installer { Installer(tool: .uv, version: version) }

    /// The uv release fab installs unless told otherwise.
    public static let defaultUVVersion = "0.13.9"

    /// Where uv lives on the build host, relative to the login user's home: each version in its own
    /// folder (`0.13.9/uv`), its download and build cache in `cache/`.
    public static let uvDirectory = ".cache/fab-uv"

    /// `pip` or `uv 0.13.9`: what a venv's input key records.
    public var description: String { version.map { "\(tool.rawValue) \($0)" } ?? tool.rawValue }

    /// The installer `text` names: `pip`, `uv` or `uv==VERSION` (how `FAB_INSTALLER` in the
    /// environment overrides ``Deployment/Settings/installer``).
    /// - Throws: ``FabError`` `.invalidArgument` for anything else, or a version that is not a release number.
    public static func named(_ text: String) throws -> Installer {
        let installer: Installer
        switch text {
        case "pip": installer = .pip
        case "uv": installer = .uv
        case let named where named.hasPrefix("uv=="): installer = .uv(version: String(named.dropFirst(4)))
        default:
            throw FabError(.invalidArgument, "the installer '\(text)' is none of pip, uv or uv==VERSION; name one of them (FAB_INSTALLER, settings.installer).")
        }
        try installer.validate()
        return installer
    }

    /// Checks the version before anything runs anywhere.
    /// - Throws: ``FabError`` `.invalidArgument` when uv's version is not a release number such as 0.13.9.
    public func validate() throws {
        guard tool == .uv else { return }
        guard let version, version.range(of: #"^[0-9]+(\.[0-9]+){1,3}$"#, options: .regularExpression) != nil else {
            throw FabError(.invalidArgument, "the uv version '\(version ?? "")' is not a release number; give one such as \(Self.defaultUVVersion) (see https://pypi.org/project/uv/#history).")
        }
    }
}

/// The installer's commands for one build on one build host, as values.
struct InstallerCommands: Sendable {
    var installer: Installer
    /// The interpreter that makes the virtualenv (and, for uv, the virtualenv uv is installed with).
    var python: String
    /// The login user's home on the build host.
    var home: String
    /// pip's cache (absolute).
    var pipCache: String
    var indexURL: String?
    var extraIndexURLs: [String]
    /// Upgrade pip and install wheel in a new virtualenv (pip only).
    var upgradePip: Bool

    init(_ settings: Deployment.Settings, home: String) {
        installer = settings.installer
        python = settings.python
        self.home = home
        pipCache = home + "/" + settings.pipCacheDirectory
        indexURL = settings.indexURL
        extraIndexURLs = settings.extraIndexURLs
        upgradePip = settings.upgradePip
    }

    /// Where uv's binary is, for uv.
    var uvBinary: String? {
        installer.version.map { home + "/" + Installer.uvDirectory + "/" + $0 + "/uv" }
    }

    /// uv's cache (absolute).
    var uvCache: String { home + "/" + Installer.uvDirectory + "/cache" }

    /// What runs before the virtualenv is made: the caches' directories, and for uv its installation
    /// when the build host does not have that version yet.
    var prepare: String {
        var command = "mkdir -p \(LocalShell.quote(pipCache))"
        if installer.tool == .uv, let version = installer.version, let uv = uvBinary {
            command += " && " + DeploymentCommands.installUV(version: version, binary: uv, python: python, pipCache: pipCache,
                                                             indexURL: indexURL, extraIndexURLs: extraIndexURLs)
        }
        return command
    }

    /// Creates the virtualenv at `venv` (an existing one is replaced): one command, or two when pip
    /// is upgraded in it.
    func createVirtualenv(venv: String) -> [String] {
        switch installer.tool {
        case .pip:
            var commands = [DeploymentCommands.createVirtualenv(python: python, venv: venv)]
            if upgradePip {
                commands.append(DeploymentCommands.pipInstall(venv: venv, arguments: ["--upgrade", "pip", "wheel"], cacheDirectory: pipCache,
                                                              indexURL: indexURL, extraIndexURLs: extraIndexURLs))
            }
            return commands
        case .uv:
            return [DeploymentCommands.uvCreateVirtualenv(uv: uvBinary ?? "uv", python: python, venv: venv, cacheDirectory: uvCache)]
        }
    }

    /// Installs `arguments` (`-r FILE`, directories, names) into the virtualenv at `venv`.
    func install(venv: String, arguments: [String]) -> String {
        switch installer.tool {
        case .pip:
            return DeploymentCommands.pipInstall(venv: venv, arguments: arguments, cacheDirectory: pipCache,
                                                 indexURL: indexURL, extraIndexURLs: extraIndexURLs)
        case .uv:
            return DeploymentCommands.uvPipInstall(uv: uvBinary ?? "uv", venv: venv, arguments: arguments, cacheDirectory: uvCache,
                                                   indexURL: indexURL, extraIndexURLs: extraIndexURLs)
        }
    }
}
