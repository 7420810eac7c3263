"""The aiohttp application: routes, the error middleware and the resources' lifetimes.

``create_app`` is pure wiring. Resources live in ``cleanup_ctx`` contexts so they start with
the app and close in reverse order on shutdown: the outbound HTTP session, the aiobotocore
session and its S3 clients, the optimizer pool, the download store, and the callback jobs
(which get the shutdown grace period before being cancelled).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiobotocore.session import get_session
from aiohttp import web

from batch.server import handlers, state
from batch.server.background import Admission, Background
from batch.server.config import ServerConfig
from batch.server.downloads import Downloads
from batch.server.encode import find_gifsicle
from batch.server.errors import MSG_INTERNAL, ApiError
from batch.server.fetch import new_session
from batch.server.store import S3Writer
from batch.server.workers import Workers

_log = logging.getLogger("batch.server")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"success": False, "message": message}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into Kraken's ``{"success": false, "message"}`` body."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.message)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the last-resort 500, logged with its traceback
        _log.exception("unexpected error handling %s %s", request.method, request.path)
        return _error(500, MSG_INTERNAL)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[state.CONFIG]
    find_gifsicle()  # fail at start, not on the first GIF
    async with contextlib.AsyncExitStack() as stack:
        app[state.HTTP] = await stack.enter_async_context(
            new_session(config.allow_private_sources))
        writer = S3Writer(get_session(), endpoint=config.s3_endpoint,
                          path_style=config.path_style)
        stack.push_async_callback(writer.close)
        app[state.S3] = writer
        workers = Workers(config.executor, config.worker_count)
        stack.push_async_callback(workers.close)
        app[state.WORKERS] = workers
        root = config.storage_dir
        if root is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kraken-dl-")))
        root.mkdir(parents=True, exist_ok=True)
        app[state.DOWNLOADS] = Downloads(root, config.download_expiry)
        background = Background(config.max_pending_callbacks)
        app[state.BACKGROUND] = background
        sweeper = asyncio.get_running_loop().create_task(_sweep(app[state.DOWNLOADS], config))
        yield
        sweeper.cancel()
        await background.drain(config.shutdown_grace)


async def _sweep(downloads: Downloads, config: ServerConfig) -> None:
    """Delete expired downloads every minute (or sooner with a short expiry)."""
    period = max(1.0, min(60.0, config.download_expiry))
    while True:
        await asyncio.sleep(period)
        downloads.sweep()


def create_app(config: ServerConfig) -> web.Application:
    """Build the Kraken-compatible application for ``config`` (not started)."""
    app = web.Application(middlewares=[error_middleware],
                          client_max_size=handlers.MAX_JSON_BYTES)
    app[state.CONFIG] = config
    app[state.USAGE] = {}
    app[state.ACTIVE] = Admission(config.max_active_jobs)
    app.cleanup_ctx.append(_resources)
    app.router.add_post("/v1/url", handlers.optimize_url)
    app.router.add_post("/v1/upload", handlers.optimize_upload)
    app.router.add_post("/user_status", handlers.user_status)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/dl/{token}/{name}", handlers.download)
    return app
