"""Results without a store: kept on disk and served at ``/dl/<token>/<file_name>`` for a while.

Kraken keeps such results on dl.kraken.io for about an hour. Tokens are 128-bit random, so a
link cannot be guessed; each result lives in its own directory (named by the token), and the
file name is only used in the URL and the Content-Disposition, never as a path on disk.
Expired entries answer 404 and are removed by ``sweep``.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Entry:
    """One kept result."""

    path: Path
    file_name: str
    content_type: str
    expires_at: float


class Downloads:
    """Token -> file map with expiry; call from the event loop (file I/O is small and local)."""

    def __init__(self, root: Path, expiry: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._root = root
        self._expiry = expiry
        self._clock = clock
        self._entries: dict[str, Entry] = {}

    def save(self, data: bytes, file_name: str, content_type: str) -> str:
        """Store ``data`` and return its token."""
        token = secrets.token_hex(16)
        folder = self._root / token
        folder.mkdir(parents=True)
        path = folder / "result"
        path.write_bytes(data)
        self._entries[token] = Entry(path, file_name, content_type,
                                     self._clock() + self._expiry)
        return token

    def get(self, token: str, file_name: str) -> Entry | None:
        """The entry for a download link, or None if unknown, renamed or expired."""
        entry = self._entries.get(token)
        if entry is None or entry.file_name != file_name:
            return None
        if self._clock() >= entry.expires_at:
            self._remove(token)
            return None
        return entry

    def sweep(self) -> int:
        """Delete every expired entry; returns how many were removed."""
        now = self._clock()
        expired = [t for t, e in self._entries.items() if now >= e.expires_at]
        for token in expired:
            self._remove(token)
        return len(expired)

    def _remove(self, token: str) -> None:
        self._entries.pop(token, None)
        shutil.rmtree(self._root / token, ignore_errors=True)
