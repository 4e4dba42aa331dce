"""Offline stand-in for Sora: renders a real, playable H.264/AAC MP4 from a prompt (and optional image)."""

from __future__ import annotations

import colorsys
import math
import queue
import random
import threading
import zlib
from array import array
from collections.abc import Generator
from contextlib import closing
from fractions import Fraction
from pathlib import Path
from typing import Protocol, TypeAlias

import av
from PIL import Image, ImageDraw, ImageOps

from bot.media.text import caption_strip, label, load_font, outlined, prompt_card

SAMPLE_RATE = 48_000

# AAC consumes 1024-sample frames; feeding whole frames avoids the encoder buffering partial ones.
_AUDIO_FRAME = 1024
# Frames drawn ahead of the encoder: enough to ride out jitter, few enough to keep memory flat.
_AHEAD = 4
_PRESET = "veryfast"
_CRF = "23"
# How far the image-to-video shot zooms in over the whole clip: enough to read as motion, not as a crop.
_ZOOM = 1.08
# FFmpeg's AVCOL_PRI/TRC/SPC_BT709 and AVCOL_RANGE_MPEG all share the value 1.
_BT709 = 1
_MPEG_RANGE = 1

_RGB: TypeAlias = tuple[int, int, int]


class _Scene(Protocol):
    def frame(self, index: int) -> Image.Image:
        """The RGB picture for frame `index`."""
        ...


