"""Finding a runtime profile: a built-in name, a user's JSON file, or the
profile a bundle was built for.  The data model is :mod:`fcslim.target.model`;
reading and checking one is :mod:`fcslim.target.schema`.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from fcslim.core.errors import ProfileError, UnknownRuntimeError
from fcslim.core.inputs import note_input
from fcslim.core.records import INSTALL, read_record, record_path
from fcslim.core.resources import data_path
from fcslim.target.model import Profile
from fcslim.target.schema import profile_from_dict


def builtin_profiles() -> dict[str, Profile]:
    """All built-in runtimes, by name, in the file's order."""
    raw = json.loads(data_path("runtimes.json").read_text())
    # Built-in profiles are checked against the schema by tests/test_profile_schema.py,
    # so loading them does not pay for jsonschema's import.
    return {name: profile_from_dict(name, body, validate=False) for name, body in raw["runtimes"].items()}


def load_profile(spec: str | Path | Profile) -> Profile:
    """A built-in runtime by name, or a profile JSON file by path."""
    if isinstance(spec, Profile):
        return spec
    text = str(spec)
    builtins = builtin_profiles()
    if text in builtins:
        return builtins[text]
    path = Path(text).expanduser()
    looks_like_path = path.suffix == ".json" or "/" in text or path.exists()
    if looks_like_path:
        if not path.is_file():
            raise UnknownRuntimeError(
                f"Runtime profile file {text} does not exist.",
                "Pass a built-in runtime name (see `fcslim runtimes`) or the path of a profile JSON file.",
            )
        note_input(path)
        try:
            raw = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProfileError(
                f"Runtime profile {text} is not valid JSON ({exc}).",
                "Fix the file; `fcslim runtimes --json` shows the expected shape.",
            ) from exc
        name = raw.get("name", path.stem) if isinstance(raw, dict) else path.stem
        return profile_from_dict(str(name), raw, source=str(path))
    close = difflib.get_close_matches(text, list(builtins), n=3, cutoff=0.75)
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    raise UnknownRuntimeError(
        f"Unknown runtime '{text}'.",
        f"{hint}Valid runtimes: {', '.join(builtins)}; or pass the path of a profile JSON file.",
    )


def bundle_profile(root: str | Path) -> Profile | None:
    """The profile a bundle was built for, from its ``.fcslim/install.json``
    (written by `fcslim resolve`); None when the bundle has no such record.
    A record that cannot be read as a profile is a :class:`ProfileError`."""
    path = record_path(root, INSTALL)
    if not path.is_file():
        return None
    record = read_record(root, INSTALL)
    if record is None:
        raise ProfileError(f"The bundle record {path} is not readable JSON.",
                           "Build the bundle again with `fcslim resolve`, or pass --runtime.")
    raw = record.get("profile")
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return None
    body = {k: v for k, v in raw.items() if k not in ("name", "source")}
    source = raw.get("source") if isinstance(raw.get("source"), str) else "built-in"
    return profile_from_dict(raw["name"], body, source=source or "built-in")


def runtime_for(runtime: str | None, root: str | Path | None = None, default: str = "fc-python3.10") -> Profile:
    """``--runtime`` when given, else the runtime in the bundle's own record,
    else ``default``: what every verb that reads a bundle uses."""
    if runtime:
        return load_profile(runtime)
    recorded = bundle_profile(root) if root is not None else None
    return recorded if recorded is not None else load_profile(default)
