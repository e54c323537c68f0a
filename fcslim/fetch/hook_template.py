# fcslim-fetch-shim
"""Written by `fcslim fetch` as the bundle's sitecustomize.py (this file is
its template: the CONFIG line is replaced by the bundle's own settings).

Python imports sitecustomize at start-up from the bundle root on PYTHONPATH
(/code on Function Compute, /var/task on Lambda, /opt/python in a layer; the
split loader runs it after unpacking).  It sets up, with no action from the
user and wherever the bundle was unpacked:

* environment variables that point fetched libraries at their relocated data
  (FONTCONFIG_FILE, ALSA_CONFIG_PATH, MAGICK_CODER_MODULE_PATH, GS_LIB,
  MAGIC, TESSDATA_PREFIX, ...), unless the function already sets them; a
  configuration file that must hold absolute paths (fontconfig's <dir>) is
  written from its template into the temporary directory first;
* PATH, so programs fetched into bin/ run by name;
* ctypes.util.find_library, which only consults ldconfig's cache (and
  binutils, absent on serverless runtimes): it also looks in the bundle's
  lib/ and on LD_LIBRARY_PATH, so pyzbar's find_library('zbar') works;

then it runs any sitecustomize module this file shadows.  Standard library
only; valid on CPython 3.6 and newer."""

CONFIG = {}  # replaced when written into a bundle


def _fcslim_setup(config):
    import hashlib
    import os
    import sys
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    bases = [here, os.path.normpath(os.path.join(here, os.pardir))]

    def locate(relative):
        for base in bases:
            candidate = os.path.join(base, relative)
            if os.path.exists(candidate):
                return os.path.normpath(candidate)
        return None

    lib_dirs = [d for d in (locate(config.get("lib_dir", "lib")),) if d]
    lib_dirs += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]

    rendered = {}
    for template in config.get("templates", ()):
        source = locate(template["source"])
        if source is None:
            continue
        base = source[: -len(template["source"])].rstrip(os.sep) if source.endswith(template["source"]) else here
        try:
            with open(source) as handle:
                text = handle.read().replace("@FCSLIM_ROOT@", base)
            key = hashlib.sha256((base + "\0" + text).encode("utf-8", "surrogateescape")).hexdigest()[:16]
            directory = os.path.join(tempfile.gettempdir(), "fcslim-config-" + key)
            target = os.path.join(directory, template["name"])
            if not os.path.isfile(target):
                if not os.path.isdir(directory):
                    os.makedirs(directory, exist_ok=True)
                part = "%s.%d" % (target, os.getpid())
                with open(part, "w") as handle:
                    handle.write(text)
                os.replace(part, target)
            rendered[template["source"]] = target
        except OSError:
            continue

    for name, spec in config.get("env", {}).items():
        if name in os.environ:
            continue
        values = [rendered.get(relative) or locate(relative) for relative in spec.get("paths", ())]
        if "format" in spec:
            if values and None not in values:
                os.environ[name] = spec["format"].format(*values)
        else:
            values = [v for v in values if v]
            if values:
                os.environ[name] = spec.get("separator", os.pathsep).join(values)

    bin_dirs = [d for d in (locate(p) for p in config.get("path", ())) if d]
    if bin_dirs:
        current = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep)
        os.environ["PATH"] = os.pathsep.join(bin_dirs + [p for p in current if p not in bin_dirs])

    if config.get("find_library"):
        try:
            import ctypes.util
        except ImportError:
            ctypes = None
        if ctypes is not None and not getattr(ctypes.util.find_library, "_fcslim", False):
            original = ctypes.util.find_library

            def find_library(name):
                found = original(name)
                if found:
                    return found
                prefix = "lib%s.so" % name
                for directory in lib_dirs:
                    try:
                        names = os.listdir(directory)
                    except OSError:
                        continue
                    matches = sorted((n for n in names if n == prefix or n.startswith(prefix + ".")),
                                     key=lambda n: (len(n), n))
                    if matches:
                        return os.path.normpath(os.path.join(directory, matches[0]))
                return None

            find_library._fcslim = True
            ctypes.util.find_library = find_library

    import importlib.machinery
    import importlib.util

    me = os.path.normcase(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.normcase(os.path.abspath(p or os.curdir)) != os.path.dirname(me)]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.origin and os.path.normcase(os.path.abspath(spec.origin)) != me:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if CONFIG:  # the template itself (imported as fcslim.fetch.hook_template) does nothing
    _fcslim_setup(CONFIG)
del _fcslim_setup
