"""Incremental state: fingerprints, validators, the SQLite record, the lock, and nightly reruns."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from batch.cli import main
from batch.errors import StateError, StateLockedError
from batch.models import Item, ItemResult, S3Store, Status
from batch.secret import Secret
from batch.state import (
    State,
    default_state_path,
    file_validator,
    fingerprint,
    http_validator,
    locked,
)
from tests.faults import FaultServer, fault_server
from tests.servers import static_files

STORE = S3Store(key=Secret("AKIASTATEKEY"), secret=Secret("state-secret"), bucket="assets")


def item(**changes: Any) -> Item:
    values: dict[str, Any] = {"index": 0, "url": "https://src.test/a.png", "path": "a.png",
                              "options": {"lossy": True}, "s3_store": STORE}
    values.update(changes)
    return Item(**values)


class TestFingerprint:
    def test_same_request_same_fingerprint(self) -> None:
        """Two items making the same request share a fingerprint, whatever their index."""
        assert fingerprint(item()) == fingerprint(item(index=7))

    @pytest.mark.parametrize("change", [
        {"url": "https://src.test/b.png"}, {"path": "b.png"}, {"options": {"lossy": False}},
        {"s3_store": S3Store(key=STORE.key, secret=STORE.secret, bucket="other")},
    ], ids=["url", "path", "options", "bucket"])
    def test_request_changes_change_it(self, change: dict[str, Any]) -> None:
        """Anything that changes the result or its destination changes the fingerprint."""
        assert fingerprint(item(**change)) != fingerprint(item())

    def test_credentials_do_not_count(self) -> None:
        """Rotating the S3 credentials does not make every item new."""
        rotated = S3Store(key=Secret("AKIAOTHER"), secret=Secret("other"), bucket="assets")
        assert fingerprint(item(s3_store=rotated)) == fingerprint(item())


class TestValidators:
    def test_http_validator_uses_the_cache_headers(self) -> None:
        """ETag, Last-Modified and Content-Length make the validator; none at all gives None."""
        assert http_validator({"ETag": '"abc"', "Content-Length": "10"}) == 'etag="abc";length=10'
        assert http_validator({"Content-Type": "image/png"}) is None

    def test_http_validator_ignores_header_case(self) -> None:
        """``Etag`` (as aiohttp servers spell it) counts the same as ``ETag``."""
        assert http_validator({"Etag": '"x"', "last-modified": "Mon"}) == (
            'etag="x";last-modified=Mon')

    def test_file_validator_follows_the_content(self, tmp_path: Path) -> None:
        """A file's validator changes with its bytes; a missing file has none."""
        path = tmp_path / "a.png"
        path.write_bytes(b"one")
        first = file_validator(path)
        path.write_bytes(b"two")
        assert first is not None and first != file_validator(path)
        assert file_validator(tmp_path / "missing.png") is None


class TestState:
    def test_record_then_get(self, tmp_path: Path) -> None:
        """A recorded success comes back from a reopened state file."""
        path = tmp_path / "s.sqlite"
        state = State.open(path)
        result = ItemResult(index=0, url="https://src.test/a.png", file=None, path="a.png",
                            status=Status.SUCCEEDED, kraked_url="https://s3/a.png",
                            original_size=10, kraked_size=6, saved_bytes=4, attempts=1)
        state.record("fp", "etag=1", result)
        state.close()
        again = State.open(path)
        done = again.get("fp")
        assert done is not None and (done.validator, done.kraked_url, done.saved_bytes) == (
            "etag=1", "https://s3/a.png", 4)
        assert again.get("other") is None
        again.close()

    def test_garbage_file_is_a_state_error(self, tmp_path: Path) -> None:
        """A file that is not SQLite is refused with a StateError, not a traceback."""
        path = tmp_path / "s.sqlite"
        path.write_bytes(b"not a database at all" * 100)
        with pytest.raises(StateError, match="cannot be used"):
            State.open(path)

    def test_lock_is_exclusive_and_names_its_holder(self, tmp_path: Path) -> None:
        """A second holder is refused with the first one's pid; after release it can lock."""
        path = tmp_path / "s.sqlite"
        with locked(path), pytest.raises(StateLockedError, match=f"pid {os.getpid()}"), \
                locked(path):
            pass
        with locked(path):
            pass

    def test_default_path_sits_beside_the_manifest(self, tmp_path: Path) -> None:
        """Each manifest gets its own state file in a .kraken-batch folder next to it."""
        assert default_state_path(tmp_path / "nightly.yaml") == (
            tmp_path.resolve() / ".kraken-batch" / "nightly.sqlite")


