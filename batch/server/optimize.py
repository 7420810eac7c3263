"""The optimization pipeline: source bytes + ``Job`` -> optimized bytes, format and dimensions.

Pure and synchronous so it can run in a worker process (or thread). Two paths:

- **Same format, no resize, no rotation** ("plain optimization"): re-pack the original with
  the format's optimizer (lossless) or re-encode it (lossy). The result is never larger than
  the input: when the optimizer cannot win, the original bytes come back (``saved_bytes`` 0).
- **Pixel path** (resize, convert or auto-orient): decode with Pillow, transform each frame,
  encode to the target format. The result is returned even when larger, as Kraken does.

Decompression bombs are refused from the header alone, before any pixel is decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from batch.server import encode, metadata, resize
from batch.server.colors import WHITE
from batch.server.errors import TooLarge, UnsupportedType
from batch.server.formats import SNIFF_BYTES, sniff
from batch.server.quality import choose_quality
from batch.server.spec import Job

_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True, slots=True)
class Output:
    """One optimized result."""

    data: bytes
    format: str
    width: int
    height: int
    original_width: int
    original_height: int


def configure_worker() -> None:
    """Per-process setup for optimizer workers.

    Pillow's global decompression-bomb check is replaced by the per-job ``max_pixels`` check
    in ``open_image`` (which raises our 413 instead of a warning or Pillow's own error), and
    libvips' operation cache is disabled: workers see each image once.
    """
    import pyvips

    Image.MAX_IMAGE_PIXELS = None
    pyvips.cache_set_max(0)


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open (lazily: header only) and refuse images over ``max_pixels``."""
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"Image dimensions too large: {exc}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UnsupportedType() from None
    pixels = img.width * img.height
    if pixels > max_pixels:
        raise TooLarge(
            f"Image dimensions too large: {img.width}x{img.height} is {pixels} pixels; "
            f"the maximum is {max_pixels} pixels"
        )
    return img


def optimize(data: bytes, job: Job) -> Output:
    """Optimize ``data`` as ``job`` says. Raises TooLarge/UnsupportedType for bad input."""
    fmt = sniff(data[:SNIFF_BYTES])
    if fmt is None:
        raise UnsupportedType()
    img = open_image(data, job.max_pixels)
    try:
        img.load() if fmt != "gif" else None
    except (OSError, ValueError, SyntaxError):
        raise UnsupportedType("File type not supported: the image data is corrupt") from None
    target = job.convert.format if job.convert else fmt
    orientation = img.getexif().get(_ORIENTATION_TAG, 1) if fmt in ("jpeg", "png", "webp") else 1
    rotate = job.auto_orient and orientation not in (1, None)
    kept = metadata.select(img, job.preserve_meta, oriented=rotate)
    if job.resize is None and target == fmt and not rotate:
        out = _same_format(data, fmt, img, job, kept)
        if len(out) >= len(data):
            out = data
        return Output(out, fmt, img.width, img.height, img.width, img.height)
    return _pixel_path(img, target, job, kept)


def _same_format(data: bytes, fmt: str, img: Image.Image, job: Job, kept: metadata.Kept) -> bytes:
    if fmt == "jpeg":
        if not job.lossy:
            return metadata.insert_jpeg(encode.jpeg_lossless(data), kept)
        pixels = encode.flatten(img, WHITE)
        return metadata.insert_jpeg(_jpeg(pixels, job), kept)
    if fmt == "png":
        if job.lossy:
            try:
                return metadata.insert_png(encode.png_encode(img, lossy=True), kept)
            except encode.QualityTooLow:
                pass
        # oxipng's "safe" stripping keeps the colour profile itself; add only EXIF.
        return metadata.insert_png(encode.png_lossless(data), metadata.Kept(exif=kept.exif))
    if fmt == "gif":
        return encode.gifsicle(data, lossy=job.lossy)
    frames, durations = _frames(img, None, job)
    return encode.pillow_encode(frames, durations, fmt, lossy=job.lossy, quality=job.quality,
                                exif=kept.exif, icc=kept.icc)


def _jpeg(pixels: Image.Image, job: Job) -> bytes:
    if job.lossy:
        quality = job.quality or choose_quality(pixels, job.sampling_scheme)
    else:
        quality = job.quality or encode.JPEG_REENCODE_QUALITY
    return encode.jpeg_encode(pixels, quality, job.sampling_scheme)


def _frames(img: Image.Image, target: str | None,
            job: Job) -> tuple[list[Image.Image], list[int]]:
    """Decode the frames to keep (all of them only when the target can animate), transformed."""
    animate = target in (None, "gif", "webp") and getattr(img, "n_frames", 1) > 1
    sources = ImageSequence.Iterator(img) if animate else [img]
    spec = job.resize
    plan = resize.plan(img.width, img.height, spec) if spec else None
    background = spec.background if spec else WHITE
    frames, durations = [], []
    budget = job.max_pixels
    for frame in sources:
        budget -= img.width * img.height
        if budget < 0 and animate:
            raise TooLarge(f"Animation too large: more than {job.max_pixels} pixels in all frames")
        durations.append(int(frame.info.get("duration", 100)))
        current = resize.normalize_mode(frame.copy())
        if job.auto_orient:
            current = ImageOps.exif_transpose(current)
        if spec is not None and plan is not None:
            if current.size != (img.width, img.height):  # rotated by 90 degrees
                plan = resize.plan(current.width, current.height, spec)
            current = resize.apply(current, plan, background)
        frames.append(current)
    return frames, durations


def _pixel_path(img: Image.Image, target: str, job: Job, kept: metadata.Kept) -> Output:
    frames, durations = _frames(img, target, job)
    first = frames[0]
    background = job.convert.background if job.convert else WHITE
    if target == "jpeg":
        data = metadata.insert_jpeg(_jpeg(encode.flatten(first, background), job), kept)
    elif target == "png":
        try:
            data = encode.png_encode(first, lossy=job.lossy)
        except encode.QualityTooLow:
            data = encode.png_encode(first, lossy=False)
        data = metadata.insert_png(data, kept)
    elif target == "gif":
        data = encode.gif_encode(frames, durations, img.info.get("loop"), lossy=job.lossy)
    else:
        data = encode.pillow_encode(frames, durations, target, lossy=job.lossy,
                                    quality=job.quality, exif=kept.exif, icc=kept.icc)
    return Output(data, target, first.width, first.height, img.width, img.height)
