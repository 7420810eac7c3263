"""Automatic JPEG quality ("intelligent lossy"): the lowest quality that still looks the same.

Kraken picks a quality per image when ``lossy`` is set without ``quality``. We binary-search
mozjpeg's Q for the smallest value whose luma SSIM against the source is at least
``TARGET_SSIM``. SSIM (Gaussian window, sigma 1.5, the usual constants) is computed with
libvips arithmetic, so no numpy is needed and the work runs outside the GIL. The search runs
on a centre crop of at most ``SEARCH_SIDE`` pixels so large images cost a few small encodes,
not a few large ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pyvips
from PIL import Image

from batch.server.encode import jpeg_encode, to_vips

TARGET_SSIM: Final = 0.95
Q_MIN: Final = 40
Q_MAX: Final = 90
SEARCH_SIDE: Final = 768
_C1: Final = (0.01 * 255) ** 2
_C2: Final = (0.03 * 255) ** 2


def ssim(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean structural similarity of the luma of two same-sized images (1.0 = identical)."""

    def luma(img: pyvips.Image) -> pyvips.Image:
        if img.bands >= 3:
            img = img.colourspace("b-w")
        return img[0].cast("float")

    def blur(img: pyvips.Image) -> pyvips.Image:
        return img.gaussblur(1.5, precision="float")

    x, y = luma(a), luma(b)
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    num = (mx * my * 2 + _C1) * (cov * 2 + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return float((num / den).avg())


def _search(score: Callable[[int], float]) -> int:
    lo, hi = Q_MIN, Q_MAX
    if score(hi) < TARGET_SSIM:
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if score(mid) >= TARGET_SSIM:
            hi = mid
        else:
            lo = mid + 1
    return lo


def choose_quality(img: Image.Image, sampling: str | None) -> int:
    """Pick the JPEG quality for an L/RGB image (see the module docstring)."""
    if img.width > SEARCH_SIDE or img.height > SEARCH_SIDE:
        w, h = min(img.width, SEARCH_SIDE), min(img.height, SEARCH_SIDE)
        left, top = (img.width - w) // 2 // 16 * 16, (img.height - h) // 2 // 16 * 16
        img = img.crop((left, top, left + w, top + h))
    reference = to_vips(img)

    def score(q: int) -> float:
        decoded = pyvips.Image.jpegload_buffer(jpeg_encode(img, q, sampling))
        return ssim(reference, decoded)

    return _search(score)
