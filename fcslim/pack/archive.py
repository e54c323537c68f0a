"""Deterministic zips of a bundle, in the layout a runtime expects.

The same bundle always packs to the same bytes:

* entries are sorted by name; there are no directory entries (every runtime's
  unzip creates parent directories; empty directories are dropped and listed
  in :attr:`PackResult.empty_dirs`);
* every entry carries one timestamp: ``$SOURCE_DATE_EPOCH`` when set, else
  1980-01-01 00:00:00 (the zip epoch; earlier values are clamped to it);
* modes are normalised to 0644, or 0755 when any execute bit is set, with the
  Unix "made by" field so unzip restores them;
* each file is deflated once per content (:mod:`fcslim.pack.deflate`) or stored
  when that is smaller; the report measures the same streams the zip copies, so
  its zipped sizes are the pack's byte for byte (:mod:`fcslim.pack.zipwriter`);
* symbolic links are never stored: FC's and Lambda's unzip do not restore them
  reliably.  A link to a file or directory inside the bundle is dereferenced
  (stored as a copy under the link's name); a link that points outside the
  bundle or nowhere is left out and reported in :attr:`PackResult.skipped_links`;
* the records directory ``.fcslim/`` is never packed.

Layouts (``layout=``):

``code``   the tree as is: packages at the zip root, fetched libraries in
           ``lib/`` (FC's /code/lib, Lambda's /var/task/lib).
``layer``  packages under ``python/`` and libraries in ``lib/``, for a layer
           unpacked into /opt (/opt/python on sys.path, /opt/lib on the
           library path).
``split``  a small code zip (the generated loader ``fcslim_loader.py`` and its
           ``fcslim_deps.json``) plus a dependency zip (the ``code`` layout of
           the whole tree) to put on OSS/S3; the loader downloads, checks and
           unpacks it into /tmp at cold start (see :mod:`fcslim.pack.loader`).

Zips are written beside the output as ``<name>.tmp`` and renamed into place.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from fcslim.core.repeats import collapse_repeats
from fcslim.core.errors import InputError, PackError
from fcslim.core.files import atomic_file, check_replaceable
from fcslim.core.inputs import in_run, note_input
from fcslim.core.hashing import file_sha256_and_size
from fcslim.pack import loader, zipwriter
from fcslim.pack.handoff import MANIFEST_HINT, is_fcslim_manifest, manifest_path, write_manifest
from fcslim.pack.layout import archive_name
from fcslim.pack.tree import SkippedLink, TreeListing, list_tree
from fcslim.pack.zipwriter import ZipMember, zip_date_epoch
from fcslim.core.progress import reporter as current_reporter

LAYOUTS = ("code", "layer", "split")
# Every zip fcslim writes carries this comment: the mark by which a later run
# knows it may replace the file (and any other file is never replaced).
ZIP_COMMENT = b"written by fcslim"
ZIP_HINT = ("Pass an --output that does not exist yet or a zip fcslim wrote; fcslim never replaces another file "
            "(move it away first if you mean to).")


# -- zip writing -----------------------------------------------------------

def members_from_tree(listing: TreeListing, layout: str) -> list[ZipMember]:
    return [ZipMember(archive_name(f.path, layout), f.size, f.executable, source=f.source)
            for f in listing.files]


def write_zip(members: Iterable[ZipMember], output: Path, *, date_epoch: int | None = None,
              progress=None) -> "Archive":
    """Write ``members`` sorted by name into ``output`` atomically (see
    :func:`fcslim.pack.zipwriter.write_zip`); returns the archive's facts.
    Duplicate names are a :class:`PackError`; an existing ``output`` fcslim did
    not write is refused."""
    output = Path(output)
    try:
        with atomic_file(output, role="zip", owned=is_fcslim_zip, hint=ZIP_HINT) as handle:
            entries, unzipped = zipwriter.write_zip(members, handle, date_epoch=date_epoch, progress=progress,
                                                    comment=ZIP_COMMENT)
            handle.flush()
            digest, size = file_sha256_and_size(handle.name)
    except OSError as exc:  # not the host's doing (those are LocationErrors, exit 11)
        raise PackError(f"Cannot write {output} ({exc}).",
                        "Check that its directory is writable and has free space.") from exc
    return Archive(output, "", digest, size, entries, unzipped)


def zip_size(entries: Iterable[tuple[str, int, int]]) -> int:
    """The exact size of the zip :func:`write_zip` makes of ``entries``:
    (name, size, bytes stored) each."""
    return zipwriter.zip_size(entries, comment=ZIP_COMMENT)


def is_fcslim_zip(path: Path) -> bool:
    """Whether ``path`` is a zip fcslim wrote (it carries :data:`ZIP_COMMENT`)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.comment == ZIP_COMMENT
    except (OSError, zipfile.BadZipFile):
        return False


