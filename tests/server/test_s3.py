"""Results written to a real S3-compatible server (moto), read back and checked."""

from __future__ import annotations

import io
import urllib.request
from typing import Any

import pytest
from PIL import Image, ImageChops

from tests.server import images
from tests.server.conftest import BUCKET, S3_KEY, S3_SECRET
from tests.server.wire import post_json, request

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _put(server: str, sources: str, auth: dict[str, str], store: dict[str, Any],
         path: str, source: str = "photo.jpg", **extra: Any) -> dict[str, Any]:
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": f"{sources}/{source}", "wait": True,
        "s3_store": {**store, "path": path}, **extra})
    assert status == 200 and body["success"] is True, body
    return body


def test_object_bytes_and_url(server: str, sources: str, auth: dict[str, str],
                              store: dict[str, Any], s3: Any, s3_endpoint: str) -> None:
    """The object at s3_store.path is the optimized file and kraked_url points at it."""
    body = _put(server, sources, auth, store, "images/a/photo.jpg")
    assert body["kraked_url"] == f"{s3_endpoint}/{BUCKET}/images/a/photo.jpg"
    obj = s3.get_object(Bucket=BUCKET, Key="images/a/photo.jpg")
    data = obj["Body"].read()
    assert len(data) == body["kraked_size"]
    img = images.decode(data)
    assert img.format == "JPEG" and img.size == (256, 192)
    assert obj["ContentType"] == "image/jpeg"


def test_public_read_acl(server: str, sources: str, auth: dict[str, str],
                         store: dict[str, Any], s3: Any) -> None:
    """The default ACL grants AllUsers READ, so an anonymous GET succeeds."""
    body = _put(server, sources, auth, store, "acl/public.jpg")
    grants = s3.get_object_acl(Bucket=BUCKET, Key="acl/public.jpg")["Grants"]
    assert any(g["Grantee"].get("URI") == ALL_USERS and g["Permission"] == "READ"
               for g in grants)
    status, _, data = request(body["kraked_url"])
    assert status == 200 and len(data) == body["kraked_size"]


def test_private_acl(server: str, sources: str, auth: dict[str, str],
                     store: dict[str, Any], s3: Any) -> None:
    """acl: private grants nothing to AllUsers, so an anonymous GET is refused."""
    body = _put(server, sources, auth, {**store, "acl": "private"}, "acl/private.jpg")
    grants = s3.get_object_acl(Bucket=BUCKET, Key="acl/private.jpg")["Grants"]
    assert not any(g["Grantee"].get("URI") == ALL_USERS for g in grants)
    assert request(body["kraked_url"])[0] == 403


def test_metadata_headers_and_tags(server: str, sources: str, auth: dict[str, str],
                                   store: dict[str, Any], s3: Any) -> None:
    """User metadata, the given headers and URL-encoded tags land on the object."""
    _put(server, sources, auth, {
        **store,
        "metadata": {"source": "nightly", "run": 7},
        "headers": {"Cache-Control": "max-age=2592000", "Expires": 1700000000,
                    "Content-Disposition": 'attachment; filename="x.png"',
                    "Content-Language": "en"},
        "tags": {"team": "web", "note": "a b=c+d:e"},
    }, "meta/photo.png", source="photo.png")
    head = s3.head_object(Bucket=BUCKET, Key="meta/photo.png")
    assert head["Metadata"] == {"source": "nightly", "run": "7"}
    assert head["CacheControl"] == "max-age=2592000"
    assert int(head["Expires"].timestamp()) == 1700000000
    assert head["ContentDisposition"] == 'attachment; filename="x.png"'
    assert head["ContentLanguage"] == "en"
    assert head["ContentType"] == "image/png"
    tags = s3.get_object_tagging(Bucket=BUCKET, Key="meta/photo.png")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "web", "note": "a b=c+d:e"}


def test_content_type_header_and_http_date_expires(server: str, sources: str,
                                                   auth: dict[str, str], store: dict[str, Any],
                                                   s3: Any) -> None:
    """A given Content-Type overrides the format's, and Expires may be an HTTP date."""
    _put(server, sources, auth, {**store, "headers": {
        "Content-Type": "application/octet-stream",
        "Expires": "Tue, 14 Nov 2023 22:13:20 GMT"}}, "meta/typed.jpg")
    head = s3.head_object(Bucket=BUCKET, Key="meta/typed.jpg")
    assert head["ContentType"] == "application/octet-stream"
    assert int(head["Expires"].timestamp()) == 1700000000


