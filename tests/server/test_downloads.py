"""Results without a store are served at a download URL."""

from __future__ import annotations

from tests.server import images
from tests.server.wire import post_json, request


def test_download_url_serves_the_result(server: str, sources: str, auth: dict[str, str]) -> None:
    """kraked_url points at this server and returns exactly the optimized bytes."""
    status, body = post_json(server + "/v1/url",
                             {"auth": auth, "url": sources + "/photo.png", "wait": True})
    assert status == 200
    assert body["kraked_url"].startswith(server + "/dl/")
    assert body["kraked_url"].endswith("/photo.png")
    status, headers, data = request(body["kraked_url"])
    assert status == 200 and len(data) == body["kraked_size"]
    assert headers["Content-Type"] == "image/png"
    assert images.decode(data).size == (256, 192)


def test_wrong_token_or_name_is_404(server: str, sources: str, auth: dict[str, str]) -> None:
    """A link with another token or another file name is not served."""
    _, body = post_json(server + "/v1/url",
                        {"auth": auth, "url": sources + "/tiny.png", "wait": True})
    url = body["kraked_url"]
    assert request(url.rsplit("/", 1)[0] + "/other.png")[0] == 404
    token = url.split("/dl/")[1].split("/")[0]
    assert request(url.replace(token, "0" * 32))[0] == 404
