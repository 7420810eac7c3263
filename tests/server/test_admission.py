"""The bound on wait requests in progress: past it the server answers 503 with Retry-After."""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

from batch.server import ServerConfig
from tests.server.wire import post_json, request
from tests.servers import SlowImage, kraken_server


def test_second_request_past_the_bound_gets_503_with_retry_after(
    config: ServerConfig, auth: dict[str, str], slow_source: tuple[str, type[SlowImage]],
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
