"""The report: exact shape, manifest order, summary arithmetic, atomic JSON and CSV writes."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from batch.models import ItemResult, Status
from batch.report import ITEM_FIELDS, build_report, default_report_path, summarize, write_report

START = datetime(2026, 12, 4, 2, 0, 0, tzinfo=UTC)
END = datetime(2026, 12, 4, 2, 0, 5, tzinfo=UTC)

RESULTS = [
    ItemResult(index=0, url="http://a.test/a.png", file=None, path="images/a.png",
               status=Status.SUCCEEDED, kraked_url="http://s3.test/assets/images/a.png",
               original_size=324520, kraked_size=165358, saved_bytes=159162, attempts=2,
               http_status=200, duration_ms=1762),
    ItemResult(index=1, url="http://a.test/b.png", file=None, path="images/b.png",
               status=Status.FAILED, attempts=1, http_status=415, duration_ms=12,
               error="HTTP 415: File type not supported"),
    ItemResult(index=2, url=None, file="/srv/c.jpg", path="images/c.jpg",
               status=Status.CANCELLED),
]


class TestBuildReport:
    def test_shape_matches_the_contract(self) -> None:
        """Top-level keys, summary keys and item keys are exactly the documented ones."""
        report = build_report(manifest="m.yaml", started_at=START, finished_at=END, results=RESULTS)
        assert list(report) == ["manifest", "started_at", "finished_at", "summary", "items"]
        assert report["started_at"] == "2026-12-04T02:00:00Z"
        assert report["summary"] == {
            "total": 3, "succeeded": 1, "failed": 1, "skipped": 0, "cancelled": 1,
            "original_bytes": 324520, "kraked_bytes": 165358, "saved_bytes": 159162,
        }
        assert [list(item) for item in report["items"]] == [list(ITEM_FIELDS)] * 3
        assert [item["status"] for item in report["items"]] == ["succeeded", "failed", "cancelled"]

    def test_summary_counts_only_succeeded_bytes(self) -> None:
        """Failed items' sizes (none, here) never inflate the byte totals."""
        assert summarize(RESULTS).saved_bytes == 159162
        assert "3 items: 1 succeeded, 1 failed" in summarize(RESULTS).line()


class TestWriteReport:
    def test_json_round_trips(self, tmp_path: Path) -> None:
        """A .json report is valid JSON equal to the model, with no temp file left behind."""
        report = build_report(manifest="m.yaml", started_at=START, finished_at=END, results=RESULTS)
        target = tmp_path / "out" / "r.json"
        write_report(target, report)
        assert json.loads(target.read_text()) == report
        assert [p.name for p in target.parent.iterdir()] == ["r.json"]

    def test_csv_has_one_row_per_item(self, tmp_path: Path) -> None:
        """A .csv report has the documented columns and one row per item, in order."""
        report = build_report(manifest="m.yaml", started_at=START, finished_at=END, results=RESULTS)
        target = tmp_path / "r.csv"
        write_report(target, report)
        with target.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [r["path"] for r in rows] == ["images/a.png", "images/b.png", "images/c.jpg"]
        assert rows[0]["kraked_url"] == "http://s3.test/assets/images/a.png"
        assert rows[1]["error"] == "HTTP 415: File type not supported"
        assert rows[2]["original_size"] == ""

    def test_default_path_uses_stem_and_utc_time(self) -> None:
        """Without --report the file is reports/<stem>-<UTC time>.json."""
        assert default_report_path(Path("manifests/nightly.yaml"), START) == Path(
            "reports/nightly-20261204T020000Z.json")
