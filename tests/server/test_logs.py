"""Access logs: one JSON object per request, and no credential anywhere in any log line."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.server import images
from tests.server.conftest import KEY, S3_KEY, S3_SECRET, SECRET
from tests.server.wire import post_json, upload


def test_access_log_is_json_per_request(server: str, log_lines: list[str]) -> None:
    """Each request writes one JSON line with method, path, status, duration and bytes."""
    post_json(server + "/user_status?api_secret=in-the-query", {"auth": {"api_key": "x"}})
    mine: list[dict[str, Any]] = []
    for _ in range(300):  # the line is written just after the response is sent
        records = [json.loads(line) for line in log_lines if line.startswith('{"method"')]
        mine = [r for r in records if r["path"] == "/user_status" and r["status"] == 401]
        if mine:
            break
        time.sleep(0.1)
    assert mine
    assert set(mine[-1]) == {"method", "path", "status", "duration_ms", "bytes", "remote"}
    assert mine[-1]["method"] == "POST" and mine[-1]["bytes"] > 0


def test_no_secret_in_any_log_line(server: str, sources: str, auth: dict[str, str],
                                   store: dict[str, Any], log_lines: list[str]) -> None:
    """After successes, S3 failures, bad requests and uploads, no log line holds a secret."""
    post_json(server + "/v1/url", {"auth": auth, "url": sources + "/photo.jpg", "wait": True,
                                   "s3_store": {**store, "path": "logs/a.jpg"}})
    post_json(server + "/v1/url", {"auth": auth, "url": sources + "/photo.jpg", "wait": True,
                                   "s3_store": {**store, "bucket": "missing-bucket"}})
    post_json(server + "/v1/url", {"auth": {"api_key": KEY, "api_secret": SECRET + "x"},
                                   "url": sources + "/photo.jpg", "wait": True})
    post_json(server + "/v1/url", {"auth": auth, "url": sources + "/notes.txt", "wait": True,
                                   "s3_store": store})
    upload(server, {"auth": auth, "wait": True, "s3_store": {**store, "path": "logs/b.png"}},
           images.encode(images.photo(32, 32), "PNG"))
    text = "\n".join(log_lines)
    assert "Error while pushing file to S3" in text  # the failure was logged...
    for secret in (SECRET, S3_KEY, S3_SECRET, "in-the-query"):
        assert secret not in text  # ...without any credential
