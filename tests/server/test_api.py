"""Kraken's routes, answers and error codes, over HTTP against the real server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server import images
from tests.server.wire import post_json, request, upload

NO_WAIT = "You need to specify either callback_url or wait flag"


def test_healthz(server: str) -> None:
    """GET /healthz answers 200."""
    status, _, body = request(server + "/healthz")
    assert status == 200 and b"ok" in body


def test_url_success_fields(server: str, sources: str, auth: dict[str, str]) -> None:
    """A wait request answers Kraken's success fields with real sizes."""
    status, body = post_json(server + "/v1/url",
                             {"auth": auth, "url": sources + "/photo.jpg", "wait": True})
    assert status == 200 and body["success"] is True
    assert body["file_name"] == "photo.jpg"
    assert body["saved_bytes"] == body["original_size"] - body["kraked_size"] > 0
    assert (body["original_width"], body["original_height"]) == (256, 192)
    assert "kraked_width" not in body
    assert set(body) == {"success", "file_name", "original_size", "kraked_size", "saved_bytes",
                         "kraked_url", "original_width", "original_height"}


def test_single_resize_adds_kraked_dimensions(server: str, sources: str,
                                              auth: dict[str, str]) -> None:
    """A single resize answers kraked_width/kraked_height."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/photo.png", "wait": True, "lossy": True,
        "resize": {"strategy": "square", "size": 50}})
    assert status == 200, body
    assert (body["kraked_width"], body["kraked_height"]) == (50, 50)


def test_multi_resize_results_keyed_by_string_id(server: str, sources: str,
                                                 auth: dict[str, str]) -> None:
    """An array resize answers results keyed by id; numeric ids come back as strings."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/photo.jpg", "wait": True,
        "resize": [{"id": "small", "strategy": "exact", "width": 40, "height": 30},
                   {"id": 2, "strategy": "landscape", "width": 128}]})
    assert status == 200, body
    assert set(body["results"]) == {"small", "2"}
    assert body["results"]["small"]["kraked_width"] == 40
    assert body["results"]["2"]["kraked_height"] == 96
    assert body["results"]["2"]["original_size"] == body["results"]["small"]["original_size"]


@pytest.mark.parametrize("field", ["upload", "file"])
def test_upload_accepts_both_file_field_names(server: str, auth: dict[str, str],
                                              field: str) -> None:
    """/v1/upload takes the file under 'upload' or 'file', before or after 'data'."""
    data = images.encode(images.photo(64, 48), "PNG")
    for data_first in (True, False):
        status, body = upload(server, {"auth": auth, "wait": True}, data, field=field,
                              file_name="pic.png", data_first=data_first)
        assert status == 200, body
        assert body["file_name"] == "pic.png" and body["original_size"] == len(data)


def test_convert_changes_the_extension(server: str, sources: str, auth: dict[str, str]) -> None:
    """convert renames the file unless keep_extension is set."""
    for keep, name in ((False, "photo.webp"), (True, "photo.png")):
        status, body = post_json(server + "/v1/url", {
            "auth": auth, "url": sources + "/photo.png", "wait": True,
            "convert": {"format": "webp", "keep_extension": keep}})
        assert status == 200 and body["file_name"] == name


