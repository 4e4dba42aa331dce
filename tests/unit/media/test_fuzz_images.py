"""Property tests for `prepare_image`: whatever bytes arrive, the answer is a JPEG fitted to the clip
(upright, scaled to cover it and centre-cropped: exactly its pixel size) or InvalidImage with a short
message, and nothing else.

What the code does, consistently, and what these tests pin down:
  - PNG, JPEG and WebP are accepted in any colour mode (CMYK, palette with transparency, 16-bit ...);
    transparency is dropped (`convert("RGB")`), not composited onto a background.
  - Animated WebP and APNG are accepted and their first frame is used; GIF (animated or not) is refused.
  - Other formats (BMP, TIFF, ICO, GIF, AVIF, JPEG 2000, ...) are refused, naming PNG, JPEG or WebP.
  - A JPEG whose scan data ends early (EOI present) decodes with libjpeg's grey fill and is accepted.

The profile is derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageStat

from bot.errors import InvalidImage
from bot.media.images import MAX_IMAGE_SIDE, prepare_image

FUZZ = settings(settings.get_profile("fuzz"), max_examples=200)  # the profile: tests/conftest.py

SIZES = [(1280, 720), (720, 1280), (1920, 1080), (1080, 1920)]
MESSAGE_MAX = 200
MIN_SIDE = 16
# Quadrant colours: a wrong rotation, flip or off-centre crop moves them.
QUADRANTS = ((230, 30, 30), (30, 200, 40), (40, 60, 220), (240, 220, 40))
# EXIF orientation -> the transpose that makes the image upright (Pillow's own table).
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# -- building images -------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def quadrants(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), QUADRANTS[0])
    half_w, half_h = width // 2, height // 2
    image.paste(QUADRANTS[1], (half_w, 0, width, half_h))
    image.paste(QUADRANTS[2], (0, half_h, half_w, height))
    image.paste(QUADRANTS[3], (half_w, half_h, width, height))
    return image


def noise(width: int, height: int) -> Image.Image:
    return Image.merge("RGB", [Image.effect_noise((width, height), 80).convert("L") for _ in range(3)])


def in_mode(image: Image.Image, mode: str) -> Image.Image:
    """`image` in a colour mode; "P+t" is a palette image with a transparent index."""
    if mode in ("P", "P+t"):
        return image.quantize(colors=8)
    return image.convert(mode)


def exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims any size."""
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


SMALL = noise(24, 16)
SMALL_JPEG = encode(SMALL, "JPEG")
SMALL_WEBP = encode(SMALL, "WEBP")
SMALL_WEBP_X = encode(SMALL, "WEBP", exif=exif_with_orientation(1))  # extended (VP8X) layout


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG with its SOF0 dimensions overwritten."""
    data = bytearray(SMALL_JPEG)
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_canvas_claiming(width: int, height: int) -> bytes:
    """An extended WebP whose VP8X canvas claims any size (24 bits a side, stored minus one)."""
    data = bytearray(SMALL_WEBP_X)
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def webp_frame_claiming(width: int, height: int) -> bytes:
    """A simple lossy WebP whose VP8 frame header claims any size (14 bits a side)."""
    data = bytearray(SMALL_WEBP)
    assert data[12:16] == b"VP8 "
    data[26:30] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


# -- checks ----------------------------------------------------------------------------------------------


def prepare(data: bytes, size: tuple[int, int]) -> Image.Image | InvalidImage:
    """Run `prepare_image`: the decoded JPEG it returned (checked), or the InvalidImage it raised (checked).

    Any other exception fails the test as it propagates.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "Corrupt EXIF data" UserWarning is expected here
            out = prepare_image(data, size)
    except InvalidImage as error:
        message = error.user_message
        assert message and len(message) < MESSAGE_MAX and "\n" not in message, message
        note("refused: " + re.sub(r"\d+(\.\d+)?", "N", message))
        return error
    note("accepted")
    return check_jpeg(out, size)


def note(outcome: str) -> None:
    """Count outcomes in Hypothesis' statistics (--hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(outcome)


def check_jpeg(out: bytes, size: tuple[int, int]) -> Image.Image:
    """A complete JPEG in RGB of exactly `size` (upstream refuses a reference image of any other size)."""
    image = Image.open(io.BytesIO(out))
    assert image.format == "JPEG"
    image.load()
    assert image.mode == "RGB"
    assert image.size == size
    return image


def centre_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The largest centred region of `image` with `size`'s aspect ratio."""
    target = size[0] / size[1]
    width, height = image.size
    crop_w, crop_h = (
        (round(height * target), height) if width / height > target else (width, round(width / target))
    )
    left, top = (width - crop_w) // 2, (height - crop_h) // 2
    return image.crop((left, top, left + crop_w, top + crop_h))


