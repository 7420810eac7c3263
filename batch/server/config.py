"""Server configuration: one frozen ``ServerConfig``, built from flags, environment and a keys file.

Secrets never come from argv (they would show in ``ps`` and shell history): accepted API
key/secret pairs come from ``KRAKEN_API_KEY``/``KRAKEN_API_SECRET`` and/or a keys file, and the
S3 credentials come with each request, as in Kraken's API.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

DEFAULT_MAX_SOURCE_BYTES: Final = 32 * 2**20
#: Pillow's own default decompression-bomb threshold.
DEFAULT_MAX_IMAGE_PIXELS: Final = 89_478_485
DEFAULT_QUOTA: Final = 100 * 2**30
ACCOUNT_STATES: Final = ("active", "overdue", "suspended")

AccountState = Literal["active", "overdue", "suspended"]
ExecutorKind = Literal["process", "thread"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """One accepted key/secret pair and the account it stands for.

    ``state`` lets tests (and operators) exercise Kraken's 402 (overdue) and 403 (suspended).
    The secret is excluded from ``repr`` so a logged config never shows it.
    """

    api_key: str
    api_secret: str = field(repr=False)
    state: AccountState = "active"
    plan_name: str = "Local"
    quota_total: int = DEFAULT_QUOTA


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything the server needs to run; built once, never mutated.

    ``port=0`` picks a free port (tests, ``run --local``). ``workers=None`` means one per core.
    ``s3_path_style=None`` means path-style addressing with a custom endpoint, virtual-hosted
    with AWS. ``download_expiry`` is in seconds (0 makes downloads expire at once).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    keys: tuple[ApiKey, ...] = ()
    s3_endpoint: str | None = None
    s3_path_style: bool | None = None
    allow_private_sources: bool = False
    max_source_bytes: int = DEFAULT_MAX_SOURCE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    fetch_connect_timeout: float = 10.0
    fetch_timeout: float = 60.0
    max_redirects: int = 5
    workers: int | None = None
    executor: ExecutorKind = "process"
    storage_dir: Path | None = None
    download_expiry: float = 3600.0
    public_url: str | None = None
    shutdown_grace: float = 30.0
    max_pending_callbacks: int = 256
    #: ``wait`` requests being worked on at once; past it the answer is 503 with Retry-After.
    max_active_jobs: int = 256

    @property
    def worker_count(self) -> int:
        """The executor size: ``workers`` or the number of usable cores."""
        if self.workers is not None:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1

    @property
    def path_style(self) -> bool:
        """Whether S3 objects are addressed as ``{endpoint}/{bucket}/{key}``."""
        if self.s3_path_style is not None:
            return self.s3_path_style
        return self.s3_endpoint is not None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` flags to ``parser`` (no secrets: those come from env or the keys file)."""
    d = ServerConfig()
    parser.add_argument("--host", default=d.host, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=d.port, help="port (default %(default)s; 0 = any free port)")
    parser.add_argument("--keys-file", type=Path, help="JSON file of accepted API key/secret pairs")
    parser.add_argument("--s3-endpoint", help="S3-compatible endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)")
    parser.add_argument("--s3-addressing", choices=("auto", "path", "virtual"), default="auto",
                        help="S3 addressing style (auto: path with a custom endpoint, virtual with AWS)")
    parser.add_argument("--allow-private-sources", action="store_true",
                        help="allow source and callback URLs on loopback/private/link-local addresses")
    parser.add_argument("--workers", type=int, help="optimizer workers (default: one per core)")
    parser.add_argument("--executor", choices=("process", "thread"), default=d.executor,
                        help="run optimizers in a process pool (default) or a thread pool")
    parser.add_argument("--storage-dir", type=Path,
                        help="where results without a store are kept (default: a temporary directory)")
    parser.add_argument("--public-url", help="base URL for download links (default: from the request's Host)")
    parser.add_argument("--download-expiry", type=float, default=d.download_expiry,
                        help="seconds a download link stays valid (default %(default)s)")
    parser.add_argument("--max-source-bytes", type=int, default=d.max_source_bytes,
                        help="largest accepted source file in bytes (default %(default)s)")
    parser.add_argument("--max-image-pixels", type=int, default=d.max_image_pixels,
                        help="largest accepted decoded image in pixels (default %(default)s)")
    parser.add_argument("--fetch-connect-timeout", type=float, default=d.fetch_connect_timeout,
                        help="seconds to connect to a source (default %(default)s)")
    parser.add_argument("--fetch-timeout", type=float, default=d.fetch_timeout,
                        help="seconds to download a source in total (default %(default)s)")
    parser.add_argument("--max-redirects", type=int, default=d.max_redirects,
                        help="redirects followed per source (default %(default)s)")
    parser.add_argument("--max-active-jobs", type=int, default=d.max_active_jobs,
                        help="wait requests worked on at once; more get 503 + Retry-After "
                        "(default %(default)s)")
    parser.add_argument("--shutdown-grace", type=float, default=d.shutdown_grace,
                        help="seconds in-flight requests get to finish on SIGINT/SIGTERM (default %(default)s)")


