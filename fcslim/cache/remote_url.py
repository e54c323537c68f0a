"""Where a remote cache or an upload lives, and the fsspec filesystem that reaches it.

``--cache-url`` / ``$FCSLIM_CACHE_URL`` and ``pack --upload`` take:

``s3://bucket/prefix/``   Amazon S3 or any S3-compatible server, through s3fs
                          (botocore reads the credentials and the endpoint
                          from the standard places: ``AWS_ACCESS_KEY_ID``…,
                          ``AWS_PROFILE`` and ``~/.aws``, ``AWS_ENDPOINT_URL``
                          or ``AWS_ENDPOINT_URL_S3``, ``AWS_REGION``).
``oss://bucket/prefix/``  Alibaba Cloud OSS through its S3-compatible API, also
                          with s3fs (SigV4, virtual-hosted addressing).  The
                          endpoint is ``$OSS_ENDPOINT`` when set, else
                          ``https://s3.oss-<region>.aliyuncs.com`` for
                          ``$OSS_REGION`` / ``$ALIBABA_CLOUD_REGION_ID``;
                          credentials from ``OSS_ACCESS_KEY_ID`` /
                          ``OSS_ACCESS_KEY_SECRET`` / ``OSS_SESSION_TOKEN`` or
                          the ``ALIBABA_CLOUD_*`` equivalents.  ossfs (OSS's
                          native API) is not used: the S3-compatible path is
                          the one the tests prove against a real server.
``file:///dir`` or a path a shared directory (NFS, a mounted volume).

s3fs is the optional extra ``fcslim[remote]``; without it an ``s3://`` or
``oss://`` URL is a clear error naming the install command.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fcslim.core.errors import InputError

SCHEMES = ("s3", "oss", "file")
_OSS_REGION = re.compile(r"oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com")
CONNECT_TIMEOUT = 5  # seconds: a remote that does not answer is treated as down quickly
READ_TIMEOUT = 10  # seconds of silence in a response; with 2 attempts a stalled remote costs 20 s, once
ATTEMPTS = 2  # botocore's, per request; s3fs's own retry loop (5 more rounds, with backoff) is turned off


@dataclass(frozen=True)
class RemoteLocation:
    """A parsed remote URL: ``scheme`` s3 | oss | file, ``bucket`` ("" for file), ``prefix`` without slashes."""

    url: str
    scheme: str
    bucket: str
    prefix: str

    def path(self, *parts: str) -> str:
        """The fsspec path of ``parts`` under this location."""
        base = f"{self.bucket}/{self.prefix}" if self.scheme != "file" else self.prefix
        return "/".join(p.strip("/") for p in (base, *parts) if p.strip("/")) if self.scheme != "file" \
            else os.path.join(base, *parts)

    def url_of(self, *parts: str) -> str:
        """The URL of ``parts`` under this location, for messages."""
        if self.scheme == "file":
            return self.path(*parts)
        return f"{self.scheme}://{self.path(*parts)}"


def parse_location(url: str) -> RemoteLocation:
    """Parse ``url``; a bad one is an :class:`InputError` naming it."""
    text = (url or "").strip()
    if not text:
        raise InputError("The remote URL is empty.", "Pass s3://bucket/prefix/, oss://bucket/prefix/ or a directory.")
    parsed = urlparse(text)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and text[1:3] == ":\\"):
        directory = parsed.path if parsed.scheme == "file" else text
        return RemoteLocation(text, "file", "", str(Path(directory).expanduser().resolve()))
    if parsed.scheme not in ("s3", "oss"):
        raise InputError(f"The remote URL {text!r} has the scheme {parsed.scheme!r}, which fcslim cannot use.",
                         "Use s3://bucket/prefix/ (S3 or S3-compatible), oss://bucket/prefix/ or a directory.")
    if not parsed.netloc:
        raise InputError(f"The remote URL {text!r} names no bucket.", f"Write it as {parsed.scheme}://bucket/prefix/.")
    return RemoteLocation(text, parsed.scheme, parsed.netloc, parsed.path.strip("/"))


def _first_env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def oss_endpoint() -> str | None:
    """OSS's S3-compatible endpoint from the environment, or None when no region is known."""
    explicit = _first_env("OSS_ENDPOINT", "ALIBABA_CLOUD_OSS_ENDPOINT")
    if explicit:
        return explicit if "://" in explicit else f"https://{explicit}"
    region = _first_env("OSS_REGION", "ALIBABA_CLOUD_REGION_ID", "FC_REGION")
    return f"https://s3.oss-{region}.aliyuncs.com" if region else None


def oss_region(endpoint: str | None = None) -> str | None:
    """The OSS region: ``$OSS_REGION`` / ``$ALIBABA_CLOUD_REGION_ID`` / ``$FC_REGION``, else the one an
    ``oss-<region>[-internal].aliyuncs.com`` endpoint names."""
    region = _first_env("OSS_REGION", "ALIBABA_CLOUD_REGION_ID", "FC_REGION")
    if region:
        return region
    match = _OSS_REGION.search(endpoint or oss_endpoint() or "")
    return match.group(1) if match else None


def oss_credentials() -> dict[str, str]:
    """key/secret/token for s3fs from the OSS or ALIBABA_CLOUD variables (empty when none are set)."""
    key = _first_env("OSS_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_ID")
    secret = _first_env("OSS_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    token = _first_env("OSS_SESSION_TOKEN", "OSS_SECURITY_TOKEN", "ALIBABA_CLOUD_SECURITY_TOKEN")
    found: dict[str, str] = {}
    if key and secret:
        found = {"key": key, "secret": secret}
        if token:
            found["token"] = token
    return found


def open_filesystem(location: RemoteLocation) -> Any:
    """A fresh fsspec filesystem for ``location`` (short connect timeout, few retries)."""
    # Imported here: fsspec costs ~0.1 s to import (python -X importtime), and
    # every stage imports the cache, with or without a remote.
    import fsspec

    if location.scheme == "file":
        return fsspec.filesystem("file", skip_instance_cache=True)
    try:
        fs_class = fsspec.get_filesystem_class("s3")
    except ImportError as exc:
        raise InputError(
            f"The remote {location.url} needs s3fs, which is not installed ({exc}).",
            "Install fcslim with its remote extra: pip install 'fcslim[remote]'.",
        ) from exc
    config = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT,
              "retries": {"max_attempts": ATTEMPTS, "mode": "standard"}}
    options: dict = {"skip_instance_cache": True, "config_kwargs": config}
    if location.scheme == "oss":
        endpoint = oss_endpoint()
        if endpoint is None:
            raise InputError(
                f"The remote {location.url} is on OSS, but no OSS endpoint or region is set.",
                "Set OSS_ENDPOINT (e.g. https://s3.oss-cn-hangzhou.aliyuncs.com) or OSS_REGION (e.g. cn-hangzhou).",
            )
        options.update(oss_credentials())
        options["endpoint_url"] = endpoint
        # OSS takes SigV4 with virtual-hosted buckets, and no aws-chunked uploads
        # (the checksum trailers newer botocore adds by default).
        config.update({"s3": {"addressing_style": "virtual"}, "request_checksum_calculation": "when_required",
                       "response_checksum_validation": "when_required"})
        region = oss_region(endpoint)
        if region:  # signed for the bucket's region, as OSS's own examples do
            options["client_kwargs"] = {"region_name": region}
    fs = fs_class(**options)
    # s3fs retries each call 5 times over botocore's own attempts: a stalled
    # remote then held a build for 5 x 2 read timeouts before the one warning.
    fs.retries = 1
    return fs
