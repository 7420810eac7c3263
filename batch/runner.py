"""Glue for one batch run: pool(process) -> one consumer that records, shows and reports.

``process`` turns an item into an :class:`ItemResult` and never raises for a Kraken answer:
transient errors are retried by :mod:`batch.retry`, and whatever is left becomes a ``failed``
result carrying the server's message (redacted). A batch-fatal answer (401/402/403) also
sets ``halt``, so the pool stops dispatching at once; items never dispatched are reported
``cancelled``. SIGINT/SIGTERM do the same, give in-flight requests a grace period, and the
report is still written. Whatever happens, every manifest item appears in the report once.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import anyio

from batch.answers import KrakenResponse
from batch.client import KrakenClient
from batch.errors import FatalKrakenError, KrakenError, ManifestError
from batch.models import ApiConfig, ExitCode, Item, ItemResult, Manifest, Status
from batch.outcome import cancelled, failed, succeeded
from batch.pool import run_pool
from batch.progress import Progress
from batch.report import ReportHead, Summary, Tally, write_report
from batch.request import build_auth, build_body
from batch.results import ResultStore
from batch.retry import Brake, RetryPolicy, call_with_retries
from batch.secret import Secret, redact
from batch.state import State, file_validator, fingerprint, http_validator, locked

#: Seconds in-flight requests get to finish after SIGINT/SIGTERM before they are cancelled.
DEFAULT_GRACE: Final = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """Everything a run needs, resolved by the CLI."""

    manifest: Manifest
    api: ApiConfig
    report_path: Path
    concurrency: int
    timeout: float
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    grace: float = DEFAULT_GRACE
    quiet: bool = False
    handle_signals: bool = True
    #: Incremental state file; ``None`` sends every item (``--local`` without ``--state``).
    state_path: Path | None = None
    #: Send every item even if the state says it is done (the state is still updated).
    force: bool = False


@dataclass(frozen=True, slots=True)
class _Finished:
    """A worker's result plus what the consumer needs to record a success in the state."""

    result: ItemResult
    fingerprint: str | None = None
    validator: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOutcome:
    """What the CLI needs after a run: the exit code, the summary and why it stopped."""

    exit_code: ExitCode
    summary: Summary
    report_path: Path
    fatal: str | None = None
    interrupted: bool = False


class _Run:
    """The mutable state of one run, touched by workers (results) and the consumer."""

    def __init__(self, config: RunConfig, client: KrakenClient, state: State | None,
                 results: ResultStore) -> None:
        self.config = config
        self.client = client
        self.state = state
        self.results = results
        self.tally = Tally()
        self.halt = anyio.Event()
        self.brake = Brake()
        self.fatal: str | None = None
        self.interrupted = False
        self.api_secrets: tuple[Secret, ...] = (config.api.secret, config.api.key)
        self.progress = Progress(len(config.manifest.items), quiet=config.quiet)

    async def preflight(self) -> None:
        """Ask ``/user_status`` first, so bad credentials or a blocked account send no item.

        Only a batch-fatal answer (401/402/403) counts; any other failure of this courtesy
        check is ignored and the items themselves will tell.
        """
        try:
            await self.client.user_status(build_auth(self.config.api))
        except FatalKrakenError as exc:
            self.fatal = redact(str(exc), self.api_secrets)
            self.halt.set()
        except KrakenError:
            return

    async def process(self, item: Item) -> _Finished:
        """Skip the item if the state says it is done and unchanged, else send it."""
        if self.state is None:
            return _Finished(await self.send(item))
        started = time.monotonic()
        key = fingerprint(item)
        validator = await self.validator_of(item)
        done = self.state.get(key)
        if (not self.config.force and done is not None and validator is not None
                and done.validator == validator):
            return _Finished(done.skipped(item, _ms_since(started)))
        return _Finished(await self.send(item), key, validator)

    async def validator_of(self, item: Item) -> str | None:
        """What identifies this version of the source; ``None`` when it cannot be told."""
        if item.file is not None:
            return await anyio.to_thread.run_sync(file_validator, item.file)
        assert item.url is not None
        headers = await self.client.probe_source(item.url)
        return http_validator(headers) if headers is not None else None

    async def send(self, item: Item) -> ItemResult:
        """Send one item with retries; every outcome becomes a result value."""
        body = build_body(item, self.config.api)
        secrets = (*self.api_secrets, *item.secrets())
        attempts = 0
        started = time.monotonic()

        def on_attempt(number: int) -> None:
            nonlocal attempts, started
            attempts = number
            started = time.monotonic()

        async def send() -> KrakenResponse:
            if item.file is not None:
                return await self.client.optimize_file(body, item.file)
            return await self.client.optimize_url(body)

        try:
            response = await call_with_retries(
                send, self.config.policy, brake=self.brake, on_attempt=on_attempt
            )
        except KrakenError as exc:
            if isinstance(exc, FatalKrakenError) and self.fatal is None:
                self.fatal = redact(str(exc), secrets)
                self.halt.set()
            return failed(item, exc, attempts, _ms_since(started), secrets)
        return succeeded(item, response, attempts, _ms_since(started), secrets)

    async def record(self, finished: _Finished) -> None:
        """The single consumer: commit successes to the state at once, then count and show."""
        result = finished.result
        if (self.state is not None and finished.fingerprint is not None
                and result.status is Status.SUCCEEDED):
            self.state.record(finished.fingerprint, finished.validator, result)
        self.results.add(result)
        self.tally.add(result)
        self.progress.advance(result.status)


