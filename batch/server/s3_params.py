"""Validation of ``s3_store`` into an ``S3Target``: Kraken's fields, S3's header names.

Credentials live in ``S3Target`` fields excluded from ``repr``; no message built here quotes
a field's value except the non-secret ones (bucket, header names).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from batch.server.errors import InvalidParameters

MAX_TAGS: Final = 10
ACLS: Final = {"public_read": "public-read", "private": "private"}
#: Supported ``headers`` keys (lower-case) -> the PutObject parameter that carries them.
HEADERS: Final = {
    "cache-control": "CacheControl", "expires": "Expires", "content-type": "ContentType",
    "content-disposition": "ContentDisposition", "content-encoding": "ContentEncoding",
    "content-language": "ContentLanguage",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Target:
    """Where and how to write the result. ``headers`` maps PutObject parameters to values."""

    key: str = field(repr=False)
    secret: str = field(repr=False)
    bucket: str
    region: str
    path: str | None
    acl: str
    headers: dict[str, Any]
    metadata: dict[str, str]
    tags: dict[str, str]


def _string_map(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameters(f"s3_store.{where} must be an object")
    out = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise InvalidParameters(f"s3_store.{where}.{k} must be a string or a number")
        out[str(k)] = str(v)
    return out


def _expires(value: Any) -> datetime:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        if value.isdigit():
            return datetime.fromtimestamp(int(value), tz=UTC)
        try:
            return email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
    raise InvalidParameters("s3_store.headers.Expires must be an epoch integer or an HTTP date")


def parse_s3(raw: Any) -> S3Target:
    """Check ``s3_store`` (422 naming the bad field)."""
    if not isinstance(raw, dict):
        raise InvalidParameters("'s3_store' must be an object")
    for name in ("key", "secret", "bucket"):
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise InvalidParameters(f"s3_store.{name} is required")
    region = raw.get("region", "us-east-1")
    if not isinstance(region, str) or not region:
        raise InvalidParameters("s3_store.region must be a non-empty string")
    path = raw.get("path")
    if path is not None and (not isinstance(path, str) or ".." in path.split("/")):
        raise InvalidParameters("s3_store.path must be a string without '..' segments")
    acl = raw.get("acl", "public_read")
    if acl not in ACLS:
        raise InvalidParameters("s3_store.acl must be 'public_read' or 'private'")
    headers: dict[str, Any] = {}
    raw_headers = raw.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise InvalidParameters("s3_store.headers must be an object")
    for name, value in raw_headers.items():
        param = HEADERS.get(str(name).lower())
        if param is None:
            raise InvalidParameters(
                f"s3_store.headers: unsupported header {name!r} (supported: "
                "Cache-Control, Expires, Content-Type, Content-Disposition, "
                "Content-Encoding, Content-Language)"
            )
        if param == "Expires":
            headers[param] = _expires(value)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            headers[param] = str(value)
        else:
            raise InvalidParameters(f"s3_store.headers.{name} must be a string")
    tags = _string_map(raw.get("tags"), "tags")
    if len(tags) > MAX_TAGS:
        raise InvalidParameters(f"s3_store.tags accepts at most {MAX_TAGS} tags")
    return S3Target(
        key=raw["key"], secret=raw["secret"], bucket=raw["bucket"], region=region, path=path,
        acl=ACLS[acl], headers=headers, metadata=_string_map(raw.get("metadata"), "metadata"),
        tags=tags,
    )