def difference(actual: Image.Image, expected: Image.Image) -> float:
    """Mean absolute difference per channel (0-255) between two images compared at 32 px wide, or at a
    quarter of a tiny expected image's width: it is scaled up to the clip now, and single dithered pixels
    blur under the upscale (a wrong turn or crop still moves whole quadrants)."""
    width = min(32, max(4, expected.width // 4))
    box = (width, max(1, round(width * actual.height / actual.width)))
    a = actual.convert("RGB").resize(box, Image.Resampling.BOX)
    b = expected.convert("RGB").resize(box, Image.Resampling.BOX)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def check_refused(result: Image.Image | InvalidImage, *words: str) -> InvalidImage:
    assert isinstance(result, InvalidImage), "this image should have been refused"
    assert any(word in result.user_message for word in words), result.user_message
    return result


# -- strategies ------------------------------------------------------------------------------------------

MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"\xff\xd8\xff\xdb",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\xff\xff\xff\xffWEBPVP8L",
    b"RIFF\x24\x00\x00\x00WEBPVP8X",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"\x00\x00\x01\x00",
    b"\x00\x00\x00\x0cjP  \r\n\x87\n",
    b"<svg xmlns='http://www.w3.org/2000/svg'>",
    b"",
]
RANDOM_BYTES = st.one_of(
    st.binary(max_size=4096), st.builds(bytes.__add__, st.sampled_from(MAGICS), st.binary(max_size=2048))
)
MODES_BY_FORMAT = {
    "PNG": ["RGB", "RGBA", "L", "LA", "P", "P+t", "1"],  # 16-bit: see the known bugs below
    "JPEG": ["RGB", "L", "CMYK"],
    "WEBP": ["RGB", "RGBA"],
}
SIDES = st.one_of(st.integers(MIN_SIDE, 400), st.integers(MIN_SIDE, 1600), st.sampled_from([16, 17, 4096]))


@st.composite
def valid_images(draw: st.DrawFn) -> tuple[bytes, Image.Image, str]:
    """(encoded file, the upright picture it shows, description) for any accepted format and mode."""
    fmt = draw(st.sampled_from(sorted(MODES_BY_FORMAT)))
    mode = draw(st.sampled_from(MODES_BY_FORMAT[fmt]))
    width, height = draw(SIDES), draw(SIDES)
    if width * height > 1600 * 1600:
        width = min(width, 64)  # keep a 4096 side cheap
    orientation = draw(st.sampled_from([None, 1, 2, 3, 4, 5, 6, 7, 8]))
    picture = in_mode(quadrants(width, height), mode)
    options: dict[str, object] = {}
    if mode == "P+t":
        options["transparency"] = 0
    if fmt == "JPEG":
        options["quality"] = 95
    if fmt == "PNG":
        options["interlace"] = draw(st.booleans())
    if orientation is not None:
        options["exif"] = exif_with_orientation(orientation)
    data = encode(picture, fmt, **options)
    shown = picture.convert("RGB")
    if orientation in UPRIGHT:
        shown = shown.transpose(UPRIGHT[orientation])
    return data, shown, f"{fmt} {mode} {width}x{height} orientation={orientation}"


def truncatable() -> dict[str, bytes]:
    """Small real files in every layout the decoders have: cut at any point, none may crash the bot."""
    picture = noise(40, 28)
    frames = [picture, Image.new("RGB", (40, 28), (0, 0, 255)), Image.new("RGB", (40, 28), (0, 255, 0))]
    return {
        "png": encode(picture, "PNG"),
        "png-interlaced": encode(picture, "PNG", interlace=True),
        "png-palette-transparent": encode(picture.quantize(16), "PNG", transparency=0),
        "png-16-bit": encode(picture.convert("I;16"), "PNG"),
        "apng": encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        "jpeg": encode(picture, "JPEG"),
        "jpeg-progressive": encode(picture, "JPEG", progressive=True),
        "jpeg-cmyk": encode(picture.convert("CMYK"), "JPEG"),
        "jpeg-exif-rotated": encode(picture, "JPEG", exif=exif_with_orientation(6)),
        "webp": encode(picture, "WEBP"),
        "webp-lossless": encode(picture, "WEBP", lossless=True),
        "webp-alpha": encode(picture.convert("RGBA"), "WEBP"),
        "webp-animated": encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
    }


TRUNCATABLE = truncatable()


# -- properties ------------------------------------------------------------------------------------------


@FUZZ
@given(data=RANDOM_BYTES, size=st.sampled_from(SIZES))
@example(data=b"", size=(1280, 720))
@example(data=b"just text, renamed to .png", size=(1280, 720))
def test_random_bytes_are_refused_or_become_a_fitted_jpeg(data: bytes, size: tuple[int, int]) -> None:
    prepare(data, size)


@FUZZ
@given(image=valid_images(), size=st.sampled_from(SIZES))
def test_valid_images_come_out_upright_centred_and_fitted(
    image: tuple[bytes, Image.Image, str], size: tuple[int, int]
) -> None:
    data, shown, description = image
    result = prepare(data, size)
    assert isinstance(result, Image.Image), f"{description}: {result}"
    assert result.size == size, description
    # Lossy codecs smear chroma across the quadrant edges of tiny images; a wrong turn costs far more.
    assert difference(result, centre_crop(shown, size)) < (12 if min(shown.size) >= 48 else 32), description


CUTS = st.sampled_from(sorted(TRUNCATABLE)).flatmap(
    lambda name: st.tuples(st.just(name), st.integers(0, len(TRUNCATABLE[name]) - 1))
)


@FUZZ
@given(cut=CUTS, size=st.sampled_from(SIZES))
def test_truncated_images_are_refused_or_still_decode(cut: tuple[str, int], size: tuple[int, int]) -> None:
    name, end = cut
    prepare(TRUNCATABLE[name][:end], size)


@pytest.mark.parametrize("name", sorted(TRUNCATABLE))
def test_every_cut_point_of_small_images(name: str) -> None:
    """Exhaustive: every prefix of each small file (a few thousand calls, ~1 ms each)."""
    data = TRUNCATABLE[name]
    for end in range(len(data)):
        prepare(data[:end], (1280, 720))


CLAIMING = {
    "png": png_claiming,
    "jpeg": jpeg_claiming,
    "webp-vp8x": webp_canvas_claiming,
    "webp-vp8": webp_frame_claiming,
}
LIMIT_BY_KIND = {"png": 2**32 - 1, "jpeg": 2**16 - 1, "webp-vp8x": 2**24, "webp-vp8": 2**14 - 1}


@st.composite
def claimed_sizes(draw: st.DrawFn) -> tuple[str, int, int]:
    kind = draw(st.sampled_from(sorted(CLAIMING)))
    limit = LIMIT_BY_KIND[kind]
    side = st.one_of(
        st.integers(1, limit),
        st.integers(MAX_IMAGE_SIDE - 2, MAX_IMAGE_SIDE + 2),
        st.sampled_from([1, limit]),
    )
    return kind, draw(side), draw(side)


@FUZZ
@given(claim=claimed_sizes(), size=st.sampled_from(SIZES))
@example(claim=("png", 2**31 - 1, 2**31 - 1), size=(1280, 720))
@example(claim=("jpeg", 65535, 65535), size=(1280, 720))
@example(claim=("webp-vp8x", 2**24, 2**24), size=(1280, 720))
@example(claim=("jpeg", MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), size=(1280, 720))
def test_huge_declared_dimensions_are_refused_before_decoding(
    claim: tuple[str, int, int], size: tuple[int, int]
) -> None:
    kind, width, height = claim
    data = CLAIMING[kind](width, height)
    result = prepare(data, size)
    if max(width, height) > MAX_IMAGE_SIDE and kind != "webp-vp8":  # VP8 keeps 14 bits: it may wrap
        check_refused(result, "4096", "PNG, JPEG or WebP", "damaged")


@FUZZ
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP"]),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    size=st.sampled_from(SIZES),
)
def test_tiny_images_are_refused(fmt: str, width: int, height: int, size: tuple[int, int]) -> None:
    result = prepare(encode(quadrants(width, height), fmt), size)
    if min(width, height) < MIN_SIDE:
        check_refused(result, "too small")
    else:
        assert isinstance(result, Image.Image)


