"""The results report: a pure model builder and atomic JSON/CSV writers.

The report is the contract other tools read after a cron run, so its shape is fixed
(DESIGN.md, "The report"): every manifest item exactly once, in manifest order, with the
server's ``kraked_url`` and sizes (never computed here) and a summary of counts and bytes.
Writes go to a temporary file in the same folder and are renamed over the target, so a reader
never sees half a report, even when the run is interrupted. Both the summary (a running
:class:`Tally`) and the writers (generators) work without holding all results in memory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from batch.models import ItemResult, Status

#: Column order of the CSV report and key order of each JSON item.
ITEM_FIELDS: Final = (
    "url", "file", "path", "status", "kraked_url", "original_size", "kraked_size",
    "saved_bytes", "kraked_width", "kraked_height", "attempts", "http_status", "duration_ms",
    "error",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    """Counts per status and byte totals over the succeeded items."""

    total: int
    succeeded: int
    failed: int
    skipped: int
    cancelled: int
    original_bytes: int
    kraked_bytes: int
    saved_bytes: int

    def line(self) -> str:
        """The one-line human summary printed at the end of a run."""
        saved = _human_bytes(self.saved_bytes)
        pct = f" ({self.saved_bytes / self.original_bytes:.1%})" if self.original_bytes else ""
        return (
            f"{self.total} items: {self.succeeded} succeeded, {self.failed} failed, "
            f"{self.skipped} skipped, {self.cancelled} cancelled; saved {saved}{pct}"
        )


class Tally:
    """Counts results as they arrive, so the summary never needs the results kept in memory.

    Items that never produced a result are the ``cancelled`` ones: ``total`` minus what was
    counted.
    """

    def __init__(self) -> None:
        self.counts = dict.fromkeys(Status, 0)
        self.original = self.kraked = self.saved = 0

    def add(self, result: ItemResult) -> None:
        self.counts[result.status] += 1
        if result.status is Status.SUCCEEDED:
            self.original += result.original_size or 0
            self.kraked += result.kraked_size or 0
            self.saved += result.saved_bytes or 0

    def summary(self, total: int) -> Summary:
        counted = sum(self.counts.values())
        return Summary(
            total=total,
            succeeded=self.counts[Status.SUCCEEDED],
            failed=self.counts[Status.FAILED],
            skipped=self.counts[Status.SKIPPED],
            cancelled=self.counts[Status.CANCELLED] + max(0, total - counted),
            original_bytes=self.original,
            kraked_bytes=self.kraked,
            saved_bytes=self.saved,
        )


def summarize(results: Iterable[ItemResult]) -> Summary:
    """Count statuses and add up the server's byte figures of succeeded items."""
    tally = Tally()
    total = 0
    for result in results:
        tally.add(result)
        total += 1
    return tally.summary(total)


def item_row(result: ItemResult) -> dict[str, Any]:
    """One report item, keys in :data:`ITEM_FIELDS` order (plus ``results`` for image sets)."""
    row: dict[str, Any] = {name: getattr(result, name) for name in ITEM_FIELDS}
    row["status"] = str(result.status)
    if result.results is not None:
        row["results"] = result.results
    return row


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportHead:
    """Everything in the report but the items."""

    manifest: str
    started_at: datetime
    finished_at: datetime
    summary: Summary


def iter_json(head: ReportHead, rows: Iterable[ItemResult]) -> Iterator[str]:
    """The JSON report in pieces: the head, then one item per line, so it streams.

    One object per line keeps the file valid JSON while a million-item report is written
    without holding it in memory (and stays ``grep``-able).
    """
    yield "{\n"
    yield f'  "manifest": {json.dumps(head.manifest, ensure_ascii=False)},\n'
    yield f'  "started_at": "{_iso(head.started_at)}",\n'
    yield f'  "finished_at": "{_iso(head.finished_at)}",\n'
    yield f'  "summary": {json.dumps(dataclasses.asdict(head.summary))},\n'
    yield '  "items": ['
    separator = "\n    "
    for result in rows:
        yield separator + json.dumps(item_row(result), ensure_ascii=False)
        separator = ",\n    "
    yield "\n  ]\n}\n"


def iter_csv(rows: Iterable[ItemResult]) -> Iterator[str]:
    """One CSV row per item; image-set ``results`` are JSON-encoded in a last column."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*ITEM_FIELDS, "results"], lineterminator="\n")
    writer.writeheader()
    for result in rows:
        row = item_row(result)
        row["results"] = json.dumps(row["results"]) if row.get("results") is not None else ""
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def write_report(path: Path, head: ReportHead, rows: Iterable[ItemResult]) -> None:
    """Write the report as CSV when ``path`` ends in ``.csv``, else JSON, atomically.

    ``rows`` must be in manifest order; they are consumed once, as they are written.
    """
    chunks = iter_csv(rows) if path.suffix.lower() == ".csv" else iter_json(head, rows)
    write_atomic(path, chunks)


def write_atomic(path: Path, chunks: Iterable[str]) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_report_path(manifest: Path, now: datetime) -> Path:
    """``reports/<manifest-stem>-<UTC time>.json``, relative to the working directory."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / f"{manifest.stem}-{stamp}.json"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"
