"""Input images for image-to-video: check the bytes are a real PNG/JPEG/WebP, then fit it to the clip.

The image is sent at exactly the clip's pixel size (`JobRequest.size`, from one table): upstream, the
reference image must match the output video's size, so a small image is scaled up and any other shape is
cover-cropped.
"""

from __future__ import annotations

import io
import struct
import tempfile
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.errors import InvalidImage
from bot.i18n.messages import N_, number
from bot.media.fit import last_frame

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_SIDE = 4096
# MPO is how Pillow names JPEGs with extra pictures (phone photos with a gain or depth map).
ALLOWED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WebP"}


def prepare_image(data: bytes, size: tuple[int, int]) -> bytes:
    """Validate an uploaded image; return it as a JPEG of exactly `size` (scaled to cover, centre-cropped).

    Raises InvalidImage with a message for the person who uploaded it.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidImage(
            N_("The image is {megabytes} MB; the limit is {limit_megabytes} MB."),
            megabytes=number(len(data) / 2**20, 1),
            limit_megabytes=MAX_IMAGE_BYTES // 2**20,
        )
    if not data:
        raise InvalidImage(N_("The image is empty."))
    # The side limit is checked from the header before any pixels are decoded, so a decompression bomb
    # never gets decoded; Pillow's own bomb check still guards the header parsing of absurd sizes.
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ALLOWED_FORMATS:
                raise InvalidImage(N_("The image must be a PNG, JPEG or WebP file."))
            width, height = image.size
            if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
                raise InvalidImage(
                    N_("The image is {width}x{height}; at most {max_side} pixels a side is allowed."),
                    width=width,
                    height=height,
                    max_side=MAX_IMAGE_SIDE,
                )
            if width < 16 or height < 16:
                raise InvalidImage(N_("The image is too small (at least 16x16 pixels)."))
            image.load()
            upright = _upright(image)
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidImage(
            N_("The image is far too large; at most {max_side} pixels a side."), max_side=MAX_IMAGE_SIDE
        ) from None
    except UnidentifiedImageError:
        raise InvalidImage(N_("That file is not a readable PNG, JPEG or WebP image.")) from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error, TypeError):
        raise InvalidImage(N_("The image is damaged or cut short; please upload it again.")) from None
    fitted = _cover(upright, size)
    out = io.BytesIO()
    fitted.save(out, format="JPEG", quality=92)
    return out.getvalue()


def start_picture(clip: Path, size: tuple[int, int]) -> bytes:
    """The clip's last frame as the next shot's input image: a JPEG of exactly the shot's size."""
    with tempfile.TemporaryDirectory(prefix="sora-story-") as folder:
        frame = last_frame(clip, Path(folder) / "last.png")
        return prepare_image(frame.read_bytes(), size)


def _upright(image: Image.Image) -> Image.Image:
    """RGB, turned the way the photo's EXIF says (a broken EXIF block is ignored, not fatal)."""
    try:
        turned = ImageOps.exif_transpose(image)
    except (struct.error, TypeError, ValueError, KeyError, SyntaxError):
        turned = image
    if turned.mode.startswith("I;16"):
        # 16-bit greyscale would clip to white when converted directly; scale it to 8 bits first.
        turned = turned.point(lambda v: v / 257).convert("L")
    return turned.convert("RGB")


def _cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the target aspect ratio, then scale (up or down) to exactly `size`: never distorted."""
    width, height = size
    target = width / height
    w, h = image.size
    # Whole-pixel crop boxes (not ImageOps.fit's fractional ones): a tiny image's pixels stay unblurred.
    if w / h > target:
        new_w = max(1, round(h * target))
        image = image.crop(((w - new_w) // 2, 0, (w - new_w) // 2 + new_w, h))
    else:
        new_h = max(1, round(w / target))
        image = image.crop((0, (h - new_h) // 2, w, (h - new_h) // 2 + new_h))
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image
