"""The server's own exception tree: every refusal maps to one HTTP status and one message.

Handlers and helpers raise these; the error middleware in ``app.py`` turns them into Kraken's
``{"success": false, "message": ...}`` body with the status below. Anything else that
escapes becomes a 500 with Kraken's generic message (the details go to the log only)::

    ApiError(status, message)
    ├── BadJson              400  body is not a JSON object
    ├── Unauthorized         401  unknown key or key/secret mismatch
    ├── AccountOverdue       402
    ├── AccountSuspended     403
    ├── TooLarge             413  source/upload or decoded pixel count over the limit
    ├── UnsupportedType      415  not an image we can read
    ├── InvalidParameters    422  a request field is missing or wrong
    ├── SourceUnavailable    422/502  the source URL could not be fetched
    ├── StorageFailed        200/502  S3 refused or could not be reached
    ├── Overloaded           429  too many callback jobs pending
    └── Busy                 503  too many wait requests in progress (with Retry-After)

Messages never contain credentials: they are built from our own words, the request's
non-secret fields and upstream error texts that were passed through ``scrub``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

MSG_BAD_JSON: Final = "Incoming request body does not contain a valid JSON object"
MSG_UNAUTHORIZED: Final = "Unnknown API Key. Please check your API key and try again"
MSG_OVERDUE: Final = (
    "Your account is overdue. Please log in to your account to settle outstanding invoice(s)."
)
MSG_SUSPENDED: Final = "Your account has been temporarily suspended"
MSG_NO_WAIT: Final = "You need to specify either callback_url or wait flag"
MSG_UNSUPPORTED: Final = "File type not supported"
MSG_INTERNAL: Final = (
    "Kraken has encountered an unexpected error and cannot fulfill your request"
)


def too_large_message(limit: int) -> str:
    """Kraken's 413 wording for a byte limit (``33554432 bytes (32 MB)`` by default)."""
    return f"File size too large. The maximum file size is {limit} bytes ({limit // 2**20} MB)"


class ApiError(Exception):
    """A refusal with the HTTP status and the message the client sees."""

    status: int = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadJson(ApiError):
    """The body (or the multipart ``data`` field) is not a JSON object."""

    status = 400

    def __init__(self, message: str = MSG_BAD_JSON) -> None:
        super().__init__(message)


class Unauthorized(ApiError):
    """No accepted key/secret pair matches ``auth``."""

    status = 401

    def __init__(self) -> None:
        super().__init__(MSG_UNAUTHORIZED)


class AccountOverdue(ApiError):
    """The key is marked overdue in the keys file."""

    status = 402

    def __init__(self) -> None:
        super().__init__(MSG_OVERDUE)


class AccountSuspended(ApiError):
    """The key is marked suspended in the keys file."""

    status = 403

    def __init__(self) -> None:
        super().__init__(MSG_SUSPENDED)


class TooLarge(ApiError):
    """The source is over the byte limit, or decodes to too many pixels."""

    status = 413


class UnsupportedType(ApiError):
    """The bytes are not an image format this server reads."""

    status = 415

    def __init__(self, message: str = MSG_UNSUPPORTED) -> None:
        super().__init__(message)


class InvalidParameters(ApiError):
    """A request field is missing, of the wrong type or out of range."""

    status = 422


class SourceUnavailable(ApiError):
    """The source URL could not be fetched.

    422 when retrying cannot help (the source answered 4xx, the address is refused, too many
    redirects); 502 when it might (connection refused or reset, timeout, source 5xx).
    """


class StorageFailed(ApiError):
    """S3 refused the object (status 200, ``success: false``) or was unreachable (502)."""


class Overloaded(ApiError):
    """Too many callback jobs are queued; the client should slow down."""

    status = 429


class Busy(ApiError):
    """Too many ``wait`` requests are being worked on; come back in ``retry_after`` seconds.

    Without this bound every queued request would hold its source bytes (up to the size
    limit) in memory while waiting for an optimizer process.
    """

    status = 503
    retry_after = 1

    def __init__(self) -> None:
        super().__init__("The server is busy optimizing other images; retry shortly")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace each credential (4+ characters) found in ``text`` by ``********``.

    Upstream messages (S3, sockets) are passed through this before reaching a client or a log,
    so a server that echoes a key cannot leak it through us.
    """
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "********")
    return text
