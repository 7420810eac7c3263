"""The Kraken API client: the only client-side module that imports aiohttp.

One :class:`KrakenClient` per run owns one ``aiohttp.ClientSession`` (aiohttp: "don't create a
session per request"), with a connector sized to the run's concurrency and one explicit
``ClientTimeout`` per attempt (aiohttp's own default is five minutes).

Errors are translated at exactly one boundary, like httpx's ``map_httpcore_exceptions``:

* :func:`map_aiohttp_errors` turns what aiohttp raises into :mod:`batch.errors` types. Connection
  refused/reset, disconnects, socket timeouts, truncated answers and the ``ClientTimeout`` total
  expiry (a bare ``TimeoutError``, *not* an ``aiohttp.ClientError``) are transient. An invalid API
  URL is a :class:`~batch.errors.ConfigError`: every request would fail the same way, so it stops the
  run like a bad option would (``KrakenClient`` also checks the URL up front).
* :func:`batch.answers.classify` (pure) then turns the status and body into a
  :class:`KrakenResponse` or the matching error.

No message carries the request body. Redirects are not followed: following one would re-send the credentials to another URL.
"""

from __future__ import annotations

import enum
import errno
import json
import mimetypes
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import aiohttp

from batch.answers import KrakenResponse, classify, secret_values
from batch.errors import ConfigError, PermanentKrakenError, TransientKrakenError

MAX_BODY: Final = 1 << 20  # an answer larger than this is not a Kraken answer; stop reading


def _version() -> str:
    try:
        return metadata.version("kraken-batch")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


USER_AGENT: Final = f"kraken-batch/{_version()}"


@contextmanager
def map_aiohttp_errors(*, timeout: float | None = None) -> Iterator[None]:
    """Translate aiohttp's exceptions (and the total-timeout ``TimeoutError``) into ours.

    ``timeout`` is only used to say how long we waited. Every raised error keeps the original as
    ``__cause__`` for debugging; aiohttp's exceptions carry host and port, never the request body.
    """
    try:
        yield
    except aiohttp.ClientConnectorDNSError as exc:
        raise TransientKrakenError(f"cannot resolve host {exc.host}") from exc
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ConnectionRefusedError):
            raise TransientKrakenError(f"connection refused by {exc.host}:{exc.port}") from exc
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        raise TransientKrakenError(f"cannot connect to {exc.host}:{exc.port} ({reason})") from exc
    except aiohttp.ConnectionTimeoutError as exc:
        raise TransientKrakenError("timed out while connecting") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise TransientKrakenError("timed out waiting for the answer") from exc
    except aiohttp.ServerDisconnectedError as exc:
        raise TransientKrakenError("the server closed the connection without answering") from exc
    except aiohttp.ClientConnectionError as exc:
        cause = exc.__cause__ or exc.__context__
        reset = any(isinstance(e, ConnectionResetError)
                    or (isinstance(e, OSError) and e.errno == errno.ECONNRESET) for e in (exc, cause))
        what = "connection reset by the server" if reset else f"connection lost ({type(exc).__name__})"
        raise TransientKrakenError(what) from exc
    except aiohttp.ClientPayloadError as exc:
        raise TransientKrakenError("the answer was cut off") from exc
    except aiohttp.UploadAbortedError as exc:
        raise TransientKrakenError("the upload was cut off") from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise ConfigError("the API URL is not a valid http(s) URL") from exc
    except aiohttp.ClientResponseError as exc:  # a proxy refusing CONNECT, for instance
        kind = TransientKrakenError if exc.status >= 500 or exc.status == 429 else (
            PermanentKrakenError)
        raise kind(f"{type(exc).__name__} with HTTP {exc.status}") from exc
    except aiohttp.ClientError as exc:
        raise PermanentKrakenError(f"unexpected client error ({type(exc).__name__})") from exc
    except TimeoutError as exc:  # ClientTimeout(total=...) expired
        waited = f" after {timeout:g} s" if timeout is not None else ""
        raise TransientKrakenError(f"timed out{waited}") from exc


