"""The Kraken client: pure answer classification, the aiohttp error boundary, and real HTTP.

Everything network-facing runs against :mod:`tests.faults` on 127.0.0.1, never a mock.
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import traceback
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp.client_reqrep import ConnectionKey
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from batch.answers import MAX_MESSAGE, KrakenResponse, classify, parse_retry_after, secret_values
from batch.client import USER_AGENT, KrakenClient, map_aiohttp_errors
from batch.errors import (
    BatchError,
    ConfigError,
    FatalKrakenError,
    KrakenError,
    PermanentKrakenError,
    TransientKrakenError,
)
from tests.faults import PREFIX, FaultServer, fault_server, fault_server_async, message_for

pytestmark = pytest.mark.anyio

T, P, F = TransientKrakenError, PermanentKrakenError, FatalKrakenError
#: Every status the client claims to map, and the class it maps to.
STATUS_CLASSES: dict[int, type[KrakenError]] = {
    404: T, 429: T, 500: T, 502: T, 503: T, 504: T, 501: T, 507: T, 599: T,
    401: F, 402: F, 403: F,
    400: P, 405: P, 409: P, 413: P, 415: P, 418: P, 422: P,
    301: P, 302: P, 304: P,
}
SUCCESS = json.dumps({"success": True, "kraked_url": "https://dl.example.test/a.png"}).encode()


def error_body(message: str) -> bytes:
    return json.dumps({"success": False, "message": message}).encode()


def url_body(fault: str, **extra: Any) -> dict[str, Any]:
    """A /v1/url body whose item URL carries the fault script ``fault``."""
    return {"auth": {"api_key": "test-key", "api_secret": "test-secret"},
            "url": f"http://src.test/{fault}.png?fault={fault}", "wait": True, **extra}


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FaultServer]:
    async with fault_server_async() as server:
        yield server


@pytest.fixture(name="client")
async def _client(server: FaultServer) -> AsyncIterator[KrakenClient]:
    async with KrakenClient(server.url, timeout=5.0) as client:
        yield client


class TestClassify:
    @pytest.mark.parametrize(("status", "cls"), sorted(STATUS_CLASSES.items()))
    def test_claimed_status_maps_to_its_class(self, status: int, cls: type[KrakenError]) -> None:
        """Each status in the table raises exactly its class, carrying the status and message."""
        with pytest.raises(KrakenError) as info:
            classify(status, "application/json", error_body("server says no"), None)
        assert type(info.value) is cls
        assert info.value.status == status
        assert info.value.message.startswith("server says no")

    def test_every_status_is_mapped(self) -> None:
        """No status from 100 to 599 escapes as anything but a response or a KrakenError."""
        for status in range(100, 600):
            body = SUCCESS if 200 <= status < 300 else error_body("x")
            try:
                assert isinstance(classify(status, None, body, None), KrakenResponse)
            except KrakenError as exc:
                assert exc.status == status

    def test_success_returns_the_server_json(self) -> None:
        """A 200 with success:true comes back as parsed JSON with its status."""
        assert classify(200, "application/json", SUCCESS, None) == KrakenResponse(
            status=200, body=json.loads(SUCCESS))

    def test_success_false_on_200_is_permanent_with_the_message(self) -> None:
        """success:false on a 200 fails the item with the server's own words."""
        with pytest.raises(PermanentKrakenError, match="pushing file to S3") as info:
            classify(200, "application/json", error_body("Error while pushing file to S3"), None)
        assert info.value.status == 200

    @pytest.mark.parametrize("body", [b"<html>proxy</html>", b"", b"[1, 2]", b'{"ok": 1}', b"\xff"])
    def test_200_that_is_not_a_kraken_answer_is_transient(self, body: bytes) -> None:
        """A 200 without a Kraken JSON object comes from a broken proxy, so it is retried."""
        with pytest.raises(TransientKrakenError, match="not a Kraken answer"):
            classify(200, "text/html", body, None)

    def test_html_5xx_is_transient_and_described(self) -> None:
        """An HTML 502 page is decided by status, described by type, and never parsed."""
        with pytest.raises(TransientKrakenError) as info:
            classify(502, "text/html; charset=utf-8", b"<html><h1>502</h1></html>", None)
        assert info.value.message == "Bad Gateway with a text/html body"

    def test_long_server_text_is_collapsed_and_cut(self) -> None:
        """Server text loses its line breaks and stops near 300 characters."""
        with pytest.raises(PermanentKrakenError) as info:
            classify(422, None, error_body("bad\n\n  value " * 100), None)
        assert len(info.value.message) == MAX_MESSAGE
        assert "\n" not in info.value.message and info.value.message.endswith("…")

    def test_echoed_secret_is_masked_before_cutting(self) -> None:
        """A secret straddling the cut is masked whole, so no prefix of it survives."""
        secret = "SEKRIT-VALUE-0123456789"
        text = "x" * (MAX_MESSAGE - 10) + secret
        with pytest.raises(PermanentKrakenError) as info:
            classify(422, None, error_body(text), None, secrets=[secret])
        assert "SEKRIT" not in info.value.message

    def test_retry_after_is_kept_on_transient_errors(self) -> None:
        """A 429's Retry-After seconds end up on the error."""
        with pytest.raises(TransientKrakenError) as info:
            classify(429, None, b"", "17")
        assert info.value.retry_after == 17.0