@st.composite
def animations(draw: st.DrawFn) -> tuple[str, list[Image.Image]]:
    fmt = draw(st.sampled_from(["GIF", "PNG", "WEBP"]))
    width, height = draw(st.integers(MIN_SIDE, 200)), draw(st.integers(MIN_SIDE, 200))
    colour = st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
    first = draw(colour)
    second = tuple((channel + 128) % 256 for channel in first)  # far from the first in every channel
    colours = [first, second, *draw(st.lists(colour, max_size=4))]
    return fmt, [Image.new("RGB", (width, height), c) for c in colours]


@FUZZ
@given(animation=animations(), size=st.sampled_from(SIZES))
def test_animated_webp_and_apng_use_the_first_frame_and_gif_is_refused(
    animation: tuple[str, list[Image.Image]], size: tuple[int, int]
) -> None:
    fmt, frames = animation
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = prepare(data, size)
    if fmt == "GIF":
        check_refused(result, "PNG, JPEG or WebP")
        return
    assert isinstance(result, Image.Image)
    first = Image.new("RGB", result.size, frames[0].getpixel((0, 0)))
    assert difference(result, first) < 8, (fmt, frames[0].getpixel((0, 0)))


OTHER_FORMATS = {
    "BMP": "RGB",
    "TIFF": "RGB",
    "ICO": "RGBA",
    "GIF": "P",
    "PPM": "RGB",
    "TGA": "RGB",
    "PCX": "RGB",
    "SGI": "RGB",
    "MSP": "1",
    "XBM": "1",
    "DDS": "RGB",
    "QOI": "RGB",
    "BLP": "P",
    "ICNS": "RGBA",
    "AVIF": "RGB",
    "JPEG2000": "RGB",
}


