"""Where the target's dynamic loader finds one needed soname inside a bundle.

:class:`Resolver` searches the way ld.so does: the needing file's DT_RPATH
(when it has no DT_RUNPATH), LD_LIBRARY_PATH (the profile's ``library_path``
entries that lie inside the bundle, and always the bundle's ``lib/``), the
file's DT_RUNPATH, then the runtime's system image.  ``$ORIGIN`` expands to
the needing file's directory inside the tree; absolute entries under the code
or layer root map into the tree; a candidate for another machine is skipped,
as ld.so does.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from fcslim.elf.facts import ElfFile, is_elf, read_elf
from fcslim.elf.policy import SystemImage
from fcslim.target.profile import Profile

BUNDLE_LIB_DIR = "lib"


class Resolver:
    def __init__(self, root: Path, profile: Profile, image: SystemImage, files: list[ElfFile]):
        self.root = root
        self.root_real = os.path.realpath(root)
        self.profile = profile
        self.image = image
        self.by_path = {f.path: f for f in files}
        self.ld_library_dirs = self._ld_library_dirs()
        self._cache: dict[tuple[str, str], str | None] = {}
        self._unreadable: set[str] = set()

    def _ld_library_dirs(self) -> tuple[str, ...]:
        dirs: list[str] = []
        for entry in self.profile.library_path:
            mapped = self.tree_dir(entry, origin=None)
            if mapped is not None and mapped not in dirs:
                dirs.append(mapped)
        if BUNDLE_LIB_DIR not in dirs:
            dirs.append(BUNDLE_LIB_DIR)
        return tuple(dirs)

    def tree_dir(self, entry: str, origin: str | None) -> str | None:
        """A search-path entry as a directory relative to the tree, or None
        when it points outside the tree (the system's own directories)."""
        if origin is not None:
            entry = entry.replace("${ORIGIN}", "$ORIGIN")
            if "$ORIGIN" in entry:
                entry = entry.replace("$ORIGIN", "/" + origin if origin else "/")
                path = posixpath.normpath(entry)
                if path.startswith("/.."):
                    return None
                return path.lstrip("/") or "."
        if not entry.startswith("/"):
            return None  # relative to the process's working directory: unknowable
        for base in (self.profile.code_root, self.profile.layer_root):
            base = base.rstrip("/")
            if entry == base or entry.startswith(base + "/"):
                rel = posixpath.normpath(entry[len(base):].lstrip("/") or ".")
                if rel.startswith(".."):
                    return None
                if base == self.profile.layer_root.rstrip("/") and base != self.profile.code_root.rstrip("/"):
                    # /opt/lib: a layer's lib/ is the bundle's lib/ when packed as a layer.
                    return rel if rel == BUNDLE_LIB_DIR else None
                return rel
        return None

    def candidate(self, directory: str, soname: str) -> str | None:
        key = (directory, soname)
        if key in self._cache:
            return self._cache[key]
        found = None
        rel = posixpath.normpath(posixpath.join(directory, soname))
        if not rel.startswith(".."):
            path = os.path.join(self.root, rel)
            if os.path.isfile(path):
                real = os.path.realpath(path)
                if real == self.root_real or real.startswith(self.root_real + os.sep):
                    target = os.path.relpath(real, self.root_real).replace(os.sep, "/")
                    facts = self.facts(target)
                    if facts is not None and facts.ok and self.compatible(facts):
                        found = target
        self._cache[key] = found
        return found

    def facts(self, rel: str) -> ElfFile | None:
        """The scanned facts of a tree file; files the caller did not pass
        (a partial list) are read on demand."""
        facts = self.by_path.get(rel)
        if facts is None and rel not in self._unreadable:
            path = self.root / rel
            if is_elf(path):
                facts = read_elf(path, self.root)
                self.by_path[rel] = facts
            else:
                self._unreadable.add(rel)
        return facts

    def compatible(self, facts: ElfFile) -> bool:
        return facts.machine == self.profile.elf_machine and facts.elf_class == 64

    def search_dirs(self, needer: ElfFile | None) -> list[str]:
        dirs: list[str] = []
        origin = posixpath.dirname(needer.path) if needer else None
        if needer is not None and not needer.runpath:
            dirs += [d for d in (self.tree_dir(e, origin) for e in needer.rpath) if d is not None]
        dirs += list(self.ld_library_dirs)
        if needer is not None:
            dirs += [d for d in (self.tree_dir(e, origin) for e in needer.runpath) if d is not None]
        seen: set[str] = set()
        return [d for d in dirs if not (d in seen or seen.add(d))]

    def resolve(self, needer: ElfFile | None, soname: str) -> str | None:
        """"bundle:<path>", "system", or None when missing."""
        if "/" in soname:
            # A path in DT_NEEDED: used as is, relative to the working directory.
            rel = posixpath.normpath(soname.lstrip("/"))
            found = self.candidate(posixpath.dirname(rel) or ".", posixpath.basename(rel))
            return f"bundle:{found}" if found else None
        for directory in self.search_dirs(needer):
            found = self.candidate(directory, soname)
            if found is not None:
                return f"bundle:{found}"
        if soname in self.image.libraries:
            return "system"
        return None


