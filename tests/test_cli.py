"""``kraken-batch run`` / ``validate`` end to end against a real fault-injecting HTTP server.

The manifest goes through the real loader, the real client talks HTTP to 127.0.0.1, and the
report is read back from disk. Most runs happen in-process through ``main()``; the signal test
runs the console script in a subprocess so SIGTERM is real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch.cli import main
from tests.faults import FaultServer, fault_server

API_KEY = "test-api-key-0001"
API_SECRET = "test-api-secret-SEKRIT-0002"
S3_KEY = "AKIATESTS3KEY0003"
S3_SECRET = "s3-secret-SEKRIT-0004"
ALL_SECRETS = (API_SECRET, S3_KEY, S3_SECRET)
# Item URLs point at 127.0.0.1:9, where nothing listens: the fault server never fetches
# sources, and the incremental state's HEAD probe fails at once (no DNS query for a made-up
# host, no waiting on a resolver), so every item is simply sent.


@pytest.fixture(name="server", scope="module")
def _server() -> Iterator[FaultServer]:
    with fault_server() as server:
        yield server


@pytest.fixture(name="env")
def _env(monkeypatch: pytest.MonkeyPatch, server: FaultServer) -> dict[str, str]:
    values = {"KRAKEN_API_URL": server.url, "KRAKEN_API_KEY": API_KEY,
              "KRAKEN_API_SECRET": API_SECRET, "S3_KEY": S3_KEY, "S3_SECRET": S3_SECRET}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def write_manifest(folder: Path, items: list[dict[str, Any]], **top: Any) -> Path:
    """A manifest with an s3_store whose credentials come from ${S3_KEY}/${S3_SECRET}."""
    doc: dict[str, Any] = {
        "version": 1,
        "options": {"lossy": True},
        "s3_store": {"key": "${S3_KEY}", "secret": "${S3_SECRET}", "bucket": "assets",
                     "region": "eu-west-1", "acl": "public_read"},
        "items": items,
    }
    doc.update(top)
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def url_items(tag: str, count: int, fault: str = "ok") -> list[dict[str, Any]]:
    """``count`` distinct items whose URLs carry the fault script ``fault``."""
    return [{"url": f"http://127.0.0.1:9/{tag}/{i}.png?fault={fault}", "path": f"{tag}/{i}.png"}
            for i in range(count)]


def run(args: list[str]) -> int:
    return main(["run", *args])


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def sent_for(server: FaultServer, tag: str) -> list[Any]:
    return [r for r in server.requests if r.json and f"/{tag}/" in str(r.json.get("url", ""))]


class TestSuccess:
    def test_report_is_exact(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """Every item succeeds; the report carries the server's figures in manifest order."""
        manifest = write_manifest(tmp_path, url_items("ok1", 3))
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report)]) == 0
        data = load(report)
        assert data["manifest"] == str(manifest)
        assert data["summary"] == {"total": 3, "succeeded": 3, "failed": 0, "skipped": 0,
                                   "cancelled": 0, "original_bytes": 3000, "kraked_bytes": 1800,
                                   "saved_bytes": 1200}
        assert [i["path"] for i in data["items"]] == ["ok1/0.png", "ok1/1.png", "ok1/2.png"]
        first = data["items"][0]
        assert first["kraked_url"] == "https://s3.example.test/assets/ok1/0.png"
        assert (first["status"], first["attempts"], first["http_status"], first["error"]) == (
            "succeeded", 1, 200, None)
        assert isinstance(first["duration_ms"], int)

    def test_request_body_is_exact(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """The JSON sent is auth, url, wait, the options and s3_store with the item's path."""
        manifest = write_manifest(tmp_path, url_items("body1", 1))
        assert run([str(manifest), "--report", str(tmp_path / "r.json")]) == 0
        (request,) = sent_for(server, "body1")
        assert request.path == "/v1/url"
        assert request.json == {
            "auth": {"api_key": API_KEY, "api_secret": API_SECRET},
            "url": "http://127.0.0.1:9/body1/0.png?fault=ok", "wait": True, "lossy": True,
            "s3_store": {"key": S3_KEY, "secret": S3_SECRET, "bucket": "assets",
                         "region": "eu-west-1", "path": "body1/0.png", "acl": "public_read"},
        }

    def test_file_item_is_uploaded(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """A ``file:`` item goes to /v1/upload as multipart ``data`` + ``upload``."""
        image = tmp_path / "upload-me-1.png"
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
        manifest = write_manifest(tmp_path, [{"file": "upload-me-1.png", "path": "up/1.png"}])
        assert run([str(manifest), "--report", str(tmp_path / "r.json")]) == 0
        (request,) = [r for r in server.requests if r.file_name == "upload-me-1.png"]
        assert request.path == "/v1/upload"
        assert request.file_field == "upload" and request.file_size == 108
        assert request.json is not None and "url" not in request.json
        assert request.json["s3_store"]["path"] == "up/1.png"
        assert load(tmp_path / "r.json")["items"][0]["file"] == str(image)

    def test_csv_report(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """A report path ending in .csv gets a CSV report with a header and one row per item."""
        manifest = write_manifest(tmp_path, url_items("csv1", 2))
        report = tmp_path / "r.csv"
        assert run([str(manifest), "--report", str(report)]) == 0
        lines = report.read_text().splitlines()
        assert lines[0].startswith("url,file,path,status,kraked_url")
        assert len(lines) == 3 and ",succeeded," in lines[1]


class TestFailureClasses:
    def test_permanent_failure_fails_the_item_only(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """A 415 is not retried; the item fails with the server's message and the rest succeed."""
        items = url_items("perm1", 2) + url_items("perm1bad", 1, "415")
        manifest = write_manifest(tmp_path, items)
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report)]) == 1
        bad = load(report)["items"][2]
        assert (bad["status"], bad["attempts"], bad["http_status"]) == ("failed", 1, 415)
        assert "File type not supported" in bad["error"]
        assert server.attempts_for("http://127.0.0.1:9/perm1bad/0.png?fault=415") == 1

    def test_transient_failures_are_retried(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """503 then an HTML 502 then success: three attempts, one success."""
        manifest = write_manifest(tmp_path, url_items("tr1", 1, "503,html502,ok"))
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report)]) == 0
        item = load(report)["items"][0]
        assert (item["status"], item["attempts"], item["http_status"]) == ("succeeded", 3, 200)

    def test_exhausted_retries_fail_the_item(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """``--retries 1`` means two attempts; an always-503 item then fails with exit 1."""
        manifest = write_manifest(tmp_path, url_items("tr2", 1, "503"))
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report), "--retries", "1"]) == 1
        item = load(report)["items"][0]
        assert (item["status"], item["attempts"], item["http_status"]) == ("failed", 2, 503)
        assert server.attempts_for("http://127.0.0.1:9/tr2/0.png?fault=503") == 2

    def test_connection_reset_is_retried(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """A cut connection is transient: the next attempt succeeds."""
        manifest = write_manifest(tmp_path, url_items("reset1", 1, "reset,ok"))
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report)]) == 0
        assert load(report)["items"][0]["attempts"] == 2

    def test_stall_past_timeout_is_retried(self, tmp_path: Path, server: FaultServer, env: dict[str, str]) -> None:
        """An answer that never comes times out per attempt and is retried."""
        manifest = write_manifest(tmp_path, url_items("stall1", 1, "stall,ok"))
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report), "--timeout", "0.5"]) == 0
        item = load(report)["items"][0]
        assert (item["status"], item["attempts"]) == ("succeeded", 2)

    @pytest.mark.parametrize("status", [401, 402, 403])
    def test_fatal_account_sends_no_item(self, status: int, tmp_path: Path, server: FaultServer,
                                         env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
        """401/402/403 from the /user_status preflight: exit 3, no item sent, all cancelled."""
        monkeypatch.setenv("KRAKEN_API_KEY", f"fault={status}")
        tag = f"fatal{status}"
        manifest = write_manifest(tmp_path, url_items(tag, 10))
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report)]) == 3
        data = load(report)
        assert sent_for(server, tag) == []
        assert [i["status"] for i in data["items"]] == ["cancelled"] * 10
        assert "aborted" in capsys.readouterr().err

    @pytest.mark.parametrize("status", [401, 402, 403])
    def test_fatal_answer_mid_run_stops_dispatching(self, status: int, tmp_path: Path,
                                                    server: FaultServer, env: dict[str, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
        """A fatal answer to an item (key revoked mid-run): that item fails, the rest are cancelled."""
        tag = f"midfatal{status}"
        items = url_items(tag, 3) + url_items(f"{tag}x", 1, str(status)) + url_items(f"{tag}y", 6)
        manifest = write_manifest(tmp_path, items)
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report), "--concurrency", "1"]) == 3
        data = load(report)
        assert [i["status"] for i in data["items"]] == (
            ["succeeded"] * 3 + ["failed"] + ["cancelled"] * 6)
        assert data["items"][3]["http_status"] == status
        assert sent_for(server, f"{tag}y") == []
        assert "aborted" in capsys.readouterr().err


