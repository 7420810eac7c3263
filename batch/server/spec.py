"""What one optimization must do, as plain frozen data that pickles to a worker process.

``request.py`` builds these from the request JSON after validation; ``optimize.py`` and
``resize.py`` consume them and never re-validate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from batch.server.colors import RGBA, WHITE

Strategy = Literal["exact", "portrait", "landscape", "auto", "fit", "crop", "square", "fill"]
STRATEGIES: Final = ("exact", "portrait", "landscape", "auto", "fit", "crop", "square", "fill")
OUTPUT_FORMATS: Final = ("jpeg", "png", "gif", "webp", "avif")
META_KINDS: Final = ("profile", "date", "copyright", "geotag", "orientation")
SAMPLING: Final = ("4:2:0", "4:2:2", "4:4:4")

#: crop_mode values -> (x, y) anchor as fractions of the free space (0 = left/top).
GRAVITY: Final[dict[str, tuple[float, float]]] = {
    "c": (0.5, 0.5),
    "n": (0.5, 0.0), "t": (0.5, 0.0),
    "s": (0.5, 1.0), "b": (0.5, 1.0),
    "e": (1.0, 0.5), "r": (1.0, 0.5),
    "w": (0.0, 0.5), "l": (0.0, 0.5),
    "ne": (1.0, 0.0), "tr": (1.0, 0.0),
    "nw": (0.0, 0.0), "tl": (0.0, 0.0),
    "se": (1.0, 1.0), "br": (1.0, 1.0),
    "sw": (0.0, 1.0), "bl": (0.0, 1.0),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ResizeSpec:
    """One ``resize`` object. ``gravity`` is the parsed ``crop_mode`` (centre by default)."""

    strategy: Strategy
    width: int | None = None
    height: int | None = None
    size: int | None = None
    gravity: tuple[float, float] = (0.5, 0.5)
    x: int | None = None
    y: int | None = None
    scale: int | None = None
    background: RGBA = WHITE
    id: str | None = None
    storage_path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConvertSpec:
    """The ``convert`` object: the output format and how to flatten transparency."""

    format: str
    background: RGBA = WHITE
    keep_extension: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One output to produce from one source: optimization options plus at most one resize."""

    lossy: bool = False
    quality: int | None = None
    sampling_scheme: str | None = None
    auto_orient: bool = False
    preserve_meta: frozenset[str] = field(default_factory=frozenset)
    convert: ConvertSpec | None = None
    resize: ResizeSpec | None = None
    max_pixels: int = 89_478_485
