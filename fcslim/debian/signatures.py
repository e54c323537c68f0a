"""Release signatures: ``gpgv`` against a trusted keyring, as apt checks them.

:class:`Trust` says which keyrings are trusted (``--debian-keyring FILE``,
repeatable; else ``$FCSLIM_DEBIAN_KEYRING``; else Debian's archive keyring at
``/usr/share/keyrings/debian-archive-keyring.gpg``, plus Debian's removed-keys
keyring for releases whose keys Debian has retired, as
``data/debian_keyrings.json`` says) and whether an unauthenticated Release may
be used (``--allow-unsigned``), and whether one past its ``Valid-Until`` may
(``--allow-expired-release``, checked in :mod:`fcslim.debian.release`).

Outcomes of a check:

* a good signature by a key in the keyrings: ``signed: <fingerprint>``;
* a signature that does not match the text (``BADSIG``): always refused, with
  or without ``--allow-unsigned``: the Release was changed after signing;
* no signature, a signature by a key outside the keyrings, no ``gpgv`` or no
  keyring: refused (:class:`SignatureError`, exit 7) unless ``allow_unsigned``,
  which accepts the Release as ``unauthenticated: <why>``.

gpgv runs with a private, empty home directory, so neither the user's GnuPG
state nor ``~/.gnupg`` is read or written.  ASCII-armoured keyrings (``.asc``,
which gpgv cannot read) are converted to binary on the fly.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from ..core.errors import DebianError, InputError
from ..core.inputs import note_input
from ..core.resources import data_path
from .errors import SignatureError

KEYRING_ENV = "FCSLIM_DEBIAN_KEYRING"
_ARMOR_BEGIN = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
_ARMOR_END = b"-----END PGP PUBLIC KEY BLOCK-----"
_UNTRUSTED_HINT = (
    "Use a mirror whose Release is signed by a key in Debian's archive keyring. For a private mirror you "
    "trust, pass its public signing key with --debian-keyring FILE, or accept it unauthenticated with "
    "--allow-unsigned (recorded in the bundle's .fcslim/libraries.json)."
)


@dataclass(frozen=True)
class KeyringPolicy:
    """``data/debian_keyrings.json``: the default keyrings and the releases
    whose signing keys live in Debian's removed-keys keyring."""

    default: tuple[Path, ...]
    removed_keyrings: tuple[Path, ...]
    retired_releases: frozenset[str]


@functools.lru_cache(maxsize=1)
def keyring_policy() -> KeyringPolicy:
    raw = json.loads(data_path("debian_keyrings.json").read_text())
    return KeyringPolicy(tuple(Path(p) for p in raw["default"]), tuple(Path(p) for p in raw["removed_keyrings"]),
                         frozenset(raw["retired_releases"]))


def _first_file(paths: tuple[Path, ...]) -> tuple[Path, ...]:
    return tuple(p for p in paths if p.is_file())[:1]


@dataclass(frozen=True)
class Trust:
    """Which keyrings authenticate a Release, and whether an unauthenticated
    one is accepted anyway (``--allow-unsigned``)."""

    keyrings: tuple[Path, ...] = ()  # empty: $FCSLIM_DEBIAN_KEYRING, else Debian's archive keyring
    allow_unsigned: bool = False
    allow_expired: bool = False  # --allow-expired-release: a Release past its Valid-Until

    def resolved_keyrings(self) -> tuple[Path, ...]:
        """The keyring files to check against (absolute paths; gpgv reads a
        bare name from its home directory); empty when none is found."""
        if self.keyrings:
            return tuple(_existing(Path(k), "--debian-keyring") for k in self.keyrings)
        env = os.environ.get(KEYRING_ENV)
        if env:
            return (_existing(Path(env), f"${KEYRING_ENV}"),)
        return _first_file(keyring_policy().default)

    def for_suite(self, suite: str) -> "Trust":
        """The trust for one suite (``buster``, ``buster-security``): as given
        when keyrings were named; by default Debian's archive keyring, plus
        its removed-keys keyring for a release whose keys Debian retired."""
        policy = keyring_policy()
        if self.keyrings or os.environ.get(KEYRING_ENV) or suite.split("-", 1)[0] not in policy.retired_releases:
            return self
        keyrings = _first_file(policy.default) + _first_file(policy.removed_keyrings)
        return replace(self, keyrings=keyrings) if keyrings else self

    def key_parts(self) -> dict[str, object]:
        """What decides trust, for cache keys: the keyrings' contents, not their paths."""
        return {"keyring_sha256": [_sha256(k) for k in self.resolved_keyrings()],
                "allow_unsigned": self.allow_unsigned, "allow_expired": self.allow_expired}

    def to_dict(self) -> dict[str, object]:
        """What the bundle record (and the bundle cache key) says about trust."""
        keyrings = self.resolved_keyrings()
        return {
            "keyrings": [str(k) for k in keyrings],
            "keyring_sha256": [_sha256(k) for k in keyrings],
            "allow_unsigned": self.allow_unsigned,
            "allow_expired": self.allow_expired,
        }


def _existing(path: Path, option: str) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise InputError(f"The keyring {path} given with {option} does not exist or is not a file.",
                         "Pass the mirror's public signing key (a .gpg keyring or an armoured .asc export).")
    note_input(path)
    return path.resolve()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Verified:
    """The text a signature covers and how far it is trusted."""

    text: str
    authentication: str  # "signed: <fingerprints>" or "unauthenticated: <why> ..."

    @property
    def authenticated(self) -> bool:
        return self.authentication.startswith("signed")