class TestConcurrency:
    def test_in_flight_bound_holds_and_is_reached(self, tmp_path: Path, env: dict[str, str]) -> None:
        """With --concurrency 5, the server sees at most, and at some point exactly, 5 requests."""
        with fault_server() as own:
            manifest = write_manifest(tmp_path, url_items("conc1", 30, "delay=150"))
            assert run([str(manifest), "--report", str(tmp_path / "r.json"),
                        "--concurrency", "5", "--api-url", own.url]) == 0
            assert own.peak_in_flight == 5
            assert len([r for r in own.requests if r.path == "/v1/url"]) == 30


class TestInvalidInput:
    def test_invalid_manifest_exits_2_and_sends_nothing(self, tmp_path: Path, server: FaultServer,
                                                       env: dict[str, str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
        """Every problem is listed with its location; no request reaches the server."""
        before = len(server.requests)
        manifest = write_manifest(tmp_path, [
            {"url": "ftp://src.test/a.png", "path": "a.png"},
            {"url": "http://127.0.0.1:9/b.png", "path": "../b.png"},
            {"url": "http://127.0.0.1:9/c.png"},
        ])
        assert run([str(manifest), "--report", str(tmp_path / "r.json")]) == 2
        err = capsys.readouterr().err
        for location in ("items[0].url", "items[1].path", "items[2]"):
            assert location in err
        assert "Traceback" not in err
        assert len(server.requests) == before
        assert not (tmp_path / "r.json").exists()

    @pytest.mark.parametrize(
        ("items", "top", "location"),
        [
            ([{"url": "http://127.0.0.1:9/a.png", "path": "same.png"},
              {"url": "http://127.0.0.1:9/b.png", "path": "same.png"}], {}, "items[1].path"),
            ([{"url": "file:///etc/passwd", "path": "a.png"}], {}, "items[0].url"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": ""}], {}, "items[0].path"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "a/../b.png"}], {}, "items[0].path"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "k" * 1025}], {}, "items[0].path"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "a.png", "s3_store": {"acl": "public"}}],
             {}, "items[0].s3_store.acl"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "a.png",
               "s3_store": {"tags": {f"t{i}": "v" for i in range(11)}}}], {}, "items[0].s3_store.tags"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "a.png", "options": {"quality": "high"}}],
             {}, "items[0].options.quality"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "a.png", "colour": "red"}], {}, "items[0].colour"),
            ([{"url": "http://127.0.0.1:9/${NOT_SET_ANYWHERE}.png", "path": "a.png"}], {}, "items[0].url"),
            ([{"url": "http://127.0.0.1:9/a.png", "path": "a.png"}], {"version": 2}, "version"),
            ([{"file": "does-not-exist.png", "path": "a.png"}], {}, "items[0].file"),
        ],
        ids=["collision", "non-http-url", "empty-key", "dotdot-key", "long-key", "bad-acl",
             "eleven-tags", "option-type", "unknown-key", "unset-variable", "version", "no-file"],
    )
    def test_each_invalid_case_exits_2_before_sending(
        self, items: list[dict[str, Any]], top: dict[str, Any], location: str, tmp_path: Path,
        server: FaultServer, env: dict[str, str], capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Each kind of invalid manifest is refused with its location, and nothing is sent."""
        before = len(server.requests)
        manifest = write_manifest(tmp_path, items, **top)
        assert run([str(manifest), "--report", str(tmp_path / "r.json")]) == 2
        err = capsys.readouterr().err
        assert f"  {location}" in err, err
        assert "Traceback" not in err
        assert len(server.requests) == before

    def test_yaml_syntax_error_names_line_and_column(self, tmp_path: Path, env: dict[str, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
        """A YAML syntax error is reported with its line and column, not a traceback."""
        manifest = tmp_path / "broken.yaml"
        manifest.write_text("version: 1\nitems:\n  - url: http://127.0.0.1:9/a.png\n    path: [unclosed\n")
        assert run([str(manifest)]) == 2
        err = capsys.readouterr().err
        assert "line " in err and "column " in err and "Traceback" not in err

    def test_unwritable_report_folder_is_refused_up_front(
        self, tmp_path: Path, server: FaultServer, env: dict[str, str],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """A report that could not be written stops the run before any request is sent."""
        before = len(server.requests)
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the report folder should be")
        manifest = write_manifest(tmp_path, url_items("unwritable", 1))
        assert run([str(manifest), "--report", str(blocker / "r.json")]) == 2
        assert "cannot write" in capsys.readouterr().err
        assert len(server.requests) == before

    def test_validate_command(self, tmp_path: Path, env: dict[str, str],
                              capsys: pytest.CaptureFixture[str]) -> None:
        """``validate`` says valid with the item count, or exits 2 with the problems."""
        good = write_manifest(tmp_path, url_items("v1", 2))
        assert main(["validate", str(good)]) == 0
        assert "2 items" in capsys.readouterr().out
        good.write_text("version: 1\nitems: [{url: 'nope', path: a.png}]\n")
        assert main(["validate", str(good)]) == 2
        assert "items[0].url" in capsys.readouterr().err

    def test_missing_credentials_exit_2(self, tmp_path: Path, server: FaultServer, env: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
        """Without an API key anywhere the run refuses to start and names the variable."""
        monkeypatch.delenv("KRAKEN_API_KEY")
        manifest = write_manifest(tmp_path, url_items("nocred", 1))
        assert run([str(manifest)]) == 2
        assert "KRAKEN_API_KEY" in capsys.readouterr().err

    def test_bad_option_is_a_usage_error(self, tmp_path: Path) -> None:
        """A non-numeric --concurrency is refused by argparse with exit 2."""
        with pytest.raises(SystemExit) as exit_info:
            run(["m.yaml", "--concurrency", "zero"])
        assert exit_info.value.code == 2


class TestPrecedence:
    def test_flag_beats_env_beats_manifest(self, tmp_path: Path, server: FaultServer,
                                           env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
        """--api-url wins over KRAKEN_API_URL, which wins over the manifest's api.url."""
        manifest = write_manifest(tmp_path, url_items("prec1", 1),
                                  api={"url": "http://127.0.0.1:9/never", "key": "manifest-key",
                                       "secret": "manifest-secret"})
        monkeypatch.setenv("KRAKEN_API_URL", "http://127.0.0.1:9/also-never")
        assert run([str(manifest), "--report", str(tmp_path / "r.json"),
                    "--api-url", server.url]) == 0
        (request,) = sent_for(server, "prec1")
        assert request.json["auth"]["api_key"] == API_KEY

    def test_manifest_credentials_are_used_without_env(self, tmp_path: Path, server: FaultServer,
                                                       env: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
        """Without KRAKEN_API_KEY/SECRET the manifest's api block supplies them."""
        monkeypatch.delenv("KRAKEN_API_KEY")
        monkeypatch.delenv("KRAKEN_API_SECRET")
        manifest = write_manifest(tmp_path, url_items("prec2", 1),
                                  api={"key": "manifest-key", "secret": "manifest-secret"})
        assert run([str(manifest), "--report", str(tmp_path / "r.json")]) == 0
        (request,) = sent_for(server, "prec2")
        assert request.json["auth"] == {"api_key": "manifest-key", "api_secret": "manifest-secret"}


class TestSecrets:
    def test_no_secret_in_output_report_or_errors(self, tmp_path: Path, server: FaultServer,
                                                  env: dict[str, str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
        """Even when the server echoes the request body in its error, no secret reaches the operator."""
        items = url_items("sec1", 1) + url_items("sec1echo", 1, "echo422") + url_items("sec1x", 1, "500")
        manifest = write_manifest(tmp_path, items)
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report), "--retries", "0"]) == 1
        captured = capsys.readouterr()
        text = report.read_text() + captured.out + captured.err
        assert "sec1echo" in report.read_text()
        for secret in ALL_SECRETS:
            assert secret not in text

    def test_dry_run_masks_and_sends_nothing(self, tmp_path: Path, server: FaultServer,
                                             env: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
        """--dry-run prints one masked request per item and sends none."""
        before = len(server.requests)
        manifest = write_manifest(tmp_path, url_items("dry1", 2))
        assert run([str(manifest), "--dry-run"]) == 0
        captured = capsys.readouterr()
        lines = [json.loads(line) for line in captured.out.splitlines()]
        assert len(lines) == 2
        assert lines[0]["endpoint"] == server.url + "/v1/url"
        assert lines[0]["body"]["s3_store"]["key"] == "********"
        for secret in ALL_SECRETS:
            assert secret not in captured.out + captured.err
        assert len(server.requests) == before


class TestSignals:
    def test_sigterm_writes_report_and_exits_130(self, tmp_path: Path, server: FaultServer,
                                                 env: dict[str, str]) -> None:
        """SIGTERM stops dispatching, in-flight items finish, the report lists the rest cancelled."""
        manifest = write_manifest(tmp_path, url_items("sig1", 20, "delay=1500"))
        report = tmp_path / "r.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "batch", "run", str(manifest), "--report", str(report),
             "--concurrency", "2"],
            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 30
        while len(sent_for(server, "sig1")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        data = load(report)
        statuses = [i["status"] for i in data["items"]]
        assert statuses.count("succeeded") == len(sent_for(server, "sig1"))
        assert statuses.count("cancelled") >= 16
        assert out == ""


def csv_manifest(folder: Path, rows: list[tuple[str, str]]) -> Path:
    """A manifest whose items come from ``items.csv`` (url, path rows) beside it."""
    (folder / "items.csv").write_text(
        "url,path\n" + "".join(f"{url},{path}\n" for url, path in rows))
    manifest = folder / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "version": 1,
        "s3_store": {"key": "${S3_KEY}", "secret": "${S3_SECRET}", "bucket": "assets"},
        "items_from": "items.csv",
    }))
    return manifest


