"""The command line: argv -> config objects -> run -> exit code. Nothing else lives here.

Exit codes (the contract cron jobs rely on; README "Exit codes"):
0 all succeeded or skipped, 1 finished with failures, 2 usage error or invalid manifest
(nothing sent), 3 aborted by a batch-fatal answer (401/402/403), 130 interrupted.
Errors an operator can act on are printed as one clear message, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio

from batch import __version__
from batch.errors import BatchError, ConfigError, StateLockedError
from batch.manifest import load_manifest
from batch.models import (
    DEFAULT_API_URL,
    DEFAULT_ATTEMPTS,
    DEFAULT_CONCURRENCY,
    DEFAULT_TIMEOUT,
    ApiConfig,
    ExitCode,
    Manifest,
)
from batch.report import default_report_path
from batch.request import masked_body
from batch.retry import RetryPolicy
from batch.runner import RunConfig, RunOutcome, run_batch
from batch.secret import Secret
from batch.state import default_state_path

T = TypeVar("T", int, float)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kraken-batch",
        description="Optimize images listed in a YAML manifest through the Kraken.io API into S3.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="send every manifest item and write the report")
    run.add_argument("manifest", type=Path, metavar="MANIFEST")
    run.add_argument("--report", type=Path, metavar="PATH",
                     help="report file, .json or .csv (default reports/<stem>-<UTC time>.json)")
    run.add_argument("--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY,
                     metavar="N", help=f"requests in flight, a hard bound (default {DEFAULT_CONCURRENCY})")
    run.add_argument("--retries", type=_non_negative_int, default=DEFAULT_ATTEMPTS - 1,
                     metavar="N", help="retries after the first attempt for transient failures "
                     f"(default {DEFAULT_ATTEMPTS - 1}, i.e. {DEFAULT_ATTEMPTS} attempts)")
    run.add_argument("--timeout", type=_positive_float, default=DEFAULT_TIMEOUT, metavar="S",
                     help=f"seconds per attempt (default {DEFAULT_TIMEOUT:g})")
    run.add_argument("--api-url", metavar="URL",
                     help="Kraken API base URL (default: $KRAKEN_API_URL, the manifest, "
                     f"{DEFAULT_API_URL})")
    run.add_argument("--state", type=Path, metavar="PATH",
                     help="incremental state file (default <manifest folder>/.kraken-batch/"
                     "<stem>.sqlite; with --local, none unless given)")
    run.add_argument("--force", action="store_true",
                     help="send every item, even those an earlier run already did")
    run.add_argument("--dry-run", action="store_true",
                     help="validate and print the requests (secrets masked); send nothing")
    run.add_argument("--local", action="store_true",
                     help="run through an embedded Kraken-compatible server (and an embedded S3 "
                     "store unless AWS_ENDPOINT_URL_S3 is set): fully offline")
    run.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")

    validate = commands.add_parser("validate", help="check a manifest and exit (0 valid, 2 not)")
    validate.add_argument("manifest", type=Path, metavar="MANIFEST")

    serve = commands.add_parser("serve", help="run the Kraken-compatible API server")
    from batch.server.config import add_arguments

    add_arguments(serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kraken-batch`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "serve":
            return _serve(args)
        return _run(args, os.environ)
    except StateLockedError as exc:
        print(f"kraken-batch: {exc}", file=sys.stderr)
        return ExitCode.LOCKED
    except BatchError as exc:
        print(f"kraken-batch: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print("kraken-batch: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


def _validate(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest, os.environ)
    print(f"{args.manifest}: valid, {len(manifest.items)} items")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from batch.server.config import config_from_args

    serve = _server_part("batch.server.service", "serve")

    try:
        config = config_from_args(args, os.environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return int(serve(config))


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    manifest = load_manifest(args.manifest, environ)
    report_path = args.report or default_report_path(args.manifest, datetime.now(UTC))
    if args.report is not None and args.report.suffix.lower() not in (".json", ".csv"):
        raise ConfigError(f"--report {args.report}: the file name must end in .json or .csv")
    if args.dry_run:
        api = resolve_api(args.api_url, environ, manifest, required=False)
        _print_dry_run(manifest, api)
        return 0
    check_writable(report_path)
    if args.local:
        run_local = _server_part("batch.local", "run_local")
        outcome: RunOutcome = anyio.run(
            run_local, manifest, lambda api: _config(args, manifest, api, report_path))
    else:
        api = resolve_api(args.api_url, environ, manifest, required=True)
        outcome = anyio.run(run_batch, _config(args, manifest, api, report_path))
    _print_outcome(outcome)
    return outcome.exit_code


def _server_part(module: str, name: str) -> Any:
    """Import a part that needs the optional ``server``/``local`` extras, or say how to get it."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ConfigError(
            f"this needs the server's optional dependencies ({exc.name} is missing): "
            "pip install 'kraken-batch[local]'") from None


