"""The import check's process (started by :mod:`fcslim.verify.imports`).

It runs in the target's interpreter, so it stays valid for CPython 3.6+.  It
puts the bundle's paths first on ``sys.path``, imports each module one after
the other and reports each result on stdout as a line ``MARK + JSON``; with
``trace`` it also reports the bundle files the imports opened (CPython 3.8+
audit hooks), with ``pycache=PREFIX`` it reads and writes bytecode in a cache
outside the bundle (:mod:`fcslim.verify.warmup`).

Usage: ``python -B -s -c SOURCE_OF_THIS_FILE PATHS_JSON MODULES_JSON [trace] [pycache=PREFIX]``.
"""

import importlib
import json
import os
import sys


def main():
    MARK = "\x1efcslim-verify "
    paths = json.loads(sys.argv[1])
    sys.path[0:0] = paths
    out = sys.__stdout__
    def say(obj):
        out.write(MARK + json.dumps(obj) + "\n")
        out.flush()
    say({"python": ".".join(str(v) for v in sys.version_info[:3])})
    options = sys.argv[3:]
    trace = "trace" in options and hasattr(sys, "addaudithook")
    for option in options:
        if option.startswith("pycache=") and hasattr(sys, "pycache_prefix"):
            sys.pycache_prefix = option[len("pycache="):]  # outside the bundle: a warmer fills it, so do we
            sys.dont_write_bytecode = False  # (after start-up, with -B: nothing written elsewhere)
    opened = set()
    if trace:
        def _hook(event, args):
            if event == "open" and args and isinstance(args[0], str):
                opened.add(args[0])
        sys.addaudithook(_hook)
    for name in json.loads(sys.argv[2]):
        say({"start": name})
        try:
            importlib.import_module(name)
            say({"module": name, "ok": True})
        except BaseException as exc:
            text = (type(exc).__name__ + ": " + str(exc)).strip()
            say({"module": name, "ok": False, "error": text[:800]})
    if trace:
        for module in list(sys.modules.values()):
            where = getattr(module, "__file__", None)
            if isinstance(where, str):
                opened.add(where)
        if getattr(sys, "pycache_prefix", None):  # a pyc read from the cache: as if read where it was
            from importlib.util import source_from_cache
            for where in [f for f in opened if f.startswith(sys.pycache_prefix) and f.endswith(".pyc")]:
                try:
                    source = source_from_cache(where)
                except ValueError:
                    continue
                opened.update((source, os.path.join(os.path.dirname(source), "__pycache__", os.path.basename(where))))
        roots = tuple(os.path.join(p, "") for p in paths)
        say({"touched": sorted(os.path.relpath(f, p) for f in opened for p in roots
                               if os.path.abspath(f).startswith(p))})
    say({"done": True})
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
