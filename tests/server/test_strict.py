"""A second server with the safe defaults: private sources refused, small pixel limit,
downloads that expire at once, a thread executor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PIL import Image

from batch.server import ServerConfig
from batch.server.fetch import AddressRefused, PolicyResolver, address_allowed
from tests.server import images
from tests.server.wire import post_json, request, upload
from tests.servers import kraken_server


@pytest.fixture(scope="module")
def strict(config: ServerConfig) -> Iterator[str]:
    """Base URL of the strict server."""
    strict_config = replace(config, allow_private_sources=False, executor="thread", workers=1,
                            max_image_pixels=1_000_000, download_expiry=0)
    with kraken_server(strict_config) as url:
        yield url


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3",
                                  "169.254.169.254", "192.168.0.1", "[::ffff:127.0.0.1]"])
def test_private_sources_are_refused(strict: str, sources: str, auth: dict[str, str],
                                     host: str) -> None:
    """Loopback, private, link-local and mapped addresses are refused with a 422."""
    port = sources.rsplit(":", 1)[1]
    status, body = post_json(strict + "/v1/url", {
        "auth": auth, "url": f"http://{host}:{port}/photo.jpg", "wait": True})
    assert status == 422, body
    assert "loopback, private and link-local addresses are not allowed" in body["message"]


def test_private_callback_targets_are_refused(strict: str, auth: dict[str, str],
                                              log_lines: list[str]) -> None:
    """callback_url is subject to the same policy: the job is accepted, never delivered."""
    data = images.encode(images.photo(32, 32), "PNG")
    status, body = upload(strict, {"auth": auth, "callback_url": "http://127.0.0.1:9/cb"}, data)
    assert status == 200 and set(body) == {"id"}
    expected = f"callback {body['id']} not delivered: SourceUnavailable"
    for _ in range(600):  # wait for the background job, up to about a minute
        if any(expected in line for line in log_lines):
            break
        time.sleep(0.1)
    assert any(expected in line for line in log_lines)


@pytest.mark.parametrize(("address", "allowed"), [
    ("8.8.8.8", True), ("2606:4700::1111", True), ("127.0.0.1", False), ("10.0.0.1", False),
    ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:10.0.0.1", False), ("224.0.0.1", False), ("0.0.0.0", False)])
def test_address_policy(address: str, allowed: bool) -> None:
    """Only globally routable unicast addresses are allowed."""
    assert address_allowed(address) is allowed


def test_resolver_refuses_names_of_private_hosts() -> None:
    """A host name is refused if any address it resolves to is private (checked per connect,
    so redirects to such names are refused too)."""

    async def resolve() -> None:
        resolver = PolicyResolver(allow_private=False)
        try:
            await resolver.resolve("localhost", 80)
        finally:
            await resolver.close()

    with pytest.raises(AddressRefused):
        asyncio.run(resolve())


def test_decompression_bomb_is_413(strict: str, auth: dict[str, str]) -> None:
    """An image with more pixels than allowed is refused with 413 and a clear message."""
    data = images.encode(Image.new("L", (2000, 1000)), "PNG")
    status, body = upload(strict, {"auth": auth, "wait": True}, data)
    assert status == 413
    assert "2000x1000 is 2000000 pixels; the maximum is 1000000 pixels" in body["message"]


def test_download_links_expire(strict: str, auth: dict[str, str]) -> None:
    """With an expiry of 0 s the download link is already gone when the answer arrives."""
    data = images.encode(images.photo(32, 32), "PNG")
    status, body = upload(strict, {"auth": auth, "wait": True}, data)
    assert status == 200
    status, _, answer = request(body["kraked_url"])
    assert status == 404 and b"expired" in answer