class TestParseRetryAfter:
    NOW = datetime(2026, 12, 4, 2, 0, 0, tzinfo=UTC)

    @pytest.mark.parametrize(("value", "seconds"), [
        ("120", 120.0), (" 3 ", 3.0), ("1.5", 1.5), ("0", 0.0),
        ("Fri, 04 Dec 2026 02:01:30 GMT", 90.0), ("Fri, 04 Dec 2026 01:00:00 GMT", 0.0),
    ])
    def test_valid_values(self, value: str, seconds: float) -> None:
        """Delta-seconds and HTTP-dates both become seconds from now; past dates mean now."""
        assert parse_retry_after(value, now=self.NOW) == seconds

    @pytest.mark.parametrize("value", [None, "", "soon", "-5", "1e3", "Fri, 99 Foo 2026", "²"])
    def test_bad_values_are_ignored(self, value: str | None) -> None:
        """Anything that is neither delta-seconds nor an HTTP-date is ignored."""
        assert parse_retry_after(value, now=self.NOW) is None


class TestSecretValues:
    def test_auth_and_store_credentials_but_not_addresses(self) -> None:
        """Credentials are collected for masking; bucket, region and path are not."""
        body = {"auth": {"api_key": "k1", "api_secret": "s1"}, "url": "http://x/a.png",
                "s3_store": {"key": "k2", "secret": "s2", "bucket": "b", "region": "r",
                             "path": "p"},
                "gcs_store": {"credentials": {"private_key": "pk"}, "bucket": "b2"}}
        assert set(secret_values(body)) == {"k1", "s1", "k2", "s2", "pk"}


def _key() -> ConnectionKey:
    return ConnectionKey("api.test", 443, True, True, None, None, None)


def _response_error(cls: type[aiohttp.ClientResponseError], status: int) -> BaseException:
    info = aiohttp.RequestInfo(URL("https://api.test/v1/url"), "POST",
                               CIMultiDictProxy(CIMultiDict()), URL("https://api.test/v1/url"))
    return cls(info, (), status=status)


#: Every aiohttp failure the client claims to map: (exception, class, words in the message).
MAPPED: list[tuple[BaseException, type[BatchError], str]] = [
    (aiohttp.ClientConnectorError(_key(), ConnectionRefusedError(111, "refused")), T,
     "connection refused by api.test:443"),
    (aiohttp.ClientConnectorDNSError(_key(), OSError(-2, "Name unknown")), T, "cannot resolve"),
    (aiohttp.ClientConnectorError(_key(), OSError(113, "No route to host")), T, "No route"),
    (aiohttp.ClientConnectorCertificateError(_key(), ValueError("bad cert")), T, "cannot connect"),
    (aiohttp.ConnectionTimeoutError("x"), T, "timed out while connecting"),
    (aiohttp.SocketTimeoutError("x"), T, "timed out waiting"),
    (aiohttp.ServerTimeoutError("x"), T, "timed out waiting"),
    (aiohttp.ServerDisconnectedError(), T, "closed the connection"),
    (aiohttp.ClientConnectionResetError("x"), T, "connection reset"),
    (aiohttp.ClientOSError(errno.ECONNRESET, "reset"), T, "connection reset"),
    (aiohttp.ClientOSError(errno.EPIPE, "broken pipe"), T, "connection lost"),
    (aiohttp.ServerFingerprintMismatch(b"a", b"b", "api.test", 443), T, "connection lost"),
    (aiohttp.ClientPayloadError("cut"), T, "cut off"),
    (aiohttp.UploadAbortedError("cut"), T, "upload was cut off"),
    (TimeoutError(), T, "timed out after 120 s"),
    (aiohttp.InvalidURL("nope"), ConfigError, "API URL"),
    (aiohttp.NonHttpUrlClientError("ftp://x"), ConfigError, "API URL"),
    (_response_error(aiohttp.ClientHttpProxyError, 502), T, "HTTP 502"),
    (_response_error(aiohttp.ClientHttpProxyError, 407), P, "HTTP 407"),
    (_response_error(aiohttp.TooManyRedirects, 302), P, "HTTP 302"),
    (aiohttp.RedirectClientError("x"), P, "RedirectClientError"),
    (aiohttp.ClientError("x"), P, "unexpected client error"),
]


