"""The local renderer writes real, playable clips, and the prober reads them (and refuses non-videos)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageStat

from bot.media.probe import ClipInfo, InvalidClipError, probe_clip
from bot.media.render import render_clip

PROMPT = "A paper boat drifting down a rain-soaked street at dusk, neon reflections rippling around it"


def _frames(path: Path, count: int) -> list[Image.Image]:
    """The first `count` decoded pictures of the clip, as RGB images."""
    images: list[Image.Image] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            # VideoFrame.to_image has no annotations in PyAV's stubs.
            decoded: Any = frame
            images.append(decoded.to_image())
            if len(images) == count:
                break
    return images


def _leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".part"))


def test_text_to_video_720p_without_audio(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    render_clip(clip, prompt=PROMPT, width=1280, height=720, duration=4, audio=False, seed=1)

    info = probe_clip(clip)
    assert (info.width, info.height) == (1280, 720)
    assert info.duration == pytest.approx(4.0, abs=0.2)
    assert info.video_codec == "h264"
    assert info.audio_codec is None
    assert info.size_bytes == clip.stat().st_size > 0
    assert _leftovers(tmp_path) == []


def test_portrait_8s_clip_carries_aac_audio_of_the_same_length(tmp_path: Path) -> None:
    clip = tmp_path / "portrait.mp4"
    render_clip(clip, prompt=PROMPT, width=1080, height=1920, duration=8, audio=True, seed=2)

    info = probe_clip(clip)
    assert info == ClipInfo(
        width=1080,
        height=1920,
        duration=info.duration,
        video_codec="h264",
        audio_codec="aac",
        size_bytes=clip.stat().st_size,
    )
    assert info.duration == pytest.approx(8.0, abs=0.2)
    with av.open(str(clip)) as container:
        audio = container.streams.audio[0]
        assert audio.rate == 48_000
        assert audio.duration is not None and audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(8.0, abs=0.2)


def test_image_to_video_opens_on_the_source_image(tmp_path: Path) -> None:
    source = tmp_path / "red.png"
    # A different aspect ratio from the clip, so the first frame has to be cover-cropped.
    Image.new("RGB", (300, 400), (220, 20, 20)).save(source)
    clip = tmp_path / "from-image.mp4"
    render_clip(clip, prompt=PROMPT, width=640, height=360, duration=2, audio=False, image=source)

    info = probe_clip(clip)
    assert (info.width, info.height) == (640, 360)
    assert info.duration == pytest.approx(2.0, abs=0.2)
    first = _frames(clip, 1)[0]
    assert first.size == (640, 360)
    # The caption sits at the bottom; the upper part is the picture itself.
    red, green, blue = ImageStat.Stat(first.crop((0, 0, 640, 200))).mean
    assert red > 180
    assert green < 60
    assert blue < 60


@pytest.mark.parametrize("with_image", [False, True], ids=["text", "image"])
def test_consecutive_frames_differ(tmp_path: Path, with_image: bool) -> None:
    source = tmp_path / "source.png"
    Image.new("RGB", (320, 180), (30, 90, 160)).save(source)
    clip = tmp_path / "motion.mp4"
    render_clip(
        clip,
        prompt=PROMPT,
        width=320,
        height=180,
        duration=1,
        audio=False,
        image=source if with_image else None,
    )

    first, second = _frames(clip, 2)
    assert first.tobytes() != second.tobytes()


def test_failed_render_leaves_nothing_behind(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("not an image")

    with pytest.raises(OSError):
        render_clip(clip, prompt=PROMPT, width=320, height=180, duration=1, audio=False, image=not_an_image)
    with pytest.raises(ValueError, match="even"):
        render_clip(clip, prompt=PROMPT, width=321, height=180, duration=1, audio=False)

    assert not clip.exists()
    assert _leftovers(tmp_path) == []


def test_probe_refuses_files_that_are_not_videos(tmp_path: Path) -> None:
    text = tmp_path / "clip.mp4"
    text.write_text("this is not a video")
    still = tmp_path / "still.png"
    Image.new("RGB", (64, 64), (0, 0, 0)).save(still)

    for path in (text, still, tmp_path / "missing.mp4"):
        with pytest.raises(InvalidClipError):
            probe_clip(path)
    assert issubclass(InvalidClipError, ValueError)
