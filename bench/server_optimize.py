"""Optimization time and savings of the server's pipeline on the sample images.

Runs ``batch.server.optimize.optimize`` directly (no HTTP) on every file in
manifests/images, lossless and lossy, and prints a Markdown table (median of 3 runs).

    .venv/bin/python bench/server_optimize.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from batch.server.optimize import configure_worker, optimize
from batch.server.spec import ConvertSpec, Job

IMAGES = Path(__file__).resolve().parent.parent / "manifests" / "images"
JOBS = {
    "lossless": Job(),
    "lossy": Job(lossy=True),
    "webp lossy": Job(lossy=True, convert=ConvertSpec(format="webp")),
}


def main() -> None:
    configure_worker()
    print("| image | input bytes | mode | output bytes | saved | median ms |")
    print("|---|---:|---|---:|---:|---:|")
    for path in sorted(IMAGES.glob("*.*")):
        if path.suffix == ".md":
            continue
        data = path.read_bytes()
        for name, job in JOBS.items():
            times, size = [], 0
            for _ in range(3):
                start = time.perf_counter()
                size = len(optimize(data, job).data)
                times.append((time.perf_counter() - start) * 1000)
            saved = 100 * (len(data) - size) / len(data)
            print(f"| {path.name} | {len(data)} | {name} | {size} | {saved:.1f} % "
                  f"| {statistics.median(times):.0f} |")


if __name__ == "__main__":
    main()
