"""Retry policy: the pure backoff formula, the retry loop on tenacity, the pool-wide brake.

No test waits on the wall clock: sleeps are injected and recorded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from batch.answers import KrakenResponse
from batch.client import KrakenClient
from batch.errors import (
    FatalKrakenError,
    KrakenError,
    PermanentKrakenError,
    TransientKrakenError,
)
from batch.retry import Brake, RetryPolicy, backoff, call_with_retries
from tests.faults import FaultServer, fault_server_async

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy()


class Sleeps(list[float]):
    """An injected sleep that records how long it was asked to wait, and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def failing(*errors: BaseException, result: str = "done") -> tuple[Callable[[], Awaitable[str]],
                                                                    list[int]]:
    """A function raising ``errors`` in turn, then returning ``result``; and its call counter."""
    calls: list[int] = []

    async def fn() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


class TestRetryPolicy:
    def test_defaults_match_the_design(self) -> None:
        """5 attempts, 0.5 s base, 30 s cap, Retry-After capped at 300 s."""
        assert (POLICY.attempts, POLICY.wait_initial, POLICY.wait_max, POLICY.retry_after_max) == (
            5, 0.5, 30.0, 300.0)

    @pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"wait_initial": -1.0},
                                        {"retry_after_max": -1.0}])
    def test_impossible_values_are_refused(self, kwargs: dict[str, float]) -> None:
        """A policy that cannot work fails when it is built, not mid-run."""
        with pytest.raises(ValueError):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]


class TestBackoff:
    def test_cap_doubles_from_the_base_up_to_wait_max(self) -> None:
        """With rand()=1 the wait is the cap: 0.5, 1, 2, ... then 30 s for ever."""
        waits = [backoff(n, POLICY, retry_after=None, rand=lambda: 1.0) for n in range(1, 10)]
        assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]

    @pytest.mark.parametrize(("rand", "expected"), [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0)])
    def test_full_jitter_scales_the_cap(self, rand: float, expected: float) -> None:
        """The wait is rand() times the cap (attempt 3: cap 2 s), anywhere from zero up."""
        assert backoff(3, POLICY, retry_after=None, rand=lambda: rand) == expected

    def test_huge_attempt_numbers_do_not_overflow(self) -> None:
        """Attempt 10,000 still waits the cap instead of raising OverflowError."""
        assert backoff(10_000, POLICY, retry_after=None, rand=lambda: 1.0) == 30.0

    def test_retry_after_is_a_minimum(self) -> None:
        """A server Retry-After raises the wait to at least that much."""
        assert backoff(1, POLICY, retry_after=7.0, rand=lambda: 0.0) == 7.0

    def test_longer_jitter_wins_over_a_short_retry_after(self) -> None:
        """Retry-After is a floor, so a longer backoff is kept."""
        assert backoff(7, POLICY, retry_after=1.0, rand=lambda: 1.0) == 30.0

    def test_retry_after_is_capped(self) -> None:
        """A Retry-After past retry_after_max waits only retry_after_max."""
        assert backoff(1, POLICY, retry_after=86_400.0, rand=lambda: 0.0) == 300.0
        custom = RetryPolicy(retry_after_max=10.0)
        assert backoff(1, custom, retry_after=60.0, rand=lambda: 0.0) == 10.0

    def test_negative_retry_after_counts_as_zero(self) -> None:
        """A negative Retry-After never makes the wait negative."""
        assert backoff(1, POLICY, retry_after=-5.0, rand=lambda: 0.0) == 0.0


