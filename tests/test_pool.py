"""The bounded worker pool: the bound holds and is reached, results all arrive, halt stops."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import anyio.lowlevel
import pytest

from batch.pool import run_pool

pytestmark = pytest.mark.anyio


class Spy:
    """Measures how many calls of ``process`` run at once (aiometer's idea)."""

    def __init__(self) -> None:
        self.running = 0
        self.max_running = 0
        self.started: list[int] = []

    async def process(self, value: int) -> int:
        self.started.append(value)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await anyio.sleep(0.01)
        finally:
            self.running -= 1
        return value * 2


class TestRunPool:
    @pytest.mark.parametrize("concurrency", [1, 3, 8])
    async def test_bound_holds_and_is_reached(self, concurrency: int) -> None:
        """No more than ``concurrency`` calls run at once, and with enough items exactly that many do."""
        spy = Spy()
        results: list[int] = []

        async def collect(result: int) -> None:
            results.append(result)

        await run_pool(range(40), spy.process, collect, concurrency=concurrency)
        assert spy.max_running == concurrency
        assert sorted(results) == [v * 2 for v in range(40)]

    async def test_items_are_pulled_lazily(self) -> None:
        """The pool never reads more than concurrency + 1 items ahead of the finished ones."""
        pulled = 0
        finished = 0
        worst_lead = 0

        def items() -> Iterator[int]:
            nonlocal pulled, worst_lead
            for value in range(100):
                pulled += 1
                worst_lead = max(worst_lead, pulled - finished)
                yield value

        async def process(value: int) -> int:
            await anyio.lowlevel.checkpoint()
            return value

        async def collect(_: int) -> None:
            nonlocal finished
            finished += 1

        await run_pool(items(), process, collect, concurrency=4)
        assert finished == 100
        assert worst_lead <= 4 + 4 + 2

    async def test_halt_stops_dispatching_but_in_flight_items_finish(self) -> None:
        """After halt, no new item starts; the ones already running still deliver results."""
        halt = anyio.Event()
        spy = Spy()
        results: list[int] = []

        async def collect(result: int) -> None:
            results.append(result)
            if len(results) == 3:
                halt.set()

        await run_pool(range(1000), spy.process, collect, concurrency=2, halt=halt)
        assert len(spy.started) < 10
        assert len(results) == len(spy.started)

    async def test_a_bug_in_process_propagates_unwrapped(self) -> None:
        """An exception escaping ``process`` tears the pool down and surfaces as itself."""

        async def process(value: int) -> int:
            if value == 5:
                raise ZeroDivisionError("bug")
            await anyio.sleep(0.01)
            return value

        async def collect(_: int) -> None:
            return None

        with pytest.raises(ZeroDivisionError, match="bug"):
            await run_pool(range(20), process, collect, concurrency=3)

    async def test_zero_concurrency_is_refused(self) -> None:
        """A bound below one is a programming error, reported as ValueError."""

        async def process(value: int) -> int:
            return value

        async def collect(_: int) -> None:
            return None

        with pytest.raises(ValueError, match="at least 1"):
            await run_pool([1], process, collect, concurrency=0)

    async def test_empty_input_finishes_at_once(self) -> None:
        """No items means no results and a clean return."""
        spy = Spy()
        results: list[int] = []

        async def collect(result: int) -> None:
            results.append(result)

        await run_pool([], spy.process, collect, concurrency=4)
        assert results == [] and spy.started == []
