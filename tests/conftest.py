"""Session-wide test configuration: anyio on asyncio, and a clean environment per test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

#: Environment variables that change how kraken-batch behaves; no test may inherit them.
_ISOLATED_VARS = (
    "KRAKEN_API_URL",
    "KRAKEN_API_KEY",
    "KRAKEN_API_SECRET",
)


@pytest.fixture(name="anyio_backend", scope="session")
def _anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without the operator's Kraken settings, like a cron job would."""
    for name in _ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    yield
    assert "KRAKEN_API_SECRET" not in os.environ or os.environ["KRAKEN_API_SECRET"] != ""
