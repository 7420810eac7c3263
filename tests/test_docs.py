"""The README documents what the code does: every option, every exit code, the two commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from batch.cli import build_parser
from batch.models import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(_subparsers()))
def test_every_option_is_documented(command: str) -> None:
    """Each long option of each subcommand appears in the README."""
    parser = _subparsers()[command]
    options = {opt for action in parser._actions for opt in action.option_strings
               if opt.startswith("--") and opt != "--help"}
    missing = sorted(opt for opt in options if opt not in README)
    assert not missing, f"undocumented options of {command}: {missing}"


@pytest.mark.parametrize("code", [str(code.value) for code in ExitCode])
def test_every_exit_code_is_documented(code: str) -> None:
    """The exit-code table lists each code the CLI returns."""
    assert re.search(rf"^\| {code} \|", README, re.MULTILINE)


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` runs exactly the test command the README gives new users."""
    ci = (ROOT / ".ci" / "run").read_text()
    readme_cmd = re.search(r"^(python3 -m venv .*pytest)$", README, re.MULTILINE)
    assert readme_cmd is not None
    assert readme_cmd.group(1) in ci


def test_readme_main_command_runs_the_example() -> None:
    """The README's first command runs manifests/example.yaml offline with --local."""
    assert re.search(r"kraken-batch run manifests/example.yaml --local", README)
