"""The whole chain for real: ``kraken-batch run`` -> our Kraken-compatible server -> moto S3.

Sources are served over HTTP by a static file server; the optimized objects are read back from
S3 and checked (format, size, ACL, metadata, headers, tags). ``--local`` and the README's example
manifest are exercised the way a new user runs them.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from PIL import Image

from batch.cli import main
from batch.server import ServerConfig
from batch.server.config import ApiKey
from tests.servers import kraken_server, moto_s3, static_files

ROOT = Path(__file__).resolve().parent.parent
KEY, SECRET = "e2e-key", "e2e-secret-DO-NOT-LEAK"
S3_KEY, S3_SECRET = "AKIAE2ETESTKEY", "e2e-s3-secret-DO-NOT-LEAK"


@pytest.fixture(name="stack", scope="module")
def _stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """moto S3 with a bucket, a static server over sample images, and our server."""
    images = tmp_path_factory.mktemp("sources")
    for name in ("rocket.jpg", "coffee.png"):
        shutil.copy(ROOT / "manifests" / "images" / name, images / name)
    with moto_s3() as endpoint, static_files(images) as sources:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET)
        s3.create_bucket(Bucket="e2e-bucket")
        config = ServerConfig(host="127.0.0.1", port=0, keys=(ApiKey(api_key=KEY, api_secret=SECRET),),
                              s3_endpoint=endpoint, allow_private_sources=True, workers=2)
        with kraken_server(config) as api:
            yield {"s3": s3, "endpoint": endpoint, "sources": sources, "api": api}


def test_run_optimizes_into_s3(stack: dict[str, Any], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """URL items are optimized by our server and land in S3 with every s3_store attribute."""
    monkeypatch.setenv("KRAKEN_API_KEY", KEY)
    monkeypatch.setenv("KRAKEN_API_SECRET", SECRET)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "version": 1,
        "options": {"lossy": True},
        "s3_store": {"key": S3_KEY, "secret": S3_SECRET, "bucket": "e2e-bucket",
                     "region": "us-east-1", "acl": "public_read",
                     "headers": {"Cache-Control": "max-age=60"},
                     "metadata": {"source": "e2e"}, "tags": {"team": "web"}},
        "items": [
            {"url": f"{stack['sources']}/rocket.jpg", "path": "out/rocket.jpg"},
            {"url": f"{stack['sources']}/coffee.png", "path": "out/coffee-small.png",
             "options": {"resize": {"strategy": "landscape", "width": 200}},
             "s3_store": {"acl": "private"}},
            {"url": f"{stack['sources']}/missing.png", "path": "out/missing.png"},
        ],
    }))
    report = tmp_path / "r.json"
    code = main(["run", str(manifest), "--report", str(report), "--api-url", stack["api"],
                 "--retries", "1"])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    data = json.loads(report.read_text())
    rocket, coffee, missing = data["items"]
    assert rocket["status"] == "succeeded" and coffee["status"] == "succeeded"
    assert missing["status"] == "failed" and missing["error"]
    assert rocket["kraked_url"] == f"{stack['endpoint']}/e2e-bucket/out/rocket.jpg"
    assert rocket["kraked_size"] < rocket["original_size"]
    assert (coffee["kraked_width"], coffee["kraked_height"]) == (200, 133)

    s3 = stack["s3"]
    head = s3.head_object(Bucket="e2e-bucket", Key="out/rocket.jpg")
    assert head["ContentLength"] == rocket["kraked_size"]
    assert head["CacheControl"] == "max-age=60"
    assert head["Metadata"] == {"source": "e2e"}
    assert head["ContentType"] == "image/jpeg"
    tags = s3.get_object_tagging(Bucket="e2e-bucket", Key="out/rocket.jpg")["TagSet"]
    assert tags == [{"Key": "team", "Value": "web"}]
    grants = s3.get_object_acl(Bucket="e2e-bucket", Key="out/rocket.jpg")["Grants"]
    assert any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)
    private = s3.get_object_acl(Bucket="e2e-bucket", Key="out/coffee-small.png")["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in private)
    body = s3.get_object(Bucket="e2e-bucket", Key="out/coffee-small.png")["Body"].read()
    with Image.open(io.BytesIO(body)) as image:
        assert (image.format, image.size) == ("PNG", (200, 133))

    text = report.read_text() + captured.out + captured.err
    for secret in (SECRET, S3_KEY, S3_SECRET):
        assert secret not in text


def test_local_runs_the_example_offline(tmp_path: Path) -> None:
    """The README's main command: the example manifest through --local, objects fetched back."""
    report = tmp_path / "example.json"
    proc = subprocess.run(
        [sys.executable, "-m", "batch", "run", str(ROOT / "manifests" / "example.yaml"),
         "--local", "--report", str(report)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    data = json.loads(report.read_text())
    assert data["summary"]["succeeded"] == data["summary"]["total"] == 6
    assert data["summary"]["saved_bytes"] > 0
    objects = tmp_path / "example-objects" / "kraken-batch-demo" / "optimized"
    with Image.open(objects / "thumbs" / "astronaut-200.webp") as thumb:
        assert (thumb.format, thumb.size) == ("WEBP", (200, 200))
    with Image.open(objects / "rocket.jpg") as rocket:
        assert rocket.format == "JPEG"
    assert "fetched 6 optimized objects" in proc.stderr


def test_local_writes_into_a_configured_store(tmp_path: Path) -> None:
    """With AWS_ENDPOINT_URL_S3 set, --local writes into that store and leaves the objects there."""
    with moto_s3() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="demo-access-key",
                          aws_secret_access_key="demo-secret-key")
        s3.create_bucket(Bucket="kraken-batch-demo")
        report = tmp_path / "example.json"
        proc = subprocess.run(
            [sys.executable, "-m", "batch", "run", str(ROOT / "manifests" / "example.yaml"),
             "--local", "--report", str(report)],
            capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ENDPOINT_URL_S3": endpoint},
        )
        assert proc.returncode == 0, proc.stderr
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="kraken-batch-demo")["Contents"])
        assert len(keys) == 6 and "optimized/rocket.jpg" in keys
        assert not (tmp_path / "example-objects").exists()
        assert "(embedded)" not in proc.stderr
