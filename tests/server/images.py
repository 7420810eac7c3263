"""Small test images generated with Pillow (deterministic, 64-256 px)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter


def photo(w: int = 256, h: int = 192, seed: int = 1) -> Image.Image:
    """A photo-like RGB image: blurred blobs plus mild noise (compresses like a photo)."""
    rnd = random.Random(seed)
    img = Image.new("RGB", (w, h), (90, 120, 160))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x, y = rnd.randrange(w), rnd.randrange(h)
        draw.ellipse((x, y, x + rnd.randrange(10, 80), y + rnd.randrange(10, 80)),
                     fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    img = img.filter(ImageFilter.GaussianBlur(2))
    noise = Image.effect_noise((w, h), 20).convert("RGB")
    return Image.blend(img, noise, 0.1)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode ``img`` with Pillow."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    """Decode fully."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def rgba(w: int = 128, h: int = 96) -> Image.Image:
    """An RGBA image with a transparent background and an opaque shape."""
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((8, 8, w - 8, h - 8), fill=(220, 60, 20, 255))
    return img


def animation(frames: int = 3, size: int = 64) -> bytes:
    """An animated GIF of ``frames`` distinct frames."""
    imgs = [photo(size, size, seed=i).quantize(64) for i in range(frames)]
    return encode(imgs[0], "GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)


def with_exif(orientation: int = 6) -> bytes:
    """A 96x64 JPEG carrying Orientation, DateTime, Copyright, a GPS block and an ICC profile."""
    from PIL import ImageCms

    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0132] = "2024:01:02 03:04:05"
    exif[0x8298] = "Test Copyright"
    exif[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(photo(96, 64), "JPEG", quality=90, exif=exif.tobytes(), icc_profile=icc)