class TestMapAiohttpErrors:
    @pytest.mark.parametrize(("exc", "cls", "words"), MAPPED, ids=lambda v: type(v).__name__)
    def test_all_exceptions_mapped(self, exc: BaseException, cls: type[BatchError],
                                   words: str) -> None:
        """Each aiohttp failure becomes our class with a clear message and the original as cause."""
        with pytest.raises(BatchError) as info, map_aiohttp_errors(timeout=120.0):
            raise exc
        assert type(info.value) is cls
        assert words in str(info.value)
        assert info.value.__cause__ is exc
        if isinstance(info.value, KrakenError) and cls is T:
            assert info.value.status is None or "HTTP" in words

    def test_every_aiohttp_client_error_class_is_covered(self) -> None:
        """Every exception aiohttp exports is a ClientError subclass the mapping handles."""
        exported = [getattr(aiohttp.client_exceptions, n) for n in aiohttp.client_exceptions.__all__]
        covered = {type(exc) for exc, _, _ in MAPPED}
        for cls in exported:
            if issubclass(cls, aiohttp.ClientError):
                assert any(issubclass(cls, c) for c in covered), cls

    @pytest.mark.parametrize("exc", [ValueError("bug"), asyncio.CancelledError(),
                                     PermanentKrakenError("already ours")])
    def test_other_exceptions_pass_through(self, exc: BaseException) -> None:
        """Bugs, cancellation and our own errors leave the boundary unchanged."""
        with pytest.raises(type(exc)) as info, map_aiohttp_errors():
            raise exc
        assert info.value is exc


