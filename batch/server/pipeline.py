"""One request's work after validation: get the source, optimize each output, store it.

Returns Kraken's success body. Sizes: ``original_size`` is the source's byte count,
``saved_bytes`` is never negative (a resize can make a bigger file, as on Kraken).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import quote

from aiohttp import web

from batch.server import state
from batch.server.config import ApiKey
from batch.server.errors import UnsupportedType
from batch.server.fetch import fetch
from batch.server.formats import CONTENT_TYPES, SNIFF_BYTES, output_name, sniff
from batch.server.optimize import Output
from batch.server.request import OptimizeRequest
from batch.server.spec import Job
from batch.server.store import object_key


def check_type(data: bytes) -> str:
    """415 unless ``data`` starts like an image format we read."""
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        raise UnsupportedType()
    return fmt


async def load_source(app: web.Application, req: OptimizeRequest) -> tuple[bytes, str]:
    """Download the request's URL under the configured limits; returns bytes and file name."""
    config = app[state.CONFIG]
    assert req.url is not None
    fetched = await fetch(
        app[state.HTTP], req.url, allow_private=config.allow_private_sources,
        max_bytes=config.max_source_bytes, connect_timeout=config.fetch_connect_timeout,
        total_timeout=config.fetch_timeout, max_redirects=config.max_redirects)
    return fetched.data, fetched.file_name


def _default_name(file_name: str, fmt: str) -> str:
    if file_name:
        return file_name
    return output_name("image", fmt, keep_extension=False)


async def _deliver(app: web.Application, req: OptimizeRequest, job: Job, out: Output,
                   file_name: str, original_size: int, base_url: str) -> dict[str, Any]:
    name = file_name
    if job.convert is not None:
        name = output_name(file_name, out.format, keep_extension=job.convert.keep_extension)
    content_type = CONTENT_TYPES[out.format]
    if req.s3 is not None:
        path = job.resize.storage_path if req.multi and job.resize else req.s3.path
        key = object_key(path, name)
        ctype = req.s3.headers.get("ContentType", content_type)
        url = await app[state.S3].put(req.s3, key, out.data, ctype)
    else:
        token = app[state.DOWNLOADS].save(out.data, name, content_type)
        url = f"{base_url}/dl/{token}/{quote(name)}"
    result: dict[str, Any] = {
        "file_name": name, "original_size": original_size, "kraked_size": len(out.data),
        "saved_bytes": max(0, original_size - len(out.data)), "kraked_url": url,
        "original_width": out.original_width, "original_height": out.original_height,
    }
    if job.resize is not None:
        result["kraked_width"], result["kraked_height"] = out.width, out.height
    return result


async def execute(app: web.Application, key: ApiKey, req: OptimizeRequest, data: bytes,
                  file_name: str, base_url: str) -> dict[str, Any]:
    """Optimize ``data`` for every job of ``req`` (in parallel in the pool) and store results."""
    fmt = check_type(data)
    name = _default_name(file_name, fmt)
    workers = app[state.WORKERS]
    outputs = await asyncio.gather(*(workers.run(data, job) for job in req.jobs))  # <= 10
    results = [await _deliver(app, req, job, out, name, len(data), base_url)
               for job, out in zip(req.jobs, outputs, strict=True)]
    usage = app[state.USAGE]
    usage[key.api_key] = usage.get(key.api_key, 0) + len(data)
    if req.multi:
        return {"success": True, "results": {
            job.resize.id: result for job, result in zip(req.jobs, results, strict=True)
            if job.resize is not None and job.resize.id is not None}}
    return {"success": True, **results[0]}


def dev_answer(req: OptimizeRequest, file_name: str, base_url: str) -> dict[str, Any]:
    """Sandbox answer: success with placeholder numbers; nothing optimized, stored or charged."""
    name = file_name or "image.jpg"

    def one(job: Job) -> dict[str, Any]:
        original = 10_000 + secrets.randbelow(90_000)
        kraked = original * (40 + secrets.randbelow(50)) // 100
        result: dict[str, Any] = {
            "file_name": name, "original_size": original, "kraked_size": kraked,
            "saved_bytes": original - kraked,
            "kraked_url": f"{base_url}/dl/dev/{secrets.token_hex(16)}/{name}",
            "original_width": 800, "original_height": 600,
        }
        if job.resize is not None:
            spec = job.resize
            result["kraked_width"] = spec.width or spec.size or 800
            result["kraked_height"] = spec.height or spec.size or 600
        return result

    if req.multi:
        return {"success": True, "results": {
            str(job.resize.id): one(job) for job in req.jobs if job.resize is not None}}
    return {"success": True, **one(req.jobs[0])}
