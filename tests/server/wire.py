"""Small synchronous HTTP helpers for talking to the server under test (stdlib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
            method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Send a request; return (status, headers, body) for any status."""
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def post_json(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON (or raw bytes/str as given); return (status, decoded JSON)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, answer = request(url, raw, {"Content-Type": "application/json"}, "POST")
    return status, json.loads(answer)


def multipart(fields: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """Encode (name, filename or None, value) parts; return (body, content type)."""
    boundary = uuid.uuid4().hex
    out = b""
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + value + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def upload(base: str, body: dict[str, Any], data: bytes, *, field: str = "upload",
           file_name: str = "image.png", data_first: bool = True) -> tuple[int, dict[str, Any]]:
    """POST to /v1/upload with a ``data`` JSON field and one file part named ``field``."""
    parts: list[tuple[str, str | None, bytes]] = [
        ("data", None, json.dumps(body).encode()), (field, file_name, data)]
    if not data_first:
        parts.reverse()
    payload, ctype = multipart(parts)
    status, _, answer = request(base + "/v1/upload", payload, {"Content-Type": ctype}, "POST")
    return status, json.loads(answer)
