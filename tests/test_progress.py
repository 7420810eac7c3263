"""Progress on stderr: plain periodic lines for cron, a live line on a terminal, silence with quiet."""

from __future__ import annotations

import io

from batch.models import Status
from batch.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestProgress:
    def test_non_terminal_gets_plain_lines(self) -> None:
        """Off a terminal each update is a whole line with counts and a rate, no control codes."""
        stream = io.StringIO()
        progress = Progress(3, stream=stream, interval=0.0)
        for status in (Status.SUCCEEDED, Status.FAILED, Status.SUCCEEDED):
            progress.advance(status)
        progress.finish()
        lines = stream.getvalue().splitlines()
        assert lines[-1].startswith("progress: 3/3 done, 1 failed, ")
        assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()

    def test_interval_limits_the_lines(self) -> None:
        """With a long interval, a fast run prints nothing until the summary."""
        stream = io.StringIO()
        progress = Progress(100, stream=stream, interval=3600.0)
        for _ in range(100):
            progress.advance(Status.SUCCEEDED)
        assert stream.getvalue() == ""

    def test_terminal_gets_a_live_line(self) -> None:
        """On a terminal the line is redrawn in place and ended before the summary."""
        stream = FakeTerminal()
        progress = Progress(2, stream=stream)
        progress.advance(Status.SUCCEEDED)
        progress.advance(Status.SUCCEEDED)
        progress.finish()
        text = stream.getvalue()
        assert text.startswith("\r[") and "2/2 done" in text and text.endswith("\n")

    def test_quiet_prints_nothing(self) -> None:
        """--quiet silences progress entirely, even on a terminal."""
        stream = FakeTerminal()
        progress = Progress(2, stream=stream, quiet=True, interval=0.0)
        progress.advance(Status.SUCCEEDED)
        progress.advance(Status.FAILED)
        progress.finish()
        assert stream.getvalue() == ""