def verify_inrelease(data: bytes, trust: Trust, what: str) -> Verified:
    """Check a clearsigned InRelease; the text is what gpgv says was signed."""
    checked = _run_gpgv(trust, what, {"InRelease": data}, ["InRelease"], output="Release")
    if isinstance(checked, str):
        return _unauthenticated(strip_clearsign(data.decode("utf-8", errors="replace"), what), checked, trust, what)
    return Verified(checked[1], checked[0])


def verify_detached(release: bytes, signature: bytes | None, trust: Trust, what: str) -> Verified:
    """Check a Release against its Release.gpg (``signature`` None: the
    mirror publishes none)."""
    text = release.decode("utf-8", errors="replace")
    if signature is None:
        return _unauthenticated(text, "is not signed (the mirror publishes neither InRelease nor Release.gpg)",
                                trust, what)
    checked = _run_gpgv(trust, what, {"Release": release, "Release.gpg": signature}, ["Release.gpg", "Release"])
    if isinstance(checked, str):
        return _unauthenticated(text, checked, trust, what)
    return Verified(text, checked[0])


def _unauthenticated(text: str, why: str, trust: Trust, what: str) -> Verified:
    if trust.allow_unsigned:
        return Verified(text, f"unauthenticated: {what} {why}; accepted because of --allow-unsigned")
    hint = _UNTRUSTED_HINT
    if "gpgv is not installed" in why:
        hint = "Install gpgv (apt-get install gpgv, or GnuPG on other systems). " + hint
    elif "no keyring" in why:
        hint = "Install Debian's archive keyring (apt-get install debian-archive-keyring). " + hint
    raise SignatureError(f"{what} {why}, so nothing fcslim would fetch from it can be authenticated.", hint)


def _run_gpgv(trust: Trust, what: str, files: dict[str, bytes], args: list[str],
              output: str | None = None) -> tuple[str, str] | str:
    """(authentication, signed text) for a good signature; a string saying
    why the Release is unauthenticated otherwise.  A bad signature raises."""
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        return "cannot be checked: gpgv is not installed"
    keyrings = trust.resolved_keyrings()
    if not keyrings:
        looked = ", ".join(str(k) for k in keyring_policy().default)
        return f"cannot be checked: no keyring was found ({looked}, ${KEYRING_ENV})"
    with tempfile.TemporaryDirectory(prefix="fcslim-gpgv-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir(mode=0o700)
        argv = [gpgv, "--homedir", str(home), "--status-fd", "1"]
        for index, keyring in enumerate(keyrings):
            argv += ["--keyring", str(_binary_keyring(keyring, Path(tmp) / f"keyring-{index}.gpg"))]
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        if output:
            argv += ["--output", str(Path(tmp) / output)]
        proc = subprocess.run(argv + [str(Path(tmp) / a) for a in args], capture_output=True, text=True,
                              errors="replace", env={**os.environ, "LC_ALL": "C"})
        status = [line.split() for line in proc.stdout.splitlines() if line.startswith("[GNUPG:] ")]
        codes = {fields[1] for fields in status if len(fields) > 1}
        if "BADSIG" in codes:
            raise SignatureError(
                f"The signature of {what} does not match its text: the Release was changed after it was "
                "signed (a tampered or broken mirror).",
                "Use another mirror (--debian-mirror); --allow-unsigned never accepts a bad signature.")
        valid = [fields[2] for fields in status if len(fields) > 2 and fields[1] == "VALIDSIG"]
        if proc.returncode == 0 and valid:
            text = (Path(tmp) / output).read_text(encoding="utf-8", errors="replace") if output else ""
            return "signed: " + ", ".join(valid), text
        missing = [fields[2] for fields in status if len(fields) > 2 and fields[1] == "NO_PUBKEY"]
        names = ", ".join(str(k) for k in keyrings)
        if missing:
            return f"is signed by key {', '.join(missing)}, which is not in the trusted keyring ({names})"
        detail = " ".join((proc.stderr or proc.stdout).split())[-200:]
        return f"has no signature gpgv accepts against {names} ({detail})"


def _binary_keyring(keyring: Path, scratch: Path) -> Path:
    """``keyring`` itself, or a binary copy of an ASCII-armoured one."""
    data = keyring.read_bytes()
    if _ARMOR_BEGIN not in data[:4096]:
        return keyring
    packets = b""
    for block in data.split(_ARMOR_BEGIN)[1:]:
        body = block.split(_ARMOR_END, 1)[0].decode("ascii", errors="replace")
        lines = body.strip().splitlines()
        if "" in lines:  # armour headers end at the first blank line
            lines = lines[lines.index("") + 1:]
        payload = "".join(line.strip() for line in lines if line.strip() and not line.startswith("="))
        try:
            packets += base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"The armoured keyring {keyring} cannot be decoded ({exc}).",
                             "Export the key again (gpg --export --armor KEYID) or pass a binary keyring.") from exc
    scratch.write_bytes(packets)
    return scratch


def strip_clearsign(text: str, what: str) -> str:
    """The text of a clearsigned message without checking its signature (for
    a Release accepted unauthenticated)."""
    if text.count("-----BEGIN PGP SIGNED MESSAGE-----") != 1:
        raise DebianError(f"{what} is not a single clearsigned Release file.",
                          "Use a Debian mirror that publishes a normal InRelease.")
    body = text.split("-----BEGIN PGP SIGNED MESSAGE-----", 1)[1]
    _head, _, body = body.partition("\n\n")
    body = body.split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.splitlines()) + "\n"
