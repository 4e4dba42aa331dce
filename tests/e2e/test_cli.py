"""`sora-bot generate` as a real process: local renders, the fake Prodia, failures, crash recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bot.media.probe import probe_clip
from tests.conftest import PRODIA_TOKEN
from tests.fakes.prodia import IMG2VID, PRO_IMG2VID, PRO_TXT2VID, TXT2VID, FakeProdia

SORA_BOT = str(Path(sys.executable).parent / "sora-bot")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    max_rss_kib: int = 0


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path}/bot.db",
        OUTPUT_DIR=str(tmp_path / "clips"),
        PRODIA_TOKEN=PRODIA_TOKEN,
        PRODIA_POLL_MIN_SECONDS="0.05",
        PRODIA_POLL_MAX_SECONDS="0.2",
        PRODIA_RETRY_BASE_SECONDS="0.01",
        PRODIA_RETRY_AFTER_MAX_SECONDS="0.5",
        PRODIA_MAX_ATTEMPTS="3",
        LEASE_SECONDS="2",
    )
    env.update(extra)
    return env


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [SORA_BOT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def finish(proc: subprocess.Popen[str], timeout: float = 120) -> Result:
    try:
        await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout)
    except TimeoutError:
        proc.kill()
        raise
    assert proc.stdout is not None and proc.stderr is not None
    return Result(proc.returncode, proc.stdout.read(), proc.stderr.read())


# A small launcher runs the command as its own child and reports that child's peak RSS. Measuring a child of
# the test process directly would count the test process's pages, which a forked child shares until exec.
MEASURE = (
    "import os, resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


async def measured(tmp_path: Path, args: list[str], env: dict[str, str]) -> Result:
    report = tmp_path / "rss.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURE, str(report), SORA_BOT, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    result = await finish(proc)
    result.max_rss_kib = int(report.read_text())
    return result


async def generate(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return await finish(start(["generate", *args], env or cli_env(tmp_path)))


def ledger(tmp_path: Path) -> list[tuple[int, str, str]]:
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        return conn.execute(
            "SELECT id, state, (SELECT group_concat(kind, ',') FROM"
            " (SELECT kind FROM usage_ledger WHERE job_id = jobs.id ORDER BY id)) FROM jobs ORDER BY id"
        ).fetchall()


async def test_local_backend_writes_a_4s_720p_h264_clip(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    result = await generate(
        tmp_path, "A cyclist sprints up a steep hill", "--backend", "local", "--out", str(out)
    )
    assert result.code == 0, result.stderr
    info = probe_clip(out)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (1280, 720, "h264", None)
    assert info.duration == pytest.approx(4, abs=0.2)
    assert "job 1 delivered" in result.stdout and str(out) in result.stdout and "$0.40" in result.stdout
    assert "job 1: queued" in result.stderr and "job 1: delivered" in result.stderr


async def test_local_backend_pro_1080p_portrait_8s_has_audio(tmp_path: Path) -> None:
    out = tmp_path / "pro.mp4"
    result = await generate(
        tmp_path, "A barista pulls an espresso shot", "--backend", "local", "--model", "sora-2-pro",
        "--resolution", "1080p", "--aspect-ratio", "9:16", "--duration", "8", "--out", str(out),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    info = probe_clip(out)
    assert (info.width, info.height, info.audio_codec) == (1080, 1920, "aac")
    assert info.duration == pytest.approx(8, abs=0.2)
    assert "$4.00" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hi"], "at least 3 characters"),
        (["a fine prompt", "--resolution", "1080p"], "sora-2-pro"),
        (["a fine prompt", "--duration", "5"], "4, 8 or 12"),
        (["a fine prompt", "--image", "missing.png"], "can't read the image"),
    ],
)
async def test_bad_requests_exit_2_with_one_line_and_no_job(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = await generate(tmp_path, *args, "--backend", "local", "--out", str(tmp_path / "x.mp4"))
    assert result.code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bot.db").exists() or ledger(tmp_path) == []


async def test_a_corrupt_image_exits_2_and_enqueues_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not an image at all")
    result = await generate(
        tmp_path, "animate it", "--image", str(fake), "--backend", "local", "--out", "x.mp4"
    )
    assert result.code == 2 and "not a readable" in result.stderr
    assert ledger(tmp_path) == []


async def test_a_missing_prodia_token_names_the_setting(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    del env["PRODIA_TOKEN"]
    result = await generate(tmp_path, "a dog runs", "--out", "x.mp4", env=env)
    assert result.code == 2
    assert (
        result.stderr.strip()
        == "sora-bot: configuration error: PRODIA_TOKEN is not set (environment or .env)"
    )


async def test_a_malformed_setting_names_itself(tmp_path: Path) -> None:
    result = await generate(
        tmp_path, "a dog runs", "--out", "x.mp4", env=cli_env(tmp_path, MAX_CONCURRENT_JOBS="many")
    )
    assert result.code == 2 and "MAX_CONCURRENT_JOBS is invalid" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_all_four_job_types_through_the_fake_prodia(
    tmp_path: Path, fake_prodia: FakeProdia, sync: bool
) -> None:
    if sync:
        fake_prodia.async_refused |= {TXT2VID, IMG2VID, PRO_TXT2VID, PRO_IMG2VID}
    still = tmp_path / "still.png"
    Image.new("RGB", (640, 640), (10, 80, 200)).save(still)
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url)
    cases = [
        ([], (1280, 720), None),
        (["--image", str(still)], (1280, 720), None),
        (["--model", "sora-2-pro", "--resolution", "1080p"], (1920, 1080), "aac"),
        (["--model", "sora-2-pro", "--image", str(still), "--aspect-ratio", "9:16"], (720, 1280), "aac"),
    ]
    for i, (args, size, audio) in enumerate(cases):
        out = tmp_path / f"clip{i}.mp4"
        result = await generate(tmp_path, "a red kite climbs into wind", *args, "--out", str(out), env=env)
        assert result.code == 0, result.stderr
        info = probe_clip(out)
        assert ((info.width, info.height), info.audio_codec) == (size, audio)
        assert f"via {'sync' if sync else 'async'}" in result.stdout
        assert "(reported)" in result.stdout
    assert {job.type for job in fake_prodia.jobs.values()} == {TXT2VID, IMG2VID, PRO_TXT2VID, PRO_IMG2VID}
    assert [state for _, state, _ in ledger(tmp_path)] == ["delivered"] * 4


@pytest.mark.parametrize(
    ("setup", "env_extra", "message"),
    [
        ("none", {"PRODIA_TOKEN": "wrong-token"}, "token was refused"),
        ("none", {}, "content moderation: prompt rejected"),
        ("capacity", {}, "at capacity"),
    ],
)
async def test_provider_failures_end_with_a_clear_line_a_settlement_and_exit_1(
    tmp_path: Path, fake_prodia: FakeProdia, setup: str, env_extra: dict[str, str], message: str
) -> None:
    if setup == "capacity":
        fake_prodia.capacity_error = True
        fake_prodia.retry_after = "0"
    prompt = "something forbidden" if "moderation" in message else "a dog runs"
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url, **env_extra)
    result = await generate(tmp_path, prompt, "--out", str(tmp_path / "x.mp4"), "-q", env=env)
    assert result.code == 1
    assert result.stderr.startswith("sora-bot: job 1 failed: ")
    assert message in result.stderr.splitlines()[0]
    assert "wrong-token" not in result.stderr and PRODIA_TOKEN not in result.stderr
    # A refused submission costs nothing; a job Prodia accepted and then failed counts as charged.
    settled = "commit" if "moderation" in message else "refund"
    assert ledger(tmp_path) == [(1, "failed", f"reserve,{settled}")]
    assert not (tmp_path / "x.mp4").exists()


async def wait_until(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_a_killed_run_is_finished_by_the_next_one_without_resubmitting(
    tmp_path: Path, fake_prodia: FakeProdia
) -> None:
    fake_prodia.processing_seconds = 3.0
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url)
    first = start(["generate", "first clip of a dog", "--out", str(tmp_path / "first.mp4")], env)
    await wait_until(lambda: len(fake_prodia.jobs) == 1)
    await wait_until(lambda: ledger(tmp_path) and ledger(tmp_path)[0][1] == "running")
    first.send_signal(signal.SIGKILL)
    await finish(first)

    fake_prodia.processing_seconds = 0.0
    second = await generate(tmp_path, "second clip of a cat", "--out", str(tmp_path / "second.mp4"), env=env)
    assert second.code == 0, second.stderr
    assert "recovered job 1: delivered" in second.stderr
    assert probe_clip(tmp_path / "first.mp4").width == 1280
    assert probe_clip(tmp_path / "second.mp4").width == 1280
    assert len(fake_prodia.requests_for("POST /job/async")) == 2  # one per job, none re-sent
    assert ledger(tmp_path) == [(1, "delivered", "reserve,commit"), (2, "delivered", "reserve,commit")]


async def test_a_run_killed_mid_sync_submission_is_failed_not_resent_and_stays_charged(
    tmp_path: Path, fake_prodia: FakeProdia
) -> None:
    fake_prodia.async_refused.add(TXT2VID)
    fake_prodia.processing_seconds = 3.0
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url)
    first = start(["generate", "first clip of a dog", "--out", str(tmp_path / "first.mp4")], env)
    await wait_until(lambda: len(fake_prodia.requests_for("POST /job")) == 1)
    first.send_signal(signal.SIGKILL)
    await finish(first)

    fake_prodia.processing_seconds = 0.0
    second = await generate(tmp_path, "second clip of a cat", "--out", str(tmp_path / "second.mp4"), env=env)
    assert second.code == 0, second.stderr
    assert "recovered job 1: failed" in second.stderr and "not re-sent" in second.stderr
    assert not (tmp_path / "first.mp4").exists()
    assert len(fake_prodia.requests_for("POST /job")) == 2  # the second job's; the first was never re-sent
    # The first sync request had reached Prodia, which may have billed it: its money stays spent.
    assert ledger(tmp_path) == [(1, "failed", "reserve,commit"), (2, "delivered", "reserve,commit")]


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
async def test_a_50mb_clip_does_not_raise_peak_memory_by_anything_near_50mb(
    tmp_path: Path, fake_prodia: FakeProdia, sync: bool
) -> None:
    if sync:
        fake_prodia.async_refused.add(TXT2VID)
    env = cli_env(tmp_path, PRODIA_BASE_URL=fake_prodia.base_url)
    small = await measured(tmp_path, ["generate", "a dog runs", "--out", str(tmp_path / "small.mp4")], env)
    fake_prodia.clip_bytes_extra = 50 * 1024 * 1024
    big = await measured(tmp_path, ["generate", "a dog runs", "--out", str(tmp_path / "big.mp4")], env)
    assert small.code == big.code == 0, big.stderr
    assert (tmp_path / "big.mp4").stat().st_size > 50 * 1024 * 1024
    grew_mib = (big.max_rss_kib - small.max_rss_kib) / 1024
    print(f"peak RSS small {small.max_rss_kib / 1024:.1f} MiB, 50 MB clip {big.max_rss_kib / 1024:.1f} MiB")
    assert grew_mib < 15, f"peak memory grew by {grew_mib:.1f} MiB for a 50 MB clip"


async def test_db_migrate_and_backup(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    migrated = await finish(start(["db", "migrate"], env))
    assert migrated.code == 0 and "current schema" in migrated.stdout
    backup = await finish(start(["db", "backup", str(tmp_path / "b" / "copy.db")], env))
    assert backup.code == 0
    with sqlite3.connect(tmp_path / "b" / "copy.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


async def test_run_without_a_discord_token_names_it(tmp_path: Path) -> None:
    result = await finish(start(["run"], cli_env(tmp_path)))
    assert result.code == 2 and "DISCORD_TOKEN is not set" in result.stderr


async def test_a_database_locked_by_another_process_is_a_clear_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path, DATABASE_BUSY_TIMEOUT_SECONDS="0.3")
    assert (await finish(start(["db", "migrate"], env))).code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None);"
         " c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(30)",
         str(tmp_path / "bot.db")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = await generate(tmp_path, "a dog runs", "--backend", "local", "--out", "x.mp4", env=env)
    finally:
        holder.kill()
        holder.wait()
    assert result.code in (1, 2)
    assert "locked by another process" in result.stderr or "database is busy" in result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "bot.db") as conn:  # no corruption
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_database_from_a_newer_version_is_refused_with_one_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert (await finish(start(["db", "migrate"], env))).code == 0
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        conn.execute("PRAGMA user_version = 999")
    result = await generate(tmp_path, "a dog runs", "--backend", "local", "--out", "x.mp4", env=env)
    assert result.code == 2
    assert (
        result.stderr.strip().startswith("sora-bot: database error:")
        and "newer than this sora-bot" in result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1
