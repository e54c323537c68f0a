"""The bytecode warmer's process (started by :mod:`fcslim.verify.warmup`).

It runs in the target's interpreter (CPython 3.8+), in the same place and
with the same flags as the import check it helps, and is given the same
module list.  A cheap static scan predicts which source files the check will
compile and in which order: module-level ``import``/``from`` statements (those
in function bodies and under ``if TYPE_CHECKING`` run later or never), read
with a regular expression and followed depth first, parents first, the way
the imports will run.  It then fills the check's bytecode cache, a pycache
prefix outside the bundle, from the LAST predicted file to the first, so it
meets the check (which compiles from the first, and writes there too) in the
middle; a file whose pyc is there already is skipped:

* the interpreter's own pycs (its standard library's) are linked into the
  prefix once, before the first check (:func:`seed`), and a bundle file with
  an in-tree pyc gets a copy of it: what the check reads without a prefix;
* any other file is compiled with ``py_compile`` (timestamp pyc, written
  atomically): the bytes the importer itself would have compiled.

It never imports or runs a file it scans, writes nothing outside the prefix,
and a failure on one file only skips that file.  The check validates every pyc
it reads against its source (mtime and size), as always.

Usage: ``python -c SOURCE_OF_THIS_FILE PATHS_JSON MODULES_JSON PREFIX``; once
per prefix first, ``python -c SOURCE_OF_THIS_FILE --seed PREFIX`` (see :func:`seed`).
"""

import importlib
import json
import os
import sys

STARTED = set(sys.modules)  # what the check has imported before its first module, too

import _imp  # noqa: E402  (after the snapshot of what was imported at start-up)
import importlib.util  # noqa: E402
import py_compile  # noqa: E402
import re  # noqa: E402

# Found by the literal "import" (searched for quickly, unlike a pattern tried
# at every line start: 13 ms against 200 ms over the 12 MB the data set's
# imports read), then read from the start of its line.
CANDIDATE = re.compile(rb"import[ \t(]")
STATEMENT = re.compile(
    rb"([ \t]*)(?:from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]*(?P<names>\([^)]*\)?|[^#;\n]*)"
    rb"|import[ \t]+(?P<modules>[^#;\n]+))")
LAZY = re.compile(rb"[ \t]*(?:(?:async[ \t]+)?def[ \t]|if[ \t]+(?:[\w.]+\.)?TYPE_CHECKING\b|if[ \t]+__name__[ \t]*==)")
WALK_BACK = 400  # lines looked at above an indented import to find its block
WORD = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


class Scan:
    """Which source files importing ``modules`` will compile, in order."""

    def __init__(self, search, found=None):
        self.search = list(search)
        self.found = found  # called with each source file as it is found
        self.listings = {}
        self.package_dirs = {}
        self.seen = set()
        self.order = []

    def entries(self, directory):
        found = self.listings.get(directory)
        if found is None:
            try:
                found = set(os.listdir(directory))
            except OSError:
                found = set()
            self.listings[directory] = found
        return found

    def find(self, name):
        """(source file or None, is a package); None when not a module."""
        parent, _, last = name.rpartition(".")
        if not parent and (name in sys.builtin_module_names or _imp.is_frozen(name)):
            return None
        dirs = self.package_dirs.get(parent) if parent else self.search
        if parent and dirs is None and parent in STARTED:  # a package the check imported at start-up
            dirs = list(getattr(sys.modules.get(parent), "__path__", None) or ())
        namespace = []
        for directory in dirs or ():
            names = self.entries(directory)
            base = os.path.join(directory, last)
            if last in names and "__init__.py" in self.entries(base):
                self.package_dirs[name] = [base]
                return base + "/__init__.py", True
            if any(n.startswith(last + ".") and n.endswith(".so") for n in names):
                return None, False  # an extension module: nothing to compile, nothing to scan
            if last + ".py" in names:
                return base + ".py", False
            if last in names and os.path.isdir(base):
                namespace.append(base)
        if namespace:
            self.package_dirs[name] = namespace
            return None, True
        return None

    def visit(self, name):
        if name in self.seen:
            return
        parent = name.rpartition(".")[0]
        if parent:
            self.visit(parent)
        self.seen.add(name)
        found = self.find(name)
        if found is None or found[0] is None:
            return
        path, is_package = found
        self.order.append(path)
        if self.found is not None:
            self.found(path)
        package = name if is_package else parent
        for target in imports_of(path, package):
            self.visit(target[0])
            for sub in target[1]:
                if self.find(sub) is not None:
                    self.visit(sub)


