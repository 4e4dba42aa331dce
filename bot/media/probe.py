"""Read what a finished clip holds (size, length, codecs) without decoding more than one frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av


class InvalidClipError(ValueError):
    """The file is not a video that can be read: missing, damaged, a still image or something else."""


@dataclass(frozen=True)
class ClipInfo:
    """The facts about a clip that get checked and shown: picture size, length, codecs and file size."""

    width: int
    height: int
    duration: float
    video_codec: str
    audio_codec: str | None
    size_bytes: int


def probe_clip(path: Path) -> ClipInfo:
    """Describe the video at `path`; raises InvalidClipError when it is not one that can be played."""
    name = path.name or str(path)
    try:
        size_bytes = path.stat().st_size
        with av.open(str(path)) as container:
            # FFmpeg happily opens PNG/JPEG/GIF files as one-stream "videos"; a still is not a clip.
            fmt = container.format.name
            if fmt in {"image2", "gif", "apng"} or fmt.endswith("_pipe"):
                raise InvalidClipError(f"{name} is a still image ({fmt}), not a video")
            if not container.streams.video:
                raise InvalidClipError(f"{name} has no video stream")
            video = container.streams.video[0]
            audio = container.streams.audio[0] if container.streams.audio else None
            if container.duration is not None:
                duration = container.duration / av.time_base
            elif video.duration is not None and video.time_base is not None:
                duration = float(video.duration * video.time_base)
            else:
                duration = 0.0
            if duration <= 0:
                raise InvalidClipError(f"{name} has no known duration")
            # Opening only reads headers; decoding one frame proves the codec and the data are usable.
            if next(container.decode(video=0), None) is None:
                raise InvalidClipError(f"{name} has no decodable video frame")
            return ClipInfo(
                width=video.codec_context.width,
                height=video.codec_context.height,
                duration=duration,
                video_codec=video.codec_context.name,
                audio_codec=audio.codec_context.name if audio is not None else None,
                size_bytes=size_bytes,
            )
    except (av.FFmpegError, OSError) as exc:
        raise InvalidClipError(f"{name} is not a readable video: {exc}") from exc
