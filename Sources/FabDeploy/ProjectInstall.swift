import FabCore
import Foundation

/// How the app package's code reaches the virtualenv package's interpreter.
///
/// The project (its `pyproject.toml` or `setup.py`) is installed without its dependencies
/// (`pip install --no-deps --target`) into the app package's own directory, `INSTALL_ROOT/project/lib`,
/// by an installer virtualenv of the same interpreter kept in the build host's cache (so an app-only
/// build needs no copy of the big virtualenv). The app package then ships:
/// - `VENV/lib/pythonX.Y/site-packages/_fab_APP.pth`, one line naming `INSTALL_ROOT/project/lib`:
///   Python's `site` module reads `.pth` files of the virtualenv's site-packages at every start, so
///   `import`, `python -m`, `importlib.metadata` (entry points) and servers that embed the virtualenv
///   (uWSGI's `home=`) all see the project, with no environment variable in service files;
/// - its console scripts in `INSTALL_ROOT/project/bin` with `#!VENV/bin/python`, and a symlink to each
///   in `VENV/bin`, so service files that run `VENV/bin/SCRIPT` keep working.
///
/// dpkg lets two packages share directories, never files: the virtualenv package owns none of these
/// paths, so each package can be upgraded alone. Why not the project inside the virtualenv package:
/// it changes with every commit, and the virtualenv would then never be reused. Why not `PYTHONPATH`:
/// every way of starting Python (service, cron job, shell) would need it.
enum ProjectInstall {
    /// The script that finishes `pip install --target LIB`: moves `LIB/bin` to `BIN`, points each
    /// script's `#!` line at the virtualenv's interpreter, brings the moved rows of RECORD up to date
    /// (path, hash and size), links each script from the staged virtualenv's `bin`, and writes the
    /// `.pth` file. Arguments: LIB BIN STAGED_VENV_BIN FINAL_PYTHON FINAL_BIN FINAL_VENV_BIN PTH PTH_LINE.
    /// Prints one JSON line: `{"scripts": [...]}`.
    static let script = #"""
import base64, hashlib, json, os, shutil, sys

lib, bindir, venv_bin, final_python, final_bin, final_venv_bin, pth, pth_line = sys.argv[1:9]


def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(1)


def record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "sha256=" + digest


scripts, changed = [], {}
moved = os.path.join(lib, "bin")
if os.path.isdir(moved):
    os.makedirs(bindir, exist_ok=True)
    for name in sorted(os.listdir(moved)):
        path = os.path.join(bindir, name)
        shutil.move(os.path.join(moved, name), path)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as f:
                data = f.read()
            first, sep, rest = data.partition(b"\n")
            if first.startswith(b"#!") and b"python" in first:
                data = b"#!" + os.fsencode(final_python) + b"\n" + rest
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, 0o755)
            changed["bin/" + name] = ("../bin/" + name, record_hash(data), str(len(data)))
        scripts.append(name)
    os.rmdir(moved)
    for entry in sorted(os.listdir(lib)):
        record = os.path.join(lib, entry, "RECORD")
        if not entry.endswith(".dist-info") or not os.path.isfile(record):
            continue
        with open(record, encoding="utf-8") as f:
            rows = f.read().splitlines()
        out = []
        for row in rows:
            path = row.split(",", 1)[0]
            if path in changed:
                row = ",".join(changed[path])
            out.append(row)
        with open(record, "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
    os.makedirs(venv_bin, exist_ok=True)
    for name in scripts:
        link = os.path.join(venv_bin, name)
        if os.path.lexists(link):
            fail("the project's script %s is also a file of the virtualenv; rename the script or drop the requirement that installs it" % name)
        os.symlink(os.path.relpath(os.path.join(final_bin, name), final_venv_bin), link)
os.makedirs(os.path.dirname(pth), exist_ok=True)
with open(pth, "w", encoding="utf-8") as f:
    f.write(pth_line + "\n")
print(json.dumps({"scripts": scripts}))
"""#

    /// The scripts the finishing script reports.
    static func scripts(fromOutput output: String) -> [String] {
        guard let line = output.split(whereSeparator: \.isNewline).last(where: { $0.hasPrefix("{") }),
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let scripts = object["scripts"] as? [String] else { return [] }
        return scripts
    }
}
