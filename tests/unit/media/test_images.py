"""Input images are real PNG/JPEG/WebP files within limits, and come out fitted to the clip."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.domain.models import CLIP_SIZES, AspectRatio, JobRequest, Model, Resolution
from bot.errors import InvalidImage
from bot.media.images import MAX_IMAGE_BYTES, prepare_image
from tests.fakes.prodia import job_size


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge size: a decompression bomb's calling card."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_each_allowed_format_is_fitted_to_the_aspect_ratio(fmt: str) -> None:
    source = encode(Image.new("RGB", (1000, 1000), (200, 30, 30)), fmt)
    fitted = Image.open(io.BytesIO(prepare_image(source, (1280, 720))))
    assert fitted.format == "JPEG"
    assert fitted.width / fitted.height == pytest.approx(16 / 9, rel=0.01)
    r, g, b = fitted.convert("RGB").getpixel((fitted.width // 2, fitted.height // 2))  # type: ignore[misc]
    assert r > 150 and g < 80 and b < 80


def test_large_images_are_scaled_down_to_the_clip_size_and_portrait_stays_portrait() -> None:
    source = encode(Image.new("RGB", (3000, 4000), (0, 90, 200)), "PNG")
    fitted = Image.open(io.BytesIO(prepare_image(source, (720, 1280))))
    assert fitted.size == (720, 1280)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"just some text pretending to be a png", "not a readable"),
        (encode(Image.new("RGB", (64, 64)), "GIF"), "PNG, JPEG or WebP"),
        (encode(Image.new("RGB", (64, 64)), "BMP"), "PNG, JPEG or WebP"),
        (encode(Image.new("RGB", (8, 8)), "PNG"), "too small"),
        (png_claiming(5000, 300), "at most 4096"),
        (png_claiming(30_000, 30_000), "at most 4096"),
        (png_claiming(4000, 4000), "damaged"),
        (encode(Image.new("RGB", (300, 300)), "PNG")[:200], "damaged"),
        (b"\x00" * (MAX_IMAGE_BYTES + 1), "limit is 20 MB"),
    ],
)
def test_bad_images_are_refused_with_a_clear_reason(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage) as caught:
        prepare_image(data, (1280, 720))
    assert message in caught.value.user_message


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("size", [(1280, 720), (720, 1280), (1920, 1080), (1080, 1920)])
def test_a_small_image_is_scaled_up_to_exactly_the_clip_size(size: tuple[int, int]) -> None:
    source = encode(Image.new("RGB", (64, 64), (10, 200, 30)), "PNG")
    fitted = decode(prepare_image(source, size))
    assert fitted.size == size
    r, g, b = fitted.getpixel((size[0] // 2, size[1] // 2))  # type: ignore[misc]
    assert g > 150 and r < 60 and b < 80


def test_a_wide_panorama_is_cover_cropped_around_its_centre() -> None:
    # 4000x500: red | green (x 1600..2400) | blue. Its centred 16:9 part is x 1556..2444: green with a sliver
    # of red and of blue at the edges.
    panorama = Image.new("RGB", (4000, 500), (220, 20, 20))
    panorama.paste((20, 200, 20), (1600, 0, 2400, 500))
    panorama.paste((20, 20, 220), (2400, 0, 4000, 500))
    fitted = decode(prepare_image(encode(panorama, "PNG"), (1280, 720)))
    assert fitted.size == (1280, 720)
    # The crop is centred (x 1556..2444 of the panorama), so both edges show the neighbours only a little.
    left = fitted.getpixel((5, 360))
    middle = fitted.getpixel((640, 360))
    right = fitted.getpixel((1274, 360))
    assert middle[1] > 150 and middle[0] < 80  # type: ignore[index]
    assert left[0] > 150 and right[2] > 150  # type: ignore[index]
    assert fitted.getpixel((200, 360))[1] > 150  # type: ignore[index]


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    combo=st.sampled_from(sorted(CLIP_SIZES)),
    width=st.integers(16, 2600),
    height=st.integers(16, 2600),
)
def test_every_model_resolution_and_aspect_gets_an_image_of_exactly_its_table_size(
    combo: tuple[Model, Resolution, AspectRatio], width: int, height: int
) -> None:
    model, resolution, aspect = combo
    request = JobRequest.parse(
        prompt="animate this",
        model=model,
        resolution=resolution if model == "sora-2-pro" else None,
        aspect_ratio=aspect,
        image_path="still.png",
    )
    assert request.size == CLIP_SIZES[combo]
    fitted = decode(
        prepare_image(encode(Image.new("RGB", (width, height), (90, 90, 90)), "PNG"), request.size)
    )
    assert fitted.size == CLIP_SIZES[combo]


@pytest.mark.parametrize("combo", sorted(CLIP_SIZES))
def test_the_size_table_agrees_with_the_clips_the_fake_prodia_makes(
    combo: tuple[Model, Resolution, AspectRatio],
) -> None:
    model, resolution, aspect = combo
    request = JobRequest.parse(
        prompt="a clip",
        model=model,
        resolution=resolution if model == "sora-2-pro" else None,
        aspect_ratio=aspect,
    )
    job = request.prodia_job()
    width, height, _ = job_size(job["type"], job["config"])
    assert (width, height) == request.size == CLIP_SIZES[combo]
