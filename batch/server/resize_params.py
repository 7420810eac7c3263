"""Validation of one ``resize`` object into a ``ResizeSpec`` (422 messages in Kraken's words)."""

from __future__ import annotations

from typing import Any, Final

from batch.server.colors import WHITE, parse_color
from batch.server.errors import InvalidParameters
from batch.server.spec import GRAVITY, STRATEGIES, ResizeSpec

#: Largest width/height/size accepted, to keep canvases within memory.
MAX_DIMENSION: Final = 10_000
_NEEDS: Final = {
    "exact": ("width", "height"), "auto": ("width", "height"), "fit": ("width", "height"),
    "crop": ("width", "height"), "fill": ("width", "height"),
    "portrait": ("height",), "landscape": ("width",), "square": ("size",),
}


def _dimension(raw: dict[str, Any], name: str, where: str, *, upper: int = MAX_DIMENSION,
               lower: int = 1) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lower <= value <= upper:
        raise InvalidParameters(f"{where}.{name} must be an integer from {lower} to {upper}")
    return value


def parse_resize(raw: object, where: str, *, multi: bool) -> ResizeSpec:
    """Check one resize object; ``multi`` entries also need an ``id``."""
    if not isinstance(raw, dict):
        raise InvalidParameters(f"{where} must be an object")
    strategy = raw.get("strategy")
    if strategy is None:
        raise InvalidParameters(f"{where}.strategy is required")
    if strategy not in STRATEGIES:
        raise InvalidParameters(
            f"Unknown resize strategy {strategy!r}: use one of {', '.join(STRATEGIES)}"
        )
    dims = {name: _dimension(raw, name, where) for name in ("width", "height", "size")}
    needed = _NEEDS[strategy]
    if any(dims[name] is None for name in needed):
        what = " and ".join(needed)
        raise InvalidParameters(f"For '{strategy}' strategy image {what} must be set")
    background = WHITE
    if "background" in raw:
        if not isinstance(raw["background"], str):
            raise InvalidParameters(f"{where}.background must be a colour string")
        try:
            background = parse_color(raw["background"])
        except ValueError as exc:
            raise InvalidParameters(f"{where}.background: {exc}") from None
    mode = raw.get("crop_mode", "c")
    gravity = GRAVITY.get(mode.lower(), GRAVITY["c"]) if isinstance(mode, str) else GRAVITY["c"]
    ident: str | None = None
    if multi:
        value = raw.get("id")
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise InvalidParameters(f"{where}.id is required (a string or a number)")
        ident = str(value)
    storage_path = raw.get("storage_path")
    if storage_path is not None and (not isinstance(storage_path, str) or not storage_path):
        raise InvalidParameters(f"{where}.storage_path must be a non-empty string")
    return ResizeSpec(
        strategy=strategy, width=dims["width"], height=dims["height"], size=dims["size"],
        gravity=gravity, x=_dimension(raw, "x", where, lower=0),
        y=_dimension(raw, "y", where, lower=0),
        scale=_dimension(raw, "scale", where, upper=1000), background=background, id=ident,
        storage_path=storage_path,
    )