def test_dev_mode_is_a_sandbox(server: str, auth: dict[str, str]) -> None:
    """dev: true answers success with placeholder numbers, fetching and storing nothing."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": "http://example.invalid/a/b.png", "wait": True, "dev": True,
        "s3_store": {"key": "k", "secret": "s", "bucket": "no-such-bucket"}})
    assert status == 200 and body["success"] is True and body["file_name"] == "b.png"
    assert body["original_size"] > body["kraked_size"] > 0
    assert request(body["kraked_url"])[0] == 404


def test_unknown_keys_are_tolerated(server: str, sources: str, auth: dict[str, str]) -> None:
    """origin, json and other unknown keys do not cause an error."""
    status, body = post_json(server + "/v1/url", {
        "auth": auth, "url": sources + "/photo.jpg", "wait": True, "origin": "wp",
        "json": True, "something_new": 1})
    assert status == 200 and body["success"] is True


def test_user_status_counts_bytes(server: str, sources: str, auth: dict[str, str]) -> None:
    """user_status reports the plan and a byte quota that grows with optimized input."""
    _, before = post_json(server + "/user_status", {"auth": auth})
    _, done = post_json(server + "/v1/url",
                        {"auth": auth, "url": sources + "/photo.jpg", "wait": True})
    status, after = post_json(server + "/user_status", {"auth": auth})
    assert status == 200 and after["success"] is True and after["active"] is True
    assert after["plan_name"] == "Test" and after["quota_total"] == 10**9
    assert after["quota_used"] - before["quota_used"] == done["original_size"]
    assert after["quota_remaining"] == after["quota_total"] - after["quota_used"]


def _url_body(auth: dict[str, str], sources: str, **extra: Any) -> dict[str, Any]:
    return {"auth": auth, "url": sources + "/photo.jpg", "wait": True, **extra}


ERRORS_422 = [
    ({"resize": {"strategy": "square", "width": 10, "height": 10}},
     "For 'square' strategy image size must be set"),
    ({"resize": {"strategy": "exact", "width": 10}},
     "For 'exact' strategy image width and height must be set"),
    ({"resize": {"strategy": "portrait", "width": 10}},
     "For 'portrait' strategy image height must be set"),
    ({"resize": {"strategy": "zoom", "width": 10}}, "Unknown resize strategy 'zoom'"),
    ({"resize": {"strategy": "fill", "width": 10, "height": 10, "background": "nope"}},
     "invalid colour"),
    ({"resize": [{"id": 1, "strategy": "square", "size": 5}] * 2}, "unique 'id'"),
    ({"resize": [{"id": i, "strategy": "square", "size": 5} for i in range(11)]}, "at most 10"),
    ({"quality": 0}, "'quality' must be an integer from 1 to 100"),
    ({"quality": "80"}, "'quality' must be an integer"),
    ({"lossy": "yes"}, "'lossy' must be a boolean"),
    ({"sampling_scheme": "4:1:1"}, "'sampling_scheme' must be one of"),
    ({"preserve_meta": ["everything"]}, "'preserve_meta' must be a list of"),
    ({"convert": {"format": "bmp"}}, "convert.format must be one of"),
    ({"url": "ftp://example.com/a.png"}, "url must be an http or https URL"),
    ({"s3_store": {"key": "k", "secret": "s"}}, "s3_store.bucket is required"),
    ({"s3_store": {"key": "k", "secret": "s", "bucket": "b", "acl": "public"}}, "s3_store.acl"),
    ({"s3_store": {"key": "k", "secret": "s", "bucket": "b", "headers": {"X-Evil": "1"}}},
     "unsupported header"),
    ({"s3_store": {"key": "k", "secret": "s", "bucket": "b",
                   "tags": {f"t{i}": "v" for i in range(11)}}}, "at most 10 tags"),
    ({"gcs_store": {"bucket": "b"}}, "this server implements s3_store only"),
    ({"azure_store": {}}, "'azure_store' is not supported"),
    ({"cf_store": {}}, "s3_store only"),
    ({"sl_store": {}}, "s3_store only"),
]


@pytest.mark.parametrize(("extra", "message"), ERRORS_422)
def test_bad_parameters_are_422(server: str, sources: str, auth: dict[str, str],
                                extra: dict[str, Any], message: str) -> None:
    """Each invalid parameter answers 422 with a message naming the problem."""
    status, body = post_json(server + "/v1/url", _url_body(auth, sources, **extra))
    assert status == 422 and body["success"] is False
    assert message in body["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_bad_json_is_400(server: str, raw: bytes) -> None:
    """A body that is not a JSON object answers 400 with Kraken's message."""
    status, body = post_json(server + "/v1/url", raw)
    assert status == 400 and body == {
        "success": False, "message": "Incoming request body does not contain a valid JSON object"}


@pytest.mark.parametrize("auth_value", [
    None, "string", {"api_key": "test-key-0001"}, {"api_key": "test-key-0001", "api_secret": "x"},
    {"api_key": "nobody", "api_secret": "test-secret-s3cr3t-0001"}])
def test_bad_auth_is_401(server: str, sources: str, auth_value: Any) -> None:
    """Missing or wrong credentials answer 401 with Kraken's (misspelt) message."""
    status, body = post_json(server + "/v1/url",
                             {"auth": auth_value, "url": sources + "/photo.jpg", "wait": True})
    assert status == 401
    assert body["message"] == "Unnknown API Key. Please check your API key and try again"


@pytest.mark.parametrize(("who", "status", "text"), [
    ("overdue", 402, "Your account is overdue"),
    ("suspended", 403, "Your account has been temporarily suspended")])
def test_account_state(server: str, sources: str, who: str, status: int, text: str) -> None:
    """Overdue and suspended accounts answer 402 and 403, on every route."""
    auth = {"api_key": f"{who}-key", "api_secret": f"{who}-secret"}
    for route, body in (("/v1/url", _url_body(auth, sources)), ("/user_status", {"auth": auth})):
        got, answer = post_json(server + route, body)
        assert got == status and text in answer["message"]


