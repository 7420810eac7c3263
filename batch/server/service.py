"""Running the server: in the current event loop (``running_server``) or as a process (``serve``).

``serve`` is what ``kraken-batch serve`` calls: it blocks until SIGINT/SIGTERM, then stops
accepting connections, lets in-flight requests finish (``shutdown_grace`` seconds), drains
callback jobs and closes the pools.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from batch.server.accesslog import ACCESS_LOGGER, JsonAccessLogger
from batch.server.app import create_app
from batch.server.config import ServerConfig


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@asynccontextmanager
async def running_server(config: ServerConfig) -> AsyncIterator[str]:
    """Start the app on ``config.host:config.port`` (0 = a free port) and yield its base URL.

    Everything it started is stopped on exit, even if the body raised.
    """
    runner = web.AppRunner(
        create_app(config), handle_signals=False, access_log_class=JsonAccessLogger,
        access_log=logging.getLogger(ACCESS_LOGGER), shutdown_timeout=config.shutdown_grace,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        address = runner.addresses[0]
        yield _url(config.host, int(address[1]))
    finally:
        await runner.cleanup()


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def serve(config: ServerConfig) -> int:
    """Run until SIGINT/SIGTERM; 0 after a clean shutdown, 1 if the server could not start."""
    _configure_logging()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with running_server(config) as url:
            print(f"kraken-batch serve listening on {url}", file=sys.stderr, flush=True)
            await stop.wait()
            print("kraken-batch serve shutting down", file=sys.stderr, flush=True)

    try:
        asyncio.run(main())
    except (OSError, RuntimeError) as exc:
        print(f"kraken-batch serve: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
