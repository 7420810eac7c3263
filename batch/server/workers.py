"""The CPU side: optimizer calls run in a process pool (default) or a thread pool.

Processes are the default because not every optimizer releases the GIL for its whole run
(Pillow's Python-level frame handling, imagequant's setup, pickling), so threads would
serialize part of the work; see ``bench/server_executor.py`` for the measurement. Workers
are started with ``spawn`` (never ``fork``: the server process holds threads and sockets)
and each runs ``configure_worker`` once. A pool whose worker died (OOM-killed, say) is
replaced, and the request that saw it fails with a 500.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from batch.server.optimize import Output, configure_worker, optimize
from batch.server.spec import Job

T = TypeVar("T")
_log = logging.getLogger("batch.server.workers")


class Workers:
    """Owns the executor; ``run`` optimizes one source for one job off the event loop."""

    def __init__(self, kind: str, count: int) -> None:
        self._kind = kind
        self._count = count
        if kind == "thread":
            configure_worker()
        self._executor = self._new()

    def _new(self) -> Executor:
        if self._kind == "thread":
            return ThreadPoolExecutor(self._count, thread_name_prefix="optimize")
        return ProcessPoolExecutor(self._count, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=configure_worker)

    async def run(self, data: bytes, job: Job) -> Output:
        """Optimize in the pool; recreate the pool if a worker process died."""
        loop = asyncio.get_running_loop()
        executor = self._executor
        try:
            return await loop.run_in_executor(executor, optimize, data, job)
        except BrokenProcessPool:
            if self._executor is executor:
                _log.error("an optimizer process died; starting a new pool")
                self._executor = self._new()
                executor.shutdown(wait=False, cancel_futures=True)
            raise

    async def close(self) -> None:
        """Stop the pool, waiting (in a thread) for running jobs."""
        await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