class TestKrakenClient:
    async def test_url_request_body_is_sent_exactly(self, server: FaultServer,
                                                    client: KrakenClient) -> None:
        """/v1/url gets the body as JSON, unchanged, with our User-Agent."""
        body = url_body("ok", lossy=True, s3_store={
            "key": "ak", "secret": "sk", "bucket": "assets", "region": "eu-west-1",
            "path": "images/a.png", "acl": "public_read", "headers": {"Cache-Control": "max-age=1"},
            "metadata": {"source": "nightly"}, "tags": {"team": "web"}})
        response = await client.optimize_url(body)
        (request,) = server.requests
        assert request.path == "/v1/url" and request.json == body
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == USER_AGENT and USER_AGENT.startswith("kraken-batch/")
        assert response.status == 200
        assert response.body["kraked_url"] == "https://s3.example.test/assets/images/a.png"
        assert response.body["saved_bytes"] == 400

    @pytest.mark.parametrize(("status", "cls"), [
        (400, P), (413, P), (415, P), (422, P), (200, P), (401, F), (402, F), (403, F),
        (404, T), (429, T), (500, T), (502, T), (503, T), (504, T),
    ])
    async def test_status_maps_to_class_with_server_message(
        self, client: KrakenClient, status: int, cls: type[KrakenError]
    ) -> None:
        """Each Kraken error status raises its class with the server's message."""
        with pytest.raises(KrakenError) as info:
            await client.optimize_url(url_body(str(status)))
        assert type(info.value) is cls
        assert (info.value.status, info.value.message) == (status, message_for(status))

    @pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("soon", None)])
    async def test_retry_after_is_parsed(self, client: KrakenClient, header: str,
                                         seconds: float | None) -> None:
        """A 429's Retry-After reaches the error; a value that does not parse is dropped."""
        with pytest.raises(TransientKrakenError) as info:
            await client.optimize_url(url_body(f"retry-after={header}:429"))
        assert info.value.retry_after == seconds

    async def test_html_502_is_transient(self, client: KrakenClient) -> None:
        """A proxy's HTML error page is a retryable failure, not a decoding crash."""
        with pytest.raises(TransientKrakenError, match="text/html") as info:
            await client.optimize_url(url_body("html502"))
        assert info.value.status == 502

    async def test_reset_is_transient(self, client: KrakenClient) -> None:
        """A connection cut without an answer is transient and has no status."""
        with pytest.raises(TransientKrakenError) as info:
            await client.optimize_url(url_body("reset"))
        assert info.value.status is None

    async def test_stall_past_the_timeout_is_transient(self, server: FaultServer) -> None:
        """An answer slower than the per-attempt timeout becomes a transient 'timed out'."""
        async with KrakenClient(server.url, timeout=0.5) as client:
            with pytest.raises(TransientKrakenError, match=r"timed out after 0\.5 s"):
                await client.optimize_url(url_body("stall"))

    async def test_refused_connection_is_transient(self) -> None:
        """Nothing listening on the port is a transient 'connection refused'."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        async with KrakenClient(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(TransientKrakenError, match="connection refused") as info:
                await client.optimize_url(url_body("ok"))
        assert info.value.status is None

    async def test_upload_sends_data_and_upload_parts(self, server: FaultServer,
                                                      client: KrakenClient, tmp_path: Path) -> None:
        """/v1/upload gets a `data` JSON field and the file's bytes in an `upload` part."""
        image = tmp_path / "banner.jpg"
        image.write_bytes(bytes(range(256)) * 40)
        body = {"auth": {"api_key": "k", "api_secret": "s"}, "wait": True, "lossy": False}
        response = await client.optimize_file(body, image)
        (request,) = server.requests
        assert request.path == "/v1/upload"
        assert json.loads(request.fields["data"]) == body
        assert (request.file_field, request.file_name) == ("upload", "banner.jpg")
        assert request.file_bytes == image.read_bytes()
        assert response.body["file_name"] == "banner.jpg"

    async def test_upload_script_comes_from_the_file_name(self, server: FaultServer,
                                                          client: KrakenClient,
                                                          tmp_path: Path) -> None:
        """A file named `x.fault=503,ok.png` fails once, then succeeds, counted by file name."""
        image = tmp_path / "x.fault=503,ok.png"
        image.write_bytes(b"png")
        body = {"auth": {"api_key": "k", "api_secret": "s"}, "wait": True}
        with pytest.raises(TransientKrakenError):
            await client.optimize_file(body, image)
        assert (await client.optimize_file(body, image)).status == 200
        assert server.attempts_for(image.name) == 2

    async def test_missing_file_fails_the_item_without_a_request(
        self, server: FaultServer, client: KrakenClient, tmp_path: Path
    ) -> None:
        """A file that cannot be opened is a permanent failure and nothing is sent."""
        with pytest.raises(PermanentKrakenError, match="cannot read gone.png"):
            await client.optimize_file({"auth": {}}, tmp_path / "gone.png")
        assert server.requests == []

    async def test_user_status_posts_auth_without_v1(self, server: FaultServer,
                                                     client: KrakenClient) -> None:
        """user_status goes to /user_status with only the auth object and returns the JSON."""
        status = await client.user_status({"api_key": "k", "api_secret": "s"})
        assert status["quota_remaining"] == 10**9 - 1000
        (request,) = server.requests
        assert request.path == "/user_status"
        assert request.json == {"auth": {"api_key": "k", "api_secret": "s"}}

    @pytest.mark.parametrize("suffix", ["/", PREFIX, PREFIX + "/"])
    async def test_api_url_with_slash_or_prefix_is_joined(self, server: FaultServer,
                                                          suffix: str) -> None:
        """A trailing slash or a path prefix on the API URL still reaches the right route."""
        async with KrakenClient(server.url + suffix) as client:
            await client.optimize_url(url_body("ok"))
        assert server.requests[0].path == suffix.rstrip("/") + "/v1/url"

    @pytest.mark.parametrize("url", ["ftp://api.test", "http://", "api.kraken.io",
                                     "https://user:pw@api.test", "https://api.test/?a=1"])
    def test_bad_api_url_is_a_config_error(self, url: str) -> None:
        """An API URL that cannot work is refused before anything is sent."""
        with pytest.raises(ConfigError):
            KrakenClient(url)

    async def test_closed_client_refuses_reuse(self, server: FaultServer) -> None:
        """A client is opened once; using or reopening it afterwards is a programming error."""
        client = KrakenClient(server.url)
        with pytest.raises(RuntimeError, match="not open"):
            await client.optimize_url(url_body("ok"))
        async with client:
            with pytest.raises(RuntimeError, match="more than once"):
                await client.__aenter__()
        with pytest.raises(RuntimeError, match="closed"):
            await client.optimize_url(url_body("ok"))
        with pytest.raises(RuntimeError, match="Cannot reopen"):
            async with client:
                pass

    async def test_connector_limit_bounds_requests_in_flight(self, server: FaultServer) -> None:
        """With max_connections=2, the server never sees more than two requests at once."""
        async with KrakenClient(server.url, max_connections=2) as client, \
                anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(client.optimize_url, url_body("delay=200", n=i))
        assert len(server.requests) == 6
        assert server.peak_in_flight == 2