# ---- nightly reruns through the CLI, against real servers ---------------------------------


@pytest.fixture(name="kraken", scope="module")
def _kraken() -> Iterator[FaultServer]:
    with fault_server() as server:
        yield server


@pytest.fixture(name="sources")
def _sources(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "sources"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 50)
    with static_files(folder) as url:
        yield folder, url


@pytest.fixture(name="env")
def _env(monkeypatch: pytest.MonkeyPatch, kraken: FaultServer) -> None:
    monkeypatch.setenv("KRAKEN_API_URL", kraken.url)
    monkeypatch.setenv("KRAKEN_API_KEY", "state-key")
    monkeypatch.setenv("KRAKEN_API_SECRET", "state-secret-value")


def manifest_for(folder: Path, items: list[dict[str, Any]]) -> Path:
    path = folder / "nightly.yaml"
    path.write_text(yaml.safe_dump({
        "version": 1,
        "s3_store": {"key": "k", "secret": "s", "bucket": "assets"},
        "items": items,
    }))
    return path


def sent(kraken: FaultServer, marker: str) -> int:
    return sum(1 for r in kraken.requests
               if marker in str((r.json or {}).get("url", "")) or marker in (r.file_name or ""))


def run(manifest: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = manifest.parent / f"r{time.monotonic_ns()}.json"
    code = main(["run", str(manifest), "--report", str(report), *extra])
    return code, json.loads(report.read_text())


class TestNightlyReruns:
    def test_second_run_skips_everything_unchanged(self, tmp_path: Path, kraken: FaultServer,
                                                    sources: tuple[Path, str], env: None) -> None:
        """The second run sends nothing and reports each item skipped with the first run's URL."""
        _, base = sources
        manifest = manifest_for(tmp_path, [{"url": f"{base}/{i}.png?m=skip1", "path": f"s/{i}.png"}
                                           for i in range(3)])
        code, first = run(manifest)
        assert code == 0 and sent(kraken, "m=skip1") == 3
        code, second = run(manifest)
        assert code == 0 and sent(kraken, "m=skip1") == 3
        assert [i["status"] for i in second["items"]] == ["skipped"] * 3
        assert [i["kraked_url"] for i in second["items"]] == [i["kraked_url"] for i in first["items"]]
        assert second["summary"]["skipped"] == 3 and second["summary"]["saved_bytes"] == 0

    def test_changed_source_is_sent_again(self, tmp_path: Path, kraken: FaultServer,
                                          sources: tuple[Path, str], env: None) -> None:
        """A source whose Content-Length or Last-Modified changed is optimized again; others skip."""
        folder, base = sources
        manifest = manifest_for(tmp_path, [{"url": f"{base}/{i}.png?m=chg1", "path": f"c/{i}.png"}
                                           for i in range(3)])
        assert run(manifest)[0] == 0
        (folder / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"changed" * 20)
        code, second = run(manifest)
        assert code == 0
        assert [i["status"] for i in second["items"]] == ["skipped", "succeeded", "skipped"]
        assert sent(kraken, "m=chg1") == 4

    def test_changed_options_are_sent_again(self, tmp_path: Path, kraken: FaultServer,
                                            sources: tuple[Path, str], env: None) -> None:
        """Changing an item's options changes its request, so it is not skipped."""
        _, base = sources
        items = [{"url": f"{base}/0.png?m=opt1", "path": "o/0.png"}]
        manifest = manifest_for(tmp_path, items)
        assert run(manifest)[0] == 0
        items[0]["options"] = {"lossy": True}
        manifest = manifest_for(tmp_path, items)
        code, second = run(manifest)
        assert code == 0 and second["items"][0]["status"] == "succeeded"
        assert sent(kraken, "m=opt1") == 2

    def test_force_sends_everything(self, tmp_path: Path, kraken: FaultServer,
                                    sources: tuple[Path, str], env: None) -> None:
        """--force ignores earlier successes."""
        _, base = sources
        manifest = manifest_for(tmp_path, [{"url": f"{base}/0.png?m=force1", "path": "f/0.png"}])
        assert run(manifest)[0] == 0
        code, second = run(manifest, "--force")
        assert code == 0 and second["items"][0]["status"] == "succeeded"
        assert sent(kraken, "m=force1") == 2

    def test_changed_local_file_is_uploaded_again(self, tmp_path: Path, kraken: FaultServer,
                                                  env: None) -> None:
        """A file item is skipped while its bytes are the same and re-sent once they change."""
        (tmp_path / "filechg-a.png").write_bytes(b"\x89PNG\r\n\x1a\nfirst")
        manifest = manifest_for(tmp_path, [{"file": "filechg-a.png", "path": "f/a.png"}])
        assert run(manifest)[0] == 0
        assert run(manifest)[1]["items"][0]["status"] == "skipped"
        (tmp_path / "filechg-a.png").write_bytes(b"\x89PNG\r\n\x1a\nsecond")
        assert run(manifest)[1]["items"][0]["status"] == "succeeded"
        assert sent(kraken, "filechg-a.png") == 2

    def test_failed_items_are_retried_next_night(self, tmp_path: Path, kraken: FaultServer,
                                                 sources: tuple[Path, str], env: None) -> None:
        """Only successes are remembered: an item that failed is sent again the next run."""
        _, base = sources
        manifest = manifest_for(tmp_path, [{"url": f"{base}/0.png?fault=415,ok&m=fail1",
                                            "path": "x/0.png"}])
        assert run(manifest)[0] == 1
        code, second = run(manifest)
        assert code == 0 and second["items"][0]["status"] == "succeeded"

    def test_unreachable_source_is_never_skipped(self, tmp_path: Path, kraken: FaultServer,
                                                 env: None) -> None:
        """Without a validator (HEAD fails) the item is sent every time: never a stale skip."""
        manifest = manifest_for(tmp_path, [{"url": "http://127.0.0.1:9/nohead.png?m=nohead1",
                                            "path": "n/0.png"}])
        assert run(manifest)[0] == 0
        assert run(manifest)[1]["items"][0]["status"] == "succeeded"
        assert sent(kraken, "m=nohead1") == 2

    def test_locked_state_exits_4_and_sends_nothing(self, tmp_path: Path, kraken: FaultServer,
                                                    sources: tuple[Path, str], env: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
        """While another run holds the lock, a run exits 4 at once naming the holder."""
        _, base = sources
        manifest = manifest_for(tmp_path, [{"url": f"{base}/0.png?m=lock1", "path": "l/0.png"}])
        with locked(default_state_path(manifest)):
            assert main(["run", str(manifest), "--report", str(tmp_path / "r.json")]) == 4
        assert f"pid {os.getpid()}" in capsys.readouterr().err
        assert sent(kraken, "m=lock1") == 0

    def test_kill_9_redoes_only_what_was_not_committed(self, tmp_path: Path, kraken: FaultServer,
                                                       sources: tuple[Path, str], env: None) -> None:
        """After kill -9, the next run sends exactly the items the state had not recorded."""
        _, base = sources
        items = [{"url": f"{base}/{i % 3}.png?fault=delay=400&m=kill{i}", "path": f"k/{i}.png"}
                 for i in range(12)]
        manifest = manifest_for(tmp_path, items)
        proc = subprocess.Popen([sys.executable, "-m", "batch", "run", str(manifest), "--quiet",
                                 "--concurrency", "2", "--report", str(tmp_path / "killed.json")],
                                env=os.environ.copy(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while sent(kraken, "&m=kill") < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        with sqlite3.connect(default_state_path(manifest)) as db:
            committed = db.execute("SELECT COUNT(*) FROM done").fetchone()[0]
        assert 0 < committed < 12
        before = sent(kraken, "&m=kill")
        code, report = run(manifest)
        assert code == 0
        assert sent(kraken, "&m=kill") - before == 12 - committed
        statuses = [i["status"] for i in report["items"]]
        assert statuses.count("skipped") == committed
