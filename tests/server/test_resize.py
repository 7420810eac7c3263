"""Every resize strategy's output dimensions, as geometry and on real pixels."""

from __future__ import annotations

import pytest

from batch.server import resize
from batch.server.colors import parse_color
from batch.server.optimize import optimize
from batch.server.spec import GRAVITY, Job, ResizeSpec
from tests.server import images

# (strategy fields, source size, expected output size)
CASES = [
    ({"strategy": "exact", "width": 100, "height": 100}, (256, 192), (100, 100)),
    ({"strategy": "exact", "width": 400, "height": 50}, (256, 192), (400, 50)),
    ({"strategy": "portrait", "height": 96}, (256, 192), (128, 96)),
    ({"strategy": "portrait", "height": 400}, (256, 192), (256, 192)),  # never enlarges
    ({"strategy": "landscape", "width": 128}, (256, 192), (128, 96)),
    ({"strategy": "landscape", "width": 999}, (256, 192), (256, 192)),  # never enlarges
    ({"strategy": "auto", "width": 100, "height": 100}, (256, 192), (100, 75)),
    ({"strategy": "auto", "width": 100, "height": 100}, (192, 256), (75, 100)),
    ({"strategy": "auto", "width": 500, "height": 500}, (256, 192), (256, 192)),
    ({"strategy": "fit", "width": 100, "height": 100}, (256, 192), (100, 100)),
    ({"strategy": "fit", "width": 50, "height": 150}, (256, 192), (50, 150)),
    ({"strategy": "crop", "width": 100, "height": 60}, (256, 192), (100, 60)),
    ({"strategy": "crop", "width": 500, "height": 60}, (256, 192), (256, 60)),  # clamped
    ({"strategy": "crop", "width": 100, "height": 60, "scale": 50}, (256, 192), (100, 60)),
    ({"strategy": "crop", "width": 100, "height": 60, "x": 10, "y": 20}, (256, 192), (100, 60)),
    ({"strategy": "square", "size": 64}, (256, 192), (64, 64)),
    ({"strategy": "square", "size": 300}, (256, 192), (300, 300)),
    ({"strategy": "fill", "width": 200, "height": 200}, (256, 192), (200, 200)),
    ({"strategy": "fill", "width": 400, "height": 100}, (256, 192), (400, 100)),
]


@pytest.mark.parametrize(("fields", "source", "expected"), CASES)
def test_plan_output_size(fields: dict[str, object], source: tuple[int, int],
                          expected: tuple[int, int]) -> None:
    """Each strategy's plan produces Kraken's documented output size."""
    plan = resize.plan(*source, ResizeSpec(**fields))  # type: ignore[arg-type]
    assert plan.output_size == expected


@pytest.mark.parametrize(("fields", "source", "expected"), CASES)
def test_optimized_output_size(fields: dict[str, object], source: tuple[int, int],
                               expected: tuple[int, int]) -> None:
    """Resizing real pixels gives the planned size in the encoded file."""
    data = images.encode(images.photo(*source), "PNG")
    out = optimize(data, Job(resize=ResizeSpec(**fields)))  # type: ignore[arg-type]
    assert (out.width, out.height) == expected
    assert images.decode(out.data).size == expected
    assert (out.original_width, out.original_height) == source


def test_crop_mode_picks_the_region() -> None:
    """crop_mode moves the kept box: 'nw' keeps the top-left corner, 'se' the bottom-right."""
    nw = resize.plan(256, 192, ResizeSpec(strategy="crop", width=100, height=60,
                                          gravity=GRAVITY["nw"]))
    se = resize.plan(256, 192, ResizeSpec(strategy="crop", width=100, height=60,
                                          gravity=GRAVITY["se"]))
    assert nw.box == (0, 0, 100, 60) and se.box == (156, 132, 256, 192)


def test_fill_pads_with_the_background() -> None:
    """fill pads the free space with the requested colour."""
    data = images.encode(images.photo(256, 64), "PNG")
    spec = ResizeSpec(strategy="fill", width=100, height=100, background=parse_color("#f00"))
    img = images.decode(optimize(data, Job(resize=spec)).data).convert("RGB")
    assert img.getpixel((50, 2)) == (255, 0, 0)
