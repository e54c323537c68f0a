"""Setting up the import check while the install runs.

Finding where imports are checked (:func:`fcslim.verify.imports.make_verifier`)
launches interpreters: each PATH candidate and the pyenv listing on the host,
the clean root's ``python3`` for its version.  On a cold cache that is 0.3 to
0.7 s of waiting on other processes, which a build can spend while uv
installs instead.  :func:`start_verifier` starts it in a thread and the slim
stage takes the answer; the answer is the same one
:func:`~fcslim.verify.imports.make_verifier` gives when called then.

Once uv has installed, :meth:`PendingVerifier.warm_early` starts the first
check's bytecode warmer (:mod:`fcslim.verify.warmup`) if the set-up is done.

Only when the set-up can do nothing but probe: a clean or assembled root that
is not built yet (minutes of debootstrap) is left to the slim stage, as before,
so a build that fails earlier never leaves a root half-made behind it.
"""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from fcslim.verify import imports, rootfs
from fcslim.verify.modules import top_level_modules


def _roots_ready(profile) -> bool:
    """Whether :func:`~fcslim.verify.imports.make_verifier` would only run
    probes for ``profile`` (every root it may enter is built)."""
    if rootfs.rootfs_support() is not None:
        return True  # no root is ever built here: the host interpreter or nothing
    if rootfs.uses_clean_root(profile):
        return rootfs.root_ready(profile.debian.release, profile.debian_arch)
    if imports.ASSEMBLED_ROOTS:
        # Imported here, as make_verifier does: only these profiles need it.
        from fcslim.verify.assembled import assembled_root_ready

        return assembled_root_ready(profile)
    return True


class PendingVerifier:
    """:func:`~fcslim.verify.imports.make_verifier`'s answer, being worked out
    in a thread (or, when that could build a root, worked out on :meth:`get`)."""

    def __init__(self, profile, python: str | None):
        self._args = (profile, python)
        self._answer: imports.Verifier | imports.NoVerifier | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "PendingVerifier":
        profile, python = self._args
        if python is None and not _roots_ready(profile):
            return self
        context = contextvars.copy_context()  # the run's inputs and cache, as in the caller
        self._thread = threading.Thread(target=context.run, args=(self._work,), name="fcslim-verifier-setup")
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            self._answer = imports.make_verifier(*self._args, prepare=False)
            if isinstance(self._answer, imports.Verifier):
                self._answer.prepare_warm_up()  # seeded now: the build warms the first check once uv is done
        except BaseException as exc:  # handed to the caller of get(), raised there
            self._error = exc

    def warm_early(self, bundle: Path) -> imports.Verifier | None:
        """Start the first check's bytecode warmer on ``bundle`` now
        (:meth:`~fcslim.verify.imports.Verifier.warm_early`) if the set-up
        is done and found a verifier; never waits for the set-up.  Returns
        the verifier whose warmer started, for the caller to stop it if the
        build ends before the check."""
        if self._thread is None or self._thread.is_alive() or not isinstance(self._answer, imports.Verifier):
            return None
        modules = top_level_modules(Path(bundle))
        return self._answer if modules and self._answer.warm_early(Path(bundle), modules) else None

    def get(self) -> imports.Verifier | imports.NoVerifier:
        """The verifier (raises what :func:`make_verifier` raised)."""
        if self._thread is None:
            return imports.make_verifier(*self._args)
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._answer is not None
        return self._answer


def start_verifier(profile, python: str | None = None) -> PendingVerifier:
    """Start working out where the import check of ``profile`` runs."""
    return PendingVerifier(profile, python).start()