def check_pack_outputs(root: str | os.PathLike, output: Path, layout: str, deps_output: Path | None = None,
                       manifest: bool = True) -> None:
    """Refuse, before packing, a zip or manifest path fcslim may not write:
    inside the bundle, an input of the run, or an existing file fcslim did not
    write (a user's own build.zip, notes.txt...)."""
    output = Path(output)
    real_root = Path(os.path.realpath(root))
    if Path(os.path.realpath(output.parent)) == real_root or real_root in Path(os.path.realpath(output)).parents:
        raise InputError(f"The pack output {output} is inside the bundle {root}.",
                         "Write the zip outside the bundle directory.")
    check_replaceable(output, "zip", is_fcslim_zip, ZIP_HINT)
    if layout == "split":
        deps = Path(deps_output) if deps_output else deps_archive_path(output)
        if deps.resolve() == output.resolve():
            raise InputError("The split layout needs two zips, but the code zip and the dependency zip have one name.",
                             "Pass a different --deps-output.")
        check_replaceable(deps, "zip", is_fcslim_zip, ZIP_HINT)
    if manifest:
        check_replaceable(manifest_path(output), "manifest", is_fcslim_manifest, MANIFEST_HINT)


# -- packing a bundle ------------------------------------------------------

@dataclass
class Archive:
    """One zip that was written."""

    path: Path
    role: str  # "code" | "layer" | "deps"
    sha256: str
    size: int
    entries: int
    unzipped_bytes: int
    # Where it is unpacked (the code root, the layer root, or "url" for the
    # split layout's dependency zip) and the limit it is gated against
    # (fcslim.pack.artifacts.assign_limits); None until assigned.
    mount: str | None = None
    limit_bytes: int | None = None
    limit_name: str | None = None
    measured_bytes: int | None = None  # what is compared with the limit

    @property
    def ok(self) -> bool:
        return self.limit_bytes is None or (self.measured_bytes or self.size) <= self.limit_bytes

    def to_dict(self) -> dict:
        return {"path": str(self.path), "name": self.path.name, "role": self.role, "sha256": self.sha256,
                "size": self.size, "entries": self.entries, "unzipped_bytes": self.unzipped_bytes}

    def artifact_dict(self) -> dict:
        """The entry of ``"artifacts"`` in `fcslim resolve --json`."""
        return {"path": str(self.path), "kind": self.role, "mount": self.mount, "zipped_bytes": self.size,
                "unzipped_bytes": self.unzipped_bytes, "limit_bytes": self.limit_bytes, "limit": self.limit_name,
                "sha256": self.sha256}


@dataclass
class PackResult:
    root: Path
    layout: str
    profile: object | None
    archives: list[Archive]
    listing: TreeListing
    preload: list[str] = field(default_factory=list)
    preload_source: str | None = None  # "libgraph" | "lexical" (split only)
    deps_config: dict | None = None
    manifest_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    # "layers" (--pack auto): layer zip name → the bundle paths it holds
    layer_files: dict[str, list[str]] = field(default_factory=dict)

    @property
    def skipped_links(self) -> list[SkippedLink]:
        return self.listing.skipped_links

    @property
    def empty_dirs(self) -> list[str]:
        return self.listing.empty_dirs

    def archive(self, role: str) -> Archive:
        return next(a for a in self.archives if a.role == role)


def deps_archive_path(output: Path) -> Path:
    """``bundle.zip`` → ``bundle.deps.zip`` beside it."""
    output = Path(output)
    stem = output.name[:-4] if output.name.endswith(".zip") else output.name
    return output.with_name(f"{stem}.deps.zip")


def user_code_members(code_dir: Path, reserved: set[str]) -> list[ZipMember]:
    listing = list_tree(code_dir)
    members = []
    for f in listing.files:
        if f.path in reserved:
            raise PackError(f"The function code in {code_dir} has its own {f.path}, which the pack writes.",
                            "Rename that file, or pack without the function code.")
        members.append(ZipMember(f.path, f.size, f.executable, source=f.source))
    return members


