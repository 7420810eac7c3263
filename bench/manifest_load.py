"""Manifest load time and memory: ``load_manifest`` vs a bare PyYAML load of the same file.

Generates an N-item manifest (one item in ten with its own options and s3_store), then times,
each in a fresh process so peak RSS is its own: (1) ``yaml.load`` with the C loader, the floor
any YAML manifest pays; (2) ``load_manifest``, which adds duplicate-key detection, ``${VAR}``
interpolation, validation and collision checks. The ratio is what our code costs on top.

    .venv/bin/python bench/manifest_load.py --items 100000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ENV = {"KRAKEN_API_KEY": "k" * 32, "KRAKEN_API_SECRET": "s" * 40,
       "AWS_ACCESS_KEY_ID": "AKIA" + "X" * 16, "AWS_SECRET_ACCESS_KEY": "y" * 40}

HEADER = """version: 1
api:
  url: https://api.kraken.io
  key: ${KRAKEN_API_KEY}
  secret: ${KRAKEN_API_SECRET}
options: {lossy: true, resize: {strategy: fit, width: 800, height: 600}}
s3_store:
  key: ${AWS_ACCESS_KEY_ID}
  secret: ${AWS_SECRET_ACCESS_KEY}
  bucket: assets
  region: eu-west-1
  acl: public_read
  headers: {Cache-Control: max-age=2592000}
  metadata: {source: nightly}
  tags: {team: web}
items:
"""

MEASURE = """
import resource, sys, time
from pathlib import Path
started = time.perf_counter()
if sys.argv[1] == "yaml":
    import yaml
    with open(sys.argv[2], encoding="utf-8") as handle:
        count = len(yaml.load(handle, Loader=yaml.CSafeLoader)["items"])
else:
    from batch.manifest import load_manifest
    count = len(load_manifest(Path(sys.argv[2]), dict(__import__("os").environ)).items)
elapsed = time.perf_counter() - started
print(count, f"{elapsed:.3f}", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def generate(path: Path, items: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(items):
            out.write(f"  - url: https://img.example.com/originals/{i:07d}.jpg\n"
                      f"    path: images/{i % 1000:03d}/{i:07d}.jpg\n")
            if i % 10 == 0:
                out.write("    options: {lossy: false, quality: 85}\n"
                          "    s3_store: {acl: private, tags: {campaign: winter}}\n")


def measure(kind: str, path: Path) -> tuple[int, float, int]:
    import os

    env = {**os.environ, **ENV}
    out = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path)], env=env, check=False,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    count, seconds, rss = out.stdout.split()
    return int(count), float(seconds), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.yaml"
        generate(path, args.items)
        size = path.stat().st_size
        base = measure("yaml", path)
        ours = measure("manifest", path)
    assert base[0] == ours[0] == args.items
    print(f"items={args.items} file={size / 2**20:.1f} MiB")
    print(f"yaml.load (CSafeLoader): {base[1]:.2f}s  peak RSS {base[2] / 1024:.0f} MiB")
    print(f"load_manifest:           {ours[1]:.2f}s  peak RSS {ours[2] / 1024:.0f} MiB")
    print(f"ratio load_manifest / yaml.load time: {ours[1] / base[1]:.2f}, "
          f"RSS: {ours[2] / base[2]:.2f}")


if __name__ == "__main__":
    main()
