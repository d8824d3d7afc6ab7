// The Python program that relocates a virtualenv built on the build machine. Kept here as a raw
// string literal so FabDeploy needs no resource bundle; edit it here, and keep it standard-library
// only and compatible with Python 3.7 (the oldest interpreter a build machine may run it with).

/// The relocation program that ``Relocation`` runs on the build machine.
public enum RelocateScript {
    /// The Python 3 source (standard library only, Python 3.7 or later), run as
    /// `python3 - BUILD_ROOT FINAL_ROOT [--audit-only] [--no-strip]` with this text on standard input.
    /// Its `--help` and its opening comment describe what it does.
    public static let source = #"""
"""fab relocate: make a virtualenv (or any tree) built at BUILD_ROOT correct at FINAL_ROOT.

Usage: python3 - BUILD_ROOT FINAL_ROOT [--audit-only] [--no-strip] [--jobs=N] < relocate.py

Runs on the build machine, with any Python 3.7 or later, standard library only.
The tree stays where it is (BUILD_ROOT); afterwards it is correct once copied or
installed at FINAL_ROOT. Steps:
  1. Text files (valid UTF-8, no NUL byte) that name BUILD_ROOT get it replaced by
     FINAL_ROOT: shebangs and pip's '''exec' polyglot shebangs in bin/, activate
     scripts, pyvenv.cfg, direct_url.json (file:// URLs, %-encoded too), *.pth,
     *.egg-link, RECORD files, and any other text file. Symbolic links whose
     target names BUILD_ROOT are re-pointed.
  2. ELF files (never edited as text): RPATH/RUNPATH entries under BUILD_ROOT are
     rewritten to the same place under FINAL_ROOT with patchelf, else chrpath. An
     ELF file that still names BUILD_ROOT afterwards (debug information: compile
     directories, include paths) has its debug sections removed with
     `strip --strip-debug`, as dh_strip would, unless --no-strip.
  3. Every __pycache__ directory and *.pyc/*.pyo file is deleted, and byte-code is
     compiled again by the tree's own interpreter (bin/python3 of the virtualenv,
     so the cache tag matches), with FINAL_ROOT paths as the file names that
     tracebacks show, as checked-hash .pyc files (PEP 552) with PYTHONHASHSEED=0:
     the same sources give the same bytes on every build (see below). Up to N
     compilers run at once (--jobs, by default one per processor).
  4. A direct_url.json whose file: URL names a path outside FINAL_ROOT (pip
     records the build machine's directory a project was installed from) is
     deleted: that path exists only on the build machine. So is uv's
     uv_cache.json (when uv installed a local project: a timestamp).
  5. Every *.dist-info/RECORD gets the hash (urlsafe base64 without padding, in
     the row's own algorithm) and size of each listed file that changed, a row
     for each byte-code file compiled from a listed source, no row for a file
     that is gone (byte-code that did not compile, a deleted direct_url.json or uv_cache.json),
     and its rows sorted as pip sorts them; so pip and importlib.metadata agree
     with the files, and RECORD lists what ships.
  6. Audit: every file (text or binary, byte-code included) and every symlink
     target is searched for the bytes of BUILD_ROOT (and of its resolved path and
     %-encoded form); each one that still holds them is listed.
Standard output ends with one line, FAB-RELOCATE-SUMMARY followed by a JSON object.
Exit status: 0 done and the audit passed; 1 the audit found references; 2 bad
arguments; 3 a step could not be done (the summary's "error" says which).

Why checked-hash byte-code: a timestamp .pyc records its source's mtime, so it
is only as reproducible as the build's file times, and it goes stale as soon as
anything changes a time (Python then compiles in memory on every start, since a
root-owned tree cannot be written); an unchecked-hash .pyc is never compared with
its source, so a source file edited on a server (a hot fix) would silently not
run; compiling in postinst ships no byte-code but costs every server about 4 s of
CPU per upgrade (the whois virtualenv's 1,720 files), leaves files dpkg does not
own (prerm must remove them) and makes the installed tree differ from the package.
A checked-hash .pyc holds a SipHash of its source, the same on every build, and
is checked against the source at import: measured on importing Twisted's reactor
and web server (bookworm's 3.11, 15 runs each), the three kinds cost the same CPU
within the noise (least 258 to 271 ms each). PYTHONHASHSEED=0 fixes the order of
sets of strings (a frozenset constant is marshalled in iteration order).
marshal's reference flags (FLAG_REF, set from reference counts in 3.11) depend
on what the compiling process holds, so the work is split the same way whatever
the machine: the sorted list of sources is cut into COMPILE_CHUNKS consecutive
runs of about equal size, each compiled in that order by a fresh process, and
--jobs only says how many of these run at once (the whois virtualenv's 1,212
sources take about 3.6 s of CPU: on two idle processors relocation went from
4.2 s to 2.5 s; on busy ones it gains little, the CPU being the same).
"""

import base64
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import struct
import subprocess
import sys

try:
    from urllib.parse import quote as url_quote
except ImportError:  # pragma: no cover - Python 2 is not supported
    url_quote = None

MARKER = "FAB-RELOCATE-SUMMARY "
EXIT_OK, EXIT_AUDIT, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
WHOLE_FILE_LIMIT = 8 << 20
ACTIVATE_NAMES = ("activate", "activate.csh", "activate.fish", "Activate.ps1",
                  "activate.nu", "activate.bat", "activate_this.py")
# Linux's limit for a #! line, which pip (distlib) also applies.
MAX_SHEBANG = 127
POLYGLOT = re.compile(
    r"\A#!/bin/sh\n'''exec' (?P<exe>\"[^\"\n]*\"|\S+)(?P<post>[^\n]*?) \"\$0\" \"\$@\"\n' '''\n")

# The byte-code compiler, run by the tree's own interpreter (any Python >= 3.7) with
# PYTHONHASHSEED=0: compiles the sources named on standard input (paths relative to
# BUILD_ROOT, each followed by a NUL byte), in that order, to checked-hash .pyc files, and
# writes its interpreter's cache tag, how many it compiled and each source that did not
# compile, each followed by a NUL byte.
COMPILER = r'''
import os, py_compile, sys
build, final = sys.argv[1], sys.argv[2]
mode = py_compile.PycInvalidationMode.CHECKED_HASH
compiled, failed = 0, []
for rel in os.fsdecode(sys.stdin.buffer.read()).split("\0")[:-1]:
    try:
        py_compile.compile(os.path.join(build, rel), dfile=os.path.join(final, rel), doraise=True, invalidation_mode=mode)
        compiled += 1
    except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeError, OSError):
        failed.append(rel)
sys.stdout.buffer.write(b"".join(os.fsencode(field) + b"\0" for field in [sys.implementation.cache_tag, str(compiled)] + failed))
'''
# How many compiler processes share the sources: a constant, so that no file's byte-code
# depends on the build machine's processor count.
COMPILE_CHUNKS = 8
# A source's weight when cutting the list: its size plus what compiling any file costs.
COMPILE_FILE_COST = 4096


class Failure(Exception):
    """A step that cannot be done; the message is the sentence the user reads."""


def warn(message):
    sys.stderr.write("relocate: %s\n" % message)


# ---------------------------------------------------------------- arguments

def default_jobs():
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_arguments(argv):
    flags = {"--audit-only": False, "--no-strip": False}
    jobs = default_jobs()
    positional = []
    for arg in argv:
        if arg in ("-h", "--help"):
            sys.stdout.write(__doc__)
            sys.exit(EXIT_OK)
        if arg in flags:
            flags[arg] = True
        elif arg.startswith("--jobs="):
            value = arg[len("--jobs="):]
            if not value.isdigit() or int(value) < 1:
                raise Failure("--jobs needs a whole number of at least 1, not %r" % value)
            jobs = int(value)
        elif arg.startswith("--"):
            raise Failure("unknown option %s (known: --audit-only, --no-strip, --jobs=N)" % arg)
        else:
            positional.append(arg)
    if len(positional) != 2:
        raise Failure("expected BUILD_ROOT and FINAL_ROOT, got %d arguments" % len(positional))
    build, final = (p.rstrip("/") or "/" for p in positional)
    for name, value in (("BUILD_ROOT", build), ("FINAL_ROOT", final)):
        if not value.startswith("/"):
            raise Failure("%s must be an absolute path, not %r" % (name, value))
        if "\n" in value or "\0" in value:
            raise Failure("%s must not contain a newline or NUL byte" % name)
    if build == "/":
        raise Failure("BUILD_ROOT must not be /")
    if not os.path.isdir(build) or os.path.islink(build):
        raise Failure("BUILD_ROOT %s is not a directory" % build)
    return build, final, flags["--audit-only"], not flags["--no-strip"], jobs


def replacements_for(build, final):
    """(old, new) string pairs, longest old first: the path as given, the path with
    symlinks resolved, and the %-encoded forms of both (file:// URLs)."""
    pairs = {build: final}
    real = os.path.realpath(build)
    if real != build:
        pairs[real] = final
    if url_quote is not None:
        for old in list(pairs):
            if url_quote(old) != old:
                pairs[url_quote(old)] = url_quote(final)
    for old in pairs:
        if old in final or old in url_quote(final):
            raise Failure("FINAL_ROOT %s contains the build path %s: the audit could not tell "
                          "them apart; build under a directory whose path is not part of the "
                          "final path" % (final, old))
    return sorted(pairs.items(), key=lambda p: -len(p[0]))


# ---------------------------------------------------------------- files

def walk(root):
    """Yield (path, relative path, is_symlink) for every file and symlink under root,
    in a stable order, without following symlinked directories."""
    for top, dirs, files in os.walk(root):
        dirs.sort()
        links = [d for d in dirs if os.path.islink(os.path.join(top, d))]
        dirs[:] = [d for d in dirs if d not in links]
        for name in sorted(files + links):
            path = os.path.join(top, name)
            yield path, os.path.relpath(path, root), os.path.islink(path)


def contains_any(path, needles):
    """Whether the file's bytes contain one of needles, reading large files in chunks."""
    overlap = max(len(n) for n in needles) - 1
    with open(path, "rb") as f:
        tail = b""
        while True:
            chunk = f.read(WHOLE_FILE_LIMIT)
            if not chunk:
                return False
            window = tail + chunk
            if any(n in window for n in needles):
                return True
            tail = window[-overlap:] if overlap else b""


def is_pyc(rel):
    return rel.endswith((".pyc", ".pyo")) or "__pycache__" in rel.split(os.sep)


def write_in_place(path, data):
    """Replace the file's contents, keeping its inode (hard links), owner and mode."""
    mode = os.stat(path).st_mode
    if not os.access(path, os.W_OK):
        os.chmod(path, mode | 0o200)
    try:
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate()
    finally:
        os.chmod(path, mode & 0o7777)


def text_kind(rel, text):
    parts = rel.split(os.sep)
    name, in_bin = parts[-1], len(parts) >= 2 and parts[-2] in ("bin", "Scripts")
    if name == "pyvenv.cfg":
        return "pyvenv_cfg"
    if in_bin and name in ACTIVATE_NAMES:
        return "activate"
    if name == "direct_url.json":
        return "direct_url"
    if name.endswith(".pth"):
        return "pth"
    if name.endswith(".egg-link"):
        return "egg_link"
    if name in ("RECORD", "installed-files.txt"):
        return "record"
    if text.startswith("#!/bin/sh\n'''exec'"):
        return "polyglot_shebang"
    if text.startswith("#!"):
        return "shebang"
    return "other_text"


def unpolyglot(text):
    """pip writes a /bin/sh polyglot instead of a #! line when the interpreter's path
    is long or has a space. Once the path is short enough, write a plain #! line."""
    match = POLYGLOT.match(text)
    if not match:
        return text
    exe = match.group("exe")
    if exe.startswith('"'):
        exe = exe[1:-1]
    line = "#!" + exe + match.group("post")
    if " " in exe or len(line.encode("utf-8")) + 1 > MAX_SHEBANG:
        return text
    return line + "\n" + text[match.end():]


def rewrite_text(path, rel, pairs):
    """Rewrite a text file; return its kind, or None when it is not UTF-8 text."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    kind = text_kind(rel, text)
    for old, new in pairs:
        text = text.replace(old, new)
    if kind == "polyglot_shebang":
        text = unpolyglot(text)
    st = os.stat(path)
    write_in_place(path, text.encode("utf-8"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return kind


# ---------------------------------------------------------------- ELF

def elf_search_paths(path):
    """[(tag, value)] for the DT_RPATH ("RPATH") and DT_RUNPATH ("RUNPATH") entries
    of an ELF file, read from its dynamic segment with the standard library only."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
            return []
        e = "<" if ident[5] == 1 else ">"
        if ident[4] == 2:
            header, ph, dyn = e + "HHIQQQIHHHHHH", e + "IIQQQQQQ", e + "qQ"
            fields = lambda p: (p[0], p[2], p[3], p[5])  # type, offset, vaddr, filesz
        else:
            header, ph, dyn = e + "HHIIIIIHHHHHH", e + "IIIIIIII", e + "iI"
            fields = lambda p: (p[0], p[1], p[2], p[4])
        raw = f.read(struct.calcsize(header))
        if len(raw) < struct.calcsize(header):
            return []
        h = struct.unpack(header, raw)
        phoff, phentsize, phnum = h[4], h[8], h[9]
        segments = []
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            raw = f.read(struct.calcsize(ph))
            if len(raw) < struct.calcsize(ph):
                return []
            segments.append(fields(struct.unpack(ph, raw)))
        dynamic = [s for s in segments if s[0] == 2]  # PT_DYNAMIC
        if not dynamic:
            return []
        _, offset, _, size = dynamic[0]
        f.seek(offset)
        raw = f.read(size)
        step = struct.calcsize(dyn)
        strtab, wanted = None, []
        for i in range(0, len(raw) - step + 1, step):
            tag, value = struct.unpack(dyn, raw[i:i + step])
            if tag == 0:  # DT_NULL
                break
            if tag == 5:  # DT_STRTAB, an address
                strtab = value
            elif tag in (15, 29):  # DT_RPATH, DT_RUNPATH: offsets into the string table
                wanted.append(("RPATH" if tag == 15 else "RUNPATH", value))
        if strtab is None or not wanted:
            return []
        base = None
        for kind, off, vaddr, filesz in segments:
            if kind == 1 and vaddr <= strtab < vaddr + filesz:  # PT_LOAD
                base = strtab - vaddr + off
        if base is None:
            return []
        result = []
        for tag, index in wanted:
            f.seek(base + index)
            value = f.read(4096).split(b"\0", 1)[0]
            result.append((tag, os.fsdecode(value)))
        return result


def run_tool(argv, what):
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise Failure("could not run %s to %s: %s" % (argv[0], what, e))
    if proc.returncode != 0:
        raise Failure("%s failed to %s (exit status %d): %s" % (
            " ".join(argv), what, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))


def fix_elf_search_path(path, rel, pairs, tools):
    """Rewrite RPATH/RUNPATH entries naming the build path; True when one was."""
    changed = False
    for tag, value in elf_search_paths(path):
        if not any(old in value for old, _ in pairs):
            continue
        new = value
        for old, repl in pairs:
            new = new.replace(old, repl)
        what = "rewrite the %s of %s from %s to %s" % (tag, rel, value, new)
        if tools.get("patchelf"):
            argv = [tools["patchelf"]]
            if tag == "RPATH":
                argv.append("--force-rpath")
            run_tool(argv + ["--set-rpath", new, path], what)
        elif tools.get("chrpath"):
            if len(new.encode()) > len(value.encode()):
                raise Failure("cannot %s: chrpath can only shorten a search path; "
                              "add patchelf to the build dependencies" % what)
            run_tool([tools["chrpath"], "-r", new, path], what)
        else:
            raise Failure("%s has the %s %s, which names the build path, and neither "
                          "patchelf nor chrpath is installed on the build machine; add "
                          "patchelf to the build dependencies" % (rel, tag, value))
        changed = True
    return changed


# ---------------------------------------------------------------- byte-code

def remove_bytecode(root):
    removed = 0
    for top, dirs, files in os.walk(root):
        if "__pycache__" in dirs:
            cache = os.path.join(top, "__pycache__")
            if not os.path.islink(cache):
                for _, _, names in os.walk(cache):
                    removed += sum(1 for n in names if n.endswith((".pyc", ".pyo")))
                shutil.rmtree(cache)
                dirs.remove("__pycache__")
        for name in files:
            if name.endswith((".pyc", ".pyo")):
                os.unlink(os.path.join(top, name))
                removed += 1
    return removed


def tree_interpreter(root):
    """The virtualenv's own interpreter (the tree, or a virtualenv up to two levels
    below it), so byte-code gets the cache tag of the Python that will run it."""
    candidates = [root]
    for top, dirs, _ in os.walk(root):
        depth = os.path.relpath(top, root).count(os.sep) + (top != root)
        if depth >= 2:
            dirs[:] = []
        candidates.extend(os.path.join(top, d) for d in sorted(dirs))
    for venv in candidates:
        if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            for name in ("python3", "python"):
                exe = os.path.join(venv, "bin", name)
                if os.access(exe, os.X_OK):
                    return exe
    return sys.executable


def python_sources(root):
    """[(relative path, size)] of every .py file under root outside __pycache__ and
    symlinks, in sorted order (directory by directory)."""
    sources = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(top, d)))
        for name in sorted(files):
            path = os.path.join(top, name)
            if name.endswith(".py") and not os.path.islink(path):
                sources.append((os.path.relpath(path, root), os.path.getsize(path)))
    return sources


