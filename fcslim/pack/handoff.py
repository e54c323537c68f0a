"""Hand-off to other packagers and deploy tools.

* :func:`build_manifest` / :func:`write_manifest`: ``<output>.manifest.json``,
  a description of a pack another tool can consume without reading fcslim's
  records: runtime profile, archives (name, role, SHA-256, size), every file
  (bundle path, path in the zip, size, SHA-256), links left out, installed
  distributions, fetched system libraries, where the zip is unpacked on the
  target and the environment variables the function needs.
* snippets for deploy tools live in :mod:`fcslim.pack.snippets`.
* :func:`read_serverless_devs`: ``--from s.yaml``: the function's runtime
  (mapped to an fcslim profile) and code directory from a Serverless Devs
  project (fc3 ``resources.<name>.props`` or the older fc component's
  ``services.<name>.props.function``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from fcslim.core.errors import InputError, PackError, UnknownRuntimeError
from fcslim.core.files import atomic_write
from fcslim import __version__
from fcslim.core.inputs import note_input
from fcslim.core.records import LIBRARIES, read_record
from fcslim.dists import dist_info_dirs, name_and_version
from fcslim.pack.layout import archive_name
from fcslim.target.profile import builtin_profiles

MANIFEST_SCHEMA = "fcslim.manifest/1"


# -- manifest --------------------------------------------------------------

from fcslim.core.hashing import file_sha256 as _sha256  # noqa: E402


def _distributions(root: Path) -> list[dict]:
    found = []
    for path in dist_info_dirs(root):
        name, version = name_and_version(path)
        found.append({"name": name, "version": version, "dist_info": path.name})
    return found


def install_locations(layout: str, profile) -> dict[str, str | None]:
    """Where the pack's Python packages and libraries end up on the target."""
    if profile is None:
        return {"python": None, "libraries": None}
    if layout == "layer":
        return {"python": f"{profile.layer_root}/python", "libraries": f"{profile.layer_root}/lib"}
    if layout == "layers":  # --pack auto: the heaviest distributions in layers, the rest and lib/ in the code zip
        return {"python": f"{profile.code_root} and {profile.layer_root}/python", "libraries": f"{profile.code_root}/lib"}
    if layout == "split":
        return {"python": "/tmp/fcslim-deps-<sha256> (unpacked at cold start)",
                "libraries": "preloaded by fcslim_loader"}
    return {"python": profile.code_root, "libraries": f"{profile.code_root}/lib"}


def required_environment(layout: str, profile, has_libraries: bool, deps_config: dict | None = None) -> dict[str, str]:
    """Environment variables the function needs for this pack on ``profile``:
    a search path the runtime lacks, or the split loader's URL variable."""
    env: dict[str, str] = {}
    if layout == "split":
        if deps_config and not deps_config.get("url") and not deps_config.get("object"):
            env[deps_config["url_env"]] = f"<URL of {deps_config['archive']}: OSS/S3 presigned or HTTPS>"
        return env
    if profile is None:
        return env
    where = install_locations(layout, profile)
    pythons = [profile.code_root, f"{profile.layer_root}/python"] if layout == "layers" else [where["python"]]
    missing = [p for p in pythons if p not in profile.python_path]
    if missing:
        env["PYTHONPATH"] = ":".join([*profile.python_path, *missing])
    if has_libraries and where["libraries"] not in profile.library_path:
        env["LD_LIBRARY_PATH"] = ":".join([*profile.library_path, where["libraries"]])
    return env


def build_manifest(result) -> dict:
    """The manifest of a :class:`fcslim.pack.archive.PackResult`."""
    root = Path(result.root)
    profile = result.profile
    zip_layout = "code" if result.layout in ("split", "layers") else result.layout
    layer_of = {p: name for name, paths in result.layer_files.items() for p in paths}
    files = [{"path": f.path,
              "archive_path": archive_name(f.path, "layer" if f.path in layer_of else zip_layout),
              **({"archive": layer_of[f.path]} if f.path in layer_of else {}),
              "size": f.size, "sha256": _sha256(f.source), "executable": f.executable,
              **({"link": f.link} if f.link else {})} for f in result.listing.files]
    has_libraries = any(f.path.startswith("lib/") for f in result.listing.files)
    libraries = (read_record(root, LIBRARIES) or {})
    return {
        "schema": MANIFEST_SCHEMA,
        "generator": f"fcslim {__version__}",
        "runtime": profile.to_dict() if profile is not None else None,
        "layout": result.layout,
        "archives": [a.to_dict() for a in result.archives],
        "install_locations": install_locations(result.layout, profile),
        "environment": required_environment(result.layout, profile, has_libraries, result.deps_config),
        "distributions": _distributions(root),
        "libraries": libraries.get("fetched") or [],
        "data_files": libraries.get("data_files") or [],
        # Variables the bundle's own hook (sitecustomize.py, from `fcslim fetch`)
        # sets at start-up, as paths relative to the bundle: set them yourself
        # if your packager drops that hook.
        "bundle_environment": libraries.get("env") or {},
        "hooks": libraries.get("hooks") or [],
        "preload": result.preload if result.layout == "split" else None,
        "deps": result.deps_config,
        "files": files,
        "skipped_links": [{"path": s.path, "target": s.target, "reason": s.reason} for s in result.skipped_links],
        "empty_dirs": result.empty_dirs,
        "notes": result.notes,
    }


