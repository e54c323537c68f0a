"""Helpers for the Debian tests (no tests here): hand-made .deb files with any
members (including hostile ones), a signing key, and a small Debian mirror on
disk served over HTTP from a thread, with signed InRelease, Packages.xz and
Contents.gz built from the packages added to it."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import lzma
import os
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import zstandard


# -- tar members ------------------------------------------------------------------


@dataclass
class Member:
    info: tarfile.TarInfo
    data: bytes | None = None


def file_member(name: str, data: bytes, mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1700000000
    return Member(info, data)


def dir_member(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return Member(info)


def symlink_member(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return Member(info)


def hardlink_member(name: str, target: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return Member(info)


def special_member(name: str, kind: bytes) -> Member:
    """kind: tarfile.CHRTYPE, BLKTYPE or FIFOTYPE."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return Member(info)


def make_tar(members: list[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for m in members:
            tar.addfile(m.info, io.BytesIO(m.data) if m.data is not None else None)
    return out.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "xz":
        return lzma.compress(data)
    if how == "gz":
        return gzip.compress(data)
    if how == "bz2":
        import bz2
        return bz2.compress(data)
    if how == "zst":
        return zstandard.ZstdCompressor().compress(data)
    if how == "":
        return data
    raise ValueError(how)


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, data in members:
        header = (f"{name:<16}" f"{0:<12}" f"{0:<6}" f"{0:<6}" f"{'100644':<8}" f"{len(data):<10}").encode() + b"`\n"
        assert len(header) == 60
        out.write(header)
        out.write(data)
        if len(data) % 2:
            out.write(b"\n")
    return out.getvalue()


def make_deb(package: str, version: str, members: list[Member], *, arch: str = "amd64",
             data_compression: str = "xz", source: str | None = None, depends: str | None = None) -> bytes:
    control = (f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\n"
               f"Maintainer: Test <test@example.invalid>\nDescription: test package\n")
    if source:
        control += f"Source: {source}\n"
    if depends:
        control += f"Depends: {depends}\n"
    control_tar = make_tar([file_member("./control", control.encode())])
    suffix = f".{data_compression}" if data_compression else ""
    return ar_archive([
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", compress(control_tar, "xz")),
        (f"data.tar{suffix}", compress(make_tar(members), data_compression)),
    ])


DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: {name}

Files: *
Copyright: 2020 Someone
License: {license}
 Permission is granted.

Files: debian/*
Copyright: 2021 Someone Else
License: GPL-2+
"""


def library_members(package: str, real_path: str, elf: bytes, links: dict[str, str],
                    license: str = "MIT") -> list[Member]:
    """Members of a typical library package: directories, the real file,
    symbolic links named by ``links`` (path -> target), a DEP-5 copyright."""
    dirs = sorted({os.path.dirname(p) for p in [real_path, *links]} | {f"usr/share/doc/{package}"})
    members = [dir_member("./")]
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            members.append(dir_member("./" + "/".join(parts[:i]) + "/"))
    members.append(file_member("./" + real_path, elf, 0o644))
    for path, target in links.items():
        members.append(symlink_member("./" + path, target))
    members.append(file_member(f"./usr/share/doc/{package}/copyright",
                               DEP5.format(name=package, license=license).encode()))
    seen, unique = set(), []
    for m in members:
        if m.info.name not in seen:
            seen.add(m.info.name)
            unique.append(m)
    return unique


# -- signing -------------------------------------------------------------------------


@dataclass
class SigningKey:
    home: Path
    keyring: Path

    def clearsign(self, text: bytes) -> bytes:
        return self._gpg(text, "--clearsign")

    def detach_sign(self, text: bytes) -> bytes:
        return self._gpg(text, "--detach-sign", "--armor")

    def close(self) -> None:
        """Stop the gpg-agent that signing started (it outlives the run otherwise)."""
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True)

    def _gpg(self, text: bytes, *how: str) -> bytes:
        return subprocess.run(
            ["gpg", "--batch", "--homedir", str(self.home), "--pinentry-mode", "loopback", "--passphrase", "",
             "--digest-algo", "SHA256", *how],
            input=text, capture_output=True, check=True).stdout


def make_signing_key(directory: Path) -> SigningKey:
    home = directory / "gnupg"
    home.mkdir(parents=True, mode=0o700)
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", "fcslim test archive <archive@example.invalid>", "ed25519", "sign", "never"],
                   capture_output=True, check=True)
    keyring = directory / "test-archive-keyring.gpg"
    exported = subprocess.run(["gpg", "--batch", "--homedir", str(home), "--export"],
                              capture_output=True, check=True).stdout
    keyring.write_bytes(exported)
    return SigningKey(home, keyring)


# -- a mirror --------------------------------------------------------------------------


@dataclass
class FakePackage:
    name: str
    version: str
    deb: bytes
    files: list[str]
    source: str | None = None
    arch: str = "amd64"


@dataclass
class FakeMirror:
    """A Debian mirror on disk: add packages to suites, publish, serve."""

    root: Path
    key: SigningKey | None = None
    suites: dict[str, list[FakePackage]] = field(default_factory=dict)
    _server: http.server.ThreadingHTTPServer | None = None
    _published: int = 0

    def add(self, suite: str, name: str, version: str, members: list[Member], *, source: str | None = None,
            arch: str = "amd64", data_compression: str = "xz", depends: str | None = None) -> FakePackage:
        deb = make_deb(name, version, members, arch=arch, data_compression=data_compression, source=source,
                       depends=depends)
        files = [m.info.name.lstrip("./") for m in members if not m.info.isdir()]
        package = FakePackage(name, version, deb, files, source, arch)
        self.suites.setdefault(suite, []).append(package)
        return package

    def pool_path(self, package: FakePackage) -> str:
        return f"pool/main/{package.name[0]}/{package.name}/{package.name}_{package.version}_{package.arch}.deb"

    def publish(self, suite: str, *, architectures: str = "amd64", contents: bool = True, sign: bool = True,
                detached: bool = False, signer: SigningKey | None = None, valid_until: str | None = None) -> None:
        """Write the suite's indexes and Release.  ``sign``: an InRelease (or,
        with ``detached``, a Release.gpg) by ``signer`` (default: the mirror's
        key); ``sign=False`` publishes an unsigned Release only."""
        dists = self.root / "dists" / suite
        binary = dists / "main" / "binary-amd64"
        binary.mkdir(parents=True, exist_ok=True)
        stanzas, lines = [], []
        for package in self.suites.get(suite, []):
            pool = self.root / self.pool_path(package)
            pool.parent.mkdir(parents=True, exist_ok=True)
            pool.write_bytes(package.deb)
            stanza = (f"Package: {package.name}\nVersion: {package.version}\nArchitecture: {package.arch}\n"
                      f"Filename: {self.pool_path(package)}\nSize: {len(package.deb)}\n"
                      f"SHA256: {hashlib.sha256(package.deb).hexdigest()}\n")
            if package.source:
                stanza = stanza.replace("Architecture:", f"Source: {package.source}\nArchitecture:")
            stanzas.append(stanza + "Description: test\n long description\n")
            lines += [f"{path:<60} libs/{package.name}" for path in package.files]
        packages_xz = lzma.compress("\n".join(stanzas).encode())
        (binary / "Packages.xz").write_bytes(packages_xz)
        index = {"main/binary-amd64/Packages.xz": packages_xz}
        contents_gz = gzip.compress(("\n".join(sorted(lines)) + "\n").encode() if contents else b"")
        (dists / "main" / "Contents-amd64.gz").write_bytes(contents_gz)
        index["main/Contents-amd64.gz"] = contents_gz
        release = (f"Origin: Test\nSuite: {suite}\nCodename: {suite}\nDate: Sat, 09 Aug 2025 09:16:30 UTC\n"
                   + (f"Valid-Until: {valid_until}\n" if valid_until else "")
                   + f"Architectures: {architectures}\nComponents: main\nDescription: test\nSHA256:\n")
        for path, data in sorted(index.items()):
            release += f" {hashlib.sha256(data).hexdigest()} {len(data):>8} {path}\n"
        (dists / "Release").write_text(release)
        for stale in ("InRelease", "Release.gpg"):
            if (dists / stale).exists():
                (dists / stale).unlink()
        key = signer or self.key
        if sign and key is not None:
            if detached:
                (dists / "Release.gpg").write_bytes(key.detach_sign(release.encode()))
            else:
                (dists / "InRelease").write_bytes(key.clearsign(release.encode()))
        # Each publication gets a later Last-Modified, as on a real mirror
        # (they publish hours apart; HTTP dates have one-second resolution).
        self._published += 1
        for name in ("InRelease", "Release"):
            if (dists / name).exists():
                stamp = time.time() + 10 * self._published
                os.utime(dists / name, (stamp, stamp))

    # -- HTTP
    def serve(self) -> str:
        directory = str(self.root)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=directory, **kwargs)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a short poll interval: shutdown() waits for the loop's next poll
        # (0.5 s by default, paid by every test's teardown)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def unreachable_url() -> str:
    """An http URL on this host where nothing listens."""
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
