"""Manifest load time and memory: ``load_manifest`` vs a bare parse of the same file.

Generates an N-item manifest, then times, each in a fresh process so peak RSS is its own:
(1) the baseline, the floor any manifest of that format pays; (2) ``load_manifest``, which
adds duplicate-key detection, ``${VAR}`` interpolation, validation and collision checks. The
ratio is what our code costs on top.

* ``--format yaml``: inline ``items:``, one item in ten with its own options and s3_store;
  the baseline is ``yaml.load`` with PyYAML's C loader.
* ``--format csv``: ``items_from: items.csv`` with the same url and path per item (CSV has no
  per-item overrides, so every item takes the defaults); the baseline is a bare
  ``csv.reader`` pass over the file.
* ``--format jsonl``: ``items_from: items.jsonl`` with exactly the YAML items, overrides
  included; the baseline is ``json.loads`` of every line.

For the streamed formats it also times one full iteration of ``manifest.items`` (what a run
pays again, building each Item, while sending), in the same process as the load.

    .venv/bin/python bench/manifest_load.py --items 100000
    .venv/bin/python bench/manifest_load.py --items 1000000 --format csv
"""

from __future__ import annotations

import argparse
import json
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
"""

MEASURE = """
import resource, sys, time
from pathlib import Path
started = time.perf_counter()
iterated = 0.0
if sys.argv[1] == "yaml":
    import yaml
    with open(sys.argv[2], encoding="utf-8") as handle:
        count = len(yaml.load(handle, Loader=yaml.CSafeLoader)["items"])
elif sys.argv[1] == "csv":
    import csv
    with open(sys.argv[2], encoding="utf-8", newline="") as handle:
        count = sum(1 for _ in csv.reader(handle)) - 1
elif sys.argv[1] == "jsonl":
    import json
    with open(sys.argv[2], "rb") as handle:
        count = sum(1 for line in handle if json.loads(line) is not None)
else:
    from batch.manifest import load_manifest
    items = load_manifest(Path(sys.argv[2]), dict(__import__("os").environ)).items
    count = len(items)
    if not isinstance(items, tuple):
        loaded = time.perf_counter()
        assert sum(1 for _ in items) == count
        iterated = time.perf_counter() - loaded
elapsed = time.perf_counter() - started - iterated
print(count, f"{elapsed:.3f}", f"{iterated:.3f}",
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _url(i: int) -> str:
    return f"https://img.example.com/originals/{i:07d}.jpg"


def _path(i: int) -> str:
    return f"images/{i % 1000:03d}/{i:07d}.jpg"


def generate_yaml(folder: Path, items: int) -> tuple[Path, Path]:
    """The manifest with its items inline; returns (manifest, the file the baseline reads)."""
    path = folder / "manifest.yaml"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + "items:\n")
        for i in range(items):
            out.write(f"  - url: {_url(i)}\n    path: {_path(i)}\n")
            if i % 10 == 0:
                out.write("    options: {lossy: false, quality: 85}\n"
                          "    s3_store: {acl: private, tags: {campaign: winter}}\n")
    return path, path


def generate_csv(folder: Path, items: int) -> tuple[Path, Path]:
    """The same urls and paths in items.csv (no per-item overrides: CSV has none)."""
    listing = folder / "items.csv"
    with listing.open("w", encoding="utf-8") as out:
        out.write("url,path\n")
        for i in range(items):
            out.write(f"{_url(i)},{_path(i)}\n")
    path = folder / "manifest.yaml"
    path.write_text(HEADER + "items_from: items.csv\n", encoding="utf-8")
    return path, listing


def generate_jsonl(folder: Path, items: int) -> tuple[Path, Path]:
    """Exactly the YAML items, overrides included, one JSON object per line."""
    listing = folder / "items.jsonl"
    overrides = {"options": {"lossy": False, "quality": 85},
                 "s3_store": {"acl": "private", "tags": {"campaign": "winter"}}}
    with listing.open("w", encoding="utf-8") as out:
        for i in range(items):
            item = {"url": _url(i), "path": _path(i), **(overrides if i % 10 == 0 else {})}
            out.write(json.dumps(item) + "\n")
    path = folder / "manifest.yaml"
    path.write_text(HEADER + "items_from: items.jsonl\n", encoding="utf-8")
    return path, listing


GENERATORS = {"yaml": generate_yaml, "csv": generate_csv, "jsonl": generate_jsonl}


def measure(kind: str, path: Path) -> tuple[int, float, float, int]:
    import os

    env = {**os.environ, **ENV}
    out = subprocess.run([sys.executable, "-c", MEASURE, kind, str(path)], env=env, check=False,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    count, seconds, iterated, rss = out.stdout.split()
    return int(count), float(seconds), float(iterated), int(rss)


BASELINES = {"yaml": "yaml.load (CSafeLoader)", "csv": "csv.reader pass", "jsonl": "json.loads"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--format", choices=sorted(GENERATORS), default="yaml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path, listing = GENERATORS[args.format](Path(tmp), args.items)
        size = listing.stat().st_size
        base = measure(args.format, listing)
        ours = measure("manifest", path)
    assert base[0] == ours[0] == args.items, (base, ours)
    name = BASELINES[args.format]
    print(f"format={args.format} items={args.items} file={size / 2**20:.1f} MiB")
    print(f"{name + ':':<25}{base[1]:.2f}s  peak RSS {base[3] / 1024:.0f} MiB")
    print(f"{'load_manifest:':<25}{ours[1]:.2f}s  peak RSS {ours[3] / 1024:.0f} MiB"
          + (f"  (then one iteration of the items: {ours[2]:.2f}s)" if ours[2] else ""))
    print(f"ratio load_manifest / {name} time: {ours[1] / base[1]:.2f}, "
          f"RSS: {ours[3] / base[3]:.2f}")


if __name__ == "__main__":
    main()
