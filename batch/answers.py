"""Kraken's answers, classified (pure): the HTTP status decides the error class, then the body.

:func:`classify` decides from the HTTP status *before* looking at the body, so a proxy's HTML
error page cannot turn a retryable 502 into a JSON decoding crash. A 200 whose body is not a
Kraken JSON answer is transient as well: it comes from a broken proxy or captive portal, not
from Kraken. Server text is redacted of every credential sent with the request (``auth`` and
the ``*_store`` credentials), whitespace-collapsed and cut to :data:`MAX_MESSAGE` characters;
no message ever carries the request body.

This module does no I/O; :mod:`batch.client` feeds it what aiohttp received.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Final

from batch.errors import FatalKrakenError, PermanentKrakenError, TransientKrakenError
from batch.secret import redact

TRANSIENT_STATUSES: Final = frozenset({404, 429, 500, 502, 503, 504})
FATAL_STATUSES: Final = frozenset({401, 402, 403})
MAX_MESSAGE: Final = 300
#: Store fields that are addresses, not credentials; every other string in a store is redacted.
_NOT_SECRET: Final = frozenset({"bucket", "region", "path", "acl", "container", "storage_path"})
_DELTA_SECONDS: Final = re.compile(r"\d+(\.\d+)?", re.ASCII)


@dataclass(frozen=True, slots=True, kw_only=True)
class KrakenResponse:
    """A successful answer: the HTTP status and the parsed JSON, exactly as the server sent it."""

    status: int
    body: Mapping[str, Any]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date); ``None`` if bad."""
    if value is None:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(
    status: int,
    content_type: str | None,
    body: bytes,
    retry_after: str | None,
    *,
    secrets: Collection[str] = (),
) -> KrakenResponse:
    """Turn one HTTP answer into a :class:`KrakenResponse`, or raise the matching ``KrakenError``.

    Args:
        status: the HTTP status; it alone picks the error class.
        content_type: the answer's ``Content-Type``, only used to describe a non-JSON body.
        body: the raw answer body.
        retry_after: the ``Retry-After`` header, kept on transient errors when it parses.
        secrets: values sent with the request, masked wherever server text repeats them.

    Raises:
        TransientKrakenError: 404, 429, 5xx, or a 2xx that is not a Kraken JSON answer.
        FatalKrakenError: 401, 402, 403.
        PermanentKrakenError: other 4xx, ``success: false`` on a 2xx, or an unexpected 1xx/3xx.
    """
    if 200 <= status < 300:
        data = _json_object(body)
        if data is None or not isinstance(data.get("success"), bool):
            what = "JSON without a success flag" if data is not None else _describe_body(
                content_type, body)
            raise TransientKrakenError(f"{_phrase(status)} with {what}, not a Kraken answer",
                                       status=status)
        if data["success"]:
            return KrakenResponse(status=status, body=data)
        raise PermanentKrakenError(
            _server_message(data, secrets) or "success: false without a message", status=status)
    data = _json_object(body)
    message = (_server_message(data, secrets) if data is not None else None) or (
        f"{_phrase(status)} with {_describe_body(content_type, body)}")
    if status in FATAL_STATUSES:
        raise FatalKrakenError(message, status=status)
    if status in TRANSIENT_STATUSES or status >= 500:
        raise TransientKrakenError(message, status=status,
                                   retry_after=parse_retry_after(retry_after))
    if 400 <= status < 500:
        raise PermanentKrakenError(message, status=status)
    raise PermanentKrakenError(f"{message}; unexpected for the Kraken API, is the API URL right?",
                               status=status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown status"


def _describe_body(content_type: str | None, body: bytes) -> str:
    if not body:
        return "an empty body"
    kind = (content_type or "").split(";", 1)[0].strip() or "untyped"
    return f"a {kind} body"


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    return data if isinstance(data, dict) else None


def _server_message(data: Mapping[str, Any], secrets: Collection[str]) -> str | None:
    """The server's own ``message`` (or ``error``), redacted and cut to :data:`MAX_MESSAGE`."""
    text = data.get("message") or data.get("error")
    if not isinstance(text, str) or not text.strip():
        return None
    text = " ".join(redact(text, secrets).split())  # redact before cutting: no partial secrets
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def secret_values(body: Mapping[str, Any]) -> tuple[str, ...]:
    """Every credential in a request body: all of ``auth`` and the non-address store fields."""
    found: list[str] = []

    def walk(value: object, skip: Collection[str]) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            for key, inner in value.items():
                if key not in skip:
                    walk(inner, ())
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner, ())

    for name, value in body.items():
        if name == "auth":
            walk(value, ())
        elif name.endswith("_store"):
            walk(value, _NOT_SECRET)
    return tuple(found)
