"""An input image belongs to every job that names it: a refused Re-roll of someone else's clip keeps it."""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import pytest
from PIL import Image

from bot.domain.models import JobState
from tests.e2e.conftest import (
    BOTH_ENGINES,
    BOTH_STORAGES,
    World,
    all_jobs,
    finished,
    input_key,
    stored_names,
    until,
)
from tests.fakes.discord import LOADING

# The store's PostgreSQL side under the real bot, as well as SQLite; the image in the output folder and in a
# bucket of the local S3 server.
pytestmark = [
    pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True),
    pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True),
]


def _reply(world: World, token: str) -> str:
    messages = [world.fake.original(token), *world.fake.followups(token)]
    return " ".join(m["content"] for m in messages if m and m.get("content"))


def _settled_answer(world: World, token: str) -> dict[str, Any] | None:
    """The answer to a deferred click once it says something: a job's status message or a refusal (not
    the "thinking" message the defer shows before the bot has decided)."""
    answer = world.fake.original(token)
    return answer if answer is not None and not int(answer["flags"]) & LOADING else None


async def test_a_re_roll_refused_for_quota_keeps_the_image_the_original_job_still_uses(world: World) -> None:
    data = io.BytesIO()
    Image.new("RGB", (320, 240), (20, 120, 60)).save(data, format="PNG")
    attachments = {"pic": ("pic.png", data.getvalue(), "image/png")}
    async with world.bot() as bot:
        await world.video_answer(prompt="a green kite", image="pic", attachments=attachments)
        original = await finished(bot, 1)
        assert original.state is JobState.DELIVERED and original.request.image_path
        image = input_key(original.request.image_path)
        [posted] = await until(world.clips, what="the clip")
        await world.admin_command("limits", "set", user=world.bob, jobs_per_hour=0)

        click = await world.fake.click(
            "sora:reroll:1", message_id=int(posted["id"]), user_id=world.bob, guild_id=world.guild_id
        )
        await until(lambda: _reply(world, click.token), what="bob's refusal")
        assert "You have used your 0 jobs for this hour." in _reply(world, click.token)
        assert image in await stored_names(bot)  # alice's job 1 still uses it: her Flip and Upgrade read it

        flip = await world.fake.click(
            "sora:flip:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
        )
        # Deferred first: its answer (and the job) comes once the bot has accepted or refused the Flip.
        answer = await until(partial(_settled_answer, world, flip.token), what="alice's flip")
        assert "no longer available" not in _reply(world, flip.token)
        assert answer.get("embeds"), _reply(world, flip.token)  # accepted: the new job's status message
        assert [j.id for j in await all_jobs(bot)] == [1, 2]
        assert (await finished(bot, 2)).state is JobState.DELIVERED