def chunked(sources, count):
    """sources cut into at most count consecutive runs of about equal weight (never an
    empty run; one empty run when there are no sources)."""
    weights = [size + COMPILE_FILE_COST for _, size in sources]
    total = sum(weights)
    chunks, current, done = [], [], 0
    for (rel, _), weight in zip(sources, weights):
        current.append(rel)
        done += weight
        if len(chunks) < count - 1 and done * count >= total * (len(chunks) + 1):
            chunks.append(current)
            current = []
    if current or not chunks:
        chunks.append(current)
    return chunks


def compile_bytecode(root, final, interpreter, jobs):
    # Not -I (isolated mode): it ignores PYTHONHASHSEED. -s -S and a minimal environment
    # isolate it instead (no site, no user site, no PYTHONPATH), run from / so that
    # sys.path's first entry holds no module of the tree.
    environment = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "LC_ALL": "C.UTF-8"}

    def run(chunk):
        try:
            proc = subprocess.run([interpreter, "-s", "-S", "-c", COMPILER, root, final],
                                  input=b"".join(os.fsencode(rel) + b"\0" for rel in chunk),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=environment, cwd="/")
        except OSError as e:
            raise Failure("could not run %s to compile byte-code: %s" % (interpreter, e))
        fields = [os.fsdecode(field) for field in proc.stdout.split(b"\0")[:-1]]
        if proc.returncode != 0 or len(fields) < 2 or not fields[1].isdigit():
            raise Failure("compiling byte-code with %s failed (exit status %d): %s" % (
                interpreter, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()[-2000:]))
        return fields[0], int(fields[1]), fields[2:]

    chunks = chunked(python_sources(root), COMPILE_CHUNKS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(jobs, len(chunks)))) as pool:
        results = list(pool.map(run, chunks))
    return {"cache_tag": results[0][0], "compiled": sum(r[1] for r in results),
            "failed": [rel for r in results for rel in r[2]]}


