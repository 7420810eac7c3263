"""One JSON object per request on the ``batch.server.access`` logger.

Only the method, the path (never the query string), the status, the duration and the
response size are logged: request bodies carry API secrets and S3 credentials, so nothing
from a body, a header or a query string is ever written.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

ACCESS_LOGGER = "batch.server.access"


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp access logger writing ``{"method", "path", "status", "duration_ms", "bytes"}``."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        record = {
            "method": request.method,
            "path": request.rel_url.path,
            "status": response.status,
            "duration_ms": round(time * 1000, 1),
            "bytes": response.body_length,
            "remote": request.remote,
        }
        self.logger.info(json.dumps(record, separators=(",", ":")))

    @property
    def enabled(self) -> bool:
        """Log whenever the logger would emit INFO records."""
        return self.logger.isEnabledFor(logging.INFO)
