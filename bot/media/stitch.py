"""Join a story's shots into one MP4 with cuts or crossfades, memory flat in shots and length."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import Literal, TypeAlias

import av
import numpy as np
import numpy.typing as npt
from av.audio.frame import AudioFrame
from av.container import InputContainer
from av.video.frame import VideoFrame

from bot.media.fit import for_encoder, rate_of, sibling, start_seconds
from bot.media.probe import InvalidClipError, probe_clip

Transition: TypeAlias = Literal["cut", "crossfade"]
_Samples: TypeAlias = npt.NDArray[np.float32]
_Pictures: TypeAlias = Generator[VideoFrame, None, None]

_PRESET = "veryfast"
# The stitched story is an intermediate that fit_clip shrinks for Discord later: keep it close to the shots.
_CRF = "20"
_KEYFRAME_SECONDS = 2
# AAC consumes 1024-sample frames; feeding whole frames avoids the encoder buffering partial ones.
_AUDIO_FRAME = 1024
_AUDIO_BITRATE = {"mono": 96_000, "stereo": 128_000}
# FFmpeg's AVCOL_RANGE_MPEG: players assume limited-range yuv420p, and x264 is fed just that.
_MPEG_RANGE = 1
# A shot whose pictures stop this long before its stated length is cut short (a truncated download),
# not merely rounded: stretching its last frame over the gap would hide the damage.
_SHORT_SECONDS = 0.25


@dataclass(frozen=True)
class StitchResult:
    """The stitched clip and what it holds."""

    path: Path
    duration_seconds: float
    width: int
    height: int
    has_audio: bool
    size_bytes: int


@dataclass(frozen=True)
class _Shot:
    """What the plan needs from one input, read before anything is written."""

    path: Path
    width: int
    height: int
    rate: Fraction
    seconds: float  # the video track's length
    start: float  # the video track's first timestamp: audio lines up against it
    audio_rate: int | None
    audio_channels: int
    colour: tuple[int, int, int]  # primaries, transfer, matrix


@dataclass(frozen=True)
class _Plan:
    """Every shot's place on the output timeline, in output frames at the first shot's rate."""

    shots: tuple[_Shot, ...]
    frames: tuple[int, ...]  # output frames each shot fills
    overlap: int  # frames shared by neighbouring shots (0 for cuts)
    width: int
    height: int
    rate: Fraction
    audio_rate: int | None
    layout: str

    @property
    def total_frames(self) -> int:
        return sum(self.frames) - self.overlap * (len(self.frames) - 1)

    def sample_at(self, frame: int) -> int:
        """The audio sample at which output frame `frame` starts (rounded, so spans never drift)."""
        return round(frame * (self.audio_rate or 0) / self.rate)

    @property
    def channels(self) -> int:
        return 2 if self.layout == "stereo" else 1

    def audio_span(self, index: int) -> tuple[int, int]:
        start = sum(self.frames[:index]) - self.overlap * index
        return self.sample_at(start), self.sample_at(start + self.frames[index])


def stitch(
    shots: Sequence[Path],
    dest: Path,
    *,
    transition: Transition = "cut",
    crossfade_seconds: float = 0.5,
) -> StitchResult:
    """Join `shots` in order into one H.264(/AAC) MP4 at `dest`; blocking, so run it in a thread."""
    plan = _plan(shots, transition, crossfade_seconds)
    with sibling(dest, ".mp4") as part:
        _write(plan, part)
        size = part.stat().st_size
        part.replace(dest)
    seconds = float(plan.total_frames / plan.rate)
    return StitchResult(dest, seconds, plan.width, plan.height, plan.audio_rate is not None, size)


def stitch_shots(shots: Sequence[Path], dest: Path, transition: Transition) -> None:
    """`stitch` as a story's stitcher runs it (in a media process)."""
    stitch(shots, dest, transition=transition)


def shot_durations(shots: Sequence[Path]) -> list[float]:
    """Each shot's video length in seconds: what a cut stitch of them adds up to."""
    return [_read_shot(index, path).seconds for index, path in enumerate(shots)]


def _plan(shots: Sequence[Path], transition: Transition, crossfade_seconds: float) -> _Plan:
    if not shots:
        raise ValueError("stitching needs at least one shot")
    if transition not in ("cut", "crossfade"):
        raise ValueError(f"transition must be 'cut' or 'crossfade', got {transition!r}")
    read = tuple(_read_shot(index, path) for index, path in enumerate(shots))
    first = read[0]
    frames = tuple(max(1, round(shot.seconds * first.rate)) for shot in read)
    overlap = 0
    if transition == "crossfade" and len(read) > 1:
        # The crossfade is whole output frames: its length rounds to the nearest frame.
        overlap = round(crossfade_seconds * first.rate)
        if overlap < 1:
            raise ValueError(f"a crossfade must last at least one frame, got {crossfade_seconds} s")
        for index, count in enumerate(frames):
            joins = (index > 0) + (index < len(frames) - 1)
            if count < joins * overlap:
                raise ValueError(
                    f"shot {index + 1} lasts {read[index].seconds:.2f} s, too short for"
                    f" {joins} crossfade(s) of {crossfade_seconds} s"
                )
    heard = [shot for shot in read if shot.audio_rate is not None]
    return _Plan(
        shots=read,
        frames=frames,
        overlap=overlap,
        width=first.width,
        height=first.height,
        rate=first.rate,
        audio_rate=heard[0].audio_rate if heard else None,
        layout="stereo" if any(shot.audio_channels >= 2 for shot in heard) else "mono",
    )


