"""/show under the server's rules: blocks, channels, a rate limit, no pings, no DMs to others, one re-encode
per budget, and no way back for a clip a moderator removed (issue 11 #3)."""

from __future__ import annotations

import asyncio
import re
from functools import partial
from typing import Any

import pytest

from bot.client import SoraBot
from bot.domain.models import JobState
from bot.services.show_limit import SHOWS_PER_HOUR
from tests.e2e.conftest import BOTH_STORAGES, World, clip_key, finished, stored_file, stored_names, until
from tests.fakes.discord import CHANNEL_MESSAGES_POST, EPHEMERAL, MIB, SEND_MESSAGES

# /show reads the clip (and a kept re-encode) back from the store: the output folder and a bucket of the local
# S3 server.
pytestmark = pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)


async def show(world: World, user_id: int, job_id: int = 1, channel_id: int | None = None) -> str:
    """Run /show and return its private answer."""
    interaction = await world.fake.slash(
        "show",
        [{"name": "job_id", "value": job_id}],
        guild_id=world.guild_id,
        channel_id=channel_id or world.channel_id,
        user_id=user_id,
    )
    answer: dict[str, Any] = await until(
        lambda: world.answer(interaction.token).get("content") and world.answer(interaction.token),
        what="/show's answer",
    )
    assert answer["flags"] & EPHEMERAL
    return str(answer["content"])


async def a_posted_clip(
    world: World, bot: SoraBot, prompt: str = "a clip worth showing again"
) -> dict[str, Any]:
    await world.video(prompt=prompt)
    await finished(bot, 1)
    clips: list[dict[str, Any]] = await until(world.clips, what="the clip")
    return clips[0]


def clips_in(world: World, channel_id: int) -> list[dict[str, Any]]:
    return [m for m in world.fake.channel_messages(channel_id) if m["attachments"] and not m["flags"]]


def dms(world: World) -> list[dict[str, Any]]:
    dm_channels = {str(c.id) for c in world.fake.channels.values() if c.recipient_id is not None}
    return [m for m in world.fake.messages.values() if m["channel_id"] in dm_channels]


async def test_a_blocked_member_cannot_show_a_clip(world: World) -> None:
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        await world.admin_command("user", "block", member=world.bob)
        assert "blocked" in await show(world, world.bob)
        assert len(world.clips()) == 1


async def test_show_only_works_in_the_servers_allowed_channels(world: World) -> None:
    elsewhere = world.fake.guilds[world.guild_id].add_channel("chat")
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        await world.admin_command("channels", "add", channel=world.channel_id)
        assert "can't be made in this channel" in await show(world, world.bob, channel_id=elsewhere)
        assert not clips_in(world, elsewhere)
        assert "Posted job 1 again" in await show(world, world.bob)


async def test_show_is_rate_limited_per_member(world: World) -> None:
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        for _ in range(SHOWS_PER_HOUR):
            assert "Posted job 1 again" in await show(world, world.bob)
        refused = await show(world, world.bob)
        assert f"{SHOWS_PER_HOUR} clips an hour" in refused
        assert len(world.clips()) == 1 + SHOWS_PER_HOUR
        assert "Posted job 1 again" in await show(world, world.mod)  # another member has their own count


async def test_a_repost_pings_nobody(world: World) -> None:
    async with world.bot() as bot:
        await a_posted_clip(world, bot, prompt="@everyone look <@&1> and <@1>")
        assert "Posted job 1 again" in await show(world, world.bob)
        again = world.clips()[1]
        assert again["mentions"] == [] and again["mention_roles"] == [] and not again["mention_everyone"]
        body = world.fake.requests_for(CHANNEL_MESSAGES_POST)[-1].json
        assert body["allowed_mentions"] == {"parse": [], "replied_user": False} or (
            body["allowed_mentions"]["parse"] == [] and not body["allowed_mentions"].get("users")
        )


async def test_a_channel_that_refuses_tells_the_caller_and_does_not_dm_the_requester(world: World) -> None:
    locked = world.fake.guilds[world.guild_id].add_channel("locked")
    world.fake.guilds[world.guild_id].set_overwrite(locked, world.fake.app_id, deny=SEND_MESSAGES)
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        # Refused up front (before any re-encode), by the same check as /video's.
        assert "missing the Send Messages permission" in await show(world, world.bob, channel_id=locked)
        assert dms(world) == []
        assert not clips_in(world, locked)


