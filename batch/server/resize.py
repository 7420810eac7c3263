"""Kraken's resize strategies as pure geometry (``plan``) plus one Pillow step (``apply``).

Separating the arithmetic from the pixels keeps every strategy table-testable and lets the
same plan be applied to each frame of an animated GIF.

| strategy  | output                                                                 |
|-----------|------------------------------------------------------------------------|
| exact     | width x height, aspect ratio not kept                                   |
| portrait  | height fixed, width follows the ratio; never enlarges                   |
| landscape | width fixed, height follows the ratio; never enlarges                   |
| auto      | fits inside width x height keeping the ratio; never enlarges            |
| fit       | covers width x height, then crops to exactly that box at ``crop_mode``  |
| crop      | cuts width x height (clamped to the image) at x/y or ``crop_mode``,      |
|           | after scaling the image by ``scale`` percent when given; no resampling  |
| square    | crops the shorter side's square at ``crop_mode``, resizes to size x size |
| fill      | fits inside the box (may enlarge), pads to width x height with background|
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from batch.server.colors import RGBA
from batch.server.spec import ResizeSpec

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Plan:
    """Steps in order: scale the whole image, crop a box of it, resize the box, pad.

    ``prescale``: size to scale the source to first (``crop`` with ``scale``), or None.
    ``box``: region of the (pre-scaled) image to keep, or None for all of it.
    ``size``: size of the kept region after resampling.
    ``canvas``: final size when padding (``fill``), or None.
    """

    prescale: tuple[int, int] | None
    box: Box | None
    size: tuple[int, int]
    canvas: tuple[int, int] | None = None

    @property
    def output_size(self) -> tuple[int, int]:
        """The dimensions of the image this plan produces."""
        return self.canvas or self.size


def _anchored(total: int, part: int, anchor: float) -> int:
    return round((total - part) * anchor)


def _box(w: int, h: int, bw: int, bh: int, gravity: tuple[float, float]) -> Box:
    left, top = _anchored(w, bw, gravity[0]), _anchored(h, bh, gravity[1])
    return (left, top, left + bw, top + bh)


def _fit_inside(w: int, h: int, bw: int, bh: int) -> tuple[int, int]:
    scale = min(bw / w, bh / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def plan(w: int, h: int, spec: ResizeSpec) -> Plan:
    """Compute what ``spec`` does to a ``w`` x ``h`` image (validation already ensured the
    fields each strategy needs are set)."""
    s = spec.strategy
    if s == "exact":
        assert spec.width and spec.height
        return Plan(None, None, (spec.width, spec.height))
    if s == "portrait":
        assert spec.height
        if spec.height >= h:
            return Plan(None, None, (w, h))
        return Plan(None, None, (max(1, round(w * spec.height / h)), spec.height))
    if s == "landscape":
        assert spec.width
        if spec.width >= w:
            return Plan(None, None, (w, h))
        return Plan(None, None, (spec.width, max(1, round(h * spec.width / w))))
    if s == "auto":
        assert spec.width and spec.height
        if spec.width >= w and spec.height >= h:
            return Plan(None, None, (w, h))
        return Plan(None, None, _fit_inside(w, h, spec.width, spec.height))
    if s == "fit":
        assert spec.width and spec.height
        scale = max(spec.width / w, spec.height / h)
        bw = min(w, max(1, round(spec.width / scale)))
        bh = min(h, max(1, round(spec.height / scale)))
        return Plan(None, _box(w, h, bw, bh, spec.gravity), (spec.width, spec.height))
    if s == "crop":
        assert spec.width and spec.height
        prescale = None
        if spec.scale is not None and spec.scale != 100:
            w, h = max(1, round(w * spec.scale / 100)), max(1, round(h * spec.scale / 100))
            prescale = (w, h)
        bw, bh = min(spec.width, w), min(spec.height, h)
        if spec.x is not None or spec.y is not None:
            left = min(max(0, spec.x or 0), w - bw)
            top = min(max(0, spec.y or 0), h - bh)
            box = (left, top, left + bw, top + bh)
        else:
            box = _box(w, h, bw, bh, spec.gravity)
        return Plan(prescale, box, (bw, bh))
    if s == "square":
        assert spec.size
        side = min(w, h)
        return Plan(None, _box(w, h, side, side, spec.gravity), (spec.size, spec.size))
    if s == "fill":
        assert spec.width and spec.height
        return Plan(None, None, _fit_inside(w, h, spec.width, spec.height),
                    canvas=(spec.width, spec.height))
    raise ValueError(f"unknown strategy {s!r}")


def normalize_mode(img: Image.Image) -> Image.Image:
    """Bring palette/bilevel/16-bit images to L/LA/RGB/RGBA so resampling is smooth."""
    if img.mode in ("L", "LA", "RGB", "RGBA"):
        return img
    has_alpha = img.mode in ("PA", "RGBa", "La") or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")


def apply(img: Image.Image, p: Plan, background: RGBA) -> Image.Image:
    """Apply plan ``p`` to one image (one frame) with Lanczos resampling."""
    img = normalize_mode(img)
    if p.prescale is not None:
        img = img.resize(p.prescale, Image.Resampling.LANCZOS)
    region = p.box or (0, 0, img.width, img.height)
    region_size = (region[2] - region[0], region[3] - region[1])
    if region_size == p.size:
        if region != (0, 0, img.width, img.height):
            img = img.crop(region)
    else:
        img = img.resize(p.size, Image.Resampling.LANCZOS, box=region)
    if p.canvas is None:
        return img
    mode = "RGBA" if background[3] < 255 or img.mode in ("RGBA", "LA") else "RGB"
    canvas = Image.new(mode, p.canvas, background if mode == "RGBA" else background[:3])
    offset = ((p.canvas[0] - img.width) // 2, (p.canvas[1] - img.height) // 2)
    content = img.convert(mode)
    canvas.paste(content, offset, content if mode == "RGBA" else None)
    return canvas
