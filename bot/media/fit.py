"""Shrink finished clips for Discord: re-encode under a byte limit, cut previews and grab stills."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.video.frame import PictureType, VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from bot.media.probe import InvalidClipError, probe_clip

# Room for the MP4 index and headers and for x264 ending a little over its target: the rest is bitrate.
_OVERHEAD = 0.92
# Short-side steps tried from the top; the source's own size and `min_height` join the ladder as needed.
_RUNGS = (2160, 1440, 1080, 720, 540, 360)
# Below ~0.06 bits per pixel per frame x264 smears detail, and a smaller picture at the same bitrate
# looks better once the player scales it back up.
_MIN_BPP = 0.06
# Past ~0.3 bits per pixel the picture stops improving: a roomy limit should not inflate the file.
_MAX_BPP = 0.3
# Under this even the smallest picture is blocks, and x264 cannot go below QP 51 to shrink further.
_FLOOR_BPP = 0.005
_ATTEMPTS = 3
# A retry cuts the bitrate by the measured overshoot, and by at least this factor.
_RETRY_FACTOR = 0.85
_PRESET = "veryfast"
# ABR aims the average at the budget; a VBV cap of maxrate = bitrate with a one-second buffer bounds
# the whole file to about bitrate x (length + 0.9 s), which the overhead margin absorbs. Plain ABR ran
# to 2x the budget on a clip that turns hard halfway; maxrate 1.5x/2 s buffer still ran ~10% over.
_MAXRATE_FACTOR = 1.0
_BUFFER_SECONDS = 1.0
# A keyframe every few seconds keeps seeking snappy without spending a tight budget on I-frames.
_KEYFRAME_SECONDS = 4
_FALLBACK_RATE = Fraction(24)
# FFmpeg's AVCOL_RANGE_MPEG: players assume limited-range yuv420p, and x264 is fed just that.
_MPEG_RANGE = 1
_JPEG_QUALITY = 88
# `last_frame` seeks this far before the end: it lands on the keyframe before that point, so only the
# last GOP or two get decoded instead of the whole clip.
_TAIL_SECONDS = 1.0


@dataclass(frozen=True)
class FitResult:
    """A re-encoded clip that fits the limit, and how it was made."""

    path: Path
    size_bytes: int
    width: int
    height: int
    video_bitrate: int
    attempts: int


@dataclass(frozen=True)
class _Plan:
    """One encode: output picture size, bitrates (audio None = drop it) and an optional cut-off."""

    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int | None
    seconds: float | None


def fit_clip(source: Path, dest: Path, *, max_bytes: int, min_height: int = 360) -> FitResult | None:
    """Re-encode `source` as H.264/AAC MP4 at `dest` within `max_bytes`; None when that cannot be done."""
    if min_height < 2:
        raise ValueError(f"min_height must be at least 2, got {min_height}")
    info = probe_clip(source)
    if max_bytes <= 0:
        return None
    rate, source_audio_bitrate = _stream_facts(source)
    total_bits = max_bytes * 8 * _OVERHEAD
    audio_bitrate = None
    if info.audio_codec is not None:
        audio_bitrate = _audio_bitrate(total_bits / info.duration, source_audio_bitrate)
    return _encode_within(
        source,
        dest,
        max_bytes=max_bytes,
        seconds=info.duration,
        rate=rate,
        sizes=_ladder(info.width, info.height, min_height),
        audio_bitrate=audio_bitrate,
        cut=None,
    )


def preview_clip(
    source: Path, dest: Path, *, max_bytes: int, max_seconds: float = 4.0, height: int = 360
) -> Path | None:
    """A silent H.264 MP4 of the first `max_seconds`, `height` px on the short side, within `max_bytes`."""
    if max_seconds <= 0 or height < 2:
        raise ValueError(f"max_seconds and height must be positive, got {max_seconds} and {height}")
    info = probe_clip(source)
    # What is left of a budget after other attachments may be nothing: that is no preview, not a bug.
    if max_bytes <= 0:
        return None
    rate, _ = _stream_facts(source)
    # Never upscale: a clip already smaller than the preview size keeps its own.
    size = _scaled(info.width, info.height, min(height, info.width, info.height))
    result = _encode_within(
        source,
        dest,
        max_bytes=max_bytes,
        seconds=min(max_seconds, info.duration),
        rate=rate,
        sizes=[size],
        audio_bitrate=None,
        cut=max_seconds,
    )
    return None if result is None else result.path


def poster_frame(source: Path, dest: Path, *, at: float = 0.5, max_width: int = 1280) -> Path:
    """Save the frame at fraction `at` of the clip's length as a JPEG at most `max_width` px wide."""
    if not 0.0 <= at <= 1.0:
        raise ValueError(f"at must be within [0, 1], got {at}")
    if max_width < 1:
        raise ValueError(f"max_width must be positive, got {max_width}")
    info = probe_clip(source)
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        target = start_seconds(stream) + at * info.duration
        frame = _frame_at(container, stream, target)
    image = _to_image(frame)
    if image.width > max_width:
        scaled_height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, scaled_height), Image.Resampling.LANCZOS)
    _save_image(image, dest, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return dest


def last_frame(source: Path, dest: Path) -> Path:
    """Save the clip's final frame, full size, as a PNG (the start picture for continuing the clip)."""
    info = probe_clip(source)
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        target = start_seconds(stream) + info.duration - _TAIL_SECONDS
        frame = _frame_at(container, stream, target, to_end=True)
    _save_image(_to_image(frame), dest, "PNG")
    return dest


def _encode_within(
    source: Path,
    dest: Path,
    *,
    max_bytes: int,
    seconds: float,
    rate: Fraction,
    sizes: Sequence[tuple[int, int]],
    audio_bitrate: int | None,
    cut: float | None,
) -> FitResult | None:
    """Encode at the bitrate the budget allows, lowering it on overshoot; None if the floor is reached."""
    total_bits = max_bytes * 8 * _OVERHEAD
    bitrate = (total_bits - (audio_bitrate or 0) * seconds) / seconds
    smallest_width, smallest_height = sizes[-1]
    for attempt in range(1, _ATTEMPTS + 1):
        if bitrate < _FLOOR_BPP * smallest_width * smallest_height * rate:
            return None
        width, height = _pick(sizes, bitrate, rate)
        video_bitrate = round(min(bitrate, _MAX_BPP * width * height * rate))
        plan = _Plan(width, height, video_bitrate, audio_bitrate, cut)
        with sibling(dest, ".mp4") as part:
            _transcode(source, part, plan)
            size = part.stat().st_size
            if size <= max_bytes:
                part.replace(dest)
                return FitResult(dest, size, width, height, video_bitrate, attempt)
        # Cut by the overshoot measured, since a file 30% over will not fit after a 15% cut.
        bitrate = video_bitrate * min(_RETRY_FACTOR, 0.97 * max_bytes / size)
    return None


def _transcode(source: Path, part: Path, plan: _Plan) -> None:
    """Decode `source` and re-encode it into `part` frame by frame, so memory does not grow with length."""
    with (
        av.open(str(source)) as inp,
        # faststart moves the index to the front so Discord can start playing before the download ends.
        av.open(str(part), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out,
    ):
        vin = inp.streams.video[0]
        # Frame-threaded decoding: the decoder otherwise keeps one core busy while x264 waits for it.
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if plan.audio_bitrate is not None and inp.streams.audio else None
        vout = _video_output(out, vin, plan)
        aout = None
        if ain is not None and plan.audio_bitrate is not None:
            aout = out.add_stream("aac", rate=ain.rate)
            aout.layout = "stereo" if ain.channels >= 2 else "mono"
            aout.bit_rate = plan.audio_bitrate

        end = None if plan.seconds is None else start_seconds(vin) + plan.seconds
        video_done = audio_done = False
        streams: list[VideoStream | AudioStream] = [vin] if ain is None else [vin, ain]
        for packet in inp.demux(streams):
            # Not packet.stream_index: PyAV's end-of-stream flush packets all report index 0.
            if packet.stream.index == vin.index:
                for frame in vin.decode(packet):
                    if end is not None and frame.time is not None and frame.time >= end:
                        video_done = True
                        break
                    out.mux(vout.encode(_for_encoder(frame, plan)))
            elif ain is not None and aout is not None:
                for sound in ain.decode(packet):
                    if end is not None and sound.time is not None and sound.time >= end:
                        audio_done = True
                        break
                    out.mux(aout.encode(sound))
            # A preview stops reading once both tracks are past the cut rather than decoding the rest.
            if video_done and (aout is None or audio_done):
                break
        out.mux(vout.encode(None))
        if aout is not None:
            out.mux(aout.encode(None))


def _video_output(out: OutputContainer, vin: VideoStream, plan: _Plan) -> VideoStream:
    rate = rate_of(vin)
    bitrate = plan.video_bitrate
    options = {
        "preset": _PRESET,
        "maxrate": str(round(bitrate * _MAXRATE_FACTOR)),
        "bufsize": str(round(bitrate * _BUFFER_SECONDS)),
        "g": str(round(_KEYFRAME_SECONDS * rate)),
    }
    vout = out.add_stream("libx264", rate=rate, options=options)
    vout.width = plan.width
    vout.height = plan.height
    vout.pix_fmt = "yuv420p"
    vout.bit_rate = bitrate
    codec = vout.codec_context
    # Keep the source's timestamps as they are: no rounding into a new time base, no duplicate pts.
    if vin.time_base is not None:
        codec.time_base = vin.time_base
    # Carry the colour tags over so players convert the colours the way the source was made.
    source = vin.codec_context
    codec.color_primaries = source.color_primaries
    codec.color_trc = source.color_trc
    codec.colorspace = source.colorspace
    codec.color_range = _MPEG_RANGE
    return vout


def for_encoder(frame: VideoFrame, width: int, height: int) -> VideoFrame:
    """The decoded frame at `width` x `height` for libx264 (yuv420p, limited range), its frame type cleared:
    libx264 obeys a frame's picture type, and a decoded frame still carries the source's I/P/B decisions;
    cleared, x264 picks its own GOP structure and keyframe interval."""
    picture = frame.reformat(
        width=width,
        height=height,
        format="yuv420p",
        interpolation="BICUBIC",
        src_color_range=frame.color_range or None,
        dst_color_range=_MPEG_RANGE,
    )
    picture.pict_type = PictureType.NONE
    return picture


def _for_encoder(frame: VideoFrame, plan: _Plan) -> VideoFrame:
    """The decoded frame scaled for the encoder, with its timing kept."""
    picture = for_encoder(frame, plan.width, plan.height)
    picture.pts = frame.pts
    picture.time_base = frame.time_base
    return picture


def _frame_at(
    container: InputContainer, stream: VideoStream, target: float, *, to_end: bool = False
) -> VideoFrame:
    """The first frame shown at or after `target` seconds (or the last frame, with `to_end`)."""
    stream.thread_type = "AUTO"
    if target > 0 and stream.time_base is not None:
        # A file that cannot seek, or a seek that finds nothing, falls back to decoding from the start.
        with suppress(av.FFmpegError):
            # Backward lands on the keyframe before the target; decoding forward from it finds the frame.
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
            if (found := _decode_until(container, stream, target, to_end=to_end)) is not None:
                return found
        container.seek(0, stream=stream, backward=True)
    found = _decode_until(container, stream, target, to_end=to_end)
    if found is None:
        raise InvalidClipError(f"{container.name} has no decodable video frame")
    return found


def _decode_until(
    container: InputContainer, stream: VideoStream, target: float, *, to_end: bool
) -> VideoFrame | None:
    # Only the latest frame is held, so reaching the end of a long clip costs time, not memory.
    chosen: VideoFrame | None = None
    for frame in container.decode(stream):
        chosen = frame
        if not to_end and frame.time is not None and frame.time >= target:
            break
    return chosen


def _to_image(frame: VideoFrame) -> Image.Image:
    # Full-range (JPEG) sources must say so, or swscale would stretch their levels a second time.
    image: Image.Image = frame.to_image(src_color_range=frame.color_range or None)  # type: ignore[no-untyped-call]
    return image


def _save_image(image: Image.Image, dest: Path, fmt: str, **options: object) -> None:
    with sibling(dest, "." + fmt.lower()) as part:
        image.save(part, format=fmt, **options)
        part.replace(dest)


@contextmanager
def sibling(dest: Path, suffix: str) -> Iterator[Path]:
    """A fresh temporary path next to `dest`, removed on the way out unless it was renamed into place."""
    handle, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part" + suffix, dir=dest.parent)
    os.close(handle)
    part = Path(name)
    try:
        yield part
    finally:
        part.unlink(missing_ok=True)


def _stream_facts(source: Path) -> tuple[Fraction, int | None]:
    """The video frame rate and the audio bitrate (None when unknown or silent)."""
    with av.open(str(source)) as container:
        rate = rate_of(container.streams.video[0])
        audio = container.streams.audio[0] if container.streams.audio else None
        bitrate = audio.codec_context.bit_rate if audio is not None else None
    return rate, bitrate or None


def rate_of(stream: VideoStream) -> Fraction:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else _FALLBACK_RATE


def start_seconds(stream: VideoStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _audio_bitrate(total_bitrate: float, source_bitrate: int | None) -> int:
    """Modest AAC for a roomy budget, less as it tightens, and never more than the source had."""
    if total_bitrate >= 1_500_000:
        chosen = 96_000
    elif total_bitrate >= 500_000:
        chosen = 64_000
    else:
        chosen = 48_000
    if source_bitrate is not None:
        chosen = min(chosen, max(32_000, source_bitrate))
    return chosen


def _ladder(width: int, height: int, min_height: int) -> list[tuple[int, int]]:
    """Output sizes from the source's own down to `min_height` on the short side, largest first."""
    short = min(width, height)
    sides = [short]
    sides += [side for side in _RUNGS if min_height <= side < short]
    if min_height < short and min_height not in sides:
        sides.append(min_height)
    return [_scaled(width, height, side) for side in sides]


def _scaled(width: int, height: int, short: int) -> tuple[int, int]:
    """`width`x`height` scaled so its short side is `short`, both sides even (yuv420p needs that)."""
    factor = short / min(width, height)
    return max(2, round(width * factor / 2) * 2), max(2, round(height * factor / 2) * 2)


def _pick(sizes: Sequence[tuple[int, int]], bitrate: float, rate: Fraction) -> tuple[int, int]:
    """The largest size the bitrate can still fill with enough bits per pixel, else the smallest."""
    for width, height in sizes:
        if bitrate >= _MIN_BPP * width * height * rate:
            return width, height
    return sizes[-1]
