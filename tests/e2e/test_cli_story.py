"""`sora-bot story` as a real process against the fake Prodia: shots chained by their last frames, one MP4."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.media.probe import probe_clip
from tests.e2e.test_cli import Result, cli_env, finish, ledger, start
from tests.fakes.prodia import IMG2VID, TXT2VID, FakeProdia


async def story(tmp_path: Path, *args: str, env: dict[str, str]) -> Result:
    return await finish(start(["story", *args], env))


def story_row(tmp_path: Path) -> tuple[str, str | None, str | None]:
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        row = conn.execute("SELECT state, output_path, user_error FROM stories").fetchone()
    return row[0], row[1], row[2]


async def test_a_three_shot_story_chains_last_frames_into_one_mp4(
    tmp_path: Path, fake_prodia: FakeProdia
) -> None:
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url)
    out = tmp_path / "story.mp4"
    prompts = ["a red kite climbs into wind", "the kite loops over the dunes", "the kite lands on the sand"]
    result = await story(tmp_path, *prompts, "--seed", "42", "--out", str(out), env=env)
    assert result.code == 0, result.stderr
    assert "story 1 delivered: 3 of 3 shots" in result.stdout
    for shot in (1, 2, 3):
        assert f"shot {shot}/3 (job {shot}): delivered" in result.stderr

    info = probe_clip(out)
    shots = [probe_clip(tmp_path / "clips" / f"{job}.mp4") for job in (1, 2, 3)]
    assert info.duration == pytest.approx(sum(shot.duration for shot in shots), abs=0.1)
    assert (info.width, info.height) == (1280, 720)

    posts = fake_prodia.requests_for("POST /job/async")
    assert [post.job["type"] for post in posts] == [TXT2VID, IMG2VID, IMG2VID]  # no shot sent twice
    assert [post.job["config"]["prompt"] for post in posts] == prompts
    assert {post.job["config"]["seed"] for post in posts} == {42}
    assert posts[0].inputs == []
    for post in posts[1:]:
        assert [name for name, _ in post.inputs] == [post.job["config"]["image"]] and post.inputs[0][1] > 0
    assert [state for _, state, _ in ledger(tmp_path)] == ["delivered"] * 3
    assert story_row(tmp_path) == ("delivered", str((tmp_path / "clips" / "story-1.mp4").resolve()), None)


async def test_a_shot_that_fails_stops_the_story_with_the_shots_made_and_refunds_the_rest(
    tmp_path: Path, fake_prodia: FakeProdia
) -> None:
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url)
    out = tmp_path / "story.mp4"
    prompts = ["a red kite climbs into wind", "something forbidden happens", "the kite lands on the sand"]
    result = await story(tmp_path, *prompts, "-q", "--out", str(out), env=env)
    assert result.code == 1
    assert "story 1 delivered: 1 of 3 shots" in result.stdout
    assert "Shot 2 of 3 did not finish" in result.stderr
    assert probe_clip(out).duration == pytest.approx(
        probe_clip(tmp_path / "clips" / "1.mp4").duration, abs=0.1
    )
    # Shot 2 was accepted by Prodia and failed there (charged); shot 3 never ran (refunded).
    assert ledger(tmp_path) == [
        (1, "delivered", "reserve,commit"),
        (2, "failed", "reserve,commit"),
        (3, "cancelled", "reserve,refund"),
    ]
    assert len(fake_prodia.requests_for("POST /job/async")) == 2
    state, _, user_error = story_row(tmp_path)
    assert state == "delivered" and user_error is not None and "first 1" in user_error
