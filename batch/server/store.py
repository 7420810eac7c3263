"""Writing results to S3 (or any S3-compatible endpoint) with aiobotocore.

The endpoint and addressing style are server configuration; the credentials, bucket, region,
ACL, headers, metadata and tags come with each request. Clients are cached per
(key, secret, region) for the life of the app, because creating one costs far more than a
PutObject; the cache is bounded and requests beyond it use a short-lived client.

``kraked_url`` is the object's URL: ``{endpoint}/{bucket}/{key}`` for a custom endpoint
(virtual-hosted ``{scheme}://{bucket}.{host}/{key}`` if configured so), and for AWS
``https://{bucket}.s3.{region}.amazonaws.com/{key}`` (path-style
``https://s3.{region}.amazonaws.com/{bucket}/{key}`` for bucket names with dots).

Failures become ``Error while pushing file to S3: <S3's message>``: S3 answered with a 4xx
(no such bucket, access denied...) -> HTTP 200 ``success: false`` as Kraken reports it (a
client must not retry); S3 5xx or unreachable -> 502 (worth retrying).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from aiobotocore.session import AioSession
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from batch.server.errors import StorageFailed, scrub
from batch.server.s3_params import S3Target

MAX_CACHED_CLIENTS: Final = 64
_log = logging.getLogger("batch.server.store")


def object_key(path: str | None, file_name: str) -> str:
    """The S3 key: ``path`` as given (Kraken's full key), ``path/`` + name for a folder, or
    the file name at the bucket root."""
    if not path or path == "/":
        return file_name
    key = path.lstrip("/")
    return key + file_name if key.endswith("/") else key


class S3Writer:
    """Puts objects; one instance per app (see ``app.py``'s cleanup context)."""

    def __init__(self, session: AioSession, *, endpoint: str | None, path_style: bool) -> None:
        self._session = session
        self._endpoint = endpoint
        self._path_style = path_style
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._stack = contextlib.AsyncExitStack()

    def _config(self) -> Config:
        return Config(
            s3={"addressing_style": "path" if self._path_style else "virtual"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10, read_timeout=60, signature_version="s3v4",
        )

    def _create(self, target: S3Target) -> Any:
        return self._session.create_client(
            "s3", region_name=target.region, endpoint_url=self._endpoint,
            aws_access_key_id=target.key, aws_secret_access_key=target.secret,
            config=self._config(),
        )

    def url(self, target: S3Target, key: str) -> str:
        """The public URL of ``key`` in ``target.bucket``."""
        quoted = quote(key, safe="/~")
        if self._endpoint is not None:
            if self._path_style:
                return f"{self._endpoint}/{target.bucket}/{quoted}"
            parts = urlsplit(self._endpoint)
            return f"{parts.scheme}://{target.bucket}.{parts.netloc}/{quoted}"
        if self._path_style or "." in target.bucket:
            return f"https://s3.{target.region}.amazonaws.com/{target.bucket}/{quoted}"
        return f"https://{target.bucket}.s3.{target.region}.amazonaws.com/{quoted}"

    async def put(self, target: S3Target, key: str, data: bytes, content_type: str) -> str:
        """Write one object with the target's ACL, headers, metadata and tags; return its URL."""
        params: dict[str, Any] = {
            "Bucket": target.bucket, "Key": key, "Body": data, "ACL": target.acl,
            "ContentType": content_type, "Metadata": target.metadata,
        }
        params.update(target.headers)
        if target.tags:
            params["Tagging"] = urlencode(target.tags)
        try:
            cache_key = (target.key, target.secret, target.region)
            client = self._clients.get(cache_key)
            if client is None and len(self._clients) < MAX_CACHED_CLIENTS:
                client = await self._stack.enter_async_context(self._create(target))
                self._clients[cache_key] = client
            if client is not None:
                await client.put_object(**params)
            else:
                async with self._create(target) as temporary:
                    await temporary.put_object(**params)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
            message = error.get("Message") or error.get("Code") or "unknown error"
            raise self._failure(message, target, 200 if status < 500 else 502) from None
        except BotoCoreError as exc:
            raise self._failure(str(exc), target, 502) from None
        return self.url(target, key)

    @staticmethod
    def _failure(message: str, target: S3Target, status: int) -> StorageFailed:
        text = scrub(f"Error while pushing file to S3: {message}", (target.key, target.secret))
        _log.warning("%s (bucket %s)", text, target.bucket)
        return StorageFailed(text, status=status)

    async def close(self) -> None:
        """Close every cached client."""
        self._clients.clear()
        await self._stack.aclose()
