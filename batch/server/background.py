"""Callback-mode jobs: run after the immediate ``{"id": ...}`` answer, bounded in number.

Kraken answers a ``callback_url`` request at once and POSTs the result later. The tasks are
tracked here so they are bounded (``Overloaded``, a 429, past the limit), not garbage
collected mid-run, and given the shutdown grace period before being cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from typing import Any

from batch.server.errors import Busy, Overloaded

_log = logging.getLogger("batch.server.background")


class Background:
    """A bounded set of background tasks."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Start ``coro``, or raise Overloaded (closing it) if too many are pending."""
        if len(self._tasks) >= self._limit:
            coro.close()
            raise Overloaded(f"Too many pending callback jobs (limit {self._limit}); retry later")
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("callback job failed", exc_info=task.exception())

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for pending jobs, then cancel the rest."""
        if not self._tasks:
            return
        pending = set(self._tasks)
        _, still = await asyncio.wait(pending, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            _log.warning("cancelled %d callback jobs at shutdown", len(still))
            await asyncio.wait(still)


class Admission:
    """Counts ``wait`` jobs in progress and refuses new ones past ``limit`` (:class:`Busy`).

    Refusing early, with Retry-After, is kinder than queueing: a client such as kraken-batch
    backs off and retries, and the server's memory stays bounded by ``limit`` sources.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise Busy()
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
