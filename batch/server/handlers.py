"""HTTP handlers: Kraken's routes plus ``/healthz`` and the ``/dl`` download links.

Validation order (Kraken's): body is JSON (400), auth (401), account state (402/403),
``wait``/``callback_url`` (422); then for uploads size (413), type (415), parameters (422).
For ``/v1/url`` parameters are checked *before* the source is downloaded, so a bad request
never causes an outbound fetch; size and type are then checked during/after the download.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any, Final

from aiohttp import BodyPartReader, web

from batch.server import state
from batch.server.config import ApiKey
from batch.server.errors import ApiError, BadJson, InvalidParameters, TooLarge, too_large_message
from batch.server.fetch import file_name_of, post_callback
from batch.server.pipeline import check_type, dev_answer, execute, load_source
from batch.server.request import Delivery, OptimizeRequest, authenticate, delivery, parse

MAX_JSON_BYTES: Final = 1 * 2**20
#: Multipart field names that carry the JSON (``data`` is Kraken's; the others are lenient).
JSON_FIELDS: Final = ("data", "body", "json")
CALLBACK_TIMEOUT: Final = 30.0
_log = logging.getLogger("batch.server")


def _object(text: str | bytes) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise BadJson() from None
    if not isinstance(body, dict):
        raise BadJson()
    return body


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge(f"Request body too large: the maximum is {MAX_JSON_BYTES} bytes") from None
    return _object(raw)


def _base_url(request: web.Request) -> str:
    configured = request.app[state.CONFIG].public_url
    return configured or f"{request.scheme}://{request.host}"


async def _respond(request: web.Request, key: ApiKey, how: Delivery, req: OptimizeRequest,
                   data: bytes | None, file_name: str) -> web.Response:
    """Run now (``wait``) or in the background with a callback (``callback_url``)."""
    app, base_url = request.app, _base_url(request)

    async def work() -> dict[str, Any]:
        if req.dev:
            return dev_answer(req, file_name or file_name_of(req.url or ""), base_url)
        source, name = (data, file_name) if data is not None else await load_source(app, req)
        return await execute(app, key, req, source, name, base_url)

    if how.callback_url is None:
        with app[state.ACTIVE].slot():
            return web.json_response(await work())
    job_id = secrets.token_hex(16)

    async def in_background() -> None:
        try:
            payload: dict[str, Any] = {"id": job_id, **await work()}
        except ApiError as exc:
            payload = {"id": job_id, "success": False, "message": exc.message}
        except Exception:  # noqa: BLE001 - must still tell the callback URL
            _log.exception("callback job %s failed", job_id)
            payload = {"id": job_id, "success": False,
                       "message": "Kraken has encountered an unexpected error and cannot "
                                  "fulfill your request"}
        assert how.callback_url is not None
        config = app[state.CONFIG]
        try:
            status = await post_callback(app[state.HTTP], how.callback_url, payload,
                                         as_json=how.callback_json,
                                         allow_private=config.allow_private_sources,
                                         timeout=CALLBACK_TIMEOUT)
            _log.info("callback %s delivered: HTTP %s", job_id, status)
        except Exception as exc:  # noqa: BLE001 - the client is gone; nothing else to do
            _log.warning("callback %s not delivered: %s", job_id, type(exc).__name__)

    app[state.BACKGROUND].spawn(in_background())
    return web.json_response({"id": job_id})


async def optimize_url(request: web.Request) -> web.Response:
    """``POST /v1/url``: optimize the image at ``url``."""
    config = request.app[state.CONFIG]
    body = await _json_body(request)
    key = authenticate(body, config.keys)
    how = delivery(body)
    req = parse(body, upload=False, max_pixels=config.max_image_pixels)
    return await _respond(request, key, how, req, None, "")


async def _read_part(part: BodyPartReader, limit: int) -> tuple[bytes, bool]:
    """Read a part up to ``limit`` bytes; past it, drain the rest and report overflow."""
    chunks, size = [], 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    return b"".join(chunks), size > limit


async def optimize_upload(request: web.Request) -> web.Response:
    """``POST /v1/upload``: multipart ``data`` (JSON) plus one file part, in either order."""
    config = request.app[state.CONFIG]
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        raise BadJson() from None
    text: bytes | None = None
    data: bytes | None = None
    file_name, too_large = "", False
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.filename is None and part.name in JSON_FIELDS and text is None:
            text, over = await _read_part(part, MAX_JSON_BYTES)
            if over:
                raise BadJson()
        elif part.filename is not None and data is None:
            file_name = part.filename.rsplit("/", 1)[-1]
            data, too_large = await _read_part(part, config.max_source_bytes)
        else:
            await _read_part(part, 0)
    if text is None:
        raise BadJson()
    body = _object(text)
    key = authenticate(body, config.keys)
    how = delivery(body)
    if data is None:
        raise InvalidParameters("The upload has no file part")
    if too_large:
        raise TooLarge(too_large_message(config.max_source_bytes))
    check_type(data)
    req = parse(body, upload=True, max_pixels=config.max_image_pixels)
    return await _respond(request, key, how, req, data, file_name)


async def user_status(request: web.Request) -> web.Response:
    """``POST /user_status``: the account's plan and byte quota."""
    config = request.app[state.CONFIG]
    key = authenticate(await _json_body(request), config.keys)
    used = request.app[state.USAGE].get(key.api_key, 0)
    return web.json_response({
        "success": True, "active": True, "plan_name": key.plan_name,
        "quota_total": key.quota_total, "quota_used": used,
        "quota_remaining": max(0, key.quota_total - used),
    })


async def healthz(request: web.Request) -> web.Response:
    """``GET /healthz``: liveness for supervisors and test fixtures."""
    return web.json_response({"ok": True})


async def download(request: web.Request) -> web.StreamResponse:
    """``GET /dl/{token}/{name}``: a result kept without a store, until it expires."""
    entry = request.app[state.DOWNLOADS].get(request.match_info["token"],
                                             request.match_info["name"])
    if entry is None:
        raise web.HTTPNotFound(reason="This file does not exist or has expired")
    return web.FileResponse(entry.path, headers={
        "Content-Type": entry.content_type,
        "Content-Disposition": f"inline; filename*=UTF-8''{_quote(entry.file_name)}",
    })


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