def test_lossless_objects_are_pixel_identical(server: str, sources: str, auth: dict[str, str],
                                              store: dict[str, Any], s3: Any,
                                              image_dir: Any) -> None:
    """Lossless JPEG and PNG objects decode to exactly the source's pixels."""
    for name in ("photo.jpg", "photo.png", "alpha.png"):
        _put(server, sources, auth, store, f"lossless/{name}", source=name)
        stored = s3.get_object(Bucket=BUCKET, Key=f"lossless/{name}")["Body"].read()
        original = (image_dir / name).read_bytes()
        assert len(stored) < len(original)
        a = images.decode(stored).convert("RGBA")
        b = images.decode(original).convert("RGBA")
        assert ImageChops.difference(a, b).getbbox() is None


def test_lossy_objects_are_smaller(server: str, sources: str, auth: dict[str, str],
                                   store: dict[str, Any], s3: Any) -> None:
    """Lossy JPEG and PNG objects are smaller than their lossless versions."""
    for name in ("photo.jpg", "photo.png"):
        lossless = _put(server, sources, auth, store, f"cmp/lossless-{name}", source=name)
        lossy = _put(server, sources, auth, store, f"cmp/lossy-{name}", source=name, lossy=True)
        assert lossy["kraked_size"] < lossless["kraked_size"]
        stored = s3.get_object(Bucket=BUCKET, Key=f"cmp/lossy-{name}")["Body"].read()
        assert len(stored) == lossy["kraked_size"]


def test_multi_resize_uses_storage_paths(server: str, sources: str, auth: dict[str, str],
                                         store: dict[str, Any], s3: Any) -> None:
    """Each resize entry is written at its own storage_path with its own dimensions."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/photo.jpg", "wait": True, "s3_store": store,
        "resize": [
            {"id": "sq", "strategy": "square", "size": 32, "storage_path": "sets/sq.jpg"},
            {"id": 7, "strategy": "fit", "width": 60, "height": 40,
             "storage_path": "sets/fit.jpg"}]})
    assert status == 200, body
    for ident, key, size in (("sq", "sets/sq.jpg", (32, 32)), ("7", "sets/fit.jpg", (60, 40))):
        data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert Image.open(io.BytesIO(data)).size == size
        assert body["results"][ident]["kraked_url"].endswith("/" + key)


def test_multi_resize_with_store_needs_storage_path(server: str, sources: str,
                                                    auth: dict[str, str],
                                                    store: dict[str, Any]) -> None:
    """An array resize with a store but no storage_path is refused rather than guessed."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/photo.jpg", "wait": True, "s3_store": store,
        "resize": [{"id": "a", "strategy": "square", "size": 8}]})
    assert status == 422 and "storage_path" in body["message"]


@pytest.mark.parametrize("path", [None, "folder/"])
def test_default_key_is_the_file_name(server: str, sources: str, auth: dict[str, str],
                                      store: dict[str, Any], s3: Any, path: str | None) -> None:
    """Without a path the object lands at the bucket root; a trailing '/' is a folder."""
    body = _put(server, sources, auth, store, path, source="tiny.png")  # type: ignore[arg-type]
    key = (path or "") + "tiny.png"
    assert body["kraked_url"].endswith(f"/{BUCKET}/{key}")
    s3.head_object(Bucket=BUCKET, Key=key)


def test_s3_error_is_reported_without_secrets(server: str, sources: str, auth: dict[str, str],
                                              store: dict[str, Any]) -> None:
    """An S3 refusal answers success:false with S3's message and no credential in it."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/photo.jpg", "wait": True,
        "s3_store": {**store, "bucket": "no-such-bucket", "path": "x.jpg"}})
    assert status == 200 and body["success"] is False
    assert body["message"].startswith("Error while pushing file to S3: ")
    assert "does not exist" in body["message"]
    assert S3_KEY not in body["message"] and S3_SECRET not in body["message"]


def test_anonymous_read_uses_plain_http(s3_endpoint: str) -> None:
    """The endpoint is plain HTTP on loopback (a sanity check of the fixture itself)."""
    assert s3_endpoint.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(s3_endpoint + "/", timeout=10) as resp:
        assert resp.status == 200