async def test_an_oversized_clip_is_reencoded_once_and_the_reencode_reused(world: World) -> None:
    world.prodia.clip_bytes_extra = 11 * MIB  # over the unboosted server's 10 MiB
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        job = await bot.pipeline.store.get(1)
        assert job is not None and job.state is JobState.DELIVERED
        assert clip_key(bot, job) in await stored_names(bot)
        [fitted] = await fits_of(bot, job.id)
        assert reencodes(bot) == 1
        made = (await bot.pipeline.storage.listing())[fitted]
        async with stored_file(bot, fitted) as path:
            size = path.stat().st_size
        for _ in range(2):
            assert "Posted job 1 again" in await show(world, world.bob)
        assert await fits_of(bot, job.id) == [fitted]
        assert reencodes(bot) == 1  # not made again: the stored re-encode was posted
        assert (await bot.pipeline.storage.listing())[fitted] == made  # nor written again
        sizes = {m["attachments"][0]["size"] for m in world.clips()}
        assert sizes == {size}


async def fits_of(bot: SoraBot, job_id: int) -> list[str]:
    """The stored re-encodes (`{id}.fit-{budget}.mp4`) of a job's clip."""
    fit = re.compile(rf"{job_id}\.fit-[0-9]+\.mp4")
    return sorted(name for name in await stored_names(bot) if fit.fullmatch(name))


def reencodes(bot: SoraBot) -> float:
    """How many re-encodes the bot has made (its own metric)."""
    return bot.metrics.registry.get_sample_value("sora_reencodes_total") or 0.0


async def test_a_clip_a_moderator_deleted_is_not_shown_again(world: World) -> None:
    async with world.bot() as bot:
        posted = await a_posted_clip(world, bot)
        await world.fake.click(
            "sora:delete:1", message_id=int(posted["id"]), user_id=world.mod, guild_id=world.guild_id
        )
        await until(lambda: not world.clips(), what="the clip deleted")
        for member in (world.bob, world.alice):
            assert "A moderator removed this clip" in await show(world, member)
        assert not world.clips()


async def test_a_clip_its_requester_deleted_only_the_requester_can_show_again(world: World) -> None:
    async with world.bot() as bot:
        posted = await a_posted_clip(world, bot)
        await world.fake.click(
            "sora:delete:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
        )
        await until(lambda: not world.clips(), what="the clip deleted")
        assert "Its requester removed this clip" in await show(world, world.bob)
        assert not world.clips()
        assert "Posted job 1 again" in await show(world, world.alice)
        assert len(world.clips()) == 1


@pytest.mark.parametrize("prompt", ["x" * 4096, "\n".join("a" * 2048)], ids=["4096-chars", "many-lines"])
async def test_show_reposts_the_longest_prompts(world: World, prompt: str) -> None:
    async with world.bot() as bot:
        await a_posted_clip(world, bot, prompt=prompt)
        assert "Posted job 1 again" in await show(world, world.bob)
        assert len(world.clips()) == 2


@pytest.mark.fake_refusal(
    status=404,
    code=10008,
    route="DELETE /channels/{channel_id}/messages/{message_id}",
    reason="the second Delete finds the message deleted by the first",
)
async def test_a_requester_and_a_moderator_deleting_at_once_both_count(world: World) -> None:
    """Two Deletes at once: the second finds the message gone; the moderator's removal still holds."""
    async with world.bot() as bot:
        posted = await a_posted_clip(world, bot)
        presses = await asyncio.gather(
            *(
                world.fake.click(
                    "sora:delete:1", message_id=int(posted["id"]), user_id=who, guild_id=world.guild_id
                )
                for who in (world.alice, world.mod)
            )
        )
        for press in presses:
            answer = await until(partial(_answer_text, world, press.token), what="a Delete's answer")
            assert "Deleted the clip of job 1" in answer, answer
        assert await bot.pipeline.store.clip_removed_by(1) == world.mod
        assert "A moderator removed this clip" in await show(world, world.alice)


def _answer_text(world: World, token: str) -> str:
    messages = [world.fake.original(token), *world.fake.followups(token)]
    return " ".join(m["content"] for m in messages if m and m.get("content"))
