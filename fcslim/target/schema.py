"""Reading a profile: a strict schema first, then the Profile.

The schema is data (``data/profile.schema.json``, JSON Schema 2020-12) and is
checked with ``jsonschema``, the reference validator: it refuses unknown keys
(``python_paht``) and wrong types (``security_mirror: 5``) at any depth, and
every error names the field.  Hand-written checks were the alternative; they
had already let unknown keys through, and a schema file also lets an editor
check a profile as it is written.  What a schema cannot say (the full Python
version matches ``python``, ``disk_bytes <= disk_bytes_max``) is checked here
after it.

Importing jsonschema and validating costs 35-40 ms of every run that reads a
user's profile or a bundle's record (`fcslim scan`, `report`, `pack`...), so a
profile found valid is remembered in the ``results`` cache
(:mod:`fcslim.cache.results`) under a key of its canonical JSON, fcslim's code
and data (the schema among them) and the identity of the jsonschema package
that judged it; a profile with problems is never remembered, and a corrupted
entry is a miss.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import os
from typing import Any, Mapping

from fcslim.cache.codeid import own_code_digest
from fcslim.cache.keys import cache_key
from fcslim.cache.results import recall, remember
from fcslim.core.errors import ProfileError
from fcslim.core.resources import data_path
from fcslim.target.model import LIMIT_FIELDS, DebianSource, Limits, Profile

SCHEMA_FILE = "profile.schema.json"
_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
               float: "a number", type(None): "null"}


@functools.lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(data_path(SCHEMA_FILE).read_text())


VALID_KIND = "valid-profile"


def _validity_key(raw: Any) -> str | None:
    """The key under which ``raw`` is remembered valid (module docstring)."""
    try:
        spec = importlib.util.find_spec("jsonschema")
        st = os.stat(spec.origin) if spec is not None and spec.origin else None
        judge = None if st is None else [spec.origin, st.st_ino, st.st_size, st.st_mtime_ns]
        return cache_key(VALID_KIND, raw, own_code_digest(), judge)
    except (OSError, TypeError, ValueError):
        return None


def schema_problems(raw: Any) -> list[str]:
    """Every way ``raw`` breaks the schema, each naming its field (none for a
    profile remembered valid)."""
    key = _validity_key(raw)
    if key is not None and recall(VALID_KIND, key) is True:
        return []
    problems = _validate(raw)
    if not problems and key is not None:
        remember(VALID_KIND, key, True)
    return problems


def _validate(raw: Any) -> list[str]:
    # jsonschema (with referencing and rpds) costs ~55 ms to import, measured
    # with `python -X importtime`; only user profiles and bundle records are
    # validated at run time (the built-in ones by a test), so it is imported here.
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema())
    problems = []
    for error in sorted(validator.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.extend(_describe(error))
    return problems


def _describe(error: Any) -> list[str]:
    path = ".".join(str(p) for p in error.absolute_path)
    prefix = f"{path}." if path else ""
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        out = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            guess = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            out.append(f"field '{prefix}{key}' is not a profile field{guess}")
        return out
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"field '{prefix}{key}' is missing" for key in missing]
    expected = error.schema.get("fcslim:expected") or error.message
    got = _JSON_TYPES.get(type(error.instance), type(error.instance).__name__)
    shown = json.dumps(error.instance) if not isinstance(error.instance, (dict, list)) else got
    return [f"field '{path or '(the profile)'}' must be {expected}, not {shown}"]


def _refuse(where: str, problems: list[str]) -> ProfileError:
    shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    return ProfileError(
        f"Runtime profile {where}: {shown}.",
        "Fix that field (see `fcslim runtimes NAME --json` for a complete example) and run again.",
    )


def profile_from_dict(name: str, raw: Mapping[str, Any], source: str = "built-in", *,
                      validate: bool = True) -> Profile:
    """Check ``raw`` against the schema (unless ``validate`` is False, for the
    built-in profiles a test checks) and build a :class:`Profile`."""
    where = source if source != "built-in" else f"'{name}'"
    if not isinstance(raw, Mapping):
        raise ProfileError(f"Runtime profile {where} is not a JSON object.", "Write the profile as a JSON object of fields.")
    if validate:
        problems = schema_problems(dict(raw))
        if problems:
            raise _refuse(where, problems)
    py = raw["python"]
    python = (int(py.split(".")[0]), int(py.split(".")[1]))
    full = raw.get("python_full_version", f"{py}.0")
    if not full.startswith(py + "."):
        raise _refuse(where, [f"field 'python_full_version' must be a version like '{py}.4' matching 'python', "
                              f"not {json.dumps(full)}"])
    glibc_major, glibc_minor = (int(p) for p in raw["glibc"].split("."))
    deb = raw["debian"]
    limits_raw = raw.get("limits") or {}
    limits = Limits(**{key: limits_raw.get(key) for key in LIMIT_FIELDS})
    if limits.disk_bytes and limits.disk_bytes_max and limits.disk_bytes > limits.disk_bytes_max:
        raise _refuse(where, ["field 'limits.disk_bytes' is larger than limits.disk_bytes_max"])
    return Profile(
        name=name,
        description=raw["description"],
        provider=raw["provider"],
        python=python,
        python_full_version=full,
        implementation=raw.get("implementation", "cp"),
        abi=raw.get("abi", f"cp{python[0]}{python[1]}"),
        arch=raw["arch"],
        glibc=(glibc_major, glibc_minor),
        os=raw.get("os", f"Debian {deb.get('version', '')}"),
        debian=DebianSource(
            release=deb["release"],
            version=str(deb.get("version", "")),
            mirror=deb["mirror"].rstrip("/"),
            security_mirror=(deb.get("security_mirror") or None),
        ),
        system_image=raw.get("system_image", f"debian{deb.get('version', '')}-minbase"),
        code_root=raw["code_root"],
        layer_root=raw["layer_root"],
        python_path=tuple(raw.get("python_path", [raw["code_root"]])),
        library_path=tuple(raw["library_path"]),
        limits=limits,
        source=source,
        provider_runtime=raw.get("provider_runtime"),
    )
