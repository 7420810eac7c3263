"""Session fixtures: a real S3 server (moto), a static file server over generated images, and
our Kraken-compatible server configured against both."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from batch.server import ServerConfig
from batch.server.config import load_keys_file
from tests.server import images
from tests.servers import SlowImage, kraken_server, moto_s3, static_files

KEY, SECRET = "test-key-0001", "test-secret-s3cr3t-0001"
S3_KEY, S3_SECRET = "AKIATESTS3KEY0001", "s3-secret-value-never-logged"
BUCKET = "kraken-test"


def pytest_configure(config: pytest.Config) -> None:
    """moto's server thread uses werkzeug/flask internals that emit deprecation warnings."""
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:werkzeug.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:flask.*")


class Collector(logging.Handler):
    """Keeps every formatted record (with tracebacks) for the secrets-in-logs test."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


@pytest.fixture(scope="session")
def log_lines() -> Iterator[list[str]]:
    """Every log line the server writes during the session (access log included)."""
    collector = Collector()
    logger = logging.getLogger("batch.server")
    logger.addHandler(collector)
    old = logger.level
    logger.setLevel(logging.DEBUG)
    yield collector.lines
    logger.removeHandler(collector)
    logger.setLevel(old)


@pytest.fixture(scope="session")
def keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keys file with an active, an overdue and a suspended account."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    path.write_text(json.dumps({"keys": [
        {"api_key": KEY, "api_secret": SECRET, "plan_name": "Test", "quota_total": 10**9},
        {"api_key": "overdue-key", "api_secret": "overdue-secret", "state": "overdue"},
        {"api_key": "suspended-key", "api_secret": "suspended-secret", "state": "suspended"},
    ]}))
    return path


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated source images served by the static file server."""
    root = tmp_path_factory.mktemp("sources")
    photo = images.photo()
    (root / "photo.jpg").write_bytes(images.encode(photo, "JPEG", quality=95))
    (root / "photo.png").write_bytes(images.encode(photo, "PNG"))
    (root / "alpha.png").write_bytes(images.encode(images.rgba(), "PNG"))
    (root / "anim.gif").write_bytes(images.animation())
    (root / "exif.jpg").write_bytes(images.with_exif())
    (root / "notes.txt").write_bytes(b"this is not an image at all, just some text\n" * 10)
    (root / "tiny.png").write_bytes(images.encode(images.photo(8, 8), "PNG"))
    (root / "big.png").write_bytes(images.encode(images.photo(600, 400), "PNG"))
    return root


@pytest.fixture(scope="session")
def sources(image_dir: Path) -> Iterator[str]:
    """Base URL of the static file server over ``image_dir``."""
    with static_files(image_dir) as url:
        yield url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server with the test bucket created."""
    with moto_s3() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET)
        client.create_bucket(Bucket=BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def s3(s3_endpoint: str) -> Any:
    """A boto3 client to read objects back."""
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                        aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET)


@pytest.fixture(scope="session")
def config(keys_file: Path, s3_endpoint: str) -> ServerConfig:
    """The main server's configuration: process pool of 2, private sources allowed."""
    return ServerConfig(port=0, keys=load_keys_file(keys_file), s3_endpoint=s3_endpoint,
                        allow_private_sources=True, workers=2, executor="process",
                        max_source_bytes=200_000)


@pytest.fixture(scope="session")
def server(config: ServerConfig, log_lines: list[str]) -> Iterator[str]:
    """Base URL of our Kraken-compatible server."""
    with kraken_server(config) as url:
        yield url


@pytest.fixture
def auth() -> dict[str, str]:
    """The accepted credentials."""
    return {"api_key": KEY, "api_secret": SECRET}


@pytest.fixture
def store() -> dict[str, Any]:
    """An s3_store object for the test bucket (path added per test)."""
    return {"key": S3_KEY, "secret": S3_SECRET, "bucket": BUCKET, "region": "us-east-1"}


@pytest.fixture(name="slow_source")
def _slow_source() -> Iterator[tuple[str, type[SlowImage]]]:
    handler = type("Handler", (SlowImage,), {"release": threading.Event(),
                                               "fetching": threading.Event(),
                                               "body": images.encode(images.photo(), "PNG")})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/slow.png", handler
    finally:
        handler.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
