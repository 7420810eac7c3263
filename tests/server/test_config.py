"""Configuration: the serve flags, the environment and the keys file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from batch.server import ServerConfig, add_arguments, config_from_args
from batch.server.config import load_keys_file

ENV = {"KRAKEN_API_KEY": "env-key", "KRAKEN_API_SECRET": "env-secret"}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    """Without flags: 127.0.0.1:8080, AWS S3, private sources refused, 32 MB limit."""
    config = config_from_args(parse([]), ENV)
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.s3_endpoint is None and config.path_style is False
    assert config.allow_private_sources is False
    assert config.max_source_bytes == 33554432 and config.download_expiry == 3600
    assert [k.api_key for k in config.keys] == ["env-key"]


def test_flags() -> None:
    """Every flag reaches the config."""
    config = config_from_args(parse([
        "--host", "0.0.0.0", "--port", "0", "--s3-endpoint", "http://127.0.0.1:9000/",
        "--allow-private-sources", "--workers", "3", "--executor", "thread",
        "--storage-dir", "/tmp/x", "--public-url", "https://img.example.com/",
        "--max-source-bytes", "1000", "--max-image-pixels", "5000", "--download-expiry", "60",
        "--fetch-connect-timeout", "2", "--fetch-timeout", "9", "--max-redirects", "1",
        "--shutdown-grace", "3", "--s3-addressing", "virtual"]), ENV)
    assert config == ServerConfig(
        host="0.0.0.0", port=0, keys=config.keys, s3_endpoint="http://127.0.0.1:9000",
        s3_path_style=False, allow_private_sources=True, workers=3, executor="thread",
        storage_dir=Path("/tmp/x"), public_url="https://img.example.com", max_source_bytes=1000,
        max_image_pixels=5000, download_expiry=60, fetch_connect_timeout=2, fetch_timeout=9,
        max_redirects=1, shutdown_grace=3)


def test_endpoint_from_aws_environment() -> None:
    """AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL; the flag wins over both."""
    env = {**ENV, "AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"}
    assert config_from_args(parse([]), env).s3_endpoint == "http://b:2"
    assert config_from_args(parse([]), {**ENV, "AWS_ENDPOINT_URL": "http://a:1"}).s3_endpoint \
        == "http://a:1"
    assert config_from_args(parse(["--s3-endpoint", "http://c:3"]), env).s3_endpoint \
        == "http://c:3"
    assert config_from_args(parse([]), env).path_style is True


def test_keys_file_and_environment_combine(tmp_path: Path) -> None:
    """Keys from the file and from the environment are all accepted."""
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"api_key": "f", "api_secret": "fs", "state": "overdue"}]))
    config = config_from_args(parse(["--keys-file", str(path)]), ENV)
    assert [(k.api_key, k.state) for k in config.keys] == [("f", "overdue"), ("env-key", "active")]


@pytest.mark.parametrize(("argv", "env", "message"), [
    ([], {}, "no API key configured"),
    ([], {"KRAKEN_API_KEY": "k"}, "must be set together"),
    (["--port", "70000"], ENV, "--port"),
    (["--workers", "0"], ENV, "--workers must be > 0"),
    (["--max-source-bytes", "0"], ENV, "--max-source-bytes"),
    (["--s3-endpoint", "ftp://x"], ENV, "http(s) URL"),
    (["--public-url", "nope"], ENV, "--public-url"),
    (["--keys-file", "/nonexistent/keys.json"], ENV, "cannot read keys file"),
])
def test_bad_configuration(argv: list[str], env: dict[str, str], message: str) -> None:
    """Bad configuration raises ValueError with a clear message."""
    with pytest.raises(ValueError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")):
        config_from_args(parse(argv), env)


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not valid JSON"), ('{"keys": 1}', "expected a list"),
    ('[{"api_key": "k"}]', "api_key and api_secret"),
    ('[{"api_key": "k", "api_secret": "s", "state": "gone"}]', "state must be one of"),
    ('[{"api_key": "k", "api_secret": "s", "extra": 1}]', "unknown fields"),
])
def test_bad_keys_file(tmp_path: Path, content: str, message: str) -> None:
    """A malformed keys file is refused, naming the entry but never the secret."""
    path = tmp_path / "keys.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_keys_file(path)
    assert '"s"' not in str(info.value)


def test_no_secret_flags_and_secret_not_in_repr() -> None:
    """No flag takes a secret, and a config's repr never shows one."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert not any("secret" in opt or "key" == opt.strip("-") for a in parser._actions
                   for opt in a.option_strings)
    config = config_from_args(parse([]), ENV)
    assert "env-secret" not in repr(config)
