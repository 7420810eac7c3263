"""DESIGN.md's layering rules, checked on the source: who may import aiohttp and the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "batch"
CLIENT_MODULES = sorted(p for p in PACKAGE.glob("*.py"))


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", CLIENT_MODULES, ids=lambda p: p.name)
def test_only_client_py_imports_aiohttp(path: Path) -> None:
    """On the client side, aiohttp is imported by client.py alone (errors mapped at one boundary)."""
    uses_aiohttp = any(name == "aiohttp" or name.startswith("aiohttp.") for name in imported(path))
    assert not uses_aiohttp or path.name == "client.py"


@pytest.mark.parametrize("path", CLIENT_MODULES, ids=lambda p: p.name)
def test_only_the_shell_imports_the_server(path: Path) -> None:
    """Only the command-line shell (cli.py, local.py) wires the client to batch.server."""
    uses_server = any(name.startswith("batch.server") for name in imported(path))
    assert not uses_server or path.name in {"cli.py", "local.py"}


@pytest.mark.parametrize("path", sorted((PACKAGE / "server").glob("*.py")), ids=lambda p: p.name)
def test_server_never_imports_client_modules(path: Path) -> None:
    """The server imports nothing from batch outside batch.server, so the two cannot share a bug."""
    own = {name for name in imported(path) if name == "batch" or name.startswith("batch.")}
    assert all(name.startswith("batch.server") for name in own), own


def test_package_init_imports_nothing() -> None:
    """batch/__init__.py stays empty so importing batch.server pulls in no client code."""
    assert imported(PACKAGE / "__init__.py") <= {"__future__"}
