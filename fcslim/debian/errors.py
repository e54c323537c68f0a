"""The Debian stage's errors (exit 7, or 5 for an unreachable mirror)."""

from __future__ import annotations

from ..core.errors import DebianError, NetworkError


class ArchiveUnreachableError(NetworkError):
    """The Debian mirror cannot be reached and nothing usable is cached."""


class SignatureError(DebianError):
    """A Release file that is unsigned, or whose signature does not verify
    against the trusted keyring."""


class ExpiredReleaseError(DebianError):
    """A signed Release past its Valid-Until: a mirror that stopped updating,
    or an old Release replayed to hide later security fixes."""


class ChecksumError(DebianError):
    """An index or package that does not match its published SHA256 or size."""


class IndexNotServedError(DebianError):
    """An index the Release lists that the mirror does not serve."""


class ArchitectureError(DebianError):
    """The mirror, the package or the library is for another architecture."""


class NoPackageError(DebianError):
    """No package of the release provides a soname."""
