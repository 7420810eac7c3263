"""Running the server: ``running_server`` in the current loop and ``serve`` as a process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from batch.server import ApiKey, ServerConfig, running_server
from tests.servers import SlowImage


@contextlib.contextmanager
def serving(*flags: str, key: str, secret: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m batch serve --port 0 FLAGS`` with one key pair; yield it and its URL.

    The process is killed (if still running) and its stderr pipe closed, whatever happens.
    """
    env = {**os.environ, "KRAKEN_API_KEY": key, "KRAKEN_API_SECRET": secret}
    proc = subprocess.Popen([sys.executable, "-m", "batch", "serve", "--port", "0", *flags],
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        while line and "listening on" not in line:
            line = proc.stderr.readline()
        assert line.startswith("kraken-batch serve listening on http://127.0.0.1:"), line
        yield proc, line.rsplit(" ", 1)[1].strip()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.anyio
async def test_running_server_yields_a_working_url() -> None:
    """running_server starts on a free port in the current loop and stops on exit."""
    import aiohttp

    config = ServerConfig(port=0, keys=(ApiKey(api_key="k", api_secret="s"),),
                          executor="thread", workers=1)
    async with running_server(config) as url, aiohttp.ClientSession() as session:
        assert url.startswith("http://127.0.0.1:")
        async with session.post(url + "/user_status",
                                json={"auth": {"api_key": "k", "api_secret": "s"}}) as resp:
            assert resp.status == 200 and (await resp.json())["plan_name"] == "Local"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url + "/healthz")


def test_serve_runs_until_sigterm(tmp_path: object) -> None:
    """serve prints its URL, answers requests, and exits 0 after SIGTERM."""
    with serving("--workers", "1", key="proc-key", secret="proc-secret") as (proc, url):
        request = urllib.request.Request(
            url + "/user_status", method="POST",
            data=json.dumps({"auth": {"api_key": "proc-key", "api_secret": "proc-secret"}}).encode())
        with urllib.request.urlopen(request, timeout=30) as resp:
            assert json.load(resp)["success"] is True
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        assert proc.stderr is not None
        rest = proc.stderr.read()
        assert "proc-secret" not in rest and '"path":"/user_status"' in rest


def test_serve_reports_a_busy_port() -> None:
    """serve exits 1 with a message when it cannot listen."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {**os.environ, "KRAKEN_API_KEY": "k", "KRAKEN_API_SECRET": "s"}
        done = subprocess.run([sys.executable, "-m", "batch", "serve", "--port", str(port)],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1 and "cannot start" in done.stderr


def test_sigterm_lets_an_in_flight_request_finish(
    slow_source: tuple[str, type[SlowImage]],
) -> None:
    """`kraken-batch serve` on SIGTERM stops listening but answers the request it is working on."""
    url_of_source, source = slow_source
    with serving("--workers", "1", "--allow-private-sources", "--shutdown-grace", "20",
                 key="grace-key", secret="grace-secret") as (proc, url):
        answer: dict[str, Any] = {}

        def in_flight() -> None:
            request = urllib.request.Request(
                url + "/v1/url", method="POST", headers={"Content-Type": "application/json"},
                data=json.dumps({"auth": {"api_key": "grace-key", "api_secret": "grace-secret"},
                                 "url": url_of_source, "wait": True}).encode())
            with urllib.request.urlopen(request, timeout=60) as resp:
                answer["status"], answer["body"] = resp.status, json.load(resp)

        client = threading.Thread(target=in_flight)
        client.start()
        assert source.fetching.wait(30), "the request never reached its source"
        proc.send_signal(signal.SIGTERM)
        source.release.set()
        client.join(60)
        assert answer["status"] == 200 and answer["body"]["success"] is True
        assert proc.wait(30) == 0