SECRETS = ("API-KEY-LEAK-1111", "API-SECRET-LEAK-2222", "S3-KEY-LEAK-3333", "S3-SECRET-LEAK-4444")


class TestNoSecretsInErrors:
    @staticmethod
    def leaky_body(fault: str) -> dict[str, Any]:
        return {"auth": {"api_key": SECRETS[0], "api_secret": SECRETS[1]},
                "url": f"http://src.test/leak.png?fault={fault}", "wait": True,
                "s3_store": {"key": SECRETS[2], "secret": SECRETS[3], "bucket": "b", "path": "p"}}

    @staticmethod
    def assert_clean(exc: BaseException) -> None:
        text = "\n".join([str(exc), repr(exc), *traceback.format_exception(exc)])
        for secret in SECRETS:
            assert secret not in text

    @pytest.mark.parametrize("fault", [
        "400", "401", "402", "403", "404", "413", "415", "422", "429", "500", "502", "503",
        "200", "html502", "html200", "echo500", "echo200", "echo401", "retry-after=3:429",
        "reset", "stall",
    ])
    async def test_no_secret_in_any_url_error(self, server: FaultServer, fault: str) -> None:
        """Whatever goes wrong, even a server echoing the request, no credential is in the error."""
        async with KrakenClient(server.url, timeout=0.5) as client:
            with pytest.raises(BatchError) as info:
                await client.optimize_url(self.leaky_body(fault))
        self.assert_clean(info.value)

    async def test_no_secret_in_upload_or_connection_errors(self, server: FaultServer,
                                                           tmp_path: Path) -> None:
        """Upload echoes, missing files and refused connections keep credentials out too."""
        image = tmp_path / "a.fault=echo422.png"
        image.write_bytes(b"x")
        body = self.leaky_body("ok")
        del body["url"]
        async with KrakenClient(server.url) as client:
            for file in (image, tmp_path / "missing.png"):
                with pytest.raises(KrakenError) as info:
                    await client.optimize_file(body, file)
                self.assert_clean(info.value)
        async with KrakenClient("http://127.0.0.1:1") as client:
            with pytest.raises(KrakenError) as info:
                await client.optimize_url(self.leaky_body("ok"))
            self.assert_clean(info.value)


class TestFaultServerFromSyncCode:
    @staticmethod
    def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def test_threaded_server_plays_scripts_for_plain_http(self) -> None:
        """fault_server() serves sync callers: a URL script, an API-key script, Kraken's checks."""
        with fault_server() as server:
            body = url_body("503,ok")
            assert self.post(f"{server.url}/v1/url", body)[0] == 503
            assert self.post(f"{server.url}/v1/url", body)[0] == 200
            assert server.attempts_for(body["url"]) == 2
            keyed = {**body, "auth": {"api_key": "fault=402", "api_secret": "s"}}
            assert self.post(f"{server.url}/v1/url", keyed)[0] == 402
            assert self.post(f"{server.url}/v1/url", {**body, "wait": False})[0] == 422
            assert self.post(f"{server.url}/v1/url", {"url": "http://x/a.png"})[0] == 401
