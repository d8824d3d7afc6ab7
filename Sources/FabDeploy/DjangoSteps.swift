import Foundation

/// Shell commands for the build steps of a Django project, run on the build machine before and after
/// the project is installed into its virtualenv.
///
/// Every function returns a command as a value (every interpolated value quoted), so a dry run can print
/// it and tests can compare it. The order the kit runs them in:
/// 1. ``compileLess(input:output:lessc:)`` for each stylesheet (Debian package `node-less`);
/// 2. ``replaceCacheBustToken(directories:version:token:python:)`` on the templates and static sources;
/// 3. ``compressCSS(directories:python:)`` (Debian package `python3-rcssmin`);
/// 4. ``compileMessages(projectDirectory:venv:)`` (Debian package `gettext`), so the `.mo` files are
///    installed with the project;
/// 5. `pip install` of the project into the virtualenv;
/// 6. ``collectStatic(venv:settingsModule:environment:ignore:)`` into the staging tree.
public enum DjangoSteps {
    /// The token that ``replaceCacheBustToken(directories:version:token:python:)`` replaces by default.
    /// In a Django template, an unreplaced `{{CACHE_BUST}}` renders as nothing, so development works.
    public static let cacheBustToken = "{{CACHE_BUST}}"

    /// Compiles one LESS stylesheet to CSS.
    /// - Parameters:
    ///   - input: The `.less` file.
    ///   - output: The `.css` file to write (its directory is created).
    ///   - lessc: The compiler; Debian's `node-less` installs `/usr/bin/lessc`.
    public static func compileLess(input: String, output: String, lessc: String = "lessc") -> String {
        let directory = (output as NSString).deletingLastPathComponent
        let mkdir = directory.isEmpty ? "" : "mkdir -p \(LocalShell.quote(directory)) && "
        return mkdir + "\(LocalShell.quote(lessc)) --no-color \(LocalShell.quote(input)) \(LocalShell.quote(output))"
    }

    /// Minifies, in place, every `.css` file (except `*.min.css`) under the directories, with rcssmin.
    /// - Parameters:
    ///   - directories: Static-file source directories.
    ///   - python: An interpreter that can import `rcssmin` (Debian's, with `python3-rcssmin`).
    public static func compressCSS(directories: [String], python: String = "/usr/bin/python3") -> String {
        ([python, "-c", compressProgram] + directories).map(LocalShell.quote).joined(separator: " ")
    }

    /// Replaces the cache-busting token with the package version in every UTF-8 text file under the
    /// directories (templates, stylesheets, scripts), so URLs such as `site.css?v=42` change with each
    /// release. Prints how many files it changed; fails when a directory does not exist.
    /// - Parameters:
    ///   - directories: Template and static source directories.
    ///   - version: The package version (a valid Debian version, so it needs no escaping in URLs).
    ///   - token: The text to replace.
    ///   - python: Any Python 3 interpreter on the build machine.
    /// - Throws: ``DjangoStepsError`` when the version is not a valid Debian version, the token is empty,
    ///   or no directory is given.
    public static func replaceCacheBustToken(directories: [String], version: String, token: String = cacheBustToken,
                                             python: String = "/usr/bin/python3") throws(DjangoStepsError) -> String {
        do {
            _ = try DebianVersion(version)
        } catch {
            throw DjangoStepsError(message: "Cannot use '\(version)' to bust caches: \(error.description)")
        }
        guard !token.isEmpty, !token.contains(where: \.isNewline) else {
            throw DjangoStepsError(message: "The cache-busting token must be a non-empty single line.")
        }
        guard !directories.isEmpty else {
            throw DjangoStepsError(message: "Give at least one directory in which to replace the cache-busting token.")
        }
        return ([python, "-c", cacheBustProgram, token, version] + directories).map(LocalShell.quote).joined(separator: " ")
    }