class _State(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class KrakenClient:
    """Talks to one Kraken-compatible API; use as ``async with KrakenClient(url) as client:``.

    Args:
        api_url: the API root, e.g. ``https://api.kraken.io``; a trailing slash or a path prefix
            (``http://proxy/kraken/``) is fine.
        timeout: seconds for one whole attempt (connect, send, Kraken's work, answer). Kraken's
            own CLI uses 120 s; a ``wait: true`` request holds the connection while it optimizes.
        max_connections: the connector's limit; size it to at least the run's concurrency.

    Raises:
        ConfigError: the URL is not http(s) with a host, carries credentials, a query or a
            fragment, or the numbers are out of range.
    """

    def __init__(self, api_url: str, *, timeout: float = 120.0, max_connections: int = 8) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the API URL must be an http(s) URL with a host")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ConfigError("the API URL must not contain credentials, a query or a fragment")
        if not timeout > 0 or max_connections < 1:
            raise ConfigError("the timeout must be positive and max_connections at least 1")
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._state = _State.UNOPENED

    async def __aenter__(self) -> Self:
        if self._state is not _State.UNOPENED:
            raise RuntimeError(
                "Cannot open a client instance more than once."
                if self._state is _State.OPENED
                else "Cannot reopen a client instance, once it has been closed.")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_connections),
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=min(self.timeout, 30.0)),
            headers={"User-Agent": USER_AGENT},
        )
        self._state = _State.OPENED
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._state = _State.CLOSED
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def optimize_url(self, body: Mapping[str, Any]) -> KrakenResponse:
        """POST ``body`` (auth, url, wait, options, store) as JSON to ``/v1/url``."""
        return await self._post("/v1/url", body, data=_dumps(body),
                                headers={"Content-Type": "application/json"})

    async def optimize_file(self, body: Mapping[str, Any], file: Path) -> KrakenResponse:
        """POST a local file to ``/v1/upload``: field ``data`` = the JSON, file part ``upload``.

        The file is streamed from disk in chunks, never read whole. A file that cannot be opened
        fails the item (:class:`PermanentKrakenError`, no status): retrying will not create it.
        """
        try:
            handle = file.open("rb")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise PermanentKrakenError(f"cannot read {file.name}: {reason}") from exc
        with handle:
            form = aiohttp.FormData(quote_fields=False)  # raw file names, as browsers send them
            form.add_field("data", _dumps(body))
            name = file.name.replace("\r", " ").replace("\n", " ")
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            form.add_field("upload", handle, filename=name, content_type=kind)
            return await self._post("/v1/upload", body, data=form)

    async def probe_source(self, url: str, *, timeout: float = 30.0) -> Mapping[str, str] | None:
        """HEAD a source URL and return its headers, or ``None`` when that fails.

        Used by incremental runs to tell whether a source changed (ETag, Last-Modified,
        Content-Length). Any failure means "cannot tell", so the caller sends the item again.
        Redirects are followed: no credential goes to a source.
        """
        session = self._open_session()
        try:
            with map_aiohttp_errors(timeout=timeout):
                async with session.head(url, allow_redirects=True,
                                        timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                    if resp.status >= 400:
                        return None
                    return dict(resp.headers)
        except (TransientKrakenError, PermanentKrakenError, ConfigError):
            return None

    async def user_status(self, auth: Mapping[str, str]) -> Mapping[str, Any]:
        """POST ``{"auth": ...}`` to ``/user_status`` (no ``/v1``) and return the account JSON."""
        body = {"auth": dict(auth)}
        response = await self._post("/user_status", body, data=_dumps(body),
                                    headers={"Content-Type": "application/json"})
        return response.body

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(
                "The client is not open: use `async with KrakenClient(...) as client:`."
                if self._state is _State.UNOPENED
                else "Cannot send requests with a client instance that has been closed.")
        return self._session

    async def _post(self, path: str, body: Mapping[str, Any], **kwargs: Any) -> KrakenResponse:
        session = self._open_session()
        with map_aiohttp_errors(timeout=self.timeout):
            async with session.post(f"{self.api_url}{path}", allow_redirects=False,
                                          **kwargs) as resp:
                raw = await _read_capped(resp)
                status, content_type = resp.status, resp.headers.get("Content-Type")
                retry_after = resp.headers.get("Retry-After")
        return classify(status, content_type, raw, retry_after, secrets=secret_values(body))


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            break
    return b"".join(chunks)[:MAX_BODY]


def _dumps(body: Mapping[str, Any]) -> str:
    def plain(value: object) -> object:
        if isinstance(value, Mapping):
            return dict(value)
        raise TypeError(f"{type(value).__name__} cannot go in a Kraken request")  # no value shown

    return json.dumps(body, default=plain)