def _positive(name: str, value: float, *, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'>= 0' if zero_ok else '> 0'}, got {value}")


def _check_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def config_from_args(ns: argparse.Namespace, environ: Mapping[str, str]) -> ServerConfig:
    """Build the config from parsed ``serve`` flags and the environment.

    Raises:
        ValueError: a bad value, an unreadable keys file, or no API key at all.
    """
    keys = list(load_keys_file(ns.keys_file)) if ns.keys_file is not None else []
    env_key, env_secret = environ.get("KRAKEN_API_KEY", ""), environ.get("KRAKEN_API_SECRET", "")
    if bool(env_key) != bool(env_secret):
        raise ValueError("KRAKEN_API_KEY and KRAKEN_API_SECRET must be set together")
    if env_key:
        keys.append(ApiKey(api_key=env_key, api_secret=env_secret))
    if not keys:
        raise ValueError(
            "no API key configured: set KRAKEN_API_KEY and KRAKEN_API_SECRET or pass --keys-file"
        )
    endpoint = ns.s3_endpoint or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        endpoint = _check_url("the S3 endpoint", endpoint)
    public_url = _check_url("--public-url", ns.public_url) if ns.public_url else None
    if not 0 <= ns.port <= 65535:
        raise ValueError(f"--port must be 0..65535, got {ns.port}")
    if ns.workers is not None:
        _positive("--workers", ns.workers)
    for flag in ("max_source_bytes", "max_image_pixels", "fetch_connect_timeout",
                 "fetch_timeout", "max_active_jobs"):
        _positive("--" + flag.replace("_", "-"), getattr(ns, flag))
    for flag in ("download_expiry", "shutdown_grace", "max_redirects"):
        _positive("--" + flag.replace("_", "-"), getattr(ns, flag), zero_ok=True)
    style = {"auto": None, "path": True, "virtual": False}[ns.s3_addressing]
    return ServerConfig(
        host=ns.host, port=ns.port, keys=tuple(keys), s3_endpoint=endpoint or None,
        s3_path_style=style, allow_private_sources=ns.allow_private_sources,
        max_source_bytes=ns.max_source_bytes, max_image_pixels=ns.max_image_pixels,
        fetch_connect_timeout=ns.fetch_connect_timeout, fetch_timeout=ns.fetch_timeout,
        max_redirects=ns.max_redirects, workers=ns.workers, executor=ns.executor,
        storage_dir=ns.storage_dir, download_expiry=ns.download_expiry, public_url=public_url,
        shutdown_grace=ns.shutdown_grace, max_active_jobs=ns.max_active_jobs,
    )


def load_keys_file(path: Path) -> tuple[ApiKey, ...]:
    """Read accepted keys from a JSON file: a list of entries, or ``{"keys": [entries]}``.

    Each entry: ``{"api_key", "api_secret", "state"?: active|overdue|suspended,
    "plan_name"?, "quota_total"?}``. Errors name the entry, never the secret.
    """
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read keys file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"keys file {path} is not valid JSON: {exc}") from None
    entries = raw.get("keys") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        raise ValueError(f"keys file {path}: expected a list of keys or {{\"keys\": [...]}}")  # noqa: TRY004 - config errors are ValueError by contract
    keys = []
    for i, entry in enumerate(entries):
        where = f"keys file {path}: keys[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")  # noqa: TRY004
        unknown = set(entry) - {"api_key", "api_secret", "state", "plan_name", "quota_total"}
        if unknown:
            raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
        key, secret = entry.get("api_key"), entry.get("api_secret")
        if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
            raise ValueError(f"{where}: api_key and api_secret must be non-empty strings")
        state = entry.get("state", "active")
        if state not in ACCOUNT_STATES:
            raise ValueError(f"{where}: state must be one of {', '.join(ACCOUNT_STATES)}")
        plan = entry.get("plan_name", "Local")
        quota = entry.get("quota_total", DEFAULT_QUOTA)
        if not isinstance(plan, str) or not isinstance(quota, int) or quota < 0:
            raise ValueError(f"{where}: plan_name must be a string, quota_total an integer >= 0")
        keys.append(ApiKey(api_key=key, api_secret=secret, state=state, plan_name=plan,
                           quota_total=quota))
    return tuple(keys)