MANIFEST_HINT = ("Pass an --output whose <zip>.manifest.json does not exist yet or was written by fcslim, "
                 "or pack with --no-manifest.")


def manifest_path(zip_path: str | os.PathLike) -> Path:
    """``bundle.zip`` → ``bundle.zip.manifest.json`` beside it."""
    zip_path = Path(zip_path)
    return zip_path.with_name(zip_path.name + ".manifest.json")


def is_fcslim_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest fcslim wrote (its schema is ours)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(512)
    except OSError:
        return False
    return f'"schema": "{MANIFEST_SCHEMA}"' in head


def write_manifest(result, path: str | os.PathLike) -> Path:
    text = json.dumps(build_manifest(result), indent=2) + "\n"
    try:
        return atomic_write(path, text, role="manifest", owned=is_fcslim_manifest, hint=MANIFEST_HINT)
    except OSError as exc:  # not the host's doing (those are LocationErrors, exit 11)
        raise PackError(f"Cannot write the manifest {path} ({exc}).", "Check that its directory is writable.") from exc


# -- reading a Serverless Devs project -------------------------------------

@dataclass(frozen=True)
class ServerlessFunction:
    """One function of a Serverless Devs project, as fcslim needs it."""

    source: Path
    resource: str
    runtime: str  # FC's name: python3.10, custom.debian10
    profile_name: str  # fcslim's: fc-python3.10
    code_dir: Path | None  # None when the code is on OSS or is a zip
    handler: str | None
    function_name: str | None
    region: str | None


def profile_for_fc_runtime(runtime: str, where: str = "s.yaml") -> str:
    """fcslim's profile for FC runtime ``runtime`` (python3.10 → fc-python3.10)."""
    candidate = f"fc-{runtime}"
    profiles = builtin_profiles()
    if candidate in profiles:
        return candidate
    known = sorted(p.provider_runtime or p.name for p in profiles.values() if p.provider == "fc")
    raise UnknownRuntimeError(
        f"{where} names the FC runtime {runtime!r}, which fcslim has no profile for.",
        f"Use one of {', '.join(known)} in {where}, or pass --runtime with a profile file.",
    )


def _functions(data: dict) -> dict[str, tuple[dict, str]]:
    """resource name → (function props, schema) for fc3 and the older fc component."""
    found = {}
    for name, body in (data.get("resources") or {}).items():
        if isinstance(body, dict) and "fc" in str(body.get("component", "")) and isinstance(body.get("props"), dict):
            found[name] = (body["props"], "fc3")
    for name, body in (data.get("services") or {}).items():
        props = body.get("props") if isinstance(body, dict) else None
        if isinstance(props, dict) and isinstance(props.get("function"), dict):
            found[name] = (props["function"], "fc")
    return found


def read_serverless_devs(path: str | os.PathLike, resource: str | None = None) -> ServerlessFunction:
    """The function in Serverless Devs file ``path`` (``resource`` picks one
    when the file declares several)."""
    # PyYAML is imported here, for s.yaml only: `python -X importtime` measures it at ~60 ms with its dependencies.
    import yaml

    path = Path(path)
    note_input(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"Cannot read {path} ({exc}).", "Pass the path of your project's s.yaml.") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not valid YAML ({exc}).", "Fix the file or pass --runtime and DIR yourself.") from exc
    functions = _functions(data if isinstance(data, dict) else {})
    if not functions:
        raise InputError(f"{path} declares no Function Compute function (no fc3 `resources` or fc `services`).",
                         "Pass --runtime and the directories yourself.")
    if resource is None:
        if len(functions) > 1:
            raise InputError(f"{path} declares several functions: {', '.join(sorted(functions))}.",
                             "Pick one with --resource NAME.")
        resource = next(iter(functions))
    if resource not in functions:
        raise InputError(f"{path} has no function resource {resource!r}.",
                         f"Use one of {', '.join(sorted(functions))}.")
    props, schema = functions[resource]
    runtime = props.get("runtime")
    if not isinstance(runtime, str) or not runtime:
        raise InputError(f"{path}: resource {resource!r} has no runtime.", "Add `runtime:` or pass --runtime.")
    if "${" in runtime:
        raise InputError(f"{path}: the runtime of {resource!r} is the expression {runtime!r}, which fcslim cannot "
                         "evaluate.", "Pass --runtime explicitly.")
    code = props.get("code") if schema == "fc3" else props.get("codeUri")
    code_dir = None
    if isinstance(code, dict):
        code = code.get("src")
    if isinstance(code, str) and "${" not in code:
        candidate = (path.parent / code).resolve()
        code_dir = candidate if candidate.is_dir() else None
    return ServerlessFunction(
        source=path,
        resource=resource,
        runtime=runtime,
        profile_name=profile_for_fc_runtime(runtime, str(path)),
        code_dir=code_dir,
        handler=props.get("handler"),
        function_name=props.get("functionName") or props.get("name"),
        region=(props.get("region") if schema == "fc3" else (data.get("services", {}).get(resource, {})
                                                              .get("props", {}).get("region"))),
    )
