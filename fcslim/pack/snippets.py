"""Deploy configuration for a pack, and the next steps to say after it.

* :func:`s_yaml_snippet`: a Serverless Devs ``s.yaml`` fragment (edition
  3.0.0, fc3 component) whose props pass fc3's own schema
  (devsapp/fc3 ``src/schema.json``; tests check it);
* :func:`template_yml_snippet`: a Funcraft ``template.yml`` fragment
  (``Aliyun::Serverless-2018-04-03``) that `fun validate` accepts.  Fun's last
  release (3.6.24) knows no Python runtime newer than ``python3`` (FC's 3.6)
  and cannot set a disk size: for anything else the snippet is refused with a
  pointer to s.yaml instead of printing a template Fun rejects;
* :func:`next_steps`: two or three lines for the end of a run.

The function's handler is wired as the layout needs it: the code and layers
layouts call it directly; the split layout's runtime handler is
``fcslim_loader.handler`` and its initializer ``fcslim_loader.initializer``
(download, verify, unpack, preload once, with the initializer's own timeout),
which then call the function's handler.  Timeout, memory and disk are sized
from what the pack unpacks (:func:`resources_for`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fcslim.core.errors import InputError
from fcslim.pack.loader import CONFIG_NAME, LOADER_MODULE
from fcslim.core.units import format_size

if TYPE_CHECKING:
    from fcslim.pack.archive import PackResult

SNIPPET_FORMATS = ("s.yaml", "template.yml")
LOADER_HANDLER = f"{LOADER_MODULE}.handler"
LOADER_INITIALIZER = f"{LOADER_MODULE}.initializer"
# Runtimes @alicloud/fun 3.6.24 (its last release) accepts for a code
# function: lib/validate/schema/function.js, Properties.Runtime.enum.
FUN_RUNTIMES = ("nodejs6", "nodejs8", "nodejs10", "nodejs12", "python2.7", "python3", "java8", "java11", "php7.2",
                "dotnetcore2.1", "custom")
# fc3 accepts diskSize 512 or 10240 (MB) only, memorySize in steps of 64 MB.
FC_DISK_SIZES_MB = (512, 10240)
_MIB = 1024 * 1024
# Sizing assumptions (documented in the README): the loader downloads at
# 10 MiB/s or better from object storage in the function's region and unpacks
# at 50 MiB/s or better; memory holds every byte of the bundle mapped, plus
# 256 MiB for the interpreter and the function's own data.
DOWNLOAD_MIB_PER_S = 10
UNPACK_MIB_PER_S = 50
MEMORY_HEADROOM_MIB = 256


@dataclass(frozen=True)
class Resources:
    """What the function needs to be configured with."""

    timeout_s: int
    memory_mb: int
    disk_mb: int | None  # None: the runtime's default disk is enough
    initializer_timeout_s: int | None  # split layout only


def _round_up(value: float, step: int) -> int:
    return int(-(-value // step) * step)


def resources_for(result: PackResult) -> Resources:
    """Timeout, memory and disk that fit what ``result`` unpacks."""
    unpacked = sum(a.unzipped_bytes for a in result.archives)
    memory = min(32768, max(512, _round_up(unpacked / _MIB + MEMORY_HEADROOM_MIB, 64)))
    if result.layout != "split":
        return Resources(60, memory, None, None)
    deps = next(a for a in result.archives if a.role == "deps")
    seconds = deps.size / _MIB / DOWNLOAD_MIB_PER_S + deps.unzipped_bytes / _MIB / UNPACK_MIB_PER_S + 30
    init = _round_up(seconds, 10)
    needed_mb = (deps.size + deps.unzipped_bytes) / _MIB
    disk = next((d for d in FC_DISK_SIZES_MB if d >= needed_mb), None)
    if disk is None:
        raise InputError(f"The split layout needs {format_size(deps.size + deps.unzipped_bytes)} of /tmp, more than "
                         f"a function's largest disk ({FC_DISK_SIZES_MB[-1]} MB).",
                         "Use layers (--pack auto), a container image, or lighter dependencies.")
    return Resources(max(60, init), memory, disk, init)


def provider_runtime(profile) -> str:
    """The provider's runtime name: the profile's ``provider_runtime``, else
    its name without the ``fc-`` prefix."""
    named = getattr(profile, "provider_runtime", None)
    if named:
        return named
    name = getattr(profile, "name", "") or ""
    return name[3:] if name.startswith("fc-") else name


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _handler_of(result: PackResult, handler: str) -> tuple[str, dict[str, str]]:
    """The runtime's handler and any variable the loader needs for it."""
    if result.layout != "split":
        return handler, {}
    configured = (result.deps_config or {}).get("handler")
    return LOADER_HANDLER, ({} if configured else {"FCSLIM_HANDLER": handler})