class TestCallWithRetries:
    async def test_success_on_first_attempt_does_not_sleep(self) -> None:
        """A first-time success returns its value without waiting."""
        fn, calls = failing()
        sleeps = Sleeps()
        assert await call_with_retries(fn, POLICY, sleep=sleeps) == "done"
        assert (calls, sleeps) == ([1], [])

    async def test_transient_is_retried_exactly_attempts_times_then_reraised(self) -> None:
        """After `attempts` transient failures the caller gets the last error itself."""
        errors = [TransientKrakenError(f"down {i}", status=503) for i in range(5)]
        fn, calls = failing(*errors)
        sleeps = Sleeps()
        with pytest.raises(TransientKrakenError) as info:
            await call_with_retries(fn, POLICY, sleep=sleeps, rand=lambda: 1.0)
        assert info.value is errors[-1]
        assert calls == [1, 2, 3, 4, 5]
        assert sleeps == [0.5, 1.0, 2.0, 4.0]

    async def test_transient_then_success(self) -> None:
        """Transient failures followed by a success return the success."""
        fn, calls = failing(TransientKrakenError("a"), TransientKrakenError("b"))
        assert await call_with_retries(fn, POLICY, sleep=Sleeps()) == "done"
        assert calls == [1, 2, 3]

    @pytest.mark.parametrize("error", [PermanentKrakenError("bad", status=422),
                                       FatalKrakenError("who are you", status=401)])
    async def test_permanent_and_fatal_are_not_retried(self, error: KrakenError) -> None:
        """A permanent or fatal answer is raised from the first attempt, with no wait."""
        fn, calls = failing(error)
        sleeps = Sleeps()
        with pytest.raises(KrakenError) as info:
            await call_with_retries(fn, POLICY, sleep=sleeps)
        assert info.value is error
        assert (calls, sleeps) == ([1], [])

    async def test_bugs_are_not_retried(self) -> None:
        """An exception that is not a KrakenError propagates unchanged at once."""
        fn, calls = failing(ZeroDivisionError("bug"))
        with pytest.raises(ZeroDivisionError):
            await call_with_retries(fn, POLICY, sleep=Sleeps())
        assert calls == [1]

    async def test_on_attempt_is_told_each_attempt_number(self) -> None:
        """on_attempt sees 1..n, once per attempt, before the attempt runs."""
        fn, calls = failing(TransientKrakenError("a"), TransientKrakenError("b"))
        seen: list[tuple[int, int]] = []
        await call_with_retries(fn, POLICY, sleep=Sleeps(),
                                on_attempt=lambda n: seen.append((n, len(calls))))
        assert seen == [(1, 0), (2, 1), (3, 2)]

    async def test_retry_after_is_honoured(self) -> None:
        """The wait after a 429 with Retry-After is at least the server's figure."""
        fn, _ = failing(TransientKrakenError("slow down", status=429, retry_after=12.0))
        sleeps = Sleeps()
        await call_with_retries(fn, POLICY, sleep=sleeps, rand=lambda: 0.0)
        assert sleeps == [12.0]

    async def test_single_attempt_policy_never_retries(self) -> None:
        """attempts=1 turns retries off: the first transient error is final."""
        fn, calls = failing(TransientKrakenError("x"))
        with pytest.raises(TransientKrakenError):
            await call_with_retries(fn, RetryPolicy(attempts=1), sleep=Sleeps())
        assert calls == [1]


