"""The target's Debian release: authenticated indexes, verified packages,
safe ``.deb`` reading.

Modules, one job each: :mod:`~fcslim.debian.deb822` (the stanza format),
:mod:`~fcslim.debian.versions` (dpkg's version order),
:mod:`~fcslim.debian.signatures` (gpgv and the trusted keyrings),
:mod:`~fcslim.debian.release` (Release files), :mod:`~fcslim.debian.indexes`
(Packages and Contents), :mod:`~fcslim.debian.store` (the Debian namespaces
of the cache store, verified on every read), :mod:`~fcslim.debian.sonames`
(which package provides a soname), :mod:`~fcslim.debian.archive` (a suite and
a release), :mod:`~fcslim.debian.decompress` and
:mod:`~fcslim.debian.debfile` (reading a ``.deb``), :mod:`~fcslim.debian.errors`.
"""