# ---------------------------------------------------------------- direct_url.json

def remove_build_direct_urls(build, final):
    """Delete each *.dist-info/direct_url.json whose file: URL (after relocation)
    names a path outside FINAL_ROOT: the build machine's source directory or wheel
    a project was installed from, which no server has. Returns their paths."""
    removed = []
    for top, dirs, names in os.walk(build):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))
        path = os.path.join(top, "direct_url.json")
        if not top.endswith(".dist-info") or "direct_url.json" not in names or os.path.islink(path):
            continue
        try:
            with open(path, "rb") as f:
                url = json.loads(f.read().decode("utf-8")).get("url", "")
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        if not isinstance(url, str) or not url.startswith("file:"):
            continue
        target = url[len("file:"):]
        if target.startswith("//"):
            target = target[2:]
            target = target[target.find("/"):] if "/" in target else "/"
        try:
            from urllib.parse import unquote
            target = unquote(target)
        except ImportError:  # pragma: no cover
            pass
        if target == final or target.startswith(final.rstrip("/") + "/"):
            continue
        os.unlink(path)
        removed.append(path)
    return removed


def remove_uv_cache_records(build):
    """Delete each *.dist-info/uv_cache.json: uv's note of when it installed a
    local project (a timestamp, so two builds of one commit would differ), which
    only uv's cache on the build machine reads. Returns their paths."""
    removed = []
    for top, dirs, names in os.walk(build):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))
        path = os.path.join(top, "uv_cache.json")
        if top.endswith(".dist-info") and "uv_cache.json" in names and not os.path.islink(path):
            os.unlink(path)
            removed.append(path)
    return removed


