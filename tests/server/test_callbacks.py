"""callback_url mode: an immediate id, then the result POSTed to a real receiver."""

from __future__ import annotations

import http.server
import json
import queue
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.wire import post_json

Received = tuple[str, bytes]


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[Received]]]:
    """A small HTTP server that records each POST's content type and body."""
    got: queue.Queue[Received] = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            got.put((self.headers.get("Content-Type", ""), self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_callback_form_encoded(server: str, sources: str, auth: dict[str, str],
                               receiver: tuple[str, queue.Queue[Received]]) -> None:
    """By default the result is POSTed form-urlencoded, carrying the same id."""
    url, got = receiver
    status, body = post_json(server + "/v1/url",
                             {"auth": auth, "url": sources + "/photo.jpg", "callback_url": url})
    assert status == 200 and set(body) == {"id"} and len(body["id"]) == 32
    ctype, raw = got.get(timeout=60)
    assert ctype.startswith("application/x-www-form-urlencoded")
    form = dict(urllib.parse.parse_qsl(raw.decode()))
    assert form["id"] == body["id"] and form["success"] == "true"
    assert form["file_name"] == "photo.jpg" and int(form["kraked_size"]) > 0


def test_callback_json_and_errors(server: str, sources: str, auth: dict[str, str],
                                  receiver: tuple[str, queue.Queue[Received]]) -> None:
    """With json: true the result is JSON; failures are delivered as success:false."""
    url, got = receiver
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/notes.txt", "callback_url": url, "json": True})
    assert status == 200
    ctype, raw = got.get(timeout=60)
    payload: dict[str, Any] = json.loads(raw)
    assert ctype.startswith("application/json")
    assert payload == {"id": body["id"], "success": False, "message": "File type not supported"}
