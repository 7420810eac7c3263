"""Frozen data for a run: the parsed manifest, the resolved API settings, and item results.

Everything here is built once at the edge (``manifest.py``, ``cli.py``) after validation, so
the code that consumes it trusts it and never re-checks. Mappings inside these objects are
plain dicts by convention: never mutate them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from batch.secret import Secret

DEFAULT_API_URL: Final = "https://api.kraken.io"
DEFAULT_CONCURRENCY: Final = 8
DEFAULT_ATTEMPTS: Final = 5
DEFAULT_TIMEOUT: Final = 120.0

#: Kraken optimization options accepted in ``options:`` (passed through as Kraken defines them).
OPTION_KEYS: Final = frozenset(
    {"lossy", "quality", "resize", "convert", "webp", "auto_orient", "preserve_meta",
     "sampling_scheme", "dev"}
)
#: Kraken's storage objects other than ``s3_store``, passed through untouched.
OTHER_STORES: Final = frozenset({"gcs_store", "azure_store", "cf_store", "sl_store"})
#: S3 canned ACLs in Kraken's spelling.
S3_ACLS: Final = frozenset({"public_read", "private"})


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Store:
    """The ``s3_store`` object of one item, after deep-merging item over manifest defaults.

    ``path`` is not here: it is the item's own ``path`` (the full object key).
    """

    key: Secret
    secret: Secret
    bucket: str
    region: str | None = None
    acl: str | None = None
    headers: Mapping[str, str | int] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiSettings:
    """The manifest's optional ``api:`` block; each field may be absent."""

    url: str | None = None
    key: Secret | None = None
    secret: Secret | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiConfig:
    """The API endpoint and credentials actually used, after precedence was applied."""

    url: str
    key: Secret
    secret: Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    """One manifest item, fully resolved: defaults merged, ``${VAR}`` replaced, paths absolute.

    Exactly one of ``url`` and ``file`` is set.
    """

    index: int
    path: str
    url: str | None = None
    file: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    s3_store: S3Store | None = None
    stores: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The URL or the local file name, for messages and the report."""
        return self.url if self.url is not None else str(self.file)

    def secrets(self) -> tuple[Secret, ...]:
        """Every credential this item carries, for redaction."""
        if self.s3_store is None:
            return ()
        return (self.s3_store.key, self.s3_store.secret)


class ItemSource(Protocol):
    """A re-iterable, sized collection of validated items that need not all be in memory.

    A manifest with ``items_from:`` streams its items from the file on each iteration
    (:class:`batch.itemfile.StreamedItems`), so a million items never exist at once. Each
    iteration yields the same items, in order, with ``index`` 0, 1, 2, ...; ``len()`` is
    their number, known without iterating. Iterating may raise
    :class:`~batch.errors.ManifestError` when the source changed since it was validated:
    items that were never validated are never yielded.
    """

    def __iter__(self) -> Iterator[Item]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """A validated manifest.

    ``items`` is a tuple for inline ``items:`` and a streamed :class:`ItemSource` for
    ``items_from:``: code that runs a manifest only iterates it and takes its ``len()``.
    """

    source: Path
    version: int
    api: ApiSettings
    items: tuple[Item, ...] | ItemSource


class ExitCode(enum.IntEnum):
    """The process exit codes cron jobs and other tools rely on (README "Exit codes")."""

    OK = 0  #: every item succeeded or was skipped
    FAILED = 1  #: the run finished and at least one item failed
    USAGE = 2  #: usage error or invalid manifest: nothing was sent
    FATAL = 3  #: aborted by a batch-fatal answer (401/402/403)
    LOCKED = 4  #: another run holds the lock for this state
    INTERRUPTED = 130  #: SIGINT/SIGTERM; the report was still written


class Status(enum.StrEnum):
    """What happened to an item; the report's ``status`` values."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemResult:
    """The outcome of one item, exactly as the report shows it.

    Sizes, dimensions and ``kraked_url`` are the server's, never computed here.
    ``http_status`` and ``duration_ms`` describe the last attempt.
    """

    index: int
    url: str | None
    file: str | None
    path: str
    status: Status
    kraked_url: str | None = None
    original_size: int | None = None
    kraked_size: int | None = None
    saved_bytes: int | None = None
    kraked_width: int | None = None
    kraked_height: int | None = None
    attempts: int = 0
    http_status: int | None = None
    duration_ms: int | None = None
    error: str | None = None
    #: For a multi-size ``resize`` request: the server's per-size results, keyed by ``id``.
    results: Mapping[str, Mapping[str, Any]] | None = None
