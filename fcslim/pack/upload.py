"""``fcslim pack --layout split --upload s3://bucket/prefix/`` (or ``oss://``).

The dependency zip goes to ``<prefix>/<sha256>.zip``: its name is its content
hash, so a new pack never overwrites what running functions fetch, and two
packs of the same bundle write the same object.  The upload is a single PUT
(or a multipart upload completed in one call), so the object appears whole or
not at all.  The loader's configuration then names the object (bucket, key,
region, endpoint, addressing style) and the loader fetches it with a GET
signed by the function's own temporary credentials
(:mod:`fcslim.pack.loader_signing`), or unsigned for a public-read object.
Credentials and endpoints for the upload come from the standard places (see
:mod:`fcslim.cache.remote_url`).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from fcslim.cache.remote_url import RemoteLocation, open_filesystem, oss_endpoint, oss_region, parse_location
from fcslim.core.errors import InputError, RemoteError


@dataclass(frozen=True)
class UploadedObject:
    """Where the loader finds the dependency zip (the ``object`` of fcslim_deps.json)."""

    scheme: str  # "s3" | "oss"
    bucket: str
    key: str
    region: str | None
    endpoint: str | None
    addressing: str  # "virtual" | "path"

    def to_dict(self) -> dict[str, str | None]:
        return {"scheme": self.scheme, "bucket": self.bucket, "key": self.key, "region": self.region,
                "endpoint": self.endpoint, "addressing": self.addressing}

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"


def _addressing(endpoint: str | None, scheme: str) -> str:
    """Path style for an IP address or localhost (no virtual hosts there), else virtual-hosted
    (which OSS requires)."""
    if scheme == "oss" or not endpoint:
        return "virtual"
    host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    try:
        ipaddress.ip_address(host)
        return "path"
    except ValueError:
        return "path" if host == "localhost" else "virtual"


def object_for(location: RemoteLocation, sha256: str) -> UploadedObject:
    """The object a dependency zip with ``sha256`` is uploaded to."""
    if location.scheme not in ("s3", "oss"):
        raise InputError(f"--upload {location.url} is not an s3:// or oss:// URL.",
                         "Upload to object storage the function can reach, e.g. s3://bucket/deps/ or oss://bucket/deps/.")
    key = "/".join(p for p in (location.prefix, f"{sha256}.zip") if p)
    if location.scheme == "oss":
        endpoint = oss_endpoint()
        region = oss_region(endpoint)
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    return UploadedObject(location.scheme, location.bucket, key, region, endpoint,
                          _addressing(endpoint, location.scheme))


def upload_deps(path: os.PathLike | str, sha256: str, url: str) -> UploadedObject:
    """Upload the dependency zip at ``path`` (whose SHA-256 is ``sha256``) under ``url``."""
    location = parse_location(url)
    target = object_for(location, sha256)
    fs = open_filesystem(location)
    try:
        fs.put_file(str(path), f"{target.bucket}/{target.key}")
        size = fs.info(f"{target.bucket}/{target.key}").get("size")
    except (TypeError, AttributeError, NameError):
        raise  # bugs, not the remote's doing
    except Exception as exc:  # s3fs passes some botocore errors through untranslated
        raise RemoteError(
            f"Uploading the dependency zip to {target.url} failed ({type(exc).__name__}: {str(exc)[:300]}).",
            "Check the bucket, the credentials (AWS_* or OSS_* variables, or a profile) and the endpoint, "
            "or pack without --upload and upload the .deps.zip yourself.",
        ) from exc
    if size != os.path.getsize(path):
        raise RemoteError(f"The uploaded dependency zip {target.url} has {size} bytes, not {os.path.getsize(path)}.",
                          "Run the pack again; if it persists, check the bucket's lifecycle or proxy settings.")
    return target