def imports_of(path, package):
    """The modules a source file imports when it runs, in order: (module,
    [possible submodules named by ``from module import name``]).  Imports in
    a function body or under ``if TYPE_CHECKING`` are left out."""
    try:
        with open(path, "rb") as handle:
            text = b"\n" + handle.read()
    except OSError:
        return []
    found = []
    last_line = -1
    for candidate in CANDIDATE.finditer(text):
        start = text.rfind(b"\n", 0, candidate.start()) + 1
        if start == last_line:
            continue
        last_line = start
        match = STATEMENT.match(text, start)
        if match is None or (match.group(1) and runs_later(text, start, len(match.group(1).expandtabs()))):
            continue
        if match.group("modules"):
            for part in match.group("modules").decode("utf-8", "replace").split(","):
                module = part.split(" as ")[0].strip()
                if WORD.match(module):
                    found.append((module, []))
            continue
        base = absolute(match.group("base").decode("ascii", "replace"), package)
        if base is None:
            continue
        subs = []
        for part in match.group("names").decode("utf-8", "replace").strip().strip("()\\").split(","):
            word = part.split(" as ")[0].strip()
            if word and word != "*" and WORD.match(word):
                subs.append(base + "." + word if base else word)
        if base:
            found.append((base, subs))
        else:
            found.extend((sub, []) for sub in subs)
    return found


def runs_later(text, start, indent):
    """Whether the indented line at ``start`` is in a function body or an
    ``if TYPE_CHECKING``/``if __name__`` block: the lines above it are walked back to each
    enclosing block's first line (blank lines and comments skipped)."""
    end = start - 1
    for _ in range(WALK_BACK):
        if end <= 0:
            return False
        begin = text.rfind(b"\n", 0, end) + 1
        line = text[begin:end]
        end = begin - 1
        stripped = line.lstrip()
        if not stripped or stripped.startswith((b"#", b")", b"]", b"}")):
            continue  # blank, a comment, or the end of a bracketed signature or call
        level = len(line[:len(line) - len(stripped)].expandtabs())
        if level >= indent:
            continue
        if LAZY.match(line):
            return True
        if level == 0:
            return False
        indent = level
    return True


def absolute(base, package):
    """``from BASE import`` as an absolute module name ("" for ``from .``
    at the top level); None when it points above the top."""
    level = len(base) - len(base.lstrip("."))
    rest = base[level:]
    if not level:
        return rest
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    head = parts[:len(parts) - (level - 1)]
    return ".".join(head + ([rest] if rest else []))


def predicted(search, modules, found=None):
    """The source files importing ``modules`` (in order) will run, in the
    order they run; ``found`` is called with each as soon as it is found."""
    scan = Scan(search, found)
    scan.seen.update(STARTED)
    for name in modules:
        try:
            scan.visit(name)
        except RecursionError:
            break
    return scan.order


class Warmer:
    """Fills ``prefix`` (a pycache prefix) for the sources it is given."""

    def __init__(self, prefix):
        self.prefix = os.path.join(os.path.abspath(prefix), "")
        sys.pycache_prefix = self.prefix
        self.to_compile = []

    def target(self, path):
        """Where the check will look for ``path``'s pyc; None when there is
        nothing to do (outside the prefix, or already there)."""
        target = importlib.util.cache_from_source(path)
        return None if not target.startswith(self.prefix) or os.path.exists(target) else target

    def found(self, path):
        """A source file the check will import: an in-tree pyc (the standard
        library's) is copied at once, while the check is still behind the
        scan; the others are compiled after the scan."""
        target = self.target(path)
        if target is None:
            return
        head, tail = os.path.split(path)
        in_tree = os.path.join(head, "__pycache__", tail[:-3] + "." + sys.implementation.cache_tag + ".pyc")
        try:
            with open(in_tree, "rb") as handle:
                data = handle.read()
        except OSError:
            self.to_compile.append(path)
            return
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            partial = "%s.%d.tmp" % (target, os.getpid())
            with open(partial, "wb") as handle:
                handle.write(data)
            os.replace(partial, target)
        except OSError:
            pass

    def compile(self, path):
        target = self.target(path)
        if target is not None:
            py_compile.compile(path, cfile=target, dfile=path, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)


def seed(prefix):
    """Link the interpreter's own pycs (of every ``sys.path`` directory)
    into ``prefix`` where the check will look for them: with a prefix, the
    importer no longer reads ``__pycache__`` directories, and would compile
    the standard library from source.  Packages only (a directory without
    ``__init__.py``, such as site-packages under -S, is not importable)."""
    suffix = "." + sys.implementation.cache_tag + ".pyc"
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        for directory, subdirs, files in os.walk(entry):
            subdirs[:] = [d for d in subdirs if d == "__pycache__"
                          or os.path.isfile(os.path.join(directory, d, "__init__.py"))]
            if os.path.basename(directory) != "__pycache__":
                continue
            linked = [f for f in files if f.endswith(suffix)]
            if not linked:
                continue
            target_dir = prefix + os.path.dirname(os.path.abspath(directory)).lstrip(os.sep)
            os.makedirs(target_dir, exist_ok=True)
            for name in linked:
                try:
                    os.symlink(os.path.join(directory, name), os.path.join(target_dir, name))
                except FileExistsError:
                    continue


def main():
    if sys.argv[1] == "--seed":
        seed(os.path.join(os.path.abspath(sys.argv[2]), ""))
        return
    paths, modules = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    warmer = Warmer(sys.argv[3])
    sys.path[0:0] = paths
    predicted([entry or os.getcwd() for entry in sys.path], modules, warmer.found)
    for path in reversed(warmer.to_compile):
        try:
            warmer.compile(path)
        except Exception:  # noqa: BLE001  (the check compiles that one itself)
            continue


if __name__ == "__main__":
    main()