# ---------------------------------------------------------------- RECORD

def file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def refresh_records(build, final, cache_tag=None, removed=()):
    """Rewrite the hash and size of every RECORD row whose file no longer matches
    them (text rewritten, ELF search path fixed or stripped, byte-code compiled
    anew). A file whose size is the row's and whose inode has not changed since RECORD
    was written (ctime, which nothing can set back) is not hashed again. With
    cache_tag, each listed .py file whose byte-code (__pycache__/NAME.TAG.pyc) exists
    gets a row for it, and rows of byte-code that does not exist are dropped; rows
    of the files in removed are dropped. A changed RECORD is written with its rows
    sorted as pip writes them. Returns (RECORD files rewritten, rows updated, rows
    added, rows dropped)."""
    files = rows_updated = rows_added = rows_dropped = 0
    removed = set(removed)
    for top, dirs, names in os.walk(build):
        dirs[:] = sorted(d for d in dirs if not os.path.islink(os.path.join(top, d)))
        record = os.path.join(top, "RECORD")
        if not top.endswith(".dist-info") or "RECORD" not in names or os.path.islink(record):
            continue
        base = os.path.dirname(top)
        written = os.stat(record).st_mtime_ns
        with open(record, "rb") as f:
            data = f.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            warn("%s is not UTF-8: its hashes were left as they are" % os.path.relpath(record, build))
            continue
        rows = list(csv.reader(io.StringIO(text, newline="")))
        changed = False

        def full_path(path):
            if os.path.isabs(path):
                if not (path == final or path.startswith(final + "/")):
                    return None
                return build + path[len(final):]
            return os.path.normpath(os.path.join(base, path))

        kept = []
        for row in rows:
            full = full_path(row[0]) if row else None
            gone = full is not None and not os.path.lexists(full) and (
                full in removed or (cache_tag is not None and is_pyc(row[0])))
            if gone:
                rows_dropped += 1
                changed = True
            else:
                kept.append(row)
        rows = kept
        added = set()
        if cache_tag is not None:
            listed = set(row[0] for row in rows if row)
            for row in list(rows):
                if not row or not row[0].endswith(".py") or os.path.isabs(row[0]):
                    continue
                head, name = posixpath.split(row[0])
                pyc = posixpath.join(head, "__pycache__", "%s.%s.pyc" % (name[:-3], cache_tag))
                full = full_path(pyc)
                if pyc in listed or full is None or os.path.islink(full) or not os.path.isfile(full):
                    continue
                rows.append([pyc, "sha256=" + file_digest(full, "sha256"), str(os.path.getsize(full))])
                listed.add(pyc)
                added.add(pyc)
                rows_added += 1
                changed = True
        for row in rows:
            if len(row) < 3 or "=" not in row[1] or row[0] in added:
                continue
            algorithm, _, old = row[1].partition("=")
            full = full_path(row[0])
            if full is None or os.path.islink(full) or not os.path.isfile(full):
                continue
            st = os.stat(full)
            if str(st.st_size) == row[2] and st.st_ctime_ns <= written:
                continue
            try:
                digest = file_digest(full, algorithm)
            except ValueError:
                continue  # an algorithm this Python does not know
            size = str(os.path.getsize(full))
            if digest != old or row[2] != size:
                row[1], row[2] = algorithm + "=" + digest, size
                changed = True
                rows_updated += 1
        if changed:
            rows.sort(key=lambda row: tuple(row[:3]))
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n" if "\r\n" in text else "\n").writerows(rows)
            write_in_place(record, out.getvalue().encode("utf-8"))
            files += 1
    return files, rows_updated, rows_added, rows_dropped