def _names(result: PackResult) -> tuple[str, list[str], str | None]:
    code = next((a.path.name for a in result.archives if a.role == "code"), None)
    layers = [a.path.name for a in result.archives if a.role == "layer"]
    deps = next((a.path.name for a in result.archives if a.role == "deps"), None)
    return code or "", layers, deps


def _environment(result: PackResult, extra: dict[str, str]) -> dict[str, str]:
    # The packer's modules are imported when a snippet is made: `fcslim resolve`
    # imports this module for SNIPPET_FORMATS on every run (start-up).
    from fcslim.pack.handoff import required_environment

    env = required_environment(result.layout, result.profile,
                               any(f.path.startswith("lib/") for f in result.listing.files), result.deps_config)
    env.update(extra)
    return env


def s_yaml_snippet(result: PackResult, *, name: str = "my-function", handler: str = "index.handler",
                   region: str = "cn-hangzhou") -> str:
    """A Serverless Devs s.yaml (edition 3.0.0, fc3 component) fragment."""
    code, layers, deps = _names(result)
    runtime_handler, extra_env = _handler_of(result, handler)
    res = resources_for(result)
    env = _environment(result, extra_env)
    lines = [f"# fcslim {result.layout} pack for Serverless Devs (fc3); merge into your s.yaml.",
             "edition: 3.0.0", "resources:", f"  {name}:", "    component: fc3", "    props:",
             f"      region: {_q(region)}", f"      functionName: {_q(name)}",
             f"      runtime: {_q(provider_runtime(result.profile))}", f"      handler: {_q(runtime_handler)}",
             f"      timeout: {res.timeout_s}", f"      memorySize: {res.memory_mb}"]
    if res.disk_mb is not None:
        lines.append(f"      diskSize: {res.disk_mb}")
    if result.layout == "layer":
        lines += ["      code: ./code   # your function code; the dependencies come from the layer", "      layers:",
                  f"        # publish {layers[0] if layers else code} as a layer, then put its ARN here:",
                  "        - acs:fc:<region>:<account-id>:layers/<layer-name>/versions/<version>"]
    else:
        lines.append(f"      code: {_q('./' + code)}")
    if layers and result.layout != "layer":
        lines.append("      layers:   # in this order; publish each zip as a layer and put its ARN here")
        for i, layer in enumerate(layers, 1):
            lines.append(f"        - acs:fc:<region>:<account-id>:layers/<layer-{i}>/versions/<version>   # {layer}")
    if result.layout == "split":
        lines += ["      instanceLifecycleConfig:", "        initializer:",
                  f"          handler: {_q(LOADER_INITIALIZER)}", f"          timeout: {res.initializer_timeout_s}",
                  f"      # upload {deps} to OSS and give the function its URL (presigned, or public HTTPS):"]
    if env:
        lines.append("      environmentVariables:")
        lines += [f"        {k}: {_q(v)}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def template_yml_snippet(result: PackResult, *, service: str = "my-service", name: str = "my-function",
                         handler: str = "index.handler") -> str:
    """A Funcraft template.yml (Aliyun::Serverless-2018-04-03) fragment; an
    :class:`InputError` when Fun cannot express the runtime or the disk."""
    runtime = provider_runtime(result.profile)
    if runtime not in FUN_RUNTIMES:
        raise InputError(f"Funcraft (Fun) cannot express the runtime {runtime}: its last release (3.6.24) knows "
                         f"{', '.join(r for r in FUN_RUNTIMES if r.startswith('python'))} as Python runtimes.",
                         "Use --snippet s.yaml (Serverless Devs, fc3), which FC's current runtimes need.")
    res = resources_for(result)
    if res.disk_mb is not None and res.disk_mb > FC_DISK_SIZES_MB[0]:
        raise InputError(f"Funcraft (Fun) cannot set a disk size, and this split pack needs {res.disk_mb} MB of /tmp.",
                         "Use --snippet s.yaml (Serverless Devs, fc3), or layers (--pack auto).")
    code, layers, deps = _names(result)
    runtime_handler, extra_env = _handler_of(result, handler)
    env = _environment(result, extra_env)
    lines = [f"# fcslim {result.layout} pack for Funcraft; merge into your template.yml.",
             "ROSTemplateFormatVersion: '2015-09-01'", "Transform: 'Aliyun::Serverless-2018-04-03'", "Resources:",
             f"  {service}:", "    Type: 'Aliyun::Serverless::Service'", f"    {name}:",
             "      Type: 'Aliyun::Serverless::Function'", "      Properties:",
             f"        Handler: {_q(runtime_handler)}", f"        Runtime: {_q(runtime)}",
             f"        Timeout: {res.timeout_s}", f"        MemorySize: {res.memory_mb}"]
    if result.layout == "layer":
        lines += ["        CodeUri: ./code", "        Layers:",
                  f"          # publish {layers[0] if layers else code} as a layer, then its ARN:",
                  "          - acs:fc:<region>:<account-id>:layers/<layer-name>/versions/<version>"]
    else:
        lines.append(f"        CodeUri: {_q('./' + code)}")
    if layers and result.layout != "layer":
        lines.append("        Layers:   # in this order; publish each zip as a layer and put its ARN here")
        for i, layer in enumerate(layers, 1):
            lines.append(f"          - acs:fc:<region>:<account-id>:layers/<layer-{i}>/versions/<version>   # {layer}")
    if result.layout == "split":
        lines += [f"        Initializer: {_q(LOADER_INITIALIZER)}",
                  f"        InitializationTimeout: {res.initializer_timeout_s}",
                  f"        # upload {deps} to OSS and give the function its URL (presigned, or public HTTPS):"]
    if env:
        lines.append("        EnvironmentVariables:")
        lines += [f"          {k}: {_q(v)}" for k, v in env.items()]
    return "\n".join(lines) + "\n"


