"""Image formats by magic bytes, their file extensions and content types.

The server trusts neither the URL's extension nor the source's Content-Type: only the first
bytes decide what a file is (415 for anything else). BMP, TIFF, SVG, PDF and HEIC are refused,
as this server does not optimize them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Final

CONTENT_TYPES: Final = {
    "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "avif": "image/avif",
}
EXTENSIONS: Final = {"jpeg": ".jpg", "png": ".png", "gif": ".gif", "webp": ".webp", "avif": ".avif"}
#: Enough bytes for every signature below.
SNIFF_BYTES: Final = 32


def sniff(head: bytes) -> str | None:
    """Return the format of a file starting with ``head``, or None when it is not one we read."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "avif"
    return None


def output_name(file_name: str, fmt: str, *, keep_extension: bool) -> str:
    """The result's file name: the source's, with the new format's extension on conversion."""
    if keep_extension:
        return file_name
    path = PurePosixPath(file_name)
    suffix = path.suffix.lower()
    if fmt == "jpeg" and suffix in (".jpg", ".jpeg"):
        return file_name
    return str(path.with_suffix(EXTENSIONS[fmt])) if path.suffix else file_name + EXTENSIONS[fmt]
