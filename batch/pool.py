"""A bounded worker pool on anyio. It knows nothing about Kraken.

Shape (anyio ``docs/streams.rst``; trio ``channels-mpmc-fixed.py``): one producer feeds items
through a zero-buffer stream to exactly ``concurrency`` workers; each worker sends its result
on a small buffered stream to the one consumer, the caller's ``on_result``. So:

* at most ``concurrency`` calls of ``process`` run at once, and never more tasks than that
  exist, however many items there are (no task per item, no unbounded gather);
* items are pulled from the iterable lazily, one at a time, as workers free up, so a million
  items cost no more memory than eight;
* ``on_result`` runs in one task only, so it may write files and update counters without
  locks.

Per-item failures must be values: ``process`` should return them. An exception escaping
``process`` is a bug (or a deliberate abort) and tears the whole pool down, as a task group
does; a single-member exception group is unwrapped so callers see a plain exception.

Stopping: when ``halt`` is set the producer dispatches nothing more; in-flight items finish
and their results are still delivered. Items never dispatched get no result: the caller
decides what they are (the runner reports them ``cancelled``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

T = TypeVar("T")
R = TypeVar("R")


async def run_pool(
    items: Iterable[T],
    process: Callable[[T], Awaitable[R]],
    on_result: Callable[[R], Awaitable[None]],
    *,
    concurrency: int,
    halt: anyio.Event | None = None,
) -> None:
    """Run ``process`` over ``items`` with at most ``concurrency`` calls in flight.

    Args:
        items: consumed lazily, in order.
        process: turns one item into one result; should not raise for per-item failures.
        on_result: called once per finished item, from a single task, in completion order.
        concurrency: the hard bound on calls of ``process`` in flight; at least 1.
        halt: when set, stop dispatching new items; in-flight ones still finish.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    halt = halt if halt is not None else anyio.Event()
    send_items, receive_items = anyio.create_memory_object_stream[T](0)
    send_results, receive_results = anyio.create_memory_object_stream[R](concurrency)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_produce, items, send_items, halt)
            async with receive_items, send_results:
                for _ in range(concurrency):
                    tg.start_soon(_work, receive_items.clone(), send_results.clone(), process)
            async with receive_results:
                async for result in receive_results:
                    await on_result(result)
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def _produce(items: Iterable[T], send: ObjectSendStream[T], halt: anyio.Event) -> None:
    """Feed items one by one; stop at once (even mid-wait) when ``halt`` is set."""
    async with send, anyio.create_task_group() as tg:

        async def watch() -> None:
            await halt.wait()
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        for item in items:
            if halt.is_set():
                break
            await send.send(item)
        tg.cancel_scope.cancel()


async def _work(
    receive: ObjectReceiveStream[T],
    send: ObjectSendStream[R],
    process: Callable[[T], Awaitable[R]],
) -> None:
    async with receive, send:
        async for item in receive:
            await send.send(await process(item))
