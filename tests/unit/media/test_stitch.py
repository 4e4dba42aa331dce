"""Shots stitched into one clip: back to back or crossfaded, one sound track, streamed, never a half file."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from bot.media.probe import InvalidClipError, probe_clip
from bot.media.render import render_clip
from bot.media.stitch import shot_durations, stitch

FPS = 24
FRAME = 1 / FPS
SECONDS = 2
# Seeds whose gradients start red, green and blue, so every join changes colour plainly.
SEEDS = (31, 36, 24)
PROMPTS = (
    "A red kite over a beach at noon",
    "A green rowboat on a still lake",
    "A blue tram crossing a bridge at dusk",
)

Mean = tuple[float, float, float]


def _render(folder: Path, index: int, *, audio: bool, **options: Any) -> Path:
    clip = folder / f"shot-{index}{'-pro' if audio else ''}.mp4"
    kwargs: dict[str, Any] = {"width": 320, "height": 180, "duration": SECONDS, **options}
    render_clip(clip, prompt=PROMPTS[index], audio=audio, seed=SEEDS[index], **kwargs)
    return clip


@pytest.fixture(scope="module")
def silent(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three 2 s 320x180 shots without sound (sora-2)."""
    folder = tmp_path_factory.mktemp("silent")
    return [_render(folder, index, audio=False) for index in range(3)]


