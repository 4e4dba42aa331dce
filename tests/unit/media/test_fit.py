"""Clips fitted under a byte limit keep their length, shape and codecs; stills and previews come out right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from bot.media import fit
from bot.media.fit import FitResult, fit_clip, last_frame, poster_frame, preview_clip
from bot.media.probe import InvalidClipError, probe_clip
from bot.media.render import render_clip

PROMPT = "A lighthouse keeper's cat watching a storm roll in over a grey sea, cinematic, 35mm"


@pytest.fixture(scope="module")
def full_hd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of 1080p with audio: the shape of a real Sora clip (about 0.7 MB from the local renderer)."""
    clip = tmp_path_factory.mktemp("sources") / "full-hd.mp4"
    render_clip(clip, prompt=PROMPT, width=1920, height=1080, duration=12, audio=True, seed=11)
    return clip


@pytest.fixture(scope="module")
def hd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of silent 720p, for the cases that only need a quick source."""
    clip = tmp_path_factory.mktemp("sources") / "hd.mp4"
    render_clip(clip, prompt=PROMPT, width=1280, height=720, duration=4, audio=False, seed=12)
    return clip


def _leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if ".part" in entry.name)


def _image(frame: av.VideoFrame) -> Image.Image:
    # VideoFrame.to_image has no annotations in PyAV's stubs.
    decoded: Any = frame
    image: Image.Image = decoded.to_image()
    return image


def _frame_at(clip: Path, seconds: float) -> Image.Image:
    """The first frame shown at or after `seconds`, decoded from the start the slow, obvious way."""
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= seconds:
                return _image(frame)
    raise AssertionError(f"{clip} has no frame at {seconds} s")


def _final_frame(clip: Path) -> Image.Image:
    with av.open(str(clip)) as container:
        final = None
        for frame in container.decode(video=0):
            final = frame
    assert final is not None
    return _image(final)


def _mean_difference(first: Image.Image, second: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3


def _assert_fits(result: FitResult | None, dest: Path, max_bytes: int) -> FitResult:
    assert result is not None
    assert result.path == dest
    assert result.size_bytes == dest.stat().st_size <= max_bytes
    assert result.width % 2 == 0 and result.height % 2 == 0
    return result


def test_fit_squeezes_1080p_with_audio_under_the_limit(full_hd: Path, tmp_path: Path) -> None:
    source = probe_clip(full_hd)
    max_bytes = 300_000
    assert source.size_bytes > max_bytes, "the source must start over the limit"
    dest = tmp_path / "fitted.mp4"

    result = _assert_fits(fit_clip(full_hd, dest, max_bytes=max_bytes), dest, max_bytes)

    info = probe_clip(dest)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height) == (result.width, result.height)
    assert info.duration == pytest.approx(source.duration, abs=0.2)
    assert info.width / info.height == pytest.approx(source.width / source.height, rel=0.01)
    # ~190 kb/s in all cannot carry 1080p: the picture steps down the ladder, to 360p here.
    assert result.height < source.height
    assert (result.width, result.height) == (640, 360)
    assert result.attempts == 1
    with av.open(str(dest)) as container:
        audio = container.streams.audio[0]
        assert audio.duration is not None and audio.time_base is not None
        assert float(audio.duration * audio.time_base) == pytest.approx(source.duration, abs=0.2)
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("max_bytes", "size"),
    [(1_000_000, (1280, 720)), (450_000, (960, 540)), (200_000, (640, 360))],
)
def test_fit_picks_the_largest_picture_the_budget_can_fill(
    hd: Path, tmp_path: Path, max_bytes: int, size: tuple[int, int]
) -> None:
    dest = tmp_path / "fitted.mp4"

    result = _assert_fits(fit_clip(hd, dest, max_bytes=max_bytes), dest, max_bytes)

    assert (result.width, result.height) == size
    info = probe_clip(dest)
    assert (info.width, info.height) == size
    assert info.duration == pytest.approx(4.0, abs=0.2)
    assert (info.video_codec, info.audio_codec) == ("h264", None)
    # The bitrate follows the budget: 92% of it, spread over the clip's four seconds.
    assert result.video_bitrate == pytest.approx(max_bytes * 8 * 0.92 / 4, rel=0.01)


def test_fit_never_goes_below_min_height(hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "fitted.mp4"

    result = _assert_fits(fit_clip(hd, dest, max_bytes=200_000, min_height=540), dest, 200_000)

    assert (result.width, result.height) == (960, 540)


def test_fit_scales_portrait_clips_by_their_short_side(tmp_path: Path) -> None:
    source = tmp_path / "portrait.mp4"
    render_clip(source, prompt=PROMPT, width=720, height=1280, duration=2, audio=True, seed=13)
    dest = tmp_path / "fitted.mp4"

    result = _assert_fits(fit_clip(source, dest, max_bytes=100_000), dest, 100_000)

    assert (result.width, result.height) == (360, 640)
    info = probe_clip(dest)
    assert info.duration == pytest.approx(2.0, abs=0.2)
    assert info.audio_codec == "aac"


def test_fit_gives_up_on_an_impossible_budget_and_leaves_nothing(full_hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "fitted.mp4"

    # 20 kB for 12 s is ~12 kb/s: less than the audio alone, let alone any picture.
    assert fit_clip(full_hd, dest, max_bytes=20_000) is None

    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_fit_retries_with_less_bitrate_after_an_overshoot(
    hd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bitrates: list[int] = []
    real = fit._transcode

    def overshoot_once(source: Path, part: Path, plan: Any) -> None:
        real(source, part, plan)
        bitrates.append(plan.video_bitrate)
        if len(bitrates) == 1:
            # Pad the first attempt to 10% over the limit, as a hard-to-encode clip could end up.
            with part.open("ab") as handle:
                handle.write(b"\0" * (110_000 - part.stat().st_size))

    monkeypatch.setattr(fit, "_transcode", overshoot_once)
    dest = tmp_path / "fitted.mp4"

    result = _assert_fits(fit_clip(hd, dest, max_bytes=100_000), dest, 100_000)

    assert result.attempts == 2
    assert len(bitrates) == 2
    # 10% over asks for at least the 15% cut.
    assert bitrates[1] <= bitrates[0] * 0.85 + 1
    assert result.video_bitrate == bitrates[1]
    assert _leftovers(tmp_path) == []


def test_fit_returns_none_when_every_attempt_overshoots(
    hd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def always_too_big(source: Path, part: Path, plan: Any) -> None:
        calls.append(plan.video_bitrate)
        part.write_bytes(b"\0" * 200_001)

    monkeypatch.setattr(fit, "_transcode", always_too_big)
    dest = tmp_path / "fitted.mp4"
    dest.write_bytes(b"an earlier file")

    assert fit_clip(hd, dest, max_bytes=200_000) is None

    assert len(calls) == 3
    assert calls == sorted(calls, reverse=True)
    # A failed fit leaves whatever was at `dest` alone and no temporary files behind.
    assert dest.read_bytes() == b"an earlier file"
    assert _leftovers(tmp_path) == []


def test_fit_refuses_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    source = tmp_path / "notes.mp4"
    source.write_text("not a video")

    with pytest.raises(InvalidClipError):
        fit_clip(source, tmp_path / "fitted.mp4", max_bytes=1_000_000)


def test_poster_frame_is_the_middle_frame_scaled_to_max_width(full_hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "poster.jpg"

    assert poster_frame(full_hd, dest) == dest

    with Image.open(dest) as poster:
        assert poster.format == "JPEG"
        assert poster.size == (1280, 720)
    full = tmp_path / "poster-full.jpg"
    poster_frame(full_hd, full, max_width=1920)
    with Image.open(full) as poster:
        assert poster.size == (1920, 1080)
        middle = _frame_at(full_hd, 6.0)
        # Only JPEG loss separates it from the frame at 6 s (the next frame is already ~1.3 off).
        assert _mean_difference(poster.convert("RGB"), middle) < 1.0
        assert _mean_difference(poster.convert("RGB"), _frame_at(full_hd, 0.0)) > 4 * _mean_difference(
            poster.convert("RGB"), middle
        )
    assert _leftovers(tmp_path) == []


def test_last_frame_is_the_final_frame_at_full_size(hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "last.png"

    assert last_frame(hd, dest) == dest

    with Image.open(dest) as still:
        assert still.format == "PNG"
        assert still.size == (1280, 720)
        final = still.convert("RGB")
    # Pixel for pixel the last frame a full decode ends on: same decoder, lossless PNG.
    assert ImageChops.difference(final, _final_frame(hd)).getbbox() is None
    # The renderer's progress bar runs along the bottom edge: nearly empty at first, full at the end.
    corner = (1180, 716, 1280, 720)
    first = _frame_at(hd, 0.0)
    assert _mean_difference(final.crop(corner), first.crop(corner)) > 40
    assert _leftovers(tmp_path) == []


def test_preview_is_the_short_small_start_of_the_clip(full_hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "preview.mp4"

    assert preview_clip(full_hd, dest, max_bytes=150_000, max_seconds=2.0) == dest

    info = probe_clip(dest)
    assert info.size_bytes <= 150_000
    assert info.duration == pytest.approx(2.0, abs=0.2)
    assert (info.width, info.height) == (640, 360)
    assert (info.video_codec, info.audio_codec) == ("h264", None)
    assert _leftovers(tmp_path) == []


def test_preview_of_a_short_clip_keeps_its_length_and_never_upscales(hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "preview.mp4"

    assert preview_clip(hd, dest, max_bytes=400_000, max_seconds=10.0, height=1080) == dest

    info = probe_clip(dest)
    assert (info.width, info.height) == (1280, 720)
    assert info.duration == pytest.approx(4.0, abs=0.2)


def test_preview_and_fit_give_up_on_an_impossible_or_empty_budget(hd: Path, tmp_path: Path) -> None:
    dest = tmp_path / "preview.mp4"

    assert preview_clip(hd, dest, max_bytes=1_000) is None
    # What is left of an upload budget after the poster can be nothing at all.
    assert preview_clip(hd, dest, max_bytes=0) is None
    assert fit_clip(hd, dest, max_bytes=-1) is None

    assert list(tmp_path.iterdir()) == []
