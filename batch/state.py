"""Incremental state for nightly runs (SQLite, stdlib) and the one-run-per-state lock.

A nightly run over the same manifest must not pay Kraken twice for the same work. An item is
``skipped`` when a request with the same *fingerprint* (the request minus credentials, see
:func:`fingerprint`) succeeded in an earlier run and its source has not changed since: the
same *validator* (a URL's ``ETag`` / ``Last-Modified`` / ``Content-Length`` from a HEAD request,
or a local file's SHA-256). A source whose validator cannot be read is always sent again:
being charged twice is better than keeping a stale image.

Each success is committed as it happens (WAL journal), so after a crash or ``kill -9`` the next
run redoes only what was in flight. One run at a time per state file: :func:`locked` takes an
exclusive, non-blocking ``flock`` on ``<state>.lock``, which the kernel releases when the process
dies, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from batch.errors import StateError, StateLockedError
from batch.models import ApiConfig, Item, ItemResult, Status
from batch.outcome import identity
from batch.request import masked_body
from batch.secret import Secret

SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS done (
    fingerprint   TEXT PRIMARY KEY,
    validator     TEXT,
    source        TEXT NOT NULL,
    path          TEXT NOT NULL,
    kraked_url    TEXT,
    original_size INTEGER,
    kraked_size   INTEGER,
    saved_bytes   INTEGER,
    kraked_width  INTEGER,
    kraked_height INTEGER,
    results       TEXT,
    finished_at   TEXT NOT NULL
);
"""
#: Stands in for the credentials when fingerprinting: the fingerprint must not depend on them.
_NO_API: Final = ApiConfig(url="", key=Secret(""), secret=Secret(""))


def fingerprint(item: Item) -> str:
    """SHA-256 of the request the item makes, credentials and API URL left out.

    Everything that changes the optimized result or where it lands is in: the endpoint, the
    source (URL or absolute file path), the options, the store's bucket, region, key path, ACL,
    headers, metadata and tags. The S3 credentials are masked, so rotating them is not a change.
    """
    body = masked_body(item, _NO_API)
    del body["auth"]
    payload = {
        "endpoint": "/v1/upload" if item.file is not None else "/v1/url",
        "file": str(item.file) if item.file is not None else None,
        "body": body,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_validator(path: Path) -> str | None:
    """``sha256=<hex>`` of a local file, or ``None`` when it cannot be read."""
    try:
        with path.open("rb") as handle:
            return "sha256=" + hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def http_validator(headers: Mapping[str, str]) -> str | None:
    """``etag=…;last-modified=…;length=…`` from a HEAD answer's headers, or ``None`` if none.

    Header names are matched case-insensitively (servers send ``ETag``, ``Etag`` or ``etag``).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    parts = [f"{label}={lowered[name]}" for name, label in
             (("etag", "etag"), ("last-modified", "last-modified"), ("content-length", "length"))
             if lowered.get(name)]
    return ";".join(parts) or None


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """What an earlier run recorded for a fingerprint that succeeded."""

    validator: str | None
    kraked_url: str | None
    original_size: int | None
    kraked_size: int | None
    saved_bytes: int | None
    kraked_width: int | None
    kraked_height: int | None
    results: Mapping[str, Any] | None

    def skipped(self, item: Item, duration_ms: int) -> ItemResult:
        """The report entry for ``item`` skipped because of this earlier success."""
        return ItemResult(
            **identity(item),
            status=Status.SKIPPED, kraked_url=self.kraked_url, original_size=self.original_size,
            kraked_size=self.kraked_size, saved_bytes=self.saved_bytes,
            kraked_width=self.kraked_width, kraked_height=self.kraked_height,
            attempts=0, duration_ms=duration_ms, results=self.results,
        )


class State:
    """The SQLite file of earlier successes; open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path) -> State:
        """Open or create the state file; :class:`StateError` if it cannot be used."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a crash of us
            db.executescript(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise StateError(f"state {path}: schema version {row[0]} is not supported")
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"state {path}: cannot be used ({exc})") from None
        return cls(db, path)

    def get(self, fingerprint: str) -> Done | None:
        row = self._db.execute(
            "SELECT validator, kraked_url, original_size, kraked_size, saved_bytes, kraked_width,"
            " kraked_height, results FROM done WHERE fingerprint = ?", (fingerprint,)).fetchone()
        if row is None:
            return None
        return Done(validator=row[0], kraked_url=row[1], original_size=row[2],
                    kraked_size=row[3], saved_bytes=row[4], kraked_width=row[5],
                    kraked_height=row[6], results=json.loads(row[7]) if row[7] else None)

    def record(self, fingerprint: str, validator: str | None, result: ItemResult) -> None:
        """Remember a success; committed before returning (autocommit mode)."""
        self._db.execute(
            "INSERT OR REPLACE INTO done VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fingerprint, validator, result.url or result.file or "", result.path,
             result.kraked_url, result.original_size, result.kraked_size, result.saved_bytes,
             result.kraked_width, result.kraked_height,
             json.dumps(result.results) if result.results is not None else None,
             datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM done").fetchone()[0])

    def close(self) -> None:
        self._db.close()


@contextmanager
def locked(state: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``state`` for the block, or raise :class:`StateLockedError`."""
    lock_path = state.with_name(state.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"state {state}: cannot create the lock file ({exc.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "unknown"
            raise StateLockedError(
                f"another run holds the lock for state {state}: {holder}") from None
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def default_state_path(manifest: Path) -> Path:
    """``<manifest folder>/.kraken-batch/<manifest stem>.sqlite``: the state belongs to the manifest."""
    return manifest.resolve().parent / ".kraken-batch" / f"{manifest.stem}.sqlite"
