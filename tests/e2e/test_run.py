"""`sora-bot run` as a real process, pointed at the fake Discord by its settings alone."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.media.probe import probe_clip
from tests.e2e.conftest import World, until

SORA_BOT = str(Path(sys.executable).parent / "sora-bot")


async def test_run_serves_video_commands_and_stops_cleanly_on_sigterm(world: World) -> None:
    env = dict(os.environ)
    env.update(
        DISCORD_TOKEN=world.fake.bot_token,
        DISCORD_API_BASE_URL=world.fake.api_base,
        DISCORD_GATEWAY_URL=world.fake.gateway_url,
        DEV_GUILD_ID=str(world.guild_id),
        PRODIA_BACKEND="local",
        DATABASE_URL=f"sqlite:///{world.tmp}/run.db",
        OUTPUT_DIR=str(world.tmp / "clips"),
        LOG_LEVEL="INFO",
    )
    proc = await asyncio.create_subprocess_exec(
        SORA_BOT, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        await world.fake.wait_for_gateway(timeout=30)
        await until(lambda: world.fake.commands.get(world.guild_id), what="commands synced to the dev guild")
        names = {c["name"] for c in world.fake.commands[world.guild_id]}
        assert {"video", "queue", "usage", "history", "show"} <= names
        await world.video(prompt="A cyclist sprints up a steep hill")
        [posted] = await until(world.clips, timeout=60, what="the clip from the bot process")
        info = probe_clip(world.fake.attachment_path(posted["attachments"][0]))
        assert (info.width, info.height) == (1280, 720)
        # The container's HEALTHCHECK: both halves of `run` report in, from this host.
        # (The gateway's first heartbeat follows discord.py's ready event, after the servers have arrived.)
        for role in ("--role=gateway", "--role=worker", "--any-host"):
            for _ in range(40):
                code, out = await health(env, role)
                if code == 0:
                    break
                await asyncio.sleep(0.25)
            assert code == 0 and out.startswith("healthy:"), out
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    health_code, out = await health(env)
    assert health_code == 1 and "unhealthy: no bot process" in out  # a clean stop says so at once
    _, stderr = await proc.communicate()
    log = stderr.decode()
    assert code == 0, log[-2000:]
    assert world.fake.bot_token not in log
    assert "job 1 delivering -> delivered" in log
    with sqlite3.connect(world.tmp / "run.db") as conn:
        assert conn.execute("SELECT state FROM jobs").fetchall() == [("delivered",)]


async def health(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SORA_BOT, "health", *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


@pytest.mark.fake_refusal(status=401, route="GET /users/@me", reason="the test logs in with a wrong token")
async def test_a_refused_discord_token_is_one_clear_line(world: World) -> None:
    env = dict(os.environ)
    env.update(
        DISCORD_TOKEN="not-the-right-token",
        DISCORD_API_BASE_URL=world.fake.api_base,
        DISCORD_GATEWAY_URL=world.fake.gateway_url,
        PRODIA_BACKEND="local",
        DATABASE_URL=f"sqlite:///{world.tmp}/run.db",
    )
    proc = await asyncio.create_subprocess_exec(
        SORA_BOT, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert stderr.decode().strip().splitlines()[-1] == (
        "sora-bot: configuration error: DISCORD_TOKEN was refused by Discord"
    )
    assert "not-the-right-token" not in stderr.decode()
