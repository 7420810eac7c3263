"""The Kraken-compatible API server (``kraken-batch serve``).

Independent of the client side: nothing here imports ``batch.client``, ``batch.models`` or
``batch.errors``, so the two sides cannot share a misunderstanding of the API.

Public API::

    ServerConfig, ApiKey            frozen configuration (config.py)
    add_arguments, config_from_args  the ``serve`` flags and their parsing (config.py)
    create_app                      the aiohttp application (app.py)
    running_server                  async context manager yielding the base URL (service.py)
    serve                           blocking entry point for ``kraken-batch serve`` (service.py)
"""

from __future__ import annotations

from batch.server.app import create_app
from batch.server.config import ApiKey, ServerConfig, add_arguments, config_from_args
from batch.server.service import running_server, serve

__all__ = [
    "ApiKey", "ServerConfig", "add_arguments", "config_from_args", "create_app",
    "running_server", "serve",
]