class TestItemsFrom:
    def test_csv_item_list_runs_end_to_end(self, tmp_path: Path, server: FaultServer,
                                           env: dict[str, str]) -> None:
        """A manifest whose items come from a CSV file sends each row and reports it in order."""
        manifest = csv_manifest(tmp_path, [
            (f"http://127.0.0.1:9/csv2/{i}.png?fault=ok", f"path/{i}.png") for i in range(5)])
        report = tmp_path / "r.json"
        assert run([str(manifest), "--report", str(report)]) == 0
        data = load(report)
        assert [i["path"] for i in data["items"]] == [f"path/{i}.png" for i in range(5)]
        assert data["summary"]["succeeded"] == 5
        assert len(sent_for(server, "csv2")) == 5

    def test_item_file_changed_mid_run_stops_with_a_report(self, tmp_path: Path,
                                                           server: FaultServer,
                                                           env: dict[str, str]) -> None:
        """Changing the item file during a run stops it; the report still lists what was sent."""
        manifest = csv_manifest(tmp_path, [
            (f"http://127.0.0.1:9/chg/{i}.png?fault=delay=20", f"chg/{i}.png")
            for i in range(1100)])
        items = tmp_path / "items.csv"
        report = tmp_path / "r.json"
        proc = subprocess.Popen(
            [sys.executable, "-m", "batch", "run", str(manifest), "--report", str(report),
             "--concurrency", "16", "--quiet"],
            env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while len(sent_for(server, "chg")) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        with items.open("a") as handle:
            handle.write("http://127.0.0.1:9/chg/extra.png,chg/extra.png\n")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, err
        assert "items_from" in err
        data = load(report)
        assert 100 <= len(data["items"]) < 1100
        assert all(i["status"] == "succeeded" for i in data["items"])
        assert not any("extra" in i["path"] for i in data["items"])
