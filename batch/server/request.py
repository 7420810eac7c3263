"""Request validation: Kraken's JSON body -> a typed ``OptimizeRequest``, in Kraken's order.

The handler calls, in order: ``authenticate`` (401/402/403), ``delivery`` (422 without wait
or callback_url), then (after the size/type checks for uploads) ``parse``, which raises
``InvalidParameters`` with a message naming the offending field. Unknown keys (``origin``,
``json``, ...) are tolerated, as Kraken does.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from batch.server.colors import WHITE, parse_color
from batch.server.config import ApiKey
from batch.server.errors import (
    MSG_NO_WAIT,
    AccountOverdue,
    AccountSuspended,
    InvalidParameters,
    Unauthorized,
)
from batch.server.resize_params import parse_resize
from batch.server.s3_params import S3Target, parse_s3
from batch.server.spec import META_KINDS, OUTPUT_FORMATS, SAMPLING, ConvertSpec, Job, ResizeSpec

OTHER_STORES: Final = ("gcs_store", "azure_store", "cf_store", "sl_store")
MAX_RESIZES: Final = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """How the result gets back: in the response (``wait``) or POSTed to ``callback_url``."""

    wait: bool
    callback_url: str | None
    callback_json: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimizeRequest:
    """A validated request. ``jobs`` has one entry, or one per ``resize`` array entry."""

    url: str | None
    dev: bool
    jobs: tuple[Job, ...]
    multi: bool
    s3: S3Target | None


def authenticate(body: Mapping[str, Any], keys: tuple[ApiKey, ...]) -> ApiKey:
    """Find the key/secret pair in ``body["auth"]`` among ``keys`` and check its account.

    Every configured pair is compared (constant-time, no early exit) so the timing says
    nothing about which part was wrong.
    """
    auth = body.get("auth")
    if not isinstance(auth, dict):
        raise Unauthorized()
    key, secret = auth.get("api_key"), auth.get("api_secret")
    if not isinstance(key, str) or not isinstance(secret, str):
        raise Unauthorized()
    found: ApiKey | None = None
    for candidate in keys:
        same_key = hmac.compare_digest(candidate.api_key.encode(), key.encode())
        same_secret = hmac.compare_digest(candidate.api_secret.encode(), secret.encode())
        if same_key and same_secret:
            found = candidate
    if found is None:
        raise Unauthorized()
    if found.state == "overdue":
        raise AccountOverdue()
    if found.state == "suspended":
        raise AccountSuspended()
    return found


def _http_url(value: object, name: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") \
            or not urlsplit(value).hostname:
        raise InvalidParameters(f"{name} must be an http or https URL")
    return value


def _bool(body: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise InvalidParameters(f"'{name}' must be a boolean")
    return value


def delivery(body: Mapping[str, Any]) -> Delivery:
    """Check that ``wait`` or ``callback_url`` is given (422 otherwise)."""
    wait = body.get("wait") is True
    callback = body.get("callback_url")
    if not wait and not callback:
        raise InvalidParameters(MSG_NO_WAIT)
    callback_url = None if wait else _http_url(callback, "callback_url")
    return Delivery(wait=wait, callback_url=callback_url, callback_json=body.get("json") is True)


def _convert(body: Mapping[str, Any]) -> ConvertSpec | None:
    raw = body.get("convert")
    if raw is None:
        return ConvertSpec(format="webp") if body.get("webp") is True else None
    if not isinstance(raw, dict):
        raise InvalidParameters("'convert' must be an object")
    fmt = raw.get("format")
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in OUTPUT_FORMATS:
        raise InvalidParameters(f"convert.format must be one of {', '.join(OUTPUT_FORMATS)}")
    background = WHITE
    if "background" in raw:
        if not isinstance(raw["background"], str):
            raise InvalidParameters("convert.background must be a colour string")
        try:
            background = parse_color(raw["background"])
        except ValueError as exc:
            raise InvalidParameters(f"convert.background: {exc}") from None
    keep = raw.get("keep_extension", False)
    if not isinstance(keep, bool):
        raise InvalidParameters("convert.keep_extension must be a boolean")
    return ConvertSpec(format=fmt, background=background, keep_extension=keep)


def _base_job(body: Mapping[str, Any], max_pixels: int) -> Job:
    quality = body.get("quality")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)
                                or not 1 <= quality <= 100):
        raise InvalidParameters("'quality' must be an integer from 1 to 100")
    sampling = body.get("sampling_scheme")
    if sampling is not None and sampling not in SAMPLING:
        raise InvalidParameters(f"'sampling_scheme' must be one of {', '.join(SAMPLING)}")
    meta = body.get("preserve_meta", [])
    if not isinstance(meta, list) or any(m not in META_KINDS for m in meta):
        raise InvalidParameters(
            f"'preserve_meta' must be a list of: {', '.join(META_KINDS)}"
        )
    return Job(
        lossy=_bool(body, "lossy") or quality is not None, quality=quality,
        sampling_scheme=sampling, auto_orient=_bool(body, "auto_orient"),
        preserve_meta=frozenset(meta), convert=_convert(body), max_pixels=max_pixels,
    )


def _resizes(raw: object, has_store: bool) -> tuple[tuple[ResizeSpec, ...], bool]:
    if raw is None:
        return (), False
    if isinstance(raw, dict):
        return (parse_resize(raw, "resize", multi=False),), False
    if not isinstance(raw, list) or not raw:
        raise InvalidParameters("'resize' must be an object or a non-empty array of objects")
    if len(raw) > MAX_RESIZES:
        raise InvalidParameters(f"'resize' accepts at most {MAX_RESIZES} entries")
    specs = tuple(parse_resize(entry, f"resize[{i}]", multi=True) for i, entry in enumerate(raw))
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise InvalidParameters("every resize entry needs a unique 'id'")
    if has_store and any(s.storage_path is None for s in specs):
        raise InvalidParameters("every resize entry needs a 'storage_path' when a store is used")
    return specs, True


def parse(body: Mapping[str, Any], *, upload: bool, max_pixels: int) -> OptimizeRequest:
    """Validate the optimization parameters (422 with a precise message)."""
    for store in OTHER_STORES:
        if store in body:
            raise InvalidParameters(
                f"'{store}' is not supported: this server implements s3_store only"
            )
    url = None if upload else _http_url(body.get("url"), "url")
    s3 = parse_s3(body["s3_store"]) if body.get("s3_store") is not None else None
    dev = _bool(body, "dev")
    base = _base_job(body, max_pixels)
    specs, multi = _resizes(body.get("resize"), s3 is not None)
    jobs = tuple(_with_resize(base, s) for s in specs) if specs else (base,)
    return OptimizeRequest(url=url, dev=dev, jobs=jobs, multi=multi, s3=s3)


def _with_resize(base: Job, spec: ResizeSpec) -> Job:
    return Job(lossy=base.lossy, quality=base.quality, sampling_scheme=base.sampling_scheme,
               auto_orient=base.auto_orient, preserve_meta=base.preserve_meta,
               convert=base.convert, resize=spec, max_pixels=base.max_pixels)