def render_clip(
    path: Path,
    *,
    prompt: str,
    width: int,
    height: int,
    duration: int,
    audio: bool,
    image: Path | None = None,
    seed: int | None = None,
    fps: int = 24,
) -> None:
    """Write a `duration`-second `width`x`height` MP4 to `path`; blocking, so run it in a thread."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even for yuv420p, got {width}x{height}")
    if duration <= 0 or fps <= 0:
        raise ValueError(f"duration and fps must be positive, got {duration} s at {fps} fps")
    if seed is None:
        # The same prompt renders the same clip, which keeps previews and test runs reproducible.
        seed = zlib.crc32(prompt.encode())
    frames = duration * fps
    rng = random.Random(seed)
    scene: _Scene
    # The scene is built before the output is opened so an unreadable image fails without touching disk.
    if image is None:
        scene = _TextScene(prompt, width=width, height=height, fps=fps, frames=frames, seed=seed, rng=rng)
    else:
        scene = _ImageScene(image, prompt, width=width, height=height, frames=frames, rng=rng)
    tone = _Tone(seed, duration * SAMPLE_RATE) if audio else None

    part = path.with_name(path.name + ".part")
    try:
        _encode(part, scene, width=width, height=height, fps=fps, frames=frames, tone=tone)
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _encode(
    part: Path, scene: _Scene, *, width: int, height: int, fps: int, frames: int, tone: _Tone | None
) -> None:
    # faststart moves the index to the front so Discord can start playing before the download ends.
    with av.open(str(part), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        video = out.add_stream(
            "libx264", rate=fps, options={"preset": _PRESET, "crf": _CRF, "g": str(2 * fps)}
        )
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p"
        # Tag the stream as BT.709 so players decode the colours the same way they were converted.
        codec = video.codec_context
        codec.color_primaries = _BT709
        codec.color_trc = _BT709
        codec.colorspace = _BT709
        codec.color_range = _MPEG_RANGE
        sound = None
        if tone is not None:
            sound = out.add_stream("aac", rate=SAMPLE_RATE)
            sound.layout = "mono"
            sound.bit_rate = 96_000

        sent = 0
        with closing(_frames_ahead(scene, frames, fps)) as pictures:
            for index, picture in enumerate(pictures):
                if sound is not None and tone is not None:
                    # Keep audio just ahead of video so the muxer interleaves rather than buffers a track.
                    due = min(tone.total, (index + 1) * SAMPLE_RATE // fps)
                    while sent < due and (sent + _AUDIO_FRAME <= due or due == tone.total):
                        count = min(_AUDIO_FRAME, tone.total - sent)
                        out.mux(sound.encode(_audio_frame(tone, sent, count)))
                        sent += count
                out.mux(video.encode(picture))
        out.mux(video.encode(None))
        if sound is not None:
            out.mux(sound.encode(None))


def _frames_ahead(scene: _Scene, frames: int, fps: int) -> Generator[av.VideoFrame, None, None]:
    """The clip's frames as timed yuv420p pictures, drawn and converted on a worker thread."""
    # Pillow, swscale and x264 all release the GIL, so drawing the next frames while the current one
    # encodes takes a 1080p clip from ~7 s to ~4.5 s on two cores. The short queue bounds memory.
    ready: queue.Queue[av.VideoFrame | BaseException | None] = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()

    def hand_over(item: av.VideoFrame | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def draw() -> None:
        base = Fraction(1, fps)
        try:
            for index in range(frames):
                rgb: av.VideoFrame = av.VideoFrame.from_image(scene.frame(index))  # type: ignore[no-untyped-call]
                yuv = rgb.reformat(format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG")
                yuv.pts = index
                yuv.time_base = base
                yuv.duration = 1
                if not hand_over(yuv):
                    return
        except BaseException as exc:  # re-raised on the encoding thread, where the caller sees it
            hand_over(exc)
            return
        hand_over(None)

    worker = threading.Thread(target=draw, name="render-clip-frames", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _audio_frame(tone: _Tone, start: int, count: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
    frame.planes[0].update(tone.samples(start, count))
    frame.sample_rate = SAMPLE_RATE
    frame.pts = start
    frame.time_base = Fraction(1, SAMPLE_RATE)
    return frame


class _Tone:
    """A quiet root-and-fifth drone with a slow swell; the root note follows the seed."""

    def __init__(self, seed: int, total: int) -> None:
        rng = random.Random(seed ^ 0x5EED)
        root = 196.0 * 2 ** (rng.choice((0, 2, 4, 7, 9, 12)) / 12)
        self.total = total
        self._root = 2 * math.pi * root / SAMPLE_RATE
        self._fifth = self._root * 1.5
        self._swell = 2 * math.pi * rng.uniform(0.15, 0.4) / SAMPLE_RATE
        # Fades avoid clicks at both ends; short clips get proportionally short fades.
        self._fade = max(1, min(SAMPLE_RATE // 2, total // 4))

    def samples(self, start: int, count: int) -> bytes:
        """Native-endian float32 samples [start, start + count), the layout of a mono fltp plane."""
        root, fifth, swell, fade, total = self._root, self._fifth, self._swell, self._fade, self.total
        return array(
            "f",
            [
                0.09
                * min(1.0, k / fade, (total - k) / fade)
                * (0.8 + 0.2 * math.sin(swell * k))
                * (math.sin(root * k) + 0.5 * math.sin(fifth * k))
                for k in range(start, start + count)
            ],
        ).tobytes()


class _TextScene:
    """A drifting gradient, an orbiting light and the prompt on a translucent card."""

    def __init__(
        self,
        prompt: str,
        *,
        width: int,
        height: int,
        fps: int,
        frames: int,
        seed: int,
        rng: random.Random,
    ) -> None:
        self._width, self._height, self._fps, self._frames = width, height, fps, frames
        unit = min(width, height)
        self._hue = rng.random()
        self._drift = rng.choice((-1, 1)) * rng.uniform(0.08, 0.18)
        self._accent = _hsv(self._hue + 0.5, 0.45, 1.0)
        self._gradient = Image.linear_gradient("L").resize((1, height), Image.Resampling.BILINEAR)

        self._orb_mask = _orb_mask(max(8, unit // 3))
        self._orb_phase = (rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))
        # Incommensurate periods trace a Lissajous path that never visibly repeats within a clip.
        self._orb_period = (rng.uniform(5.0, 7.0), rng.uniform(3.0, 4.5))

        self._card = prompt_card(prompt, width, height)
        self._card_pos = ((width - self._card.width) // 2, (height - self._card.height) * 9 // 20)
        self._hud_font = load_font(max(12, unit // 36))
        self._margin = max(8, unit // 40)
        self._label = label(f"sora-bot · local render · seed {seed}", self._hud_font)
        self._bar = max(3, unit // 160)

    def frame(self, index: int) -> Image.Image:
        """The RGB picture for frame `index`."""
        width, height = self._width, self._height
        progress = index / max(1, self._frames - 1)
        hue = self._hue + self._drift * progress
        # Compose a 1-pixel-wide column and stretch it: far cheaper than a full-frame blend.
        column = Image.composite(
            Image.new("RGB", (1, height), _hsv(hue + 0.08, 0.7, 0.14)),
            Image.new("RGB", (1, height), _hsv(hue, 0.55, 0.45)),
            self._gradient,
        )
        picture = column.resize((width, height), Image.Resampling.NEAREST)

        seconds = index / self._fps
        size = self._orb_mask.width
        x = (width - size) * (
            0.5 + 0.45 * math.sin(2 * math.pi * seconds / self._orb_period[0] + self._orb_phase[0])
        )
        y = (height - size) * (
            0.5 + 0.45 * math.sin(2 * math.pi * seconds / self._orb_period[1] + self._orb_phase[1])
        )
        picture.paste(self._accent, (round(x), round(y), round(x) + size, round(y) + size), self._orb_mask)

        picture.paste(self._card, self._card_pos, self._card)
        margin = self._margin
        picture.paste(self._label, (width - margin - self._label.width, margin), self._label)
        draw = ImageDraw.Draw(picture)
        total = self._frames / self._fps
        clock = f"{seconds:5.2f} s / {total:.0f} s   frame {index + 1}/{self._frames}"
        outlined(draw, (margin, margin), clock, self._hud_font)
        _progress_bar(draw, (width, height), self._bar, (index + 1) / self._frames, self._accent)
        return picture


class _ImageScene:
    """The source image, cover-fitted, under a slow zoom and pan with the prompt captioned at the bottom."""

    def __init__(
        self, image: Path, prompt: str, *, width: int, height: int, frames: int, rng: random.Random
    ) -> None:
        self._width, self._height, self._frames = width, height, frames
        # The base keeps spare pixels so zooming in samples real detail rather than upscaling the frame.
        base_size = (math.ceil(width * _ZOOM), math.ceil(height * _ZOOM))
        with Image.open(image) as source:
            # JPEG can decode straight at a reduced scale: a 12 MP photo then costs a fraction to load.
            source.draft("RGB", base_size)
            upright = ImageOps.exif_transpose(source)
            self._base = ImageOps.fit(_flatten(upright), base_size, Image.Resampling.LANCZOS)
        angle = rng.uniform(0, 2 * math.pi)
        self._pan = (0.6 * math.cos(angle), 0.6 * math.sin(angle))
        self._caption = caption_strip(prompt, width, height)
        unit = min(width, height)
        self._bar = max(3, unit // 160)
        self._accent = _hsv(rng.random(), 0.45, 1.0)

    def frame(self, index: int) -> Image.Image:
        """The RGB picture for frame `index`."""
        progress = index / max(1, self._frames - 1)
        zoom = 1 + (_ZOOM - 1) * progress
        base_w, base_h = self._base.size
        box_w, box_h = base_w / zoom, base_h / zoom
        # The pan reaches at most the slack the zoom has opened up, so the box never leaves the image.
        centre_x = base_w / 2 + self._pan[0] * (base_w - box_w) / 2
        centre_y = base_h / 2 + self._pan[1] * (base_h - box_h) / 2
        box = (centre_x - box_w / 2, centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2)
        picture = self._base.resize((self._width, self._height), Image.Resampling.BILINEAR, box=box)
        picture.paste(self._caption, (0, self._height - self._caption.height), self._caption)
        draw = ImageDraw.Draw(picture)
        _progress_bar(draw, picture.size, self._bar, (index + 1) / self._frames, self._accent)
        return picture


def _flatten(image: Image.Image) -> Image.Image:
    """`image` as RGB, with any transparency laid over black rather than left to the converter."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (0, 0, 0))
        flat.paste(rgba, (0, 0), rgba)
        return flat
    return image.convert("RGB")


def _progress_bar(
    draw: ImageDraw.ImageDraw, size: tuple[int, int], thickness: int, done: float, colour: _RGB
) -> None:
    width, height = size
    draw.rectangle((0, height - thickness, width, height), fill=(20, 20, 20))
    draw.rectangle((0, height - thickness, round(width * done), height), fill=colour)


def _hsv(hue: float, saturation: float, value: float) -> _RGB:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _orb_mask(size: int) -> Image.Image:
    """An L mask of a solid disc with a soft glow, drawn once and pasted at a new place every frame."""
    # radial_gradient holds the distance from the centre in pixels: 128 at the edge midpoints.
    levels = []
    for value in range(256):
        distance = min(1.0, value / 128)
        levels.append(255 if distance <= 0.38 else round(170 * ((1 - distance) / 0.62) ** 2))
    return Image.radial_gradient("L").point(levels).resize((size, size), Image.Resampling.LANCZOS)
