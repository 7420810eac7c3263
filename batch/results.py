"""Where finished results wait until the report is written: a temporary SQLite file.

Results finish in completion order but the report lists them in manifest order, so they must
be kept until the end. Kept in memory, a million results would take about half a GiB; here
each is one row of a throw-away SQLite file (no journal, no fsync: it is rebuilt from nothing
if the run dies), and :meth:`ResultStore.ordered` merges them back with the manifest's items
in one sequential pass. Memory stays flat whatever the size of the run.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from batch.models import Item, ItemResult, Status

#: Rows written between commits; a commit per row would cost an fsync-free but real write each.
_BATCH: Final = 1000
_FIELDS: Final = tuple(ItemResult.__dataclass_fields__)


class ResultStore:
    """Results by item index, on disk; use as a context manager (the file is deleted on exit)."""

    def __init__(self, folder: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix=".kraken-batch-results-", dir=folder)
        self._db = sqlite3.connect(Path(self._dir.name) / "results.sqlite")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE results (idx INTEGER PRIMARY KEY, row TEXT NOT NULL)")
        self._pending = 0
        self.count = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def add(self, result: ItemResult) -> None:
        """Keep ``result``; a second result for the same index replaces the first."""
        row = {name: getattr(result, name) for name in _FIELDS}
        row["status"] = str(result.status)
        self._db.execute("INSERT OR REPLACE INTO results VALUES (?, ?)",
                         (result.index, json.dumps(row, ensure_ascii=False)))
        self.count += 1
        self._pending += 1
        if self._pending >= _BATCH:
            self._db.commit()
            self._pending = 0

    def ordered(self, items: Iterable[Item],
                missing: Callable[[Item], ItemResult]) -> Iterator[ItemResult]:
        """Each item's result in the items' order, ``missing(item)`` where there is none.

        ``items`` must come in increasing ``index`` order, as a manifest's do; the stored rows
        are read in the same order, so this is one merge pass, not a lookup per item.
        """
        self._db.commit()
        cursor = self._db.execute("SELECT idx, row FROM results ORDER BY idx")
        pending = cursor.fetchone()
        for item in items:
            while pending is not None and pending[0] < item.index:
                pending = cursor.fetchone()
            if pending is not None and pending[0] == item.index:
                yield _result(json.loads(pending[1]))
            else:
                yield missing(item)

    def stored(self) -> Iterator[ItemResult]:
        """Every stored result in index order (for when the items can no longer be read)."""
        self._db.commit()
        for (row,) in self._db.execute("SELECT row FROM results ORDER BY idx"):
            yield _result(json.loads(row))

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def _result(row: dict[str, Any]) -> ItemResult:
    row["status"] = Status(row["status"])
    return ItemResult(**row)