# ---------------------------------------------------------------- steps

def relocate(build, final, pairs, strip, jobs, summary):
    needles = [os.fsencode(old) for old, _ in pairs]
    rewritten = summary["rewritten"]
    elf_files = []
    for path, rel, is_link in walk(build):
        if is_link:
            target = os.readlink(path)
            if any(old in target for old, _ in pairs):
                for old, new in pairs:
                    target = target.replace(old, new)
                os.unlink(path)
                os.symlink(target, path)
                rewritten["symlink"] += 1
            continue
        if is_pyc(rel) or not os.path.isfile(path) or not contains_any(path, needles):
            continue
        with open(path, "rb") as f:
            if f.read(4) == b"\x7fELF":
                elf_files.append((path, rel))
                continue
        kind = rewrite_text(path, rel, pairs)
        if kind is None:
            warn("%s names the build path but is neither UTF-8 text nor ELF: left as it is" % rel)
            continue
        rewritten[kind] += 1
        if kind == "other_text":
            summary["other_text_files"].append(rel)

    tools = {name: shutil.which(name) for name in ("patchelf", "chrpath", "strip")}
    elf = summary["elf"]
    for path, rel in elf_files:
        if fix_elf_search_path(path, rel, pairs, tools):
            elf["search_path_fixed"] += 1
            elf["tool"] = "patchelf" if tools["patchelf"] else "chrpath"
        if strip and contains_any(path, needles):
            if not tools["strip"]:
                warn("%s names the build path in its debug information and strip is not "
                     "installed (package binutils)" % rel)
                continue
            run_tool([tools["strip"], "--strip-debug", path],
                     "remove the debug information (which names the build path) from %s" % rel)
            elf["stripped"] += 1

    summary["pyc"]["removed"] = remove_bytecode(build)
    interpreter = tree_interpreter(build)
    result = compile_bytecode(build, final, interpreter, jobs)
    summary["pyc"].update(interpreter=interpreter, compiled=result["compiled"],
                          failed=result["failed"])
    for rel in result["failed"][:20]:
        warn("%s does not compile with %s: no byte-code for it" % (rel, interpreter))
    removed = remove_build_direct_urls(build, final)
    summary["direct_url_removed"] = [os.path.relpath(p, build) for p in removed]
    removed += remove_uv_cache_records(build)
    files, rows, added, dropped = refresh_records(build, final, result.get("cache_tag"), removed)
    summary["record"] = {"files": files, "entries": rows, "added": added, "dropped": dropped}


