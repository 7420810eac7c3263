"""Process pool vs thread pool for the optimizer: total time for the same batch of jobs.

Submits every sample image x (lossless, lossy) REPEAT times to each executor kind with
WORKERS workers (default: the number of cores) and reports the wall time, after one warm-up
job per worker (so process start-up is not counted).

    .venv/bin/python bench/server_executor.py
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from batch.server.optimize import configure_worker, optimize
from batch.server.spec import Job

IMAGES = Path(__file__).resolve().parent.parent / "manifests" / "images"
REPEAT = 4
WORKERS = len(os.sched_getaffinity(0))


def batch() -> list[tuple[bytes, Job]]:
    files = [p.read_bytes() for p in sorted(IMAGES.glob("*.*")) if p.suffix != ".md"]
    return [(d, job) for d in files for job in (Job(), Job(lossy=True))] * REPEAT


def timed(executor: Executor, jobs: list[tuple[bytes, Job]]) -> float:
    list(executor.map(optimize, *zip(*jobs[:WORKERS], strict=True)))  # warm-up
    start = time.perf_counter()
    list(executor.map(optimize, *zip(*jobs, strict=True)))
    return time.perf_counter() - start


def main() -> None:
    jobs = batch()
    configure_worker()
    start = time.perf_counter()
    for data, job in jobs:
        optimize(data, job)
    serial = time.perf_counter() - start
    with ThreadPoolExecutor(WORKERS) as pool:
        threads = timed(pool, jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context, initializer=configure_worker) as pool:
        processes = timed(pool, jobs)
    print(f"{len(jobs)} jobs, {WORKERS} workers")
    print(f"serial            {serial:6.2f} s")
    print(f"thread pool       {threads:6.2f} s  ({serial / threads:.2f}x)")
    print(f"process pool      {processes:6.2f} s  ({serial / processes:.2f}x)")


if __name__ == "__main__":
    main()