def test_auth_is_checked_before_wait(server: str, sources: str) -> None:
    """Bad credentials win over a missing wait flag (Kraken's validation order)."""
    status, _ = post_json(server + "/v1/url", {"auth": {"api_key": "x", "api_secret": "y"},
                                               "url": sources + "/photo.jpg"})
    assert status == 401


def test_missing_wait_is_422(server: str, sources: str, auth: dict[str, str]) -> None:
    """Neither wait nor callback_url answers 422 before anything else is looked at."""
    status, body = post_json(server + "/v1/url",
                             {"auth": auth, "url": sources + "/photo.jpg", "quality": 0})
    assert status == 422 and body["message"] == NO_WAIT


def test_too_large_source_is_413(server: str, sources: str, auth: dict[str, str]) -> None:
    """A source over the configured limit answers 413 with Kraken's wording."""
    status, body = post_json(server + "/v1/url", _url_body(auth, sources, url=sources + "/big.png"))
    assert status == 413
    assert body["message"] == ("File size too large. The maximum file size is 200000 bytes (0 MB)")


def test_too_large_upload_is_413(server: str, auth: dict[str, str]) -> None:
    """An upload over the limit answers 413 (after auth and wait were checked)."""
    status, body = upload(server, {"auth": auth, "wait": True}, b"\x89PNG" + b"\0" * 250_000)
    assert status == 413 and "File size too large" in body["message"]
    status, _ = upload(server, {"auth": auth}, b"\x89PNG" + b"\0" * 250_000)
    assert status == 422


def test_non_image_is_415(server: str, sources: str, auth: dict[str, str]) -> None:
    """A source that is not an image answers 415, by URL and by upload."""
    status, body = post_json(server + "/v1/url",
                             _url_body(auth, sources, url=sources + "/notes.txt"))
    assert status == 415 and body["message"] == "File type not supported"
    status, body = upload(server, {"auth": auth, "wait": True}, b"GIF00 nope", file_name="x.gif")
    assert status == 415


def test_upload_size_and_type_come_before_parameters(server: str, auth: dict[str, str]) -> None:
    """For uploads, 415 (type) wins over a bad parameter (422)."""
    status, _ = upload(server, {"auth": auth, "wait": True, "quality": 0}, b"not an image")
    assert status == 415


def test_upload_without_data_field_is_400(server: str) -> None:
    """A multipart body without the JSON 'data' field answers 400."""
    from tests.server.wire import multipart

    payload, ctype = multipart([("upload", "a.png", b"\x89PNG")])
    status, _, body = request(server + "/v1/upload", payload, {"Content-Type": ctype}, "POST")
    assert status == 400 and b"valid JSON object" in body


def test_unreachable_source(server: str, auth: dict[str, str], sources: str) -> None:
    """A source that refuses connections is a 502; a source 404 is a 422."""
    from tests.servers import free_port

    status, body = post_json(server + "/v1/url", _url_body(
        auth, sources, url=f"http://127.0.0.1:{free_port()}/a.png"))
    assert status == 502 and body["message"].startswith("Couldn't get this file")
    status, body = post_json(server + "/v1/url",
                             _url_body(auth, sources, url=sources + "/missing.png"))
    assert status == 422 and "HTTP 404" in body["message"]


def test_redirects_are_followed_and_bounded(server: str, sources: str,
                                            auth: dict[str, str]) -> None:
    """Up to 5 redirects are followed; more, or one to a non-http URL, answer 422."""
    status, body = post_json(server + "/v1/url",
                             _url_body(auth, sources, url=sources + "/redirect/3/photo.jpg"))
    assert status == 200 and body["file_name"] == "photo.jpg"
    status, body = post_json(server + "/v1/url",
                             _url_body(auth, sources, url=sources + "/redirect/6/photo.jpg"))
    assert status == 422 and "redirects" in body["message"]
    status, body = post_json(server + "/v1/url", _url_body(
        auth, sources, url=sources + "/goto?url=file%3A%2F%2F%2Fetc%2Fpasswd"))
    assert status == 422 and "not an http(s) URL" in body["message"]


def test_unknown_route_is_json_404(server: str) -> None:
    """Unknown routes answer Kraken-style JSON errors too."""
    status, _, body = request(server + "/v2/nothing", b"{}", {}, "POST")
    assert status == 404 and b'"success": false' in body