    /// Compiles the project's `.po` translations to `.mo` files with Django's `compilemessages`, which
    /// needs `msgfmt` (Debian package `gettext`). Run it in the project's source directory, before
    /// installing the project, so the `.mo` files are installed with it.
    /// - Parameters:
    ///   - projectDirectory: The directory holding the apps' `locale/` directories.
    ///   - venv: The virtualenv with Django installed.
    public static func compileMessages(projectDirectory: String, venv: String) -> String {
        "cd \(LocalShell.quote(projectDirectory)) && \(LocalShell.quote(venv + "/bin/python")) -m django compilemessages"
    }

    /// Collects the static files of the installed project into its `STATIC_ROOT` (emptied first).
    /// - Parameters:
    ///   - venv: The virtualenv the project is installed in.
    ///   - settingsModule: The Django settings module, such as `vrmdsite.settings`.
    ///   - environment: Variables the settings read, such as the staging `STATIC_ROOT`
    ///     (`["VRMD_DJANGO_STATIC_ROOT": "/home/deploy/fab-builds/.../vrmd/django/static"]`).
    ///   - ignore: Glob patterns of files not to collect; by default the LESS sources, whose compiled
    ///     CSS is collected instead.
    /// - Throws: ``DjangoStepsError`` for a settings module or variable name that is not an identifier.
    public static func collectStatic(venv: String, settingsModule: String, environment: [String: String] = [:],
                                     ignore: [String] = ["*.less"]) throws(DjangoStepsError) -> String {
        guard isModuleName(settingsModule) else {
            throw DjangoStepsError(message: "The settings module '\(settingsModule)' is not a dotted Python module name.")
        }
        var assignments = ["DJANGO_SETTINGS_MODULE=" + LocalShell.quote(settingsModule)]
        for name in environment.keys.sorted() {
            guard isIdentifier(name) else {
                throw DjangoStepsError(message: "The environment variable name '\(name)' is not valid (letters, digits and _, not starting with a digit).")
            }
            assignments.append(name + "=" + LocalShell.quote(environment[name] ?? ""))
        }
        return "env " + assignments.joined(separator: " ") + " "
            + LocalShell.quote(venv + "/bin/python") + " -m django collectstatic --noinput --clear"
            + ignore.map { " --ignore " + LocalShell.quote($0) }.joined()
    }

    private static func isIdentifier(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    private static func isIdentifier(_ name: String) -> Bool { isIdentifier(Substring(name)) }

    private static func isModuleName(_ name: String) -> Bool {
        !name.isEmpty && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isIdentifier)
    }

    /// argv: token, value, directories... Replaces in UTF-8 text files only, in place (keeping modes).
    static let cacheBustProgram = #"""
import os, sys
token, value, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
changed = 0
for root in roots:
    if not os.path.isdir(root):
        sys.exit("cache busting: %s is not a directory" % root)
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if token in text:
                with open(path, "r+b") as f:
                    f.write(text.replace(token, value).encode("utf-8"))
                    f.truncate()
                changed += 1
print("cache busting: replaced %s with %s in %d file(s)" % (token, value, changed))
"""#

    /// argv: directories... Minifies *.css (not *.min.css) in place with rcssmin.
    static let compressProgram = #"""
import os, sys
try:
    import rcssmin
except ImportError:
    sys.exit("CSS compression needs rcssmin: install the Debian package python3-rcssmin on the build machine")
count = 0
for root in sys.argv[1:]:
    if not os.path.isdir(root):
        sys.exit("CSS compression: %s is not a directory" % root)
    for top, dirs, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(top, name)
            if not name.endswith(".css") or name.endswith(".min.css") or os.path.islink(path):
                continue
            with open(path, encoding="utf-8") as f:
                css = f.read()
            with open(path, "w", encoding="utf-8") as f:
                f.write(rcssmin.cssmin(css) + "\n")
            count += 1
print("CSS compression: minified %d file(s)" % count)
"""#
}

/// A Django build step that cannot be described, with the reason.
public struct DjangoStepsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The sentence to show the user.
    public let message: String

    /// The sentence to show the user.
    public var description: String { message }
}
