"""Report entries (:class:`ItemResult`) for each thing that can happen to an item (pure).

Sizes, dimensions and ``kraked_url`` are copied from the server's answer, never computed; any
text that reaches an entry is masked of the item's credentials first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from batch.answers import KrakenResponse
from batch.errors import KrakenError
from batch.models import Item, ItemResult, Status
from batch.secret import Secret, redact


def identity(item: Item) -> dict[str, Any]:
    """The fields every report entry of ``item`` carries, whatever happened to it."""
    return {
        "index": item.index,
        "url": item.url,
        "file": str(item.file) if item.file is not None else None,
        "path": item.path,
    }


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def succeeded(
    item: Item, response: KrakenResponse, attempts: int, duration: int, secrets: Iterable[Secret]
) -> ItemResult:
    """The entry of an item Kraken optimized: its figures exactly as the server answered."""
    body = response.body
    results = body.get("results")
    kraked_url = body.get("kraked_url")
    original_size = _int(body.get("original_size"))
    if original_size is None and isinstance(results, dict) and results:
        # An image set answers per size; each entry repeats the same input size.
        first = next(iter(results.values()))
        original_size = _int(first.get("original_size")) if isinstance(first, dict) else None
    return ItemResult(
        **identity(item),
        status=Status.SUCCEEDED,
        kraked_url=redact(kraked_url, secrets) if isinstance(kraked_url, str) else None,
        original_size=original_size,
        kraked_size=_int(body.get("kraked_size")),
        saved_bytes=_int(body.get("saved_bytes")),
        kraked_width=_int(body.get("kraked_width")),
        kraked_height=_int(body.get("kraked_height")),
        attempts=attempts,
        http_status=response.status,
        duration_ms=duration,
        results=results if isinstance(results, dict) else None,
    )


def failed(
    item: Item, exc: KrakenError, attempts: int, duration: int, secrets: Iterable[Secret]
) -> ItemResult:
    """The entry of an item that failed, with the last error (credentials masked)."""
    return ItemResult(
        **identity(item),
        status=Status.FAILED,
        attempts=attempts,
        http_status=exc.status,
        duration_ms=duration,
        error=redact(str(exc), secrets),
    )


def cancelled(item: Item) -> ItemResult:
    """The entry of an item the run never finished (stopped, interrupted, or aborted)."""
    return ItemResult(**identity(item), status=Status.CANCELLED)

