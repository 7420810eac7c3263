"""What is retried, how long we wait, and how the whole pool slows down when the API is down.

The rules are stamina's, implemented on tenacity's ``AsyncRetrying``:

* **Only** :class:`~batch.errors.TransientKrakenError` is retried (connection problems, timeouts,
  404, 429, 5xx). Permanent and fatal answers are raised at once: retrying a 422 or a 401 cannot
  help, and a 401 must stop the batch, not be hammered five times per item.
* At most ``attempts`` attempts in total (default 5, the first one included). After the last one
  the caller gets the real last error (``reraise=True``), never tenacity's ``RetryError``.
* The wait before attempt *n* + 1 (:func:`backoff`) is exponential with **full jitter**
  (AWS Architecture Blog, "Exponential Backoff And Jitter")::

      wait = rand() * min(wait_max, wait_initial * 2 ** (n - 1))      # rand() in [0, 1)

  With the defaults (``wait_initial=0.5``, ``wait_max=30``) the caps are 0.5, 1, 2, 4 s for the
  four retries, so an item gives up after at most 7.5 s of backoff plus its attempts. Full jitter
  spreads a pool's retries out, so eight workers failing together do not retry together.
* A server ``Retry-After`` is a minimum, not an order (curl's lesson): the wait is
  ``max(wait, min(retry_after, retry_after_max))``, capped at ``retry_after_max`` (300 s) so a
  hostile or broken header cannot park a nightly run for a day.
* :class:`Brake` slows the whole pool when the API is down: after ``threshold`` (10) consecutive
  transient failures across all workers, every attempt first waits a shared pause that doubles
  with each further failure, from ``pause_initial`` (1 s) to ``pause_max`` (60 s). The first
  definitive answer (a success, or a permanent/fatal error, which proves the API is up) resets it.

Beware: a ``wait: true`` request that timed out may already have been processed, and charged, by
Kraken. Retrying it may charge again; with ``s3_store`` the retry rewrites the same object key.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from batch.errors import KrakenError, TransientKrakenError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_MAX_EXPONENT: Final = 62  # 2**62 * anything positive is far past any cap; avoids float overflow


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently one item is retried; see the module docstring for the formula.

    Attributes:
        attempts: total attempts, including the first (1 disables retries).
        wait_initial: the backoff base, in seconds: the cap of the first wait.
        wait_max: the cap of any single backoff wait, in seconds.
        retry_after_max: a server ``Retry-After`` longer than this is cut to it, in seconds.
    """

    attempts: int = 5
    wait_initial: float = 0.5
    wait_max: float = 30.0
    retry_after_max: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if min(self.wait_initial, self.wait_max, self.retry_after_max) < 0:
            raise ValueError("waits must not be negative")


def backoff(
    attempt: int,
    policy: RetryPolicy,
    *,
    retry_after: float | None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based). Pure but for ``rand``.

    Exponential backoff with full jitter; a server's ``Retry-After`` (seconds) raises the wait to
    at least that much, capped at ``policy.retry_after_max``.
    """
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    wait = rand() * min(policy.wait_max, policy.wait_initial * 2.0**exponent)
    if retry_after is not None:
        wait = max(wait, min(max(retry_after, 0.0), policy.retry_after_max))
    return wait


class Brake:
    """A pool-wide slowdown while the API keeps failing; knows nothing about Kraken.

    After ``threshold`` consecutive transient failures (counted across all workers sharing this
    brake), :meth:`wait` pauses every new attempt for
    ``min(pause_max, pause_initial * 2 ** (failures - threshold))`` seconds. Workers waiting
    together each take the current pause, so the pool as a whole sends at most about one round of
    requests per pause instead of hammering the API. :meth:`record_success` resets it.

    Args:
        threshold: consecutive transient failures before the brake engages (10: about one
            failed round of a default pool, plus a couple, so a single blip does not trigger it).
        pause_initial: the first pause, in seconds.
        pause_max: the longest pause, in seconds (a minute: long enough to let an overloaded API
            recover, short enough to notice recovery quickly).
        sleep: how to wait; ``anyio.sleep`` unless a test injects its own.
    """

    def __init__(
        self,
        *,
        threshold: int = 10,
        pause_initial: float = 1.0,
        pause_max: float = 60.0,
        sleep: Sleep | None = None,
    ) -> None:
        if threshold < 1 or pause_initial < 0 or pause_max < 0:
            raise ValueError("threshold must be at least 1 and pauses not negative")
        self.threshold = threshold
        self.pause_initial = pause_initial
        self.pause_max = pause_max
        self.failures = 0
        self._sleep: Sleep = sleep if sleep is not None else anyio.sleep

    @property
    def pause(self) -> float:
        """The pause the next attempt takes, in seconds (0 while the brake is released)."""
        if self.failures < self.threshold:
            return 0.0
        exponent = min(self.failures - self.threshold, _MAX_EXPONENT)
        return min(self.pause_max, self.pause_initial * 2.0**exponent)

    async def wait(self) -> None:
        """Wait the current pause, if the brake is engaged; return at once otherwise."""
        pause = self.pause
        if pause > 0:
            await self._sleep(pause)

    def record_failure(self) -> None:
        """Count one transient failure."""
        self.failures += 1

    def record_success(self) -> None:
        """The API answered: release the brake."""
        self.failures = 0


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    brake: Brake | None = None,
    on_attempt: Callable[[int], None] | None = None,
    sleep: Sleep | None = None,
    rand: Callable[[], float] = random.random,
) -> T:
    """Await ``fn()`` until it succeeds, retrying transient Kraken errors per ``policy``.

    Each attempt first waits for the ``brake`` (if any), then calls ``on_attempt(n)`` with the
    1-based attempt number, then awaits ``fn()``. Transient failures are counted on the brake;
    a success or a permanent/fatal error releases it.

    Args:
        fn: makes one attempt; called anew for every attempt.
        policy: attempts and backoff.
        brake: a pool-wide slowdown shared by every worker.
        on_attempt: told the attempt number as each attempt starts (the runner counts attempts
            and times the last one from it).
        sleep: how to wait between attempts; ``anyio.sleep`` unless a test injects its own.
        rand: the jitter source of :func:`backoff`.

    Returns:
        What ``fn()`` returned on the first successful attempt.

    Raises:
        TransientKrakenError: the last attempt's error, once ``policy.attempts`` are used up.
        PermanentKrakenError, FatalKrakenError: at once, from the attempt that got them.
        Exception: anything else ``fn`` raises (bugs, cancellation), at once and unchanged.
    """
    number = 0

    async def attempt() -> T:
        nonlocal number
        number += 1
        if brake is not None:
            await brake.wait()
        if on_attempt is not None:
            on_attempt(number)
        try:
            result = await fn()
        except TransientKrakenError:
            if brake is not None:
                brake.record_failure()
            raise
        except KrakenError:
            if brake is not None:
                brake.record_success()
            raise
        if brake is not None:
            brake.record_success()
        return result

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        retry_after = exc.retry_after if isinstance(exc, TransientKrakenError) else None
        return backoff(state.attempt_number, policy, retry_after=retry_after, rand=rand)

    retrying = AsyncRetrying(
        sleep=sleep if sleep is not None else anyio.sleep,
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception_type(TransientKrakenError),
        reraise=True,
    )
    return await retrying(attempt)
