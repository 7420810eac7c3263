"""The results report: a pure model builder and atomic JSON/CSV writers.

The report is the contract other tools read after a cron run, so its shape is fixed
(DESIGN.md, "The report"): every manifest item exactly once, in manifest order, with the
server's ``kraked_url`` and sizes (never computed here) and a summary of counts and bytes.
Writes go to a temporary file in the same folder and are renamed over the target, so a reader
never sees half a report, even when the run is interrupted.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
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


def summarize(results: Iterable[ItemResult]) -> Summary:
    """Count statuses and add up the server's byte figures of succeeded items."""
    counts = dict.fromkeys(Status, 0)
    original = kraked = saved = 0
    for result in results:
        counts[result.status] += 1
        if result.status is Status.SUCCEEDED:
            original += result.original_size or 0
            kraked += result.kraked_size or 0
            saved += result.saved_bytes or 0
    return Summary(
        total=sum(counts.values()),
        succeeded=counts[Status.SUCCEEDED],
        failed=counts[Status.FAILED],
        skipped=counts[Status.SKIPPED],
        cancelled=counts[Status.CANCELLED],
        original_bytes=original,
        kraked_bytes=kraked,
        saved_bytes=saved,
    )


def item_row(result: ItemResult) -> dict[str, Any]:
    """One report item, keys in :data:`ITEM_FIELDS` order (plus ``results`` for image sets)."""
    row: dict[str, Any] = {name: getattr(result, name) for name in ITEM_FIELDS}
    row["status"] = str(result.status)
    if result.results is not None:
        row["results"] = result.results
    return row


def build_report(
    *,
    manifest: str,
    started_at: datetime,
    finished_at: datetime,
    results: list[ItemResult],
) -> dict[str, Any]:
    """The whole report as plain JSON-ready data; ``results`` must be in manifest order."""
    return {
        "manifest": manifest,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at),
        "summary": dataclasses.asdict(summarize(results)),
        "items": [item_row(r) for r in results],
    }


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_csv(report: Mapping[str, Any]) -> str:
    """One row per item; image-set ``results`` are JSON-encoded in a last column."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*ITEM_FIELDS, "results"], lineterminator="\n")
    writer.writeheader()
    for item in report["items"]:
        row = dict(item)
        row["results"] = json.dumps(row["results"]) if row.get("results") is not None else ""
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """Write ``report`` as CSV when ``path`` ends in ``.csv``, else JSON, atomically."""
    text = render_csv(report) if path.suffix.lower() == ".csv" else render_json(report)
    write_atomic(path, text)


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, fsync it, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
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
