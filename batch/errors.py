"""The one exception tree of kraken-batch (client side).

Every error the batch code raises on purpose is a ``BatchError``. Retryability is part of
the type, so the retry predicate and the runner's decisions are single ``isinstance`` checks::

    BatchError
    ├── ConfigError                bad options or environment (exit 2, nothing sent)
    ├── ManifestError              the manifest is unreadable or invalid (exit 2, nothing sent);
    │                              carries every Problem with its location
    ├── StateError                 the incremental state file cannot be used (exit 2)
    │   └── StateLockedError       another run holds this state's lock (exit 4)
    └── KrakenError                an answer (or non-answer) from the Kraken API; .status, .message
        ├── TransientKrakenError   connection errors, timeouts, 429, 500/502/503/504, 404,
        │                          unparsable 5xx bodies: retried; .retry_after from Retry-After
        ├── PermanentKrakenError   400, 413, 415, 422, success:false on a 200: the item fails,
        │                          the batch goes on
        └── FatalKrakenError       401, 402, 403: the whole batch stops (exit 3)

Programmer mistakes (using a closed client, for instance) raise ``RuntimeError``, not a
``BatchError``: they are bugs, not operating conditions.

No message built here ever contains a credential: errors are built from the server's answer
and our own words, never from the request body.
"""

from __future__ import annotations

from dataclasses import dataclass


class BatchError(Exception):
    """Base of every error kraken-batch raises on purpose."""


class ConfigError(BatchError):
    """A command-line option or environment setting is invalid; nothing was sent."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a manifest, and where: ``items[3].path: must not be empty``."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ManifestError(BatchError):
    """The manifest cannot be used. Carries *every* problem found, not just the first.

    Validation collects all problems before raising so that an operator fixes a manifest in
    one round instead of one error per run.
    """

    def __init__(self, source: str, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.source = source
        self.problems: tuple[Problem, ...] = tuple(problems)
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun}:\n{lines}")


class StateError(BatchError):
    """The incremental state file cannot be opened, created or understood; nothing was sent."""


class StateLockedError(StateError):
    """Another run holds the lock of this state file; the message says who and since when."""


class KrakenError(BatchError):
    """The Kraken API did not optimize the item.

    Args:
        message: the server's ``message`` when it sent one, else our description.
        status: the HTTP status of the answer, or ``None`` when there was no answer
            (connection refused, reset, timed out).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.message = message
        self.status = status
        super().__init__(message if status is None else f"HTTP {status}: {message}")


class TransientKrakenError(KrakenError):
    """A failure that may go away on its own: retried with backoff.

    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PermanentKrakenError(KrakenError):
    """The server refused this item for a reason retrying cannot fix; the batch goes on."""


class FatalKrakenError(KrakenError):
    """The account cannot be used (401 bad credentials, 402 overdue, 403 suspended).

    Every further request would fail the same way, so the batch stops dispatching at once.
    """
