"""The bound on wait requests in progress: past it the server answers 503 with Retry-After."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from batch.server import ServerConfig
from tests.server import images
from tests.server.wire import post_json, request
from tests.servers import kraken_server


class _SlowImage(http.server.BaseHTTPRequestHandler):
    """Serves one PNG, but only after the test releases it."""

    release = threading.Event()
    fetching = threading.Event()
    body = b""

    def do_GET(self) -> None:
        self.fetching.set()
        self.release.wait(30)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(name="slow_source")
def _slow_source() -> Iterator[tuple[str, type[_SlowImage]]]:
    handler = type("Handler", (_SlowImage,), {"release": threading.Event(),
                                               "fetching": threading.Event(),
                                               "body": images.encode(images.photo(), "PNG")})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/slow.png", handler
    finally:
        handler.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_second_request_past_the_bound_gets_503_with_retry_after(
    config: ServerConfig, auth: dict[str, str], slow_source: tuple[str, type[_SlowImage]],
) -> None:
    """With one slot taken by a slow source, the next wait request is refused, then all is well."""
    url, source = slow_source
    one_slot = dataclasses.replace(config, max_active_jobs=1)
    with kraken_server(one_slot) as server:
        first: dict[str, Any] = {}

        def hold_the_slot() -> None:
            first["answer"] = post_json(server + "/v1/url", {"auth": auth, "url": url, "wait": True})

        holder = threading.Thread(target=hold_the_slot)
        holder.start()
        assert source.fetching.wait(30), "the first request never reached the source"
        body = json.dumps({"auth": auth, "url": url, "wait": True}).encode()
        status, headers, answer = request(server + "/v1/url", body,
                                          {"Content-Type": "application/json"}, "POST")
        assert status == 503
        assert headers.get("Retry-After") == "1"
        assert json.loads(answer)["success"] is False
        source.release.set()
        holder.join(30)
        status, answer_body = first["answer"]
        assert status == 200 and answer_body["success"] is True
