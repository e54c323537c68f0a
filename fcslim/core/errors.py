"""One error family for the whole tool.

Every failure a user can cause or meet is an :class:`FcslimError` subclass with a
one-paragraph message that names the thing at fault and says what to do, and a
documented exit code.  Only the CLI turns these into text on stderr and an exit
status; library callers catch them like any exception.

Exit codes (also listed in the README):

==  ==========================================================================
0   success
1   internal error (a bug in fcslim: please report it)
2   usage error (bad option or argument; raised by click)
3   bad input: requirement line, profile file, unknown runtime, refused output
4   resolution: no wheel for the target, unknown package, conflicting pins,
    native sdist refused, hash mismatch
5   network: package index or Debian mirror unreachable
6   load: an ELF file in the tree cannot load on the target (missing library,
    glibc/libstdc++ symbol version too new, wrong machine, malformed ELF)
7   Debian: no package provides a soname, bad checksum or signature, a .deb
    member that escapes the tree
8   verify: an import fails in the target and slimming could not restore it
9   size gate: the bundle is over a size limit
10  pack / hand-off: the pack or loader could not be written
11  environment: a place fcslim must write is read-only, not writable, not a
    directory, or full (output, lock, zip, cache)
12  remote storage: the remote cache failed under --cache-url-required, or
    `pack --upload` could not upload the dependency zip
==  ==========================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_RESOLUTION = 4
EXIT_NETWORK = 5
EXIT_LOAD = 6
EXIT_DEBIAN = 7
EXIT_VERIFY = 8
EXIT_SIZE = 9
EXIT_PACK = 10
EXIT_ENVIRONMENT = 11
EXIT_REMOTE = 12


class FcslimError(Exception):
    """Base of every error fcslim reports to a user.

    ``message`` says what went wrong and names the culprit; ``hint`` says what to
    do about it.  ``str(error)`` joins them into the one paragraph the CLI prints.
    """

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, hint: str | None = None):
        self.message = message.strip()
        self.hint = hint.strip() if hint else None
        super().__init__(self.paragraph())

    def paragraph(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            text = f"{text} {' '.join(self.hint.split())}"
        return text


class InputError(FcslimError):
    """The user's input is malformed or refused (exit 3)."""

    exit_code = EXIT_INPUT


class UnknownRuntimeError(InputError):
    """A runtime name that is neither built in nor a readable profile file."""


class ProfileError(InputError):
    """A runtime profile file with a missing or invalid field."""


class RequirementSyntaxError(InputError):
    """A requirement line that cannot be parsed (names file and line)."""


class OutputRefusedError(InputError):
    """An output fcslim will not replace: it holds something fcslim did not
    make (a project, a home directory, an input of the run, a user's file)."""


class ResolutionError(FcslimError):
    """Resolution or installation failed for the target (exit 4)."""

    exit_code = EXIT_RESOLUTION


class NoCompatibleWheelError(ResolutionError):
    """A distribution has no wheel whose tags the target accepts."""


class UnknownPackageError(ResolutionError):
    """A distribution name the index does not know."""


class ConflictError(ResolutionError):
    """Requirements that no set of versions satisfies together."""


class NativeSdistError(ResolutionError):
    """Only an sdist exists and it would compile native code."""


class HashMismatchError(ResolutionError):
    """A downloaded artifact does not match the hash in the lock."""


class NetworkError(FcslimError):
    """A package index or mirror could not be reached (exit 5)."""

    exit_code = EXIT_NETWORK


class LoadError(FcslimError):
    """Something in the tree cannot load on the target (exit 6)."""

    exit_code = EXIT_LOAD


class DebianError(FcslimError):
    """The Debian archive could not supply what was needed safely (exit 7)."""

    exit_code = EXIT_DEBIAN


class UnsafeArchiveError(DebianError):
    """An archive member that would land outside the extraction tree."""


class VerifyError(FcslimError):
    """An import fails in the target and could not be repaired (exit 8)."""

    exit_code = EXIT_VERIFY


class SizeLimitError(FcslimError):
    """The bundle is over a size limit (exit 9)."""

    exit_code = EXIT_SIZE


class PackError(FcslimError):
    """A pack, loader or hand-off file could not be written (exit 10)."""

    exit_code = EXIT_PACK


class LocationError(FcslimError):
    """The host refused a write: a read-only file system, a directory without
    write permission, a path that is a file where a directory is needed, a full
    disk (exit 11).  Nothing is wrong with the input or with fcslim."""

    exit_code = EXIT_ENVIRONMENT


class RemoteError(FcslimError):
    """Object storage (the remote cache, an upload target) failed where it may
    not (exit 12): a remote cache is otherwise optional and only warned about."""

    exit_code = EXIT_REMOTE
