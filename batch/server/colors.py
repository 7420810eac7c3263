"""CSS-like colours as Kraken accepts them for ``resize.background`` and ``convert.background``.

Accepted: ``#f60``, ``#ff6600``, ``#ff6600cc``, ``rgb(255,102,0)``, ``rgba(91,126,156,0.7)``
(alpha 0..1), and the names ``white``, ``black`` and ``transparent``. The result is an RGBA
4-tuple of ints, which pickles cheaply to the optimizer workers.
"""

from __future__ import annotations

import re
from typing import Final

RGBA = tuple[int, int, int, int]

WHITE: Final[RGBA] = (255, 255, 255, 255)
_NAMES: Final[dict[str, RGBA]] = {
    "white": WHITE, "black": (0, 0, 0, 255), "transparent": (0, 0, 0, 0),
}
_HEX: Final = re.compile(r"#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})")
_FUNC: Final = re.compile(r"(rgba?)\(\s*([^)]*)\)")


def parse_color(text: str) -> RGBA:
    """Parse ``text`` or raise ``ValueError`` saying which forms are accepted."""
    value = text.strip().lower()
    if value in _NAMES:
        return _NAMES[value]
    if m := _HEX.fullmatch(value):
        digits = m.group(1)
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        if len(digits) == 6:
            digits += "ff"
        r, g, b, a = (int(digits[i:i + 2], 16) for i in range(0, 8, 2))
        return (r, g, b, a)
    if m := _FUNC.fullmatch(value):
        parts = [p.strip() for p in m.group(2).split(",")]
        if len(parts) == (4 if m.group(1) == "rgba" else 3):
            try:
                rgb = [int(p) for p in parts[:3]]
                alpha = float(parts[3]) if len(parts) == 4 else 1.0
            except ValueError:
                pass
            else:
                if all(0 <= c <= 255 for c in rgb) and 0.0 <= alpha <= 1.0:
                    return (rgb[0], rgb[1], rgb[2], round(alpha * 255))
    raise ValueError(
        f"invalid colour {text!r}: use #rgb, #rrggbb, rgb(r,g,b) or rgba(r,g,b,a)"
    )