@in_run
def pack(
    root: str | os.PathLike,
    output: str | os.PathLike,
    layout: str = "code",
    profile=None,
    *,
    code_dir: str | os.PathLike | None = None,
    deps_output: str | os.PathLike | None = None,
    deps_url: str | None = None,
    url_env: str = "FCSLIM_DEPS_URL",
    date_epoch: int | str | None = None,
    manifest: bool = True,
    reporter=None,
    handler: str | None = None,
    upload: str | None = None,
) -> PackResult:
    """Pack bundle ``root`` into ``output`` in ``layout``.

    ``code_dir`` (the function's own code, e.g. from ``--from s.yaml``) is
    added at the root of the code zip (``code`` and ``split`` layouts).  For
    ``split``, the dependency zip goes to ``deps_output`` (default
    ``<output stem>.deps.zip``) and the loader reads its URL from ``$url_env``
    at cold start, or ``deps_url`` when given; ``handler`` (``index.handler``)
    is the function's own handler, which the loader's ``fcslim_loader.handler``
    calls once the dependencies are in place; ``upload`` (``s3://bucket/prefix/``
    or ``oss://…``) puts the dependency zip there under its SHA-256 and points
    the loader at it (:mod:`fcslim.pack.upload`).  ``manifest`` writes
    ``<output>.manifest.json`` (see :mod:`fcslim.pack.handoff`).
    """
    rep = reporter or current_reporter()
    if layout not in LAYOUTS:
        raise InputError(f"Unknown pack layout {layout!r}.", f"Use one of {', '.join(LAYOUTS)}.")
    root = Path(root)
    output = Path(output)
    if code_dir is not None and layout == "layer":
        raise InputError("A layer holds dependencies only; function code cannot go into the layer layout.",
                         "Pack the layer without the function code, or use --layout code or split.")
    if code_dir is not None:
        note_input(code_dir)
    check_pack_outputs(root, output, layout, Path(deps_output) if deps_output else None, manifest)
    epoch = zip_date_epoch(date_epoch)
    with rep.step(f"pack ({layout} layout)"):
        listing = list_tree(root)
        for line in collapse_repeats(f"left out {link.path} -> {link.target}: {link.reason}"
                                     for link in listing.skipped_links):
            rep.warn(line)
        result = PackResult(root, layout, profile, [], listing)
        if layout in ("code", "layer"):
            members = members_from_tree(listing, layout)
            if code_dir is not None:
                members += user_code_members(Path(code_dir), {m.name for m in members})
            with rep.bar(sum(m.size for m in members), "compress") as bar:
                archive = write_zip(members, output, date_epoch=epoch, progress=bar)
            archive.role = layout
            result.archives.append(archive)
        else:
            _pack_split(result, output, profile, Path(deps_output) if deps_output else deps_archive_path(output),
                        deps_url, url_env, epoch, Path(code_dir) if code_dir else None, rep, handler, upload)
        if manifest:
            result.manifest_path = write_manifest(result, manifest_path(output))
    return result


def _pack_split(result: PackResult, output: Path, profile, deps_output: Path, deps_url, url_env,
                epoch: int, code_dir: Path | None, rep, handler: str | None = None,
                upload: str | None = None) -> None:
    listing = result.listing
    members = members_from_tree(listing, "code")
    with rep.bar(listing.total_bytes, "compress dependencies") as bar:
        deps = write_zip(members, deps_output, date_epoch=epoch, progress=bar)
    deps.role = "deps"
    order, source, note = loader.preload_order(result.root, profile, [f.path for f in listing.files])
    result.preload, result.preload_source = order, source
    if note:
        result.notes.append(note)
        rep.warn(note)
    uploaded = None
    if upload:
        # Imported here: fsspec costs ~0.1 s to import (python -X importtime), for uploads only.
        from fcslim.pack.upload import upload_deps

        with rep.step(f"upload {deps.path.name} to {upload}"):
            uploaded = upload_deps(deps.path, deps.sha256, upload).to_dict()
    config = loader.deps_config(deps, preload=order, url=deps_url, url_env=url_env, preload_source=source,
                                handler=handler, uploaded=uploaded)
    result.deps_config = config
    config_bytes = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()
    source_bytes = loader.loader_source().encode()
    code_members = [
        ZipMember(loader.LOADER_MODULE + ".py", len(source_bytes), data=source_bytes),
        ZipMember(loader.CONFIG_NAME, len(config_bytes), data=config_bytes),
    ]
    if uploaded is not None:
        signing_bytes = loader.signing_source().encode()
        code_members.append(ZipMember(loader.SIGNING_MODULE + ".py", len(signing_bytes), data=signing_bytes))
    if code_dir is not None:
        code_members += user_code_members(code_dir, {m.name for m in code_members})
    code = write_zip(code_members, output, date_epoch=epoch)
    code.role = "code"
    result.archives.extend([code, deps])