def _config(args: argparse.Namespace, manifest: Manifest, api: ApiConfig, report: Path) -> RunConfig:
    state = args.state
    if state is None and not args.local:
        state = default_state_path(args.manifest)
    return RunConfig(
        state_path=state,
        force=args.force,
        manifest=manifest,
        api=api,
        report_path=report,
        concurrency=args.concurrency,
        timeout=args.timeout,
        policy=RetryPolicy(attempts=args.retries + 1),
        quiet=args.quiet,
    )


def resolve_api(
    flag_url: str | None, environ: Mapping[str, str], manifest: Manifest, *, required: bool
) -> ApiConfig:
    """Apply the precedence flag > environment > manifest ``api:`` > default.

    Credentials never come from argv (they would show in ``ps`` and shell history).
    """
    url = flag_url or environ.get("KRAKEN_API_URL") or manifest.api.url or DEFAULT_API_URL
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"API URL {url!r} must start with http:// or https://")
    key = _secret(environ.get("KRAKEN_API_KEY")) or manifest.api.key
    secret = _secret(environ.get("KRAKEN_API_SECRET")) or manifest.api.secret
    missing = [name for name, value in (("KRAKEN_API_KEY", key), ("KRAKEN_API_SECRET", secret))
               if not value]
    if missing and required:
        raise ConfigError(
            f"no API credentials: set {' and '.join(missing)} in the environment, "
            "or api.key / api.secret in the manifest (e.g. key: ${KRAKEN_API_KEY})"
        )
    return ApiConfig(url=url.rstrip("/"), key=key or Secret(""), secret=secret or Secret(""))


def check_writable(report: Path) -> None:
    """Refuse to start a run whose report could not be written at the end.

    Discovering an unwritable report folder after thousands of (paid) requests would lose the
    only record of them, so the folder is created and a probe file written up front.
    """
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=report.parent, prefix=".kraken-batch-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--report {report}: cannot write to {report.parent}: {exc.strerror}") from None


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def _print_dry_run(manifest: Manifest, api: ApiConfig) -> None:
    """One JSON line per item: where it would go and the body, credentials masked."""
    for item in manifest.items:
        endpoint = "/v1/upload" if item.file is not None else "/v1/url"
        line = {"endpoint": api.url + endpoint, "body": masked_body(item, api)}
        if item.file is not None:
            line["upload"] = str(item.file)
        print(json.dumps(line, ensure_ascii=False))
    print(f"dry run: {len(manifest.items)} requests, nothing sent", file=sys.stderr)


def _print_outcome(outcome: RunOutcome) -> None:
    if outcome.fatal is not None:
        print(f"kraken-batch: aborted: {outcome.fatal}", file=sys.stderr)
    if outcome.interrupted:
        print("kraken-batch: interrupted; in-flight items were given a grace period",
              file=sys.stderr)
    print(f"{outcome.summary.line()}; report: {outcome.report_path}", file=sys.stderr)


def _number(parse: Callable[[str], T], minimum: T, what: str) -> Callable[[str], T]:
    """An argparse ``type=`` that parses with ``parse`` and refuses values below ``minimum``."""

    def check(text: str) -> T:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return check


_positive_int = _number(int, 1, "a whole number")
_non_negative_int = _number(int, 0, "a whole number")
_positive_float = _number(float, 0.001, "a number")