class TestBrake:
    def test_released_below_the_threshold(self) -> None:
        """Fewer consecutive failures than the threshold cost no pause."""
        brake = Brake(threshold=3)
        brake.record_failure()
        brake.record_failure()
        assert brake.pause == 0.0

    def test_pause_grows_from_the_threshold_and_is_capped(self) -> None:
        """From the threshold on, the pause doubles per failure up to pause_max."""
        brake = Brake(threshold=2, pause_initial=1.0, pause_max=5.0)
        pauses = []
        for _ in range(7):
            brake.record_failure()
            pauses.append(brake.pause)
        assert pauses == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]

    def test_success_releases_it(self) -> None:
        """One success resets the count and the pause."""
        brake = Brake(threshold=1)
        brake.record_failure()
        brake.record_success()
        assert (brake.failures, brake.pause) == (0, 0.0)

    async def test_wait_sleeps_only_when_engaged(self) -> None:
        """wait() returns at once when released and sleeps the pause when engaged."""
        sleeps = Sleeps()
        brake = Brake(threshold=1, pause_initial=2.0, sleep=sleeps)
        await brake.wait()
        brake.record_failure()
        await brake.wait()
        assert sleeps == [2.0]

    async def test_engages_across_calls_and_resets_on_success(self) -> None:
        """Transient failures from several items add up; a success anywhere releases the brake."""
        pauses = Sleeps()
        brake = Brake(threshold=3, pause_initial=1.0, sleep=pauses)
        policy = RetryPolicy(attempts=2)
        for _ in range(2):  # two items, two transient failures each: four in a row
            fn, _ = failing(TransientKrakenError("a"), TransientKrakenError("b"))
            with pytest.raises(TransientKrakenError):
                await call_with_retries(fn, policy, brake=brake, sleep=Sleeps())
        assert brake.failures == 4
        assert pauses == [1.0]  # the 4th attempt came after 3 failures
        fn, _ = failing()
        await call_with_retries(fn, policy, brake=brake, sleep=Sleeps())
        assert pauses == [1.0, 2.0]
        assert brake.failures == 0

    async def test_permanent_answer_also_releases_it(self) -> None:
        """A permanent error proves the API answers, so the failure streak ends."""
        brake = Brake(threshold=5, sleep=Sleeps())
        brake.record_failure()
        fn, _ = failing(PermanentKrakenError("bad"))
        with pytest.raises(PermanentKrakenError):
            await call_with_retries(fn, POLICY, brake=brake, sleep=Sleeps())
        assert brake.failures == 0

    async def test_brake_waits_before_the_attempt_starts(self) -> None:
        """The brake pause comes before on_attempt, so it is not counted in the attempt's time."""
        events: list[str] = []

        async def pause(seconds: float) -> None:
            events.append("pause")

        brake = Brake(threshold=1, sleep=pause)
        brake.record_failure()
        fn, _ = failing()
        await call_with_retries(fn, POLICY, brake=brake, on_attempt=lambda n: events.append("go"))
        assert events == ["pause", "go"]


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FaultServer]:
    async with fault_server_async() as server:
        yield server


class TestRetriesAgainstTheFaultServer:
    @staticmethod
    def body(url: str) -> dict[str, object]:
        return {"auth": {"api_key": "k", "api_secret": "s"}, "url": url, "wait": True}

    async def test_503_429_ok_succeeds_on_attempt_3(self, server: FaultServer) -> None:
        """Two transient answers over real HTTP are retried and the third attempt succeeds."""
        url = "http://src.test/img.png?fault=503,retry-after=2:429,ok"
        attempts: list[int] = []
        sleeps = Sleeps()
        async with KrakenClient(server.url) as client:
            response = await call_with_retries(
                lambda: client.optimize_url(self.body(url)), POLICY, brake=Brake(),
                on_attempt=attempts.append, sleep=sleeps, rand=lambda: 0.0)
        assert isinstance(response, KrakenResponse) and response.body["success"] is True
        assert attempts == [1, 2, 3]
        assert server.attempts_for(url) == 3
        assert sleeps == [0.0, 2.0]

    async def test_exhausted_retries_raise_the_last_server_error(self, server: FaultServer) -> None:
        """A URL that always gets 503 is tried `attempts` times; the 503 reaches the caller."""
        url = "http://src.test/down.png?fault=503"
        async with KrakenClient(server.url) as client:
            with pytest.raises(TransientKrakenError) as info:
                await call_with_retries(lambda: client.optimize_url(self.body(url)),
                                        RetryPolicy(attempts=3), sleep=Sleeps())
        assert info.value.status == 503
        assert server.attempts_for(url) == 3

    async def test_fatal_answer_is_sent_once(self, server: FaultServer) -> None:
        """A 401 over real HTTP is not retried."""
        url = "http://src.test/auth.png?fault=401"
        async with KrakenClient(server.url) as client:
            with pytest.raises(FatalKrakenError):
                await call_with_retries(lambda: client.optimize_url(self.body(url)), POLICY,
                                        sleep=Sleeps())
        assert server.attempts_for(url) == 1
