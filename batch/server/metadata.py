"""Keep exactly the metadata ``preserve_meta`` asks for, and nothing else.

Kraken strips all metadata by default; ``preserve_meta`` may list ``profile`` (ICC),
``date``, ``copyright``, ``geotag`` (GPS) and ``orientation``. We re-build a minimal EXIF
block holding only the requested tags and insert it (and the ICC profile) into the encoded
output ourselves, so every encoder path (mozjpeg, libvips, Pillow) behaves the same.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from PIL import Image

_ORIENTATION: Final = 0x0112
_DATE_BASE: Final = (0x0132,)  # DateTime
_COPYRIGHT_BASE: Final = (0x8298, 0x013B)  # Copyright, Artist
_EXIF_IFD: Final = 0x8769
_GPS_IFD: Final = 0x8825
#: DateTimeOriginal, DateTimeDigitized, OffsetTime*, SubSecTime*
_DATE_SUB: Final = (0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292)


@dataclass(frozen=True, slots=True)
class Kept:
    """Metadata to write into the output: raw EXIF (starting with ``Exif\\0\\0``) and ICC."""

    exif: bytes | None = None
    icc: bytes | None = None


def select(img: Image.Image, wanted: Collection[str], *, oriented: bool) -> Kept:
    """Extract the wanted metadata from a decoded source image.

    ``oriented`` says the pixels were already rotated upright (auto_orient), in which case
    the Orientation tag must not be kept even if asked for: it would rotate them twice.
    """
    if not wanted:
        return Kept()
    icc = img.info.get("icc_profile") if "profile" in wanted else None
    source = img.getexif()
    exif = Image.Exif()
    base: list[int] = []
    if "orientation" in wanted and not oriented:
        base.append(_ORIENTATION)
    if "date" in wanted:
        base.extend(_DATE_BASE)
    if "copyright" in wanted:
        base.extend(_COPYRIGHT_BASE)
    for tag in base:
        if tag in source:
            exif[tag] = source[tag]
    if "date" in wanted:
        sub = {k: v for k, v in source.get_ifd(_EXIF_IFD).items() if k in _DATE_SUB}
        if sub:
            exif[_EXIF_IFD] = sub
    if "geotag" in wanted:
        gps = source.get_ifd(_GPS_IFD)
        if gps:
            exif[_GPS_IFD] = dict(gps)
    raw = exif.tobytes() if len(exif) else None
    return Kept(exif=raw, icc=icc or None)


def insert_jpeg(data: bytes, kept: Kept) -> bytes:
    """Insert APP1 (EXIF) and APP2 (ICC) segments right after SOI (and any JFIF APP0)."""
    if kept.exif is None and kept.icc is None:
        return data
    segments = b""
    if kept.exif is not None and len(kept.exif) <= 65533:
        segments += b"\xff\xe1" + struct.pack(">H", len(kept.exif) + 2) + kept.exif
    if kept.icc is not None:
        chunk = 65519
        parts = [kept.icc[i:i + chunk] for i in range(0, len(kept.icc), chunk)]
        for n, part in enumerate(parts, 1):
            body = b"ICC_PROFILE\0" + bytes((n, len(parts))) + part
            segments += b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body
    pos = 2
    if data[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:pos] + segments + data[pos:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def insert_png(data: bytes, kept: Kept) -> bytes:
    """Insert iCCP and eXIf chunks right after IHDR (before PLTE/IDAT, as the spec requires)."""
    if kept.exif is None and kept.icc is None:
        return data
    chunks = b""
    if kept.icc is not None:
        chunks += _png_chunk(b"iCCP", b"icc\0\0" + zlib.compress(kept.icc))
    if kept.exif is not None:
        chunks += _png_chunk(b"eXIf", kept.exif[6:])  # PNG stores the TIFF block bare
    ihdr_end = 8 + 8 + struct.unpack(">I", data[8:12])[0] + 4
    return data[:ihdr_end] + chunks + data[ihdr_end:]
