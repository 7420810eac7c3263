"""The pure optimization modules, called directly (no server)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops

from batch.server import encode
from batch.server.colors import parse_color
from batch.server.errors import TooLarge, UnsupportedType
from batch.server.optimize import optimize
from batch.server.spec import ConvertSpec, Job, ResizeSpec
from tests.server import images

PHOTO = images.photo()
JPEG = images.encode(PHOTO, "JPEG", quality=95)
PNG = images.encode(PHOTO, "PNG")


def same_pixels(a: bytes, b: bytes) -> bool:
    x, y = images.decode(a).convert("RGBA"), images.decode(b).convert("RGBA")
    return x.size == y.size and ImageChops.difference(x, y).getbbox() is None


def test_jpeg_lossless_is_pixel_identical_and_smaller() -> None:
    """Lossless JPEG optimization keeps every pixel and saves bytes."""
    out = optimize(JPEG, Job())
    assert out.format == "jpeg" and len(out.data) < len(JPEG)
    assert same_pixels(out.data, JPEG)


def test_png_lossless_is_pixel_identical() -> None:
    """Lossless PNG optimization keeps every pixel, alpha included."""
    for data in (PNG, images.encode(images.rgba(), "PNG")):
        out = optimize(data, Job())
        assert out.format == "png" and len(out.data) <= len(data)
        assert same_pixels(out.data, data)


@pytest.mark.parametrize("job", [Job(lossy=True), Job(lossy=True, quality=60)])
def test_jpeg_lossy_is_smaller_and_same_size(job: Job) -> None:
    """Lossy JPEG (automatic or given quality) is much smaller and keeps the dimensions."""
    out = optimize(JPEG, job)
    assert len(out.data) < len(JPEG) * 0.7
    assert images.decode(out.data).size == PHOTO.size


def test_png_lossy_is_palette_and_smaller() -> None:
    """Lossy PNG is quantized to a palette and smaller than the lossless result."""
    out = optimize(PNG, Job(lossy=True))
    assert images.decode(out.data).mode == "P"
    assert len(out.data) < len(optimize(PNG, Job()).data)


def test_png_lossy_falls_back_when_quality_too_low() -> None:
    """When imagequant cannot reach quality 65, the lossless result is returned instead."""
    noise = Image.effect_noise((96, 96), 120).convert("RGB")
    merged = Image.merge("RGB", [noise.getchannel(0), noise.getchannel(0).rotate(90),
                                 noise.getchannel(0).transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    data = images.encode(merged, "PNG")
    with pytest.raises(encode.QualityTooLow):
        encode.png_encode(merged, lossy=True)
    assert same_pixels(optimize(data, Job(lossy=True)).data, data)


def test_sampling_scheme_is_honoured() -> None:
    """sampling_scheme picks the chroma subsampling of the JPEG written."""
    from PIL import JpegImagePlugin

    for scheme, expected in (("4:4:4", 0), ("4:2:2", 1), ("4:2:0", 2)):
        out = optimize(JPEG, Job(lossy=True, quality=80, sampling_scheme=scheme))
        assert JpegImagePlugin.get_sampling(images.decode(out.data)) == expected


def test_never_larger_than_the_input() -> None:
    """A plain optimization that cannot win returns the original bytes unchanged."""
    tiny = images.encode(images.photo(8, 8), "PNG", optimize=True)
    already = optimize(JPEG, Job()).data
    for data in (tiny, already, images.animation(1, 16)):
        assert len(optimize(data, Job()).data) <= len(data)
    assert optimize(already, Job()).data == already or len(optimize(already, Job()).data) < len(already)


def test_gif_animation_is_kept() -> None:
    """GIF optimization and GIF resizing keep every frame."""
    gif = images.animation(frames=3)
    for job in (Job(), Job(lossy=True),
                Job(resize=ResizeSpec(strategy="exact", width=32, height=20))):
        out = optimize(gif, job)
        img = Image.open(io.BytesIO(out.data))
        assert out.format == "gif" and getattr(img, "n_frames", 1) == 3
    assert optimize(gif, Job(resize=ResizeSpec(strategy="exact", width=32, height=20))).width == 32


@pytest.mark.parametrize("fmt", ["webp", "avif", "png", "gif", "jpeg"])
def test_convert_to_each_format(fmt: str) -> None:
    """convert writes the requested format, decodable, with the same dimensions."""
    out = optimize(PNG, Job(lossy=True, convert=ConvertSpec(format=fmt)))
    img = images.decode(out.data)
    assert out.format == fmt and img.format == fmt.upper() and img.size == PHOTO.size


def test_convert_to_jpeg_flattens_alpha_on_background() -> None:
    """Transparent pixels become the convert background when writing JPEG."""
    data = images.encode(images.rgba(), "PNG")
    out = optimize(data, Job(convert=ConvertSpec(format="jpeg", background=parse_color("#00f"))))
    corner = images.decode(out.data).convert("RGB").getpixel((1, 1))
    assert isinstance(corner, tuple) and corner[2] > 200 and corner[0] < 40


def test_metadata_stripped_by_default_and_kept_on_request() -> None:
    """All metadata goes by default; preserve_meta keeps exactly the asked-for parts."""
    data = images.with_exif(orientation=1)
    plain = images.decode(optimize(data, Job()).data)
    assert not plain.getexif() and "icc_profile" not in plain.info
    kept = images.decode(optimize(data, Job(preserve_meta=frozenset({"date", "profile"}))).data)
    exif = kept.getexif()
    assert exif[0x0132] == "2024:01:02 03:04:05" and 0x8298 not in exif and 0x8825 not in exif
    assert kept.info.get("icc_profile")
    geo = images.decode(optimize(data, Job(preserve_meta=frozenset({"geotag", "copyright"}))).data)
    assert geo.getexif()[0x8298] == "Test Copyright" and geo.getexif().get_ifd(0x8825)


def test_auto_orient_rotates_pixels() -> None:
    """auto_orient applies EXIF orientation 6 (rotate 90) to the pixels and drops the tag."""
    out = optimize(images.with_exif(orientation=6), Job(auto_orient=True))
    img = images.decode(out.data)
    assert img.size == (64, 96) and 0x0112 not in img.getexif()


def test_decompression_bomb_is_refused() -> None:
    """An image decoding to more pixels than allowed is refused before decoding."""
    data = images.encode(Image.new("L", (2000, 2000)), "PNG")
    with pytest.raises(TooLarge, match="2000x2000"):
        optimize(data, Job(max_pixels=1_000_000))


@pytest.mark.parametrize("data", [b"plain text, not an image", b"BM" + b"\0" * 64,
                                  b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
                                  images.animation(2, 16)[:200]])
def test_non_images_and_corrupt_images_are_unsupported(data: bytes) -> None:
    """Unknown magic bytes and corrupt images raise UnsupportedType (415)."""
    with pytest.raises(UnsupportedType):
        optimize(data, Job())


@pytest.mark.parametrize(("text", "rgba"), [
    ("#f60", (255, 102, 0, 255)), ("#ff6600", (255, 102, 0, 255)),
    ("rgb(1, 2, 3)", (1, 2, 3, 255)), ("rgba(91,126,156,0.7)", (91, 126, 156, 178)),
    ("white", (255, 255, 255, 255)),
])
def test_colours(text: str, rgba: tuple[int, int, int, int]) -> None:
    """Kraken's colour notations parse to RGBA."""
    assert parse_color(text) == rgba


@pytest.mark.parametrize("text", ["#ff", "rgb(1,2)", "rgb(300,0,0)", "blue-ish"])
def test_bad_colours(text: str) -> None:
    """Malformed colours are rejected."""
    with pytest.raises(ValueError, match="invalid colour"):
        parse_color(text)


def test_png_lossy_keeps_transparency() -> None:
    """Lossy PNG quantization keeps the alpha channel (transparent stays transparent)."""
    out = images.decode(optimize(images.encode(images.rgba(), "PNG"), Job(lossy=True)).data)
    rgba = out.convert("RGBA")
    assert out.mode == "P" and rgba.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert rgba.getpixel((64, 48)) == (220, 60, 20, 255)