@settings(FUZZ, max_examples=80)
@given(
    fmt=st.sampled_from(sorted(OTHER_FORMATS)),
    width=st.integers(MIN_SIDE, 128),
    height=st.integers(MIN_SIDE, 128),
)
def test_other_formats_are_refused_naming_the_allowed_ones(fmt: str, width: int, height: int) -> None:
    if fmt == "ICNS":
        width = height = 32  # ICNS stores square icon sizes only
    picture = in_mode(noise(width, height), OTHER_FORMATS[fmt])
    check_refused(prepare(encode(picture, fmt), (1280, 720)), "PNG, JPEG or WebP")


def special_images() -> Iterator[tuple[str, bytes]]:
    picture = quadrants(320, 200)
    yield "cmyk-jpeg", encode(picture.convert("CMYK"), "JPEG", quality=95)
    yield "16-bit-png", encode(picture.convert("L").convert("I;16"), "PNG")
    yield "palette-png-transparency", encode(picture.quantize(8), "PNG", transparency=0)
    yield "la-png", encode(picture.convert("LA"), "PNG")
    yield "exif-rotated-jpeg", encode(picture, "JPEG", exif=exif_with_orientation(6), quality=95)
    yield "exif-rotated-webp", encode(picture, "WEBP", exif=exif_with_orientation(8), quality=95)
    yield "exif-orientation-99", encode(picture, "JPEG", exif=exif_with_orientation(99), quality=95)


@pytest.mark.parametrize(("name", "data"), list(special_images()))
@pytest.mark.parametrize("size", SIZES)
def test_special_but_valid_images_are_accepted(name: str, data: bytes, size: tuple[int, int]) -> None:
    assert isinstance(prepare(data, size), Image.Image), name


# -- inputs that once got the generic error or a wrong picture (regression tests) ------------------------


def tiff_ifd(entries: list[tuple[int, int, int, bytes]]) -> bytes:
    """A big-endian TIFF header and one IFD of (tag, type, count, 4-byte value) entries."""
    out = b"MM\x00*" + struct.pack(">IH", 8, len(entries))
    for tag, kind, count, value in entries:
        out += struct.pack(">HHI", tag, kind, count) + value
    return out + b"\x00\x00\x00\x00"


ORIENTATION_6 = (0x0112, 3, 1, b"\x00\x06\x00\x00")
EXIF_BLOCKS = {
    "truncated-header": b"MM\x00*\x00\x00",
    "x-resolution-as-text": tiff_ifd([ORIENTATION_6, (0x011A, 2, 3, b"72\x00\x00")]),
    "image-width-as-text": tiff_ifd([ORIENTATION_6, (0x0100, 2, 3, b"72\x00\x00")]),
}


@settings(FUZZ, report_multiple_bugs=False)
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP"]),
    exif=st.one_of(
        st.sampled_from(sorted(EXIF_BLOCKS.values())),
        st.builds(bytes.__add__, st.sampled_from([b"MM\x00*", b"II*\x00"]), st.binary(max_size=64)),
    ),
)
@example(fmt="PNG", exif=EXIF_BLOCKS["truncated-header"])
@example(fmt="JPEG", exif=EXIF_BLOCKS["x-resolution-as-text"])
def test_malformed_exif_is_refused_or_ignored(fmt: str, exif: bytes) -> None:
    picture = quadrants(64, 40)
    prepare(encode(picture, fmt, exif=(b"Exif\x00\x00" + exif) if fmt == "JPEG" else exif), (1280, 720))


def test_16_bit_greyscale_keeps_its_brightness() -> None:
    raw = b"".join(b"\x00" + struct.pack(">H", 40_000) * 64 for _ in range(48))  # 61% grey, 64x48
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 48, 16, 0, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    result = prepare(data, (1280, 720))
    assert isinstance(result, Image.Image)
    grey = 40_000 * 255 // 65_535  # 155
    assert difference(result, Image.new("RGB", result.size, (grey, grey, grey))) < 8


def test_multi_picture_jpegs_are_accepted() -> None:
    picture = quadrants(640, 480)
    data = encode(picture, "MPO", save_all=True, append_images=[Image.new("RGB", (160, 120))])
    assert data.startswith(b"\xff\xd8")  # a JPEG file, served as image/jpeg
    result = prepare(data, (1280, 720))
    assert isinstance(result, Image.Image), result
