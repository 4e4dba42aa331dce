"""Input images are real PNG/JPEG/WebP files within limits, and come out fitted to the clip."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot.errors import InvalidImage
from bot.media.images import MAX_IMAGE_BYTES, prepare_image


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
