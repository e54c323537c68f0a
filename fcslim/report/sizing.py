"""Measuring a tree anew: every file the packer would store listed, attributed
to its owner and deflated (or its stream looked up), summed per distribution
and category, and the exact zip size (see :mod:`fcslim.report.measure`, which
serves an unchanged tree from :mod:`fcslim.report.memo` instead)."""

from __future__ import annotations

from pathlib import Path

from fcslim.core.progress import Reporter
from fcslim.core.records import LIBRARIES, read_record
from fcslim.pack.archive import zip_size
from fcslim.pack.deflate import deflate_files
from fcslim.pack.layout import archive_name
from fcslim.pack.tree import list_tree
from fcslim.report.attribution import Attribution, categorise, debian_owned
from fcslim.report.memo import Measured
from fcslim.report.model import DistributionSize, FileSize, LibrarySize, Totals


def measure_tree(root: Path, layout: str, rep: Reporter) -> Measured:
    """List, attribute and deflate every file of ``root``."""
    listing = list_tree(root)
    libraries_record = read_record(root, LIBRARIES, strict=True) or {}
    libraries = {str(lib.get("path")): lib for lib in libraries_record.get("fetched") or []
                 if isinstance(lib, dict) and lib.get("path")}
    attribution = Attribution(root, [f.path for f in listing.files], debian_owned(libraries_record),
                              hooks=[h for h in libraries_record.get("hooks") or [] if isinstance(h, str)])
    with rep.bar(listing.total_bytes, "deflate") as bar:
        measured = deflate_files([f.source for f in listing.files], advance=bar.advance)

    files: list[FileSize] = []
    totals = Totals()
    categories: dict[str, Totals] = {}
    dists: dict[str, DistributionSize] = {}
    for tree_file, (facts, _stream) in zip(listing.files, measured):
        name, version, kind = attribution.distribution(tree_file.path)
        entry = FileSize(tree_file.path, facts.size, facts.stored_size, name,
                         categorise(tree_file.path, facts.elf, kind))
        files.append(entry)
        totals.add(entry)
        categories.setdefault(entry.category, Totals()).add(entry)
        dists.setdefault(name, DistributionSize(name, version, kind)).add(entry)
    for name, dist in attribution.dists.items():  # installed but emptied by slimming: still listed
        dists.setdefault(name, DistributionSize(name, dist.version, "wheel"))
    zip_bytes = zip_size((archive_name(f.path, layout), f.bytes, f.deflated) for f in files)
    by_path = {f.path: f for f in files}
    library_sizes = []
    for path, lib in sorted(libraries.items()):
        f = by_path.get(path)
        library_sizes.append(LibrarySize(lib.get("soname"), path, lib.get("package"), lib.get("version"),
                                         f.bytes if f else 0, f.deflated if f else 0))
    return Measured(files, totals, zip_bytes, categories,
                    sorted(dists.values(), key=lambda d: (-d.deflated, d.name.lower())), library_sizes,
                    listing.skipped_links)