async def run_batch(config: RunConfig) -> RunOutcome:
    """Run the manifest, write the report (also on interrupt or crash), return the outcome.

    With a state file, the run holds its lock throughout (:class:`StateLockedError` if another
    run has it) and skips what earlier runs already did.
    """
    if config.state_path is None:
        return await _run_batch(config, None)
    with locked(config.state_path):
        state = State.open(config.state_path)
        try:
            return await _run_batch(config, state)
        finally:
            state.close()


async def _run_batch(config: RunConfig, state: State | None) -> RunOutcome:
    started_at = datetime.now(UTC)
    async with KrakenClient(
        config.api.url, timeout=config.timeout, max_connections=config.concurrency
    ) as client:
        with ResultStore(config.report_path.parent) as results:
            run = _Run(config, client, state, results)
            await _drive(run, started_at)
            summary = run.tally.summary(len(config.manifest.items))
    if run.interrupted:
        code = ExitCode.INTERRUPTED
    elif run.fatal is not None:
        code = ExitCode.FATAL
    elif summary.failed:
        code = ExitCode.FAILED
    else:
        code = ExitCode.OK
    return RunOutcome(
        exit_code=code,
        summary=summary,
        report_path=config.report_path,
        fatal=run.fatal,
        interrupted=run.interrupted,
    )


async def _drive(run: _Run, started_at: datetime) -> None:
    """Run the pool (and the signal watcher); write the report however it ends."""
    config = run.config
    try:
        async with anyio.create_task_group() as tg:
            if config.handle_signals:
                tg.start_soon(_watch_signals, run, tg.cancel_scope)
            await run.preflight()
            await run_pool(
                config.manifest.items,
                run.process,
                run.record,
                concurrency=config.concurrency,
                halt=run.halt,
            )
            tg.cancel_scope.cancel()
    finally:
        run.progress.finish()
        head = ReportHead(
            manifest=str(config.manifest.source),
            started_at=started_at,
            finished_at=datetime.now(UTC),
            summary=run.tally.summary(len(config.manifest.items)),
        )
        rows = run.results.ordered(config.manifest.items, cancelled)
        try:
            write_report(config.report_path, head, rows)
        except ManifestError:
            # The item file changed under the run (StreamedItems refuses to read it again):
            # the items can no longer be listed, but what was sent must still be on record.
            write_report(config.report_path, head, run.results.stored())
            raise


async def _watch_signals(run: _Run, scope: anyio.CancelScope) -> None:
    """On SIGINT/SIGTERM: stop dispatching, wait ``grace`` seconds, then cancel in-flight work.

    A second signal during the grace period cancels at once. Either way the report is written
    afterwards by ``run_batch``'s ``finally``.
    """
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            break
        run.interrupted = True
        run.halt.set()
        # A second signal during the grace period means "now": stop waiting for in-flight work.
        with anyio.move_on_after(run.config.grace):
            async for _ in signals:
                break
        scope.cancel()


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
