"""Downloading sources (and reaching callback URLs) without becoming an SSRF proxy.

Every outbound connection goes through ``PolicyResolver``: the host name is resolved once, and
if *any* resolved address is loopback, private, link-local, multicast or otherwise not
global, the connection is refused (unless ``allow_private_sources``). Because aiohttp then
connects to exactly the addresses the resolver returned, a DNS answer cannot change between
the check and the connection. IP literals skip resolvers in aiohttp, so ``check_url`` tests
them before each hop. Redirects are followed by hand, at most ``max_redirects``, each hop
re-checked.

Failure statuses (Kraken does not document them; chosen so a client's retry policy is right):
- refused address, non-http(s) URL or redirect, source 4xx, too many redirects: 422
  (retrying cannot help);
- connection refused/reset, DNS failure, timeout, source 5xx: 502 (it may work later);
- larger than ``max_source_bytes``: 413; not an image: 415 (checked by the caller).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from batch.server.errors import SourceUnavailable, TooLarge, too_large_message

_REDIRECTS: Final = (301, 302, 303, 307, 308)
_CHUNK: Final = 64 * 1024
USER_AGENT: Final = "kraken-batch-server/0.1"


class AddressRefused(OSError):
    """The host resolves to an address the policy refuses (an OSError, as aiohttp expects)."""


def address_allowed(address: str) -> bool:
    """True for globally routable unicast addresses only."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PolicyResolver(AbstractResolver):
    """Resolve with aiohttp's default resolver, then refuse non-global addresses."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        infos = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for info in infos:
                if not address_allowed(info["host"]):
                    raise AddressRefused(f"{host} resolves to a non-public address")
        return infos

    async def close(self) -> None:
        await self._inner.close()


def new_session(allow_private: bool) -> aiohttp.ClientSession:
    """The outbound session for sources and callbacks, with the address policy built in."""
    connector = aiohttp.TCPConnector(resolver=PolicyResolver(allow_private), limit=64)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})


def check_url(url: str, allow_private: bool) -> None:
    """Refuse non-http(s) URLs and literal non-public IP hosts (names go to the resolver)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceUnavailable(f"Couldn't get this file: {url!r} is not an http(s) URL",
                                status=422)
    try:
        ipaddress.ip_address(parts.hostname.split("%", 1)[0])
    except ValueError:
        return
    if not allow_private and not address_allowed(parts.hostname):
        raise _refused(parts.hostname)


def _refused(host: str) -> SourceUnavailable:
    return SourceUnavailable(
        f"Couldn't get this file: refusing to connect to {host}: loopback, private and "
        "link-local addresses are not allowed", status=422)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A downloaded source: its bytes and the file name taken from the final URL."""

    data: bytes
    file_name: str


def file_name_of(url: str) -> str:
    """The last path segment of ``url``, or ``""``."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


async def fetch(session: aiohttp.ClientSession, url: str, *, allow_private: bool,
                max_bytes: int, connect_timeout: float, total_timeout: float,
                max_redirects: int) -> Fetched:
    """Download ``url`` under the policy; raises SourceUnavailable or TooLarge."""
    timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
    for _ in range(max_redirects + 1):
        check_url(url, allow_private)
        try:
            async with session.get(url, allow_redirects=False, timeout=timeout) as resp:
                if resp.status in _REDIRECTS and "Location" in resp.headers:
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status >= 400:
                    raise SourceUnavailable(
                        f"Couldn't get this file: the source answered HTTP {resp.status}",
                        status=502 if resp.status >= 500 else 422)
                if resp.content_length is not None and resp.content_length > max_bytes:
                    raise TooLarge(too_large_message(max_bytes))
                data = await _read_capped(resp, max_bytes)
                return Fetched(data=data, file_name=file_name_of(url))
        except AddressRefused:
            raise _refused(urlsplit(url).hostname or url) from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise _refused(urlsplit(url).hostname or url) from None
            raise _unreachable(f"cannot connect to {urlsplit(url).netloc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise _unreachable(type(exc).__name__) from None
        except TimeoutError:
            raise _unreachable("timed out") from None
    raise SourceUnavailable(f"Couldn't get this file: more than {max_redirects} redirects",
                            status=422)


def _unreachable(reason: str) -> SourceUnavailable:
    return SourceUnavailable(f"Couldn't get this file: {reason}", status=502)


async def _read_capped(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(too_large_message(max_bytes))
        chunks.append(chunk)
    return b"".join(chunks)


async def post_callback(session: aiohttp.ClientSession, url: str, payload: dict[str, Any],
                        *, as_json: bool, allow_private: bool, timeout: float) -> int:
    """POST a result to a callback URL (same address policy); returns the HTTP status."""
    check_url(url, allow_private)
    kwargs: dict[str, Any] = {"json": payload} if as_json else {"data": _form(payload)}
    async with session.post(url, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=timeout), **kwargs) as resp:
        await resp.read()
        return resp.status


def _form(payload: dict[str, Any]) -> dict[str, str]:
    """Flatten a result for form encoding: booleans as true/false, objects as JSON text."""
    import json

    out = {}
    for key, value in payload.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out