def _read_shot(index: int, path: Path) -> _Shot:
    try:
        info = probe_clip(path)
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            seconds = info.duration
            if video.duration and video.time_base is not None:
                seconds = float(video.duration * video.time_base)
            tags = video.codec_context
            colour = (tags.color_primaries, tags.color_trc, tags.colorspace)
            rate, start = rate_of(video), start_seconds(video)
            sound: tuple[int | None, int] = (None, 0) if audio is None else (audio.rate, audio.channels)
            return _Shot(path, info.width, info.height, rate, seconds, start, *sound, colour)
    except (InvalidClipError, av.FFmpegError, OSError) as exc:
        raise InvalidClipError(f"shot {index + 1} cannot be stitched: {exc}") from exc


def _write(plan: _Plan, part: Path) -> None:
    # faststart moves the index to the front so Discord can start playing before the download ends.
    with av.open(str(part), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        rate = plan.rate
        options = {"preset": _PRESET, "crf": _CRF, "g": str(round(_KEYFRAME_SECONDS * rate))}
        vout = out.add_stream("libx264", rate=rate, options=options)
        vout.width, vout.height, vout.pix_fmt = plan.width, plan.height, "yuv420p"
        codec = vout.codec_context
        codec.time_base = 1 / rate
        # The first shot's colour tags stand for all: the shots come from the same model and settings.
        codec.color_primaries, codec.color_trc, codec.colorspace = plan.shots[0].colour
        codec.color_range = _MPEG_RANGE
        aout = None
        if plan.audio_rate is not None:
            aout = out.add_stream("aac", rate=plan.audio_rate)
            aout.layout = plan.layout
            aout.bit_rate = _AUDIO_BITRATE[plan.layout]

        pictures, sounds = _pictures(plan), _audio_frames(plan)
        heard = 0
        try:
            for index, picture in enumerate(pictures):
                picture.pts, picture.time_base = index, codec.time_base
                out.mux(vout.encode(picture))
                # Keep audio just ahead of video so the muxer interleaves rather than buffers a track.
                while aout is not None and heard < plan.sample_at(index + 1):
                    sound = next(sounds)
                    out.mux(aout.encode(sound))
                    heard += sound.samples
        finally:
            pictures.close()
            sounds.close()
        out.mux(vout.encode(None))
        if aout is not None:
            out.mux(aout.encode(None))


def _pictures(plan: _Plan) -> _Pictures:
    """The output's pictures in order: each shot's middle as it is, each crossfade blended."""
    last = len(plan.shots) - 1
    overlap = plan.overlap
    previous: _Pictures | None = None
    current: _Pictures | None = None
    try:
        for index, shot in enumerate(plan.shots):
            current = _shot_pictures(index, shot, plan, plan.frames[index])
            if previous is not None:
                # Only here are two decoders open: the previous shot's tail against this one's head.
                for step in range(overlap):
                    yield _blend(next(previous), next(current), (step + 0.5) / overlap)
                previous.close()
            previous = current
            middle = plan.frames[index] - overlap * ((index > 0) + (index < last))
            yield from islice(current, middle)
    finally:
        for pictures in (previous, current):
            if pictures is not None:
                pictures.close()


def _shot_pictures(index: int, shot: _Shot, plan: _Plan, count: int) -> _Pictures:
    """Exactly `count` pictures of one shot at the output's size and rate, picked by timestamp."""
    slot = 1 / float(plan.rate)
    sent = 0
    held: VideoFrame | None = None
    seen = 0.0
    try:
        with av.open(str(shot.path)) as container:
            stream = container.streams.video[0]
            # Frame-threaded decoding: the decoder otherwise keeps one core busy while x264 waits for it.
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                seen = frame.time - shot.start if frame.time is not None else seen + slot
                # Output slot k shows the newest frame due by its middle: equal rates map one to one,
                # others repeat or drop frames by their timestamps.
                while held is not None and sent < count and (sent + 0.5) * slot < seen:
                    yield for_encoder(held, plan.width, plan.height)
                    sent += 1
                if sent >= count:
                    return
                held = frame
    except av.FFmpegError as exc:
        raise InvalidClipError(f"shot {index + 1} ({shot.path.name}) could not be decoded: {exc}") from exc
    if held is None or (count - sent) * slot > _SHORT_SECONDS + slot:
        raise InvalidClipError(
            f"shot {index + 1} ({shot.path.name}) stops at {seen:.2f} s of its {shot.seconds:.2f} s:"
            " the file is cut short"
        )
    # The last frame holds for its own duration and for any rounding of the shot's length.
    while sent < count:
        yield for_encoder(held, plan.width, plan.height)
        sent += 1


def _blend(old: VideoFrame, new: VideoFrame, alpha: float) -> VideoFrame:
    """`old` faded into `new` by `alpha` (0 = all old), plane by plane in limited-range YUV."""
    weight = round(alpha * 256)
    mixed = old.to_ndarray().astype(np.uint16) * (256 - weight)
    mixed += new.to_ndarray().astype(np.uint16) * weight
    mixed += 128
    mixed >>= 8
    return VideoFrame.from_ndarray(mixed.astype(np.uint8), format="yuv420p")


def _audio_frames(plan: _Plan) -> Generator[AudioFrame, None, None]:
    """The whole sound track as timed AAC-sized frames."""
    rate = plan.audio_rate or 0
    total = plan.sample_at(plan.total_frames)
    track = _Reader(_track(plan), plan.channels)
    sent = 0
    try:
        while sent < total:
            block = track.read(min(_AUDIO_FRAME, total - sent))
            frame = AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=plan.layout)
            frame.sample_rate = rate
            frame.pts = sent
            frame.time_base = Fraction(1, rate)
            yield frame
            sent += block.shape[1]
    finally:
        track.close()


