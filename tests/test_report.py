"""The report: exact shape, manifest order, summary arithmetic, atomic streamed JSON and CSV."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

from batch.models import Item, ItemResult, Status
from batch.report import (
    ITEM_FIELDS,
    ReportHead,
    Tally,
    default_report_path,
    summarize,
    write_report,
)
from batch.results import ResultStore

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
HEAD = ReportHead(manifest="m.yaml", started_at=START, finished_at=END, summary=summarize(RESULTS))


class TestSummary:
    def test_summary_counts_only_succeeded_bytes(self) -> None:
        """Failed items' sizes never inflate the byte totals; the line says it all."""
        summary = summarize(RESULTS)
        assert (summary.total, summary.succeeded, summary.failed, summary.cancelled) == (3, 1, 1, 1)
        assert summary.saved_bytes == 159162
        assert "3 items: 1 succeeded, 1 failed" in summary.line()

    def test_items_without_a_result_are_cancelled(self) -> None:
        """A tally over fewer results than items counts the rest as cancelled."""
        tally = Tally()
        tally.add(RESULTS[0])
        assert tally.summary(total=10).cancelled == 9


class TestWriteReport:
    def test_json_has_the_contract_shape(self, tmp_path: Path) -> None:
        """Top-level keys, summary keys and item keys are exactly the documented ones."""
        target = tmp_path / "out" / "r.json"
        write_report(target, HEAD, RESULTS)
        report = json.loads(target.read_text())
        assert list(report) == ["manifest", "started_at", "finished_at", "summary", "items"]
        assert report["started_at"] == "2026-12-04T02:00:00Z"
        assert report["summary"] == {
            "total": 3, "succeeded": 1, "failed": 1, "skipped": 0, "cancelled": 1,
            "original_bytes": 324520, "kraked_bytes": 165358, "saved_bytes": 159162,
        }
        assert [list(item) for item in report["items"]] == [list(ITEM_FIELDS)] * 3
        assert [i["status"] for i in report["items"]] == ["succeeded", "failed", "cancelled"]
        assert report["items"][0]["kraked_url"] == "http://s3.test/assets/images/a.png"
        assert [p.name for p in target.parent.iterdir()] == ["r.json"]

    def test_json_puts_one_item_per_line(self, tmp_path: Path) -> None:
        """Each item is one line, so reports stream out and can be grepped."""
        target = tmp_path / "r.json"
        write_report(target, HEAD, RESULTS)
        lines = [line for line in target.read_text().splitlines() if '"path"' in line]
        assert len(lines) == 3

    def test_empty_item_list_is_valid_json(self, tmp_path: Path) -> None:
        """With no rows the report is still valid JSON with an empty item list."""
        target = tmp_path / "r.json"
        write_report(target, HEAD, [])
        assert json.loads(target.read_text())["items"] == []

    def test_csv_has_one_row_per_item(self, tmp_path: Path) -> None:
        """A .csv report has the documented columns and one row per item, in order."""
        target = tmp_path / "r.csv"
        write_report(target, HEAD, RESULTS)
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


class TestResultStore:
    def test_results_come_back_in_manifest_order_with_gaps_cancelled(self, tmp_path: Path) -> None:
        """Results stored in completion order are merged back in item order; gaps are filled."""
        items = [Item(index=i, url=f"http://a.test/{i}.png", path=f"{i}.png") for i in range(5)]

        def cancelled(item: Item) -> ItemResult:
            return ItemResult(index=item.index, url=item.url, file=None, path=item.path,
                              status=Status.CANCELLED)

        with ResultStore(tmp_path) as store:
            for index in (3, 0, 4):
                store.add(ItemResult(index=index, url=f"http://a.test/{index}.png", file=None,
                                     path=f"{index}.png", status=Status.SUCCEEDED,
                                     results={"small": {"kraked_url": "u"}}))
            ordered = list(store.ordered(items, cancelled))
        assert [r.index for r in ordered] == [0, 1, 2, 3, 4]
        assert [r.status for r in ordered] == [
            Status.SUCCEEDED, Status.CANCELLED, Status.CANCELLED, Status.SUCCEEDED,
            Status.SUCCEEDED]
        assert ordered[0].results == {"small": {"kraked_url": "u"}}
        assert list(tmp_path.iterdir()) == []
