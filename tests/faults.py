"""A fault-injecting, Kraken-compatible HTTP server for tests (never imported by ``batch``).

It answers ``POST /v1/url``, ``POST /v1/upload`` and ``POST /user_status`` like Kraken does, records
every request it receives, and misbehaves on request. The misbehaviour is chosen *by the request
itself*, so tests running at the same time, or a whole manifest driven through the CLI, never
interfere: a request carries a **script**, and the server counts requests per script source.

Where the script comes from (first match wins):

1. a ``"fault"`` key in the request JSON (``/v1/upload``: in the ``data`` field);
2. ``auth.api_key`` starting with ``fault=``, e.g. ``fault=401``: every request with that key,
   whatever its item says (Kraken checks credentials first, so a bad key wins);
3. ``/v1/url``: a ``fault`` query parameter of the item URL, e.g.
   ``http://src.test/img.png?fault=503,503,ok``;
4. ``/v1/upload``: ``fault=<script>`` in the uploaded file's name, up to the next dot, e.g.
   ``banner.fault=html502,ok.jpg``.

Script syntax: steps separated by commas. Step *n* answers the *n*-th request carrying that script
(counted server-side per item URL, file name or API key); the **last step repeats forever**, so
``fault=503`` always fails. Steps:

=====================  ==========================================================================
``ok``                 200 success; ``kraked_url`` = ``https://s3.example.test/<bucket>/<path>``
                       with an ``s3_store``, else ``https://dl.example.test/api/<n>/<file_name>``;
                       sizes are always ``original_size=1000, kraked_size=600, saved_bytes=400``
``NNN``                status NNN with ``{"success": false, "message": message_for(NNN)}``
                       (``200`` gives Kraken's "success: false on a 200")
``htmlNNN``            status NNN with a ``text/html`` body (a proxy's error page)
``retry-after=V:NNN``  status NNN with ``Retry-After: V`` and a JSON error body
``echoNNN``            status NNN whose ``message`` echoes the raw request body (leak tests)
``reset``              read the request, then cut the connection without answering
``stall``              never answer; ends when the client hangs up or the server stops
``delay=MS``           sleep MS milliseconds, then answer like ``ok`` (to observe concurrency)
=====================  ==========================================================================

Every route is also served under ``/kraken`` (:data:`PREFIX`), for API URLs with a path prefix;
``RecordedRequest.path`` keeps the prefix. ``HEAD /src/<anything>`` answers like a static source (a stable ``ETag`` per path), so item URLs
``{server.url}/src/a.png?fault=...`` give incremental runs something to probe.

Like Kraken, requests are checked before the script runs: a body that is not JSON gets 400, no
``auth`` gets 401, no ``wait`` gets 422, ``/v1/url`` without ``url`` gets 422, ``/v1/upload``
without a file part gets 400.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from aiohttp import BodyPartReader, web
from anyio.from_thread import start_blocking_portal

#: The ``message`` sent with each JSON error status (Kraken's own words where it has some).
MESSAGES: Final[dict[int, str]] = {
    200: "Error while pushing file to S3: Access Denied",
    400: "Incoming request body does not contain a valid JSON object",
    401: "Unnknown API Key. Please check your API key and try again",
    402: "Your account is overdue. Please log in to your account to settle outstanding invoice(s).",
    403: "Your account has been temporarily suspended",
    404: "Not Found",
    413: "File size too large. The maximum file size is 33554432 bytes (32 MB)",
    415: "File type not supported",
    422: "You need to specify either callback_url or wait flag",
    429: "Too many requests",
    500: "Kraken has encountered an unexpected error and cannot fulfill your request",
}
#: Every route is also served under this prefix, to test API URLs with a path.
PREFIX: Final = "/kraken"
HTML_PAGE: Final = "<html><body><h1>{status} Bad Gateway</h1><p>nginx</p></body></html>"
_FILE_SCRIPT: Final = re.compile(r"fault=([^.]+)")


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server received it, before the script decided how to answer."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    fields: dict[str, str] = field(default_factory=dict)
    file_field: str | None = None
    file_name: str | None = None
    file_size: int | None = None
    file_bytes: bytes | None = None
    source: str | None = None
    step: str | None = None


class FaultServer:
    """The app's state: what was received, how many requests ran at once, and the script counters."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._counts: Counter[str] = Counter()
        self._stopping = asyncio.Event()

    def attempts_for(self, source: str) -> int:
        """Requests that passed Kraken's checks, per item URL, uploaded file name, or API key."""
        return self._counts[source]

    def app(self) -> web.Application:
        """The aiohttp application serving the three Kraken routes."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in ("/v1/url", "/v1/upload", "/user_status"):
            app.router.add_post(path, self._handle)
            app.router.add_post(PREFIX + path, self._handle)
        app.router.add_route("HEAD", "/src/{name:.*}", self._source)
        return app

    async def _source(self, request: web.Request) -> web.Response:
        """A stand-in source for HEAD probes: a stable ETag per path, no body."""
        tag = hashlib.sha256(request.path.encode()).hexdigest()[:16]
        # A body (never sent for HEAD) makes aiohttp send Content-Length, as real servers do;
        # without it the client cannot reuse the connection.
        return web.Response(body=b"\x89PNG" + bytes(96), content_type="image/png",
                            headers={"ETag": f'"{tag}"'})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        rec = RecordedRequest(request.method, request.path, dict(request.headers))
        self.requests.append(rec)
        path = request.path.removeprefix(PREFIX)
        problem = await (self._read_upload(request, rec) if path == "/v1/upload"
                         else self._read_json(path, request, rec))
        if problem is not None:
            return _error(*problem)
        body = rec.json or {}
        source, key, script = _script(path, body, rec.file_name)
        rec.source = source
        api_key = str(body["auth"]["api_key"])
        for counted in {source, api_key}:
            self._counts[counted] += 1
        steps = script.split(",") if script else ["ok"]
        rec.step = step = steps[min(self._counts[key], len(steps)) - 1].strip()
        return await self._play(step, path, request, rec, body)

    async def _read_json(
        self, path: str, request: web.Request, rec: RecordedRequest
    ) -> tuple[int, str] | None:
        try:
            data = json.loads(await request.read())
        except ValueError:
            return 400, MESSAGES[400]
        if not isinstance(data, dict):
            return 400, MESSAGES[400]
        rec.json = data
        return _check(path, data)

    async def _read_upload(self, request: web.Request, rec: RecordedRequest) -> tuple[int, str] | None:
        if not request.content_type.startswith("multipart/"):
            return 400, "Expected a multipart/form-data body"
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                rec.file_field, rec.file_name = part.name, part.filename
                rec.file_bytes = bytes(await part.read())
                rec.file_size = len(rec.file_bytes)
            else:
                rec.fields[part.name] = await part.text()
        if rec.file_name is None:
            return 400, "No file part in the upload"
        try:
            data = json.loads(rec.fields.get("data", ""))
        except ValueError:
            return 400, MESSAGES[400]
        if not isinstance(data, dict):
            return 400, MESSAGES[400]
        rec.json = data
        return _check("/v1/upload", data)

    async def _play(
        self, step: str, path: str, request: web.Request, rec: RecordedRequest,
        body: dict[str, Any],
    ) -> web.StreamResponse:
        if step == "ok":
            return self._success(path, rec, body)
        if step.startswith("delay="):
            await asyncio.sleep(int(step.removeprefix("delay=")) / 1000)
            return self._success(path, rec, body)
        if step == "reset":
            assert request.transport is not None
            request.transport.abort()
            await self._until_hangup(request)
            raise asyncio.CancelledError  # nothing to answer on a dead connection
        if step == "stall":
            await self._until_hangup(request)
            return _error(503, "stalled")
        if step.startswith("html"):
            html_status = int(step.removeprefix("html"))
            return web.Response(status=html_status, text=HTML_PAGE.format(status=html_status),
                                content_type="text/html")
        if step.startswith("echo"):
            raw = json.dumps(body) if path != "/v1/upload" else rec.fields.get("data", "")
            return _error(int(step.removeprefix("echo")), f"could not process {raw}")
        if step.startswith("retry-after="):
            value, _, code = step.removeprefix("retry-after=").rpartition(":")
            response = _error(int(code), message_for(int(code)))
            response.headers["Retry-After"] = value
            return response
        return _error(int(step), message_for(int(step)))

    async def _until_hangup(self, request: web.Request) -> None:
        """Wait until the client closed the connection or the server is stopping."""
        for _ in range(12_000):  # ten minutes at most
            if self._stopping.is_set() or request.transport is None or request.transport.is_closing():
                return
            await asyncio.sleep(0.05)

    def _success(self, path: str, rec: RecordedRequest, body: dict[str, Any]) -> web.Response:
        if path == "/user_status":
            return web.json_response({
                "success": True, "active": True, "plan_name": "Fault", "quota_total": 10**9,
                "quota_used": 1000, "quota_remaining": 10**9 - 1000})
        name = rec.file_name or urlsplit(str(body.get("url", ""))).path.rsplit("/", 1)[-1]
        store = body.get("s3_store")
        if isinstance(store, dict):
            kraked_url = f"https://s3.example.test/{store.get('bucket')}/{store.get('path')}"
        else:
            kraked_url = f"https://dl.example.test/api/{len(self.requests)}/{name}"
        return web.json_response({
            "success": True, "file_name": name, "original_size": 1000, "kraked_size": 600,
            "saved_bytes": 400, "original_width": 640, "original_height": 480,
            "kraked_url": kraked_url})


def message_for(status: int) -> str:
    """The ``message`` a JSON error step ``NNN`` sends."""
    return MESSAGES.get(status, f"Injected HTTP {status}")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"success": False, "message": message}, status=status)


def _check(path: str, body: dict[str, Any]) -> tuple[int, str] | None:
    """Kraken's own request checks, so a client bug shows up as the answer Kraken would give."""
    auth = body.get("auth")
    if not isinstance(auth, dict) or not auth.get("api_key") or not auth.get("api_secret"):
        return 401, "Incoming request body does not contain a valid auth.api_key or auth.api_secret"
    if path != "/user_status" and body.get("wait") is not True and "callback_url" not in body:
        return 422, MESSAGES[422]
    if path == "/v1/url" and not isinstance(body.get("url"), str):
        return 422, "You need to specify the url of the image"
    return None


