"""Real local servers for tests, as context managers usable from sync fixtures.

- ``moto_s3()``: an in-process S3-compatible server (moto) on a free loopback port; yields
  its endpoint URL. moto keeps canned ACLs, metadata, headers and tags like AWS does and does
  not check credentials.
- ``static_files(root)``: serves a directory over HTTP on a free loopback port (stdlib,
  threaded); yields the base URL. ``/redirect/N/<path>`` answers N chained 302s ending at
  ``/<path>``, and ``/goto?url=<quoted URL>`` one 302 to any URL, for redirect tests.
- ``kraken_server(config)``: runs ``batch.server.running_server`` in a background thread with
  its own event loop; yields the base URL, stops the server (gracefully) on exit.
- ``free_port()``: a currently free loopback TCP port.

Nothing here mocks anything: every server is the real one, listening on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import http.server
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from batch.server import ServerConfig, running_server


def free_port() -> int:
    """Ask the OS for a free TCP port on 127.0.0.1 (closed again before returning)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto's S3 server in a thread on 127.0.0.1; yield ``http://127.0.0.1:PORT``."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files plus ``/redirect/N/...`` chains; quiet (no per-request stderr lines)."""

    def do_GET(self) -> None:
        if self.path.startswith("/goto?url="):
            self._redirect(urllib.parse.unquote(self.path.removeprefix("/goto?url=")))
            return
        parts = self.path.split("/", 3)
        if len(parts) == 4 and parts[1] == "redirect" and parts[2].isdigit():
            hops = int(parts[2])
            self._redirect(f"/redirect/{hops - 1}/{parts[3]}" if hops > 1 else f"/{parts[3]}")
            return
        super().do_GET()

    def _redirect(self, target: str) -> None:
        self.send_response(302)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_files(root: Path) -> Iterator[str]:
    """Serve ``root`` on a free loopback port in a thread; yield ``http://127.0.0.1:PORT``."""
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="static-files", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def kraken_server(config: ServerConfig) -> Iterator[str]:
    """Run the Kraken-compatible server in a background thread; yield its base URL.

    Use ``port=0`` in ``config`` for a free port. Startup errors are re-raised here.
    """
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[str] = concurrent.futures.Future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            async with running_server(config) as url:
                started.set_result(url)
                await stop.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    def run() -> None:
        asyncio.set_event_loop(loop)
        with contextlib.suppress(Exception):
            loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, name="kraken-server", daemon=True)
    thread.start()
    try:
        yield started.result(timeout=60)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=120)