def snippet(result: PackResult, fmt: str, **options) -> str:
    """The ``fmt`` ("s.yaml" or "template.yml") fragment for ``result``."""
    provider = getattr(result.profile, "provider", None)
    if fmt in SNIPPET_FORMATS and provider != "fc":
        name = getattr(result.profile, "name", None)
        raise InputError(f"{fmt} snippets deploy to Alibaba Cloud Function Compute, but the pack is for {name} "
                         f"(provider {provider}).", "Pack for an fc-* runtime, or leave out --snippet.")
    if fmt == "s.yaml":
        return s_yaml_snippet(result, **options)
    if fmt == "template.yml":
        return template_yml_snippet(result, **{k: v for k, v in options.items() if k != "region"})
    raise InputError(f"Unknown snippet format {fmt!r}.", f"Use one of {', '.join(SNIPPET_FORMATS)}.")


def next_steps(result: PackResult, *, handler: str | None = None, snippet_shown: str | None = None) -> list[str]:
    """Two or three lines: what to upload, how to wire the handler, where the
    configuration is."""
    code, layers, deps = _names(result)
    user_handler = handler or "index.handler"
    fc = getattr(result.profile, "provider", None) == "fc"
    config = "" if snippet_shown else (" (`fcslim pack DIR --snippet s.yaml` prints the s.yaml)" if fc else "")
    runtime = provider_runtime(result.profile)
    lines: list[str] = []
    if result.layout == "layer":
        lines.append(f"next: publish {code or (layers[0] if layers else '')} as a layer "
                     f"({'s cli fc3 layer publish --code ZIP --layer-name NAME --compatible-runtime ' + runtime if fc else 'your provider CLI'}) "
                     "and add its ARN to the function")
        return lines
    if layers:
        names = ", ".join(layers)
        how = (f"`s cli fc3 layer publish --code ZIP --layer-name NAME --compatible-runtime {runtime}`"
               if fc else "your provider's CLI")
        lines.append(f"next: publish {names} as layers, in this order ({how}), and list their ARNs in that order"
                     if len(layers) > 1 else f"next: publish {names} as a layer ({how}) and list its ARN")
    if result.layout == "split":
        url_env = (result.deps_config or {}).get("url_env", "FCSLIM_DEPS_URL")
        lines.append(f"next: upload {deps} to OSS/S3 and set {url_env} to its URL (presigned or HTTPS)")
        res = resources_for(result)
        lines.append(f"next: deploy {code} with handler {LOADER_HANDLER} and initializer {LOADER_INITIALIZER} "
                     f"(they call {user_handler}; {CONFIG_NAME} holds the rest), disk {res.disk_mb} MB, memory "
                     f"{res.memory_mb} MB{config}")
        return lines
    lines.append(f"next: deploy {code} with handler {user_handler}, memory {resources_for(result).memory_mb} MB"
                 f"{config}")
    return lines
