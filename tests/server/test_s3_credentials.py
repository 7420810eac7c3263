"""S3 credentials checked for real: our server writing to SeaweedFS, which (unlike moto)
verifies every request's SigV4 signature.

One ``weed mini`` and one server of ours for the whole module; sources come from the session's
static file server (``sources``) or are uploaded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
import yaml
from botocore.exceptions import ClientError

from batch.cli import main
from batch.server import ServerConfig
from batch.server.config import ApiKey
from tests.server import images
from tests.server.wire import post_json, upload
from tests.servers import kraken_server, seaweed_s3

API_KEY, API_SECRET = "s3cred-api-key", "s3cred-api-secret-DO-NOT-LEAK"
S3_KEY, S3_SECRET = "AKIASEAWEEDTEST0001", "seaweed-s3-secret-DO-NOT-LEAK"
WRONG_SECRET = "wrong-s3-secret-DO-NOT-LEAK"
UNKNOWN_KEY = "AKIAUNKNOWNKEY0002"
BUCKET = "kraken-creds"
S3_ERROR = "Error while pushing file to S3: "


@pytest.fixture(name="stack", scope="module")
def _stack(log_lines: list[str]) -> Iterator[dict[str, Any]]:
    """SeaweedFS with the bucket and one key pair, our server writing to it, a boto3 reader."""
    with seaweed_s3(S3_KEY, S3_SECRET, [BUCKET]) as endpoint:
        config = ServerConfig(port=0, keys=(ApiKey(api_key=API_KEY, api_secret=API_SECRET),),
                              s3_endpoint=endpoint, allow_private_sources=True, workers=1,
                              executor="thread")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=S3_KEY, aws_secret_access_key=S3_SECRET)
        with kraken_server(config) as api:
            yield {"api": api, "endpoint": endpoint, "s3": s3}
        s3.close()


def _store(path: str, **override: str) -> dict[str, Any]:
    return {"key": S3_KEY, "secret": S3_SECRET, "bucket": BUCKET, "region": "us-east-1",
            "path": path, **override}


def _access_lines(lines: list[str], path: str) -> list[dict[str, Any]]:
    return [r for r in (json.loads(line) for line in lines if line.startswith('{"method"'))
            if r["path"] == path]


def _absent(s3: Any, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
    except ClientError as exc:
        return bool(exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404)
    return False


@pytest.mark.parametrize("via", ["url", "upload"])
def test_right_credentials_store_the_object(stack: dict[str, Any], sources: str,
                                            via: str) -> None:
    """With the right S3 key pair the optimized image lands in SeaweedFS and reads back intact."""
    auth = {"api_key": API_KEY, "api_secret": API_SECRET}
    key = f"right/{via}.png"
    if via == "url":
        status, body = post_json(stack["api"] + "/v1/url", {
            "auth": auth, "url": sources + "/photo.png", "wait": True, "s3_store": _store(key)})
    else:
        status, body = upload(stack["api"], {"auth": auth, "wait": True, "s3_store": _store(key)},
                              images.encode(images.photo(), "PNG"), file_name="photo.png")
    assert status == 200 and body["success"] is True, body
    assert body["kraked_url"] == f"{stack['endpoint']}/{BUCKET}/{key}"
    data = stack["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(data) == body["kraked_size"]
    image = images.decode(data)
    assert (image.format, image.size) == ("PNG", (256, 192))


@pytest.mark.parametrize(("override", "s3_words"), [
    ({"secret": WRONG_SECRET}, "signature"),
    ({"key": UNKNOWN_KEY}, "access key"),
], ids=["wrong-secret", "unknown-key"])
def test_wrong_credentials_fail_without_leaking(stack: dict[str, Any], sources: str,
                                                log_lines: list[str], override: dict[str, str],
                                                s3_words: str) -> None:
    """A refused key pair answers 200 success:false with S3's reason, and no credential
    reaches the message or any server log line."""
    first = len(log_lines)
    key = f"wrong/{next(iter(override))}.jpg"
    status, body = post_json(stack["api"] + "/v1/url", {
        "auth": {"api_key": API_KEY, "api_secret": API_SECRET}, "url": sources + "/photo.jpg",
        "wait": True, "s3_store": _store(key, **override)})
    assert status == 200, body
    assert body["success"] is False
    assert body["message"].startswith(S3_ERROR)
    assert s3_words in body["message"].lower()
    assert _absent(stack["s3"], key)
    mine: list[dict[str, Any]] = []
    for _ in range(300):  # the access line is written just after the response is sent
        mine = _access_lines(log_lines[first:], "/v1/url")
        if mine:
            break
        time.sleep(0.1)
    assert [r["status"] for r in mine] == [200]
    new = "\n".join(log_lines[first:])
    assert S3_ERROR in new
    for secret in (S3_KEY, S3_SECRET, WRONG_SECRET, UNKNOWN_KEY, API_SECRET):
        assert secret not in body["message"]
        assert secret not in new


def test_cli_run_reports_s3_refusal_without_credentials(
        stack: dict[str, Any], sources: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``kraken-batch run`` with a wrong S3 secret exits 1, reports the item failed with S3's
    message, and shows no credential in the report or on stdout/stderr."""
    monkeypatch.setenv("KRAKEN_API_KEY", API_KEY)
    monkeypatch.setenv("KRAKEN_API_SECRET", API_SECRET)
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump({
        "version": 1,
        "s3_store": {"key": S3_KEY, "secret": WRONG_SECRET, "bucket": BUCKET,
                     "region": "us-east-1"},
        "items": [
            {"url": sources + "/photo.jpg", "path": "cli/refused.jpg"},
            {"url": sources + "/photo.jpg", "path": "cli/accepted.jpg",
             "s3_store": {"secret": S3_SECRET}},
        ],
    }))
    report = tmp_path / "r.json"
    code = main(["run", str(manifest), "--report", str(report), "--api-url", stack["api"]])
    captured = capsys.readouterr()
    assert code == 1, captured.err
    refused, accepted = json.loads(report.read_text())["items"]
    assert refused["status"] == "failed"
    assert refused["error"].startswith("HTTP 200: " + S3_ERROR)  # the client's "HTTP n: " prefix
    assert "signature" in refused["error"].lower()
    assert (refused["http_status"], refused["attempts"]) == (200, 1)
    assert accepted["status"] == "succeeded"
    assert _absent(stack["s3"], "cli/refused.jpg")
    stored = stack["s3"].get_object(Bucket=BUCKET, Key="cli/accepted.jpg")["Body"].read()
    assert images.decode(stored).format == "JPEG"
    text = report.read_text() + captured.out + captured.err
    for secret in (API_SECRET, S3_KEY, S3_SECRET, WRONG_SECRET):
        assert secret not in text