def _script(
    path: str, body: dict[str, Any], file_name: str | None
) -> tuple[str, str, str | None]:
    """Return (source, counter key, script or None) for a request.

    The source (item URL, file name, else API key) is what ``attempts_for`` takes; the counter key
    picks the script step, and is the API key when the script came from it.
    """
    url = body.get("url") if path == "/v1/url" else None
    api_key = str(body["auth"]["api_key"])
    source = str(url) if url is not None else file_name or api_key
    if isinstance(body.get("fault"), str):
        return source, source, body["fault"]
    if api_key.startswith("fault="):
        return source, api_key, api_key.removeprefix("fault=")
    if isinstance(url, str):
        query = parse_qs(urlsplit(url).query).get("fault")
        if query:
            return source, source, query[0]
    if file_name is not None and (match := _FILE_SCRIPT.search(file_name)):
        return source, source, match.group(1)
    return source, source, None


@asynccontextmanager
async def fault_server_async() -> AsyncIterator[FaultServer]:
    """Run a :class:`FaultServer` on ``127.0.0.1:<free port>`` in the current event loop."""
    server = FaultServer()
    runner = web.AppRunner(server.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        server._stopping.set()
        await runner.cleanup()


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    """Run a :class:`FaultServer` in a background thread with its own loop, for sync and CLI tests."""
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(fault_server_async()) as server,
    ):
        yield server