def _track(plan: _Plan) -> Generator[_Samples, None, None]:
    """Each shot's sound in its span of the timeline, back to back; crossfades mixed linearly."""
    tail: _Samples | None = None
    for index, shot in enumerate(plan.shots):
        start, end = plan.audio_span(index)
        head = 0 if tail is None else tail.shape[1]
        keep = end - plan.audio_span(index + 1)[0] if index < len(plan.shots) - 1 else 0
        # The tail is a fraction of a second of samples, so one audio decoder is open at a time.
        reader = _Reader(_shot_samples(index, shot, plan, end - start), plan.channels)
        try:
            if tail is not None:
                ramp = ((np.arange(head, dtype=np.float32) + 0.5) / head).astype(np.float32)
                yield tail * (1 - ramp) + reader.read(head) * ramp
            middle = end - start - head - keep
            while middle > 0:
                block = reader.read(min(middle, 16 * _AUDIO_FRAME))
                yield block
                middle -= block.shape[1]
            tail = reader.read(keep) if keep else None
        finally:
            reader.close()


def _shot_samples(index: int, shot: _Shot, plan: _Plan, count: int) -> Generator[_Samples, None, None]:
    """Exactly `count` samples of one shot in the output's format: its sound, padded or cut, or silence."""
    rate, channels = plan.audio_rate or 0, plan.channels
    sent = 0
    if shot.audio_rate is not None:
        drop: int | None = None
        try:
            with av.open(str(shot.path)) as container:
                for part in _resampled(container, plan):
                    if drop is None:
                        # Line the sound up with the shot's pictures: lead in with silence, or skip.
                        lead = round(((part.time or shot.start) - shot.start) * rate)
                        drop = max(0, -lead)
                        if lead > 0:
                            sent += (silence := _silence(channels, min(lead, count))).shape[1]
                            yield silence
                    samples = np.asarray(part.to_ndarray(), dtype=np.float32)[:, drop : drop + count - sent]
                    drop = max(0, drop - part.samples)
                    if samples.shape[1]:
                        sent += samples.shape[1]
                        yield samples
                    if sent >= count:
                        return
        except av.FFmpegError as exc:
            raise InvalidClipError(
                f"shot {index + 1} ({shot.path.name}) sound could not be decoded: {exc}"
            ) from exc
    while sent < count:
        block = _silence(channels, min(count - sent, 16 * _AUDIO_FRAME))
        sent += block.shape[1]
        yield block


def _resampled(container: InputContainer, plan: _Plan) -> Iterator[AudioFrame]:
    """The container's first sound track decoded and converted to the output's rate and layout."""
    resampler = av.AudioResampler(format="fltp", layout=plan.layout, rate=plan.audio_rate)
    for frame in container.decode(container.streams.audio[0]):
        yield from resampler.resample(frame)
    # A rate conversion holds back a few samples until it is told the sound has ended.
    yield from resampler.resample(None)


class _Reader:
    """Reads exact sample counts from a generator of (channels, n) blocks of any size."""

    def __init__(self, blocks: Generator[_Samples, None, None], channels: int) -> None:
        self._blocks = blocks
        self._rest = _silence(channels, 0)

    def read(self, count: int) -> _Samples:
        parts = [self._rest[:, :count]]
        have = parts[0].shape[1]
        self._rest = self._rest[:, have:]
        while have < count:
            block = next(self._blocks)
            parts.append(block[:, : count - have])
            self._rest = block[:, count - have :]
            have += parts[-1].shape[1]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def close(self) -> None:
        self._blocks.close()


def _silence(channels: int, count: int) -> _Samples:
    return np.zeros((channels, count), dtype=np.float32)