@pytest.fixture(scope="module")
def pro(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The same three shots with sound (sora-2-pro)."""
    folder = tmp_path_factory.mktemp("pro")
    return [_render(folder, index, audio=True) for index in range(3)]


def _pictures(clip: Path) -> Iterator[av.VideoFrame]:
    with av.open(str(clip)) as container:
        yield from container.decode(video=0)


def _means(clip: Path) -> list[Mean]:
    """The mean RGB colour of every frame, in order."""
    means: list[Mean] = []
    for frame in _pictures(clip):
        red, green, blue = frame.to_ndarray(format="rgb24").mean(axis=(0, 1))
        means.append((float(red), float(green), float(blue)))
    return means


def _times(clip: Path) -> list[float]:
    return [frame.time for frame in _pictures(clip) if frame.time is not None]


def _close(one: Mean, other: Mean, levels: float = 3.0) -> bool:
    return max(abs(a - b) for a, b in zip(one, other, strict=True)) <= levels


def _apart(one: Mean, other: Mean) -> float:
    return sum(abs(a - b) for a, b in zip(one, other, strict=True))


def _audio_seconds(clip: Path) -> float:
    with av.open(str(clip)) as container:
        (track,) = container.streams.audio
        assert track.codec_context.name == "aac"
        assert track.duration is not None and track.time_base is not None
        return float(track.duration * track.time_base)


def _sound(clip: Path) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The decoded sound, mixed down to one channel."""
    with av.open(str(clip)) as container:
        blocks = [frame.to_ndarray().mean(axis=0) for frame in container.decode(audio=0)]
    return np.concatenate(blocks).astype(np.float32)


def _leftovers(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if ".part" in entry.name)


def test_cut_plays_the_shots_back_to_back_for_their_summed_length(silent: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "story.mp4"
    result = stitch(silent, dest)

    expected = sum(shot_durations(silent))
    assert expected == pytest.approx(3 * SECONDS)
    assert result.duration_seconds == pytest.approx(expected, abs=FRAME)
    info = probe_clip(dest)
    assert info.duration == pytest.approx(expected, abs=FRAME)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (320, 180, "h264", None)
    assert (result.width, result.height, result.has_audio) == (320, 180, False)
    assert result.size_bytes == dest.stat().st_size
    head = dest.read_bytes()
    assert 0 < head.find(b"moov") < head.find(b"mdat"), "faststart: the index comes before the media"
    times = _times(dest)
    assert len(times) == 3 * SECONDS * FPS
    # Strictly increasing one frame apart: no gap, no overlap, no repeated timestamp at a join.
    assert {round((b - a) / FRAME, 3) for a, b in pairwise(times)} == {1.0}
    assert _leftovers(tmp_path) == []


def test_cut_changes_the_picture_at_each_join(silent: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "story.mp4"
    stitch(silent, dest, transition="cut")

    out = _means(dest)
    shots = [_means(shot) for shot in silent]
    per_shot = SECONDS * FPS
    for join in (1, 2):
        before, after = out[join * per_shot - 1], out[join * per_shot]
        assert _close(before, shots[join - 1][-1])
        assert _close(after, shots[join][0])
        assert _apart(before, after) > 60


def test_crossfade_overlaps_each_join_and_blends_across_it(silent: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "story.mp4"
    result = stitch(silent, dest, transition="crossfade", crossfade_seconds=0.5)

    expected = sum(shot_durations(silent)) - 2 * 0.5
    assert result.duration_seconds == pytest.approx(expected, abs=FRAME)
    assert probe_clip(dest).duration == pytest.approx(expected, abs=FRAME)
    out = _means(dest)
    assert len(out) == round(expected * FPS)
    first, second = _means(silent[0]), _means(silent[1])
    fade, per_shot = FPS // 2, SECONDS * FPS
    start = per_shot - fade  # the first crossfade covers output frames 36..47
    assert _close(out[start - 1], first[start - 1])
    # Mid-fade the picture is a mix: each colour channel well inside the range between the two shots.
    middle = start + fade // 2
    old, new = first[middle], second[middle - start]
    assert _apart(old, new) > 60
    for mixed, a, b in zip(out[middle], old, new, strict=True):
        if abs(a - b) > 20:
            assert min(a, b) + 0.3 * abs(a - b) < mixed < max(a, b) - 0.3 * abs(a - b)
    assert _close(out[per_shot], second[fade])


@pytest.mark.parametrize("transition", ["cut", "crossfade"])
def test_pro_shots_give_one_aac_track_as_long_as_the_picture(
    pro: list[Path], tmp_path: Path, transition: str
) -> None:
    dest = tmp_path / "story.mp4"
    result = stitch(pro, dest, transition="cut" if transition == "cut" else "crossfade")

    assert result.has_audio
    info = probe_clip(dest)
    assert info.audio_codec == "aac"
    assert _audio_seconds(dest) == pytest.approx(result.duration_seconds, abs=FRAME)
    assert info.duration == pytest.approx(result.duration_seconds, abs=FRAME)


def test_a_silent_shot_among_pro_shots_is_filled_with_silence(
    pro: list[Path], silent: list[Path], tmp_path: Path
) -> None:
    dest = tmp_path / "story.mp4"
    result = stitch([pro[0], silent[1], pro[2]], dest)

    assert result.has_audio
    assert _audio_seconds(dest) == pytest.approx(3 * SECONDS, abs=FRAME)
    sound = _sound(dest)
    rate = 48_000

    def loudness(begin: float, end: float) -> float:
        return float(np.sqrt(np.mean(sound[round(begin * rate) : round(end * rate)] ** 2)))

    assert loudness(0.5, 1.5) > 0.01
    assert loudness(SECONDS + 0.1, 2 * SECONDS - 0.1) < 1e-4
    assert loudness(2 * SECONDS + 0.5, 2 * SECONDS + 1.5) > 0.01


def test_a_crossfade_fades_the_sound_over_the_same_span(
    pro: list[Path], silent: list[Path], tmp_path: Path
) -> None:
    dest = tmp_path / "story.mp4"
    stitch([silent[0], pro[1]], dest, transition="crossfade", crossfade_seconds=0.5)

    out, own = _sound(dest), _sound(pro[1])
    rate, fade = 48_000, SECONDS - 0.5  # the pro shot starts, under the fade, at 1.5 s

    def loudness(sound: np.ndarray[Any, np.dtype[np.float32]], begin: float, end: float) -> float:
        return float(np.sqrt(np.mean(sound[round(begin * rate) : round(end * rate)] ** 2)))

    def gain(begin: float, end: float) -> float:
        return loudness(out, fade + begin, fade + end) / loudness(own, begin, end)

    assert loudness(out, 0, fade) < 1e-4
    # A linear ramp over the shot's own (rising) sound: about 0.39 of it in the first quarter second,
    # 0.82 in the second, all of it once the crossfade is over.
    assert gain(0, 0.25) < 0.5
    assert 0.7 < gain(0.25, 0.5) < 0.9
    assert gain(0.5, 1.4) == pytest.approx(1.0, abs=0.05)


def test_silent_shots_give_no_audio_track(silent: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "story.mp4"
    result = stitch(silent, dest, transition="crossfade")

    assert not result.has_audio
    with av.open(str(dest)) as container:
        assert len(container.streams.audio) == 0


def test_a_shot_of_another_size_and_rate_follows_the_first(silent: list[Path], tmp_path: Path) -> None:
    careless = _render(tmp_path, 1, audio=False, width=640, height=360, fps=30)
    dest = tmp_path / "story.mp4"
    result = stitch([silent[0], careless, silent[2]], dest)

    info = probe_clip(dest)
    assert (info.width, info.height) == (320, 180)
    assert (result.width, result.height) == (320, 180)
    assert info.duration == pytest.approx(3 * SECONDS, abs=FRAME)
    times = _times(dest)
    assert len(times) == 3 * SECONDS * FPS
    assert {round((b - a) / FRAME, 3) for a, b in pairwise(times)} == {1.0}
    # Resampled by timestamps, the 30 fps shot still ends where its own last frame is.
    out, careless_means = _means(dest), _means(careless)
    assert _close(out[2 * SECONDS * FPS - 1], careless_means[-1])


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_shot_raises_and_leaves_no_file(silent: list[Path], tmp_path: Path, damage: str) -> None:
    broken = tmp_path / "broken.mp4"
    whole = silent[2].read_bytes()
    # Truncated: the index (at the front, faststart) is whole, so the shot opens and fails mid-stitch.
    broken.write_bytes(b"not a video at all" * 100 if damage == "garbage" else whole[: len(whole) // 2])
    dest = tmp_path / "story.mp4"
    dest.write_bytes(b"the previous story")

    with pytest.raises(InvalidClipError, match=r"shot 3"):
        stitch([silent[0], silent[1], broken], dest, transition="crossfade")

    assert dest.read_bytes() == b"the previous story"
    assert _leftovers(tmp_path) == []


def test_a_crossfade_too_long_or_too_short_is_refused(silent: list[Path], tmp_path: Path) -> None:
    dest = tmp_path / "story.mp4"
    # The middle shot would need 2 x 1.5 s of its 2 s for its two crossfades.
    with pytest.raises(ValueError, match=r"shot 2 .* too short"):
        stitch(silent, dest, transition="crossfade", crossfade_seconds=1.5)
    with pytest.raises(ValueError, match=r"at least one frame"):
        stitch(silent, dest, transition="crossfade", crossfade_seconds=0.01)
    with pytest.raises(ValueError, match=r"at least one shot"):
        stitch([], dest)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_at_most_two_shots_are_decoded_at_once(
    silent: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open: Any = av.open
    count = {"now": 0, "most": 0, "total": 0}

    class Tracked:
        def __init__(self, container: Any) -> None:
            self.container = container

        def __enter__(self) -> Any:
            count["now"] += 1
            count["total"] += 1
            count["most"] = max(count["most"], count["now"])
            return self.container.__enter__()

        def __exit__(self, *exc: object) -> Any:
            count["now"] -= 1
            return self.container.__exit__(*exc)

    def spy(file: Any, mode: str = "r", **options: Any) -> Any:
        container = real_open(file, mode, **options)
        return container if mode != "r" else Tracked(container)

    monkeypatch.setattr(av, "open", spy)
    shots = [*silent, silent[0]]
    stitch(shots, tmp_path / "story.mp4", transition="crossfade")

    assert count["total"] >= 2 * len(shots)  # each shot read before (plan) and while stitching
    assert count["most"] == 2
