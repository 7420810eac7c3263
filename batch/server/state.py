"""Typed application state keys, shared by ``app.py`` (which fills them) and the handlers."""

from __future__ import annotations

from typing import Final

import aiohttp
from aiohttp import web

from batch.server.background import Admission, Background
from batch.server.config import ServerConfig
from batch.server.downloads import Downloads
from batch.server.store import S3Writer
from batch.server.workers import Workers

CONFIG: Final = web.AppKey("config", ServerConfig)
WORKERS: Final = web.AppKey("workers", Workers)
S3: Final = web.AppKey("s3", S3Writer)
DOWNLOADS: Final = web.AppKey("downloads", Downloads)
HTTP: Final = web.AppKey("http", aiohttp.ClientSession)
BACKGROUND: Final = web.AppKey("background", Background)
#: Bytes of input optimized per API key since start (``user_status`` quota_used).
USAGE: Final = web.AppKey("usage", dict[str, int])
#: The bound on ``wait`` requests in progress.
ACTIVE: Final = web.AppKey("active", Admission)
