"""Process pool vs thread pool vs serial for the optimizer: total time for the same batch.

Submits every sample image x (lossless, lossy) REPEAT times to each executor kind with
WORKERS workers (default: the number of cores). The baseline is the same jobs run serially in
this process, measured in the same run. Each kind is warmed up first (one job per worker, so
process start-up, imports and libvips initialisation are not counted), then the three are
timed in turn, ROUNDS times, and the medians are reported with their ratio to serial
(time / serial time: < 1 is faster than serial; the ideal with 2 workers is 0.50).

    .venv/bin/python bench/server_executor.py
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from batch.server.optimize import configure_worker, optimize
from batch.server.spec import Job

IMAGES = Path(__file__).resolve().parent.parent / "manifests" / "images"
REPEAT = 4
ROUNDS = 3
WORKERS = len(os.sched_getaffinity(0))

Jobs = list[tuple[bytes, Job]]


def batch() -> Jobs:
    files = [p.read_bytes() for p in sorted(IMAGES.glob("*.*")) if p.suffix != ".md"]
    return [(d, job) for d in files for job in (Job(), Job(lossy=True))] * REPEAT


def serial(jobs: Jobs) -> None:
    for data, job in jobs:
        optimize(data, job)


def pooled(executor: Executor) -> Callable[[Jobs], None]:
    def run(jobs: Jobs) -> None:
        list(executor.map(optimize, *zip(*jobs, strict=True)))

    return run


def timed(run: Callable[[Jobs], None], jobs: Jobs) -> float:
    start = time.perf_counter()
    run(jobs)
    return time.perf_counter() - start


def main() -> None:
    jobs = batch()
    configure_worker()
    context = multiprocessing.get_context("spawn")
    with (
        ThreadPoolExecutor(WORKERS) as threads,
        ProcessPoolExecutor(WORKERS, mp_context=context, initializer=configure_worker) as procs,
    ):
        kinds = {"serial": serial, "thread pool": pooled(threads), "process pool": pooled(procs)}
        for run in kinds.values():
            run(jobs[:WORKERS])  # warm-up
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(ROUNDS):
            for name, run in kinds.items():
                times[name].append(timed(run, jobs))
    base = statistics.median(times["serial"])
    print(f"{len(jobs)} jobs, {WORKERS} workers, median of {ROUNDS} rounds")
    print("| executor | median s | runs s | ratio (time) to serial |")
    print("|---|---:|---|---:|")
    for name, runs in times.items():
        median = statistics.median(runs)
        each = ", ".join(f"{t:.2f}" for t in runs)
        print(f"| {name} | {median:.2f} | {each} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
