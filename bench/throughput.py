"""Client throughput and memory: kraken-batch vs a bare aiohttp loop, in the same run.

Both talk to the fault-injecting Kraken-compatible server (tests/faults.py) running in a
separate process, every request answered after ``--delay`` ms, so the ideal rate is
``concurrency / delay``. The baseline is the leanest possible client (one session, a
semaphore, no retries, no report); kraken-batch adds manifest loading, retries, the report and
progress. Figures are ratios against the baseline measured seconds before, so a shared, noisy
machine affects both alike.

    .venv/bin/python bench/throughput.py --items 5000 --concurrency 64 --delay 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _serve(queue: multiprocessing.Queue[str], stop: multiprocessing.synchronize.Event) -> None:
    from tests.faults import fault_server

    with fault_server() as server:
        queue.put(server.url)
        stop.wait()


async def baseline(url: str, items: int, concurrency: int, delay: int) -> float:
    """Seconds for the bare client to push ``items`` requests."""
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(i: int) -> None:
            body = {"auth": {"api_key": "k", "api_secret": "s"}, "wait": True,
                    "url": f"http://src.test/b/{i}.png?fault=delay={delay}"}
            async with limit, session.post(url + "/v1/url", json=body) as response:
                await response.read()

        started = time.perf_counter()
        # Bounded by the semaphore; the task list itself is the baseline's only overhead.
        await asyncio.gather(*(one(i) for i in range(items)))
        return time.perf_counter() - started


def tool(url: str, items: int, concurrency: int, delay: int, folder: Path,
         *extra: str, csv: bool = False) -> tuple[float, int, dict[str, int]]:
    """Seconds, peak RSS (KiB) and summary of one ``kraken-batch run`` over the same items.

    Sources are ``{url}/src/...``, which the fault server answers to HEAD with an ETag, so the
    incremental state has a validator to record (and, on a second run, to compare).
    """
    manifest = folder / "bench.yaml"
    head: dict[str, object] = {"version": 1,
                               "s3_store": {"key": "k", "secret": "s", "bucket": "bench-bucket"}}
    if csv:  # a streamed item list: memory should not grow with the number of items
        with (folder / "items.csv").open("w") as out:
            out.write("url,path\n")
            for i in range(items):
                out.write(f"{url}/src/t/{i}.png?fault=delay={delay},t/{i}.png\n")
        head["items_from"] = "items.csv"
    else:
        head["items"] = [{"url": f"{url}/src/t/{i}.png?fault=delay={delay}", "path": f"t/{i}.png"}
                         for i in range(items)]
    manifest.write_text(yaml.safe_dump(head))
    env = {"KRAKEN_API_URL": url, "KRAKEN_API_KEY": "k", "KRAKEN_API_SECRET": "s", "PATH": ""}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "batch", "run", str(manifest), "--quiet",
         "--concurrency", str(concurrency), "--report", str(folder / "r.json"), *extra],
        env=env, cwd=ROOT,
    )
    # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would mix in other children).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"kraken-batch exited {proc.returncode}")
    report = json.loads((folder / "r.json").read_text())
    return elapsed, usage.ru_maxrss, report["summary"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=int, default=50, help="server delay per request, ms")
    parser.add_argument("--csv", action="store_true", help="items from a CSV file (items_from)")
    parser.add_argument("--once", action="store_true", help="skip the second, all-skipped run")
    args = parser.parse_args()

    queue: multiprocessing.Queue[str] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(queue, stop), daemon=True)
    server.start()
    url = queue.get(timeout=30)
    try:
        ideal = args.items * args.delay / 1000 / args.concurrency
        # kraken-batch runs first: a child forked from a parent that has just held the baseline's
        # many coroutines would start with (and report) the parent's resident pages.
        with tempfile.TemporaryDirectory() as tmp:
            ours, rss, first = tool(url, args.items, args.concurrency, args.delay, Path(tmp),
                                    csv=args.csv)
            again, second = None, None
            if not args.once:
                again, _, second = tool(url, args.items, args.concurrency, args.delay, Path(tmp),
                                        csv=args.csv)
        base = asyncio.run(baseline(url, args.items, args.concurrency, args.delay))
        assert first["succeeded"] == args.items, first
        assert second is None or second["skipped"] == args.items, second
    finally:
        stop.set()
        server.join(10)
    print(f"items={args.items} concurrency={args.concurrency} delay={args.delay}ms "
          f"ideal={ideal:.2f}s")
    print(f"baseline (bare aiohttp): {base:.2f}s  {args.items / base:.0f} req/s  "
          f"{ideal / base:.0%} of ideal")
    print(f"kraken-batch run:        {ours:.2f}s  {args.items / ours:.0f} req/s  "
          f"{ideal / ours:.0%} of ideal  peak RSS {rss / 1024:.0f} MiB (incl. interpreter start)")
    print(f"ratio kraken-batch / baseline time: {ours / base:.2f}")
    if again is not None:
        print(f"second run, all skipped (HEAD probe + state lookup only): {again:.2f}s  "
              f"{args.items / again:.0f} items/s  ratio to baseline time {again / base:.2f}")


if __name__ == "__main__":
    main()
