"""``run --local``: the whole Kraken + S3 stack on loopback, for offline runs and the demo.

This module is part of the command-line shell: like ``cli.py`` it may wire the client to
``batch.server`` (DESIGN.md keeps every other client module away from the server). It starts

* our Kraken-compatible server on a free loopback port, with a throw-away key pair and
  private sources allowed (the manifest's URLs may point at this machine), and
* unless ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` names a store already, an embedded
  S3-compatible server (moto's, on a free loopback port) with the manifest's buckets created,

runs the manifest through them, and, because the embedded store vanishes with the process,
fetches every optimized object back to ``<report stem>-objects/<bucket>/<key>`` beside the
report so the results can be opened.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from batch.models import ApiConfig, Manifest
from batch.runner import RunConfig, RunOutcome, run_batch
from batch.secret import Secret


async def run_local(
    manifest: Manifest,
    make_config: Callable[[ApiConfig], RunConfig],
    environ: Mapping[str, str] | None = None,
) -> RunOutcome:
    """Run ``manifest`` through an embedded server (and S3 store); return the outcome."""
    from batch.server.config import ApiKey, ServerConfig
    from batch.server.service import running_server

    environ = os.environ if environ is None else environ
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    key, secret = "local-" + secrets.token_hex(8), secrets.token_urlsafe(24)
    with _embedded_s3(endpoint) as s3_endpoint:
        embedded = endpoint is None
        buckets = await _create_buckets(manifest, s3_endpoint) if embedded else []
        server = ServerConfig(
            host="127.0.0.1",
            port=0,
            keys=(ApiKey(api_key=key, api_secret=secret),),
            s3_endpoint=s3_endpoint,
            allow_private_sources=True,
        )
        async with running_server(server) as url:
            print(f"local: Kraken-compatible server at {url}, S3 store at {s3_endpoint}"
                  f"{' (embedded)' if embedded else ''}", file=sys.stderr)
            config = make_config(ApiConfig(url=url, key=Secret(key), secret=Secret(secret)))
            outcome = await run_batch(config)
        if embedded:
            await _fetch_back(buckets, config.report_path, s3_endpoint)
    return outcome


@contextmanager
def _embedded_s3(endpoint: str | None) -> Iterator[str]:
    """Yield ``endpoint`` as is, or start moto's S3 server on a free loopback port."""
    if endpoint is not None:
        yield endpoint
        return
    from moto.server import ThreadedMotoServer

    # moto's WSGI server logs every request through werkzeug; the run's own output is enough.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _s3_client(endpoint: str) -> Any:
    """A client for the embedded store, which checks no credentials: none of the manifest's
    S3 credentials need to leave the request bodies."""
    from aiobotocore.session import get_session

    return get_session().create_client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )


async def _create_buckets(manifest: Manifest, endpoint: str) -> list[str]:
    """Create every bucket the manifest writes to (one pass over the items); return them."""
    buckets = {(i.s3_store.bucket, i.s3_store.region) for i in manifest.items if i.s3_store}
    async with _s3_client(endpoint) as s3:
        for bucket, region in sorted(buckets, key=lambda b: (b[0], b[1] or "")):
            extra: dict[str, Any] = {}
            if region and region != "us-east-1":
                extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
            await s3.create_bucket(Bucket=bucket, **extra)
    return sorted({bucket for bucket, _ in buckets})


async def _fetch_back(buckets: list[str], report: Path, endpoint: str) -> None:
    """Copy every object of the embedded store out before it disappears.

    Listing the buckets (instead of re-reading the manifest) also finds image-set sizes
    written at their ``storage_path``, and only what was really written.
    """
    folder = report.with_name(report.stem + "-objects")
    count = 0
    async with _s3_client(endpoint) as s3:
        for bucket in buckets:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            async for page in pages:
                for entry in page.get("Contents", []):
                    answer = await s3.get_object(Bucket=bucket, Key=entry["Key"])
                    async with answer["Body"] as body:
                        data = await body.read()
                    target = folder / bucket / Path(entry["Key"])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    count += 1
    if count:
        print(f"local: fetched {count} optimized objects back from the embedded S3 store "
              f"into {folder}/", file=sys.stderr)
