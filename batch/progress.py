"""Progress display on stderr: a live line on a terminal, periodic plain lines otherwise.

Cron mails whatever a job prints, so on a non-terminal the display is one plain line every
``interval`` seconds (``progress: 1200/5000 done, 3 failed, 2.1 items/s``) and nothing on
stdout at all. It is fed only by the runner's single result consumer, never by workers.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from batch.models import Status


class Progress:
    """Counts finished items and shows them; ``quiet`` silences everything but errors."""

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        quiet: bool = False,
        interval: float = 30.0,
    ) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.live = (not quiet) and self.stream.isatty()
        self.interval = interval if not self.live else 0.1
        self.done = 0
        self.failed = 0
        self._started = time.monotonic()
        self._last_shown = self._started

    def advance(self, status: Status) -> None:
        """Record one finished item and refresh the display if it is time to."""
        self.done += 1
        if status is Status.FAILED:
            self.failed += 1
        now = time.monotonic()
        if now - self._last_shown >= self.interval or (self.live and self.done == self.total):
            self._last_shown = now
            self._show(now)

    def finish(self) -> None:
        """End the live line so the summary starts on a fresh line."""
        if self.live:
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, now: float) -> None:
        if self.quiet:
            return
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        text = f"progress: {self.done}/{self.total} done, {self.failed} failed, {rate:.1f} items/s"
        if self.live:
            width = 24
            filled = int(width * self.done / self.total) if self.total else width
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