def audit(build, pairs):
    needles = [os.fsencode(old) for old, _ in pairs]
    scanned, offending = 0, []
    for path, rel, is_link in walk(build):
        scanned += 1
        if is_link:
            if any(n in os.fsencode(os.readlink(path)) for n in needles):
                offending.append(rel)
        elif os.path.isfile(path) and contains_any(path, needles):
            offending.append(rel)
    return scanned, offending


def main(argv):
    summary = {
        "build_root": None, "final_root": None, "mode": "relocate",
        "rewritten": dict.fromkeys(("shebang", "polyglot_shebang", "activate", "pyvenv_cfg",
                                    "direct_url", "pth", "egg_link", "record", "other_text",
                                    "symlink"), 0),
        "other_text_files": [],
        "elf": {"search_path_fixed": 0, "stripped": 0, "tool": None},
        "pyc": {"removed": 0, "compiled": 0, "failed": [], "interpreter": None},
        "record": {"files": 0, "entries": 0},
        "audit": {"ok": False, "scanned": 0, "offending": []},
        "error": None,
    }
    status = EXIT_OK
    try:
        try:
            build, final, audit_only, strip, jobs = parse_arguments(argv)
            pairs = replacements_for(build, final)
        except Failure as e:
            status = EXIT_USAGE
            raise
        summary.update(build_root=build, final_root=final,
                       mode="audit-only" if audit_only else "relocate")
        if not audit_only:
            relocate(build, final, pairs, strip, jobs, summary)
        scanned, offending = audit(build, pairs)
        summary["audit"] = {"ok": not offending, "scanned": scanned, "offending": offending}
        if offending:
            status = EXIT_AUDIT
            warn("%d file(s) under %s still name it:" % (len(offending), build))
            for rel in offending:
                sys.stderr.write("  %s\n" % rel)
    except Failure as e:
        status = status or EXIT_FAILED
        summary["error"] = str(e)
        warn(str(e))
    except OSError as e:
        status = EXIT_FAILED
        summary["error"] = "%s: %s" % (e.filename or "", e.strerror or e)
        warn(summary["error"])
    sys.stdout.write(MARKER + json.dumps(summary, sort_keys=True) + "\n")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
"""#
}
