"""The server's optimizer against the naive Pillow-only optimization, on the sample images.

Runs ``batch.server.optimize.optimize`` directly (no HTTP) on every file in manifests/images
in each mode, and the same image through the optimization anyone would write with Pillow
alone, in the same run. Prints a Markdown table: bytes and median time (3 runs, ours and the
baseline interleaved) of both, and the ratios ours / baseline (< 1: ours is smaller / faster).

Baselines (Pillow only):

- JPEG lossy: ``save("JPEG", quality=Q, optimize=True, progressive=True)`` twice: at the Q
  our quality search chose (``choose_quality`` on the same pixels; the server does not return
  it), and at the Q whose output is the smallest Pillow file with luma SSIM at least that of
  ours (every Q from 1 to 100 tried; the search is not charged to the baseline's time). Our Q
  drives mozjpeg with its own quantisation tables (``quant_table=3``), so the same number is
  not the same quality in libjpeg-turbo: the SSIM-matched row is the fair size comparison.
  A third row gives our lossy path the chosen Q as ``quality`` (no search), against Pillow at
  that Q: the cost of one mozjpeg encode against one libjpeg-turbo encode.
- JPEG lossless: Pillow cannot re-pack a JPEG without decoding it (there is no ``jpegtran``
  here either), so the baseline is the input itself.
- PNG lossless: ``save("PNG", optimize=True)`` of the decoded image.
- PNG lossy: ``quantize(256)`` then ``save("PNG", optimize=True)`` (RGBA sources use Pillow's
  fast octree, the only method it has for alpha without libimagequant).
- GIF (lossless and lossy): ``save("GIF", save_all=True, optimize=True)``.
- WebP lossy (convert): ``save("WEBP", quality=80)`` (``save_all`` for animations).

Lossless outputs, ours and the baselines', are decoded and compared pixel for pixel with the
source (every frame of a GIF, after Pillow composites it); ours must be identical (asserted).
Lossy rows give the luma SSIM against the source (``batch.server.quality.ssim``, over the
whole image flattened on white; the mean over frames for a GIF).

    .venv/bin/python bench/server_optimize.py
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvips
from PIL import Image, ImageSequence

from batch.server import encode
from batch.server.colors import WHITE
from batch.server.optimize import configure_worker, optimize
from batch.server.quality import choose_quality, ssim
from batch.server.spec import ConvertSpec, Job

IMAGES = Path(__file__).resolve().parent.parent / "manifests" / "images"
RUNS = 3
WEBP_QUALITY = 80


@dataclass
class Baseline:
    name: str
    run: Callable[[], bytes] | None  # None: the input itself, nothing to run
    job: Job | None = None  # ours runs this job instead of the mode's (a given quality)


def frames(data: bytes) -> list[Image.Image]:
    """Every frame as Pillow composites it, in RGBA."""
    with Image.open(io.BytesIO(data)) as img:
        return [frame.convert("RGBA") for frame in ImageSequence.Iterator(img)]


def identical(source: bytes, output: bytes) -> bool:
    a, b = frames(source), frames(output)
    return len(a) == len(b) and all(x.tobytes() == y.tobytes() for x, y in zip(a, b, strict=True))


def flat(frame: Image.Image) -> pyvips.Image:
    return encode.to_vips(encode.flatten(frame, WHITE))


def luma_ssim(source: bytes, output: bytes) -> float:
    """Mean luma SSIM of ``output`` against ``source`` (frame by frame; the mean for GIFs)."""
    a, b = frames(source), frames(output)
    if len(a) != len(b):
        return float("nan")
    return statistics.mean(ssim(flat(x), flat(y)) for x, y in zip(a, b, strict=True))


def pillow_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality, optimize=True, progressive=True)
    return buf.getvalue()


def pillow_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def pillow_png_lossy(img: Image.Image) -> bytes:
    return pillow_png(img.quantize(256))


def pillow_gif(data: bytes) -> bytes:
    buf = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        img.save(buf, format="GIF", save_all=True, optimize=True)
    return buf.getvalue()


def pillow_webp(data: bytes) -> bytes:
    buf = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        img.save(buf, format="WEBP", quality=WEBP_QUALITY,
                 save_all=getattr(img, "n_frames", 1) > 1)
    return buf.getvalue()


def ssim_matched_quality(pixels: Image.Image, source: bytes, target: float) -> int | None:
    """The Pillow quality giving the smallest file with luma SSIM >= ``target``."""
    best: tuple[int, int] | None = None
    for q in range(1, 101):
        out = pillow_jpeg(pixels, q)
        if luma_ssim(source, out) >= target and (best is None or len(out) < best[0]):
            best = (len(out), q)
    return None if best is None else best[1]


def baselines(fmt: str, mode: str, data: bytes, ours: bytes) -> list[Baseline]:
    img = Image.open(io.BytesIO(data))
    if mode == "webp lossy":
        return [Baseline(f"Pillow WebP q{WEBP_QUALITY}", lambda: pillow_webp(data))]
    if fmt == "gif":
        return [Baseline("Pillow save_all+optimize", lambda: pillow_gif(data))]
    img.load()
    if fmt == "png":
        if mode == "lossless":
            return [Baseline("Pillow optimize", lambda: pillow_png(img))]
        return [Baseline("Pillow quantize(256)+optimize", lambda: pillow_png_lossy(img))]
    if mode == "lossless":
        return [Baseline("input (no Pillow lossless)", None)]
    pixels = encode.flatten(img, WHITE)
    chosen = choose_quality(pixels, None)

    def same_q() -> bytes:
        return pillow_jpeg(pixels, chosen)

    rows = [Baseline(f"Pillow same Q (q{chosen})", same_q),
            Baseline(f"Pillow same Q (q{chosen})", same_q, Job(lossy=True, quality=chosen))]
    matched = ssim_matched_quality(pixels, data, luma_ssim(data, ours))
    if matched is not None:
        rows.append(Baseline(f"Pillow SSIM-matched (q{matched})",
                             lambda: pillow_jpeg(pixels, matched)))
    return rows


def timed(fn: Callable[[], bytes]) -> tuple[bytes, float]:
    start = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - start) * 1000


def main() -> None:
    configure_worker()
    jobs = {
        "lossless": Job(),
        "lossy": Job(lossy=True),
        "webp lossy": Job(lossy=True, convert=ConvertSpec(format="webp")),
    }
    print("| image | input bytes | mode | ours bytes | baseline | baseline bytes "
          "| ratio (size) | ours ms | baseline ms | ratio (time) | check |")
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---|")
    for path in sorted(IMAGES.glob("*.*")):
        if path.suffix == ".md":
            continue
        data = path.read_bytes()
        fmt = Image.open(io.BytesIO(data)).format.lower()  # type: ignore[union-attr]
        for mode, default_job in jobs.items():
            ours = optimize(data, default_job).data  # warm-up; the bytes the baselines match
            lossless = mode == "lossless"
            if lossless:
                assert identical(data, ours), f"{path.name}: lossless output changed pixels"
            for base in baselines(fmt, mode, data, ours):
                job = base.job or default_job
                label = f"{mode}, quality={job.quality}" if base.job else mode
                ours = optimize(data, job).data
                ours_ms, base_ms = [], []
                out, ref = ours, data
                if base.run is not None:
                    base.run()  # warm-up
                for _ in range(RUNS):
                    result, ms = timed(lambda: optimize(data, job).data)  # noqa: B023
                    assert result == out, f"{path.name} {mode}: output not deterministic"
                    ours_ms.append(ms)
                    if base.run is not None:
                        ref, ms = timed(base.run)
                        base_ms.append(ms)
                if lossless:
                    check = "identical / " + ("identical" if identical(data, ref) else "**NOT identical**")
                else:
                    check = f"SSIM {luma_ssim(data, out):.4f} / {luma_ssim(data, ref):.4f}"
                ours_t = statistics.median(ours_ms)
                if base_ms:
                    base_t = statistics.median(base_ms)
                    times = f"{base_t:.1f} | {ours_t / base_t:.2f}"
                else:
                    times = "– | –"
                print(f"| {path.name} | {len(data)} | {label} | {len(out)} | {base.name} "
                      f"| {len(ref)} | {len(out) / len(ref):.3f} | {ours_t:.1f} | {times} "
                      f"| {check} |")


if __name__ == "__main__":
    main()
