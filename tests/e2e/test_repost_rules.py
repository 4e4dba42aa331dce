"""Re-posting a finished clip (/show and the "Post to channel" button) goes through one admission: the
server's blocks, channels and roles, a moderator's removal, the age-restricted rule for image clips, the bot's
permissions and a rate limit that the database keeps (restarts and other processes see it). And the other
button rules a review found missing: up-front permission and quota checks for variants, and who a Delete
counts as (issue 11)."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import pytest

from bot.services.show_limit import SHOWS_PER_HOUR
from tests.e2e.conftest import BOTH_ENGINES, MANAGE_MESSAGES, World, all_jobs, finished, kept_files, until
from tests.e2e.test_button_rules import (
    answered,
    deliver_by_dm,
    png,
    private_answer,
    reply_text,
)
from tests.e2e.test_show import a_posted_clip, clips_in, show
from tests.fakes.discord import ATTACH_FILES, CHANNEL_MESSAGES_POST, EPHEMERAL, SEND_MESSAGES

# The limit and the removals are SQL: both engines.
pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)


async def _private_clip(world: World, bot: Any, prompt: str = "just for me") -> dict[str, Any]:
    """Alice's private clip: the ephemeral message that carries its Post button."""
    await world.video(prompt=prompt, private=True)
    await finished(bot, 1)
    found: list[dict[str, Any]] = await until(
        lambda: [m for m in world.fake.messages.values() if m["attachments"] and m["flags"] & EPHEMERAL],
        what="the private clip",
    )
    return found[0]


async def _post(world: World, message: dict[str, Any]) -> str:
    inter = await world.fake.click(
        "sora:post:1", message_id=int(message["id"]), user_id=world.alice, guild_id=world.guild_id
    )
    return await private_answer(world, inter)


async def test_post_refuses_a_blocked_member(world: World) -> None:
    async with world.bot() as bot:
        private = await _private_clip(world, bot)
        await world.admin_command("user", "block", member=world.alice)
        assert "blocked from making clips" in await _post(world, private)
        assert not world.clips()


async def test_post_refuses_outside_the_allowed_channels_and_roles(world: World) -> None:
    elsewhere = world.fake.guilds[world.guild_id].add_channel("chat")
    async with world.bot() as bot:
        private = await _private_clip(world, bot)
        await world.admin_command("channels", "add", channel=elsewhere)
        assert "can't be made in this channel" in await _post(world, private)
        assert not world.clips()


async def test_post_does_not_bring_back_a_clip_a_moderator_removed(world: World) -> None:
    async with world.bot() as bot:
        private = await _private_clip(world, bot)
        assert "Posted" in await _post(world, private)
        [posted] = await until(world.clips, what="the public clip")
        await world.fake.click(
            "sora:delete:1", message_id=int(posted["id"]), user_id=world.mod, guild_id=world.guild_id
        )
        await until(lambda: not world.clips(), what="the moderator's delete")
        assert "A moderator removed this clip" in await _post(world, private)
        assert not world.clips()


async def test_post_checks_the_bots_permissions_first(world: World) -> None:
    async with world.bot() as bot:
        private = await _private_clip(world, bot)
        guild = world.fake.guilds[world.guild_id]
        guild.set_overwrite(world.channel_id, world.fake.app_id, deny=ATTACH_FILES)
        assert "missing the Attach Files permission" in await _post(world, private)
        assert not world.clips()


async def test_post_from_a_dm_checks_the_bots_permissions_in_the_jobs_channel(world: World) -> None:
    """Pressed in a DM, the interaction carries no permissions of the job's channel: they come from the
    server, and a refusal is a private answer, never another copy of the clip by DM."""
    async with world.bot() as bot:
        dm = await deliver_by_dm(world, bot, "just for me, later")
        world.fake.guilds[world.guild_id].set_overwrite(
            world.channel_id, world.fake.app_id, deny=SEND_MESSAGES
        )
        for _ in range(SHOWS_PER_HOUR + 2):
            post = await world.fake.click("sora:post:1", message_id=int(dm["id"]), user_id=world.alice)
            answer = await until(lambda post=post: reply_text(world, post.token), what="the refusal")  # type: ignore[misc]
            assert "missing the Send Messages" in answer and "there" in answer, answer
        assert len(world.dm_clips(world.alice)) == 1  # the first DM only
        assert not world.clips()
        assert await bot.governance.audit_times(world.guild_id, world.alice, "job.shown", 0) == []


async def test_post_and_show_share_one_hourly_limit(world: World) -> None:
    async with world.bot() as bot:
        private = await _private_clip(world, bot)
        for _ in range(SHOWS_PER_HOUR):
            assert "Posted" in await _post(world, private)
        assert f"{SHOWS_PER_HOUR} clips an hour" in await _post(world, private)
        assert f"{SHOWS_PER_HOUR} clips an hour" in await show(world, world.alice)
        # Posts of one clip share its message nonce: Discord may hand back the first message.
        assert 1 <= len(world.clips()) <= SHOWS_PER_HOUR


async def test_the_show_limit_holds_across_a_restart(world: World) -> None:
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        for _ in range(SHOWS_PER_HOUR):
            assert "Posted job 1 again" in await show(world, world.bob)
    async with world.bot():
        assert f"{SHOWS_PER_HOUR} clips an hour" in await show(world, world.bob)
        assert len(world.clips()) == 1 + SHOWS_PER_HOUR


async def test_a_refused_show_uses_no_slot(world: World) -> None:
    locked = world.fake.guilds[world.guild_id].add_channel("locked")
    world.fake.guilds[world.guild_id].set_overwrite(locked, world.fake.app_id, deny=SEND_MESSAGES)
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        for _ in range(SHOWS_PER_HOUR):
            assert "post" in await show(world, world.bob, channel_id=locked)
        assert not clips_in(world, locked)
        for _ in range(SHOWS_PER_HOUR):
            assert "Posted job 1 again" in await show(world, world.bob)


async def test_a_moderators_delete_overrides_the_requesters(world: World) -> None:
    async with world.bot() as bot:
        posted = await a_posted_clip(world, bot)
        await world.fake.click(
            "sora:delete:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
        )
        await until(lambda: not world.clips(), what="the requester's delete")
        assert "Posted job 1 again" in await show(world, world.alice)
        [repost] = await until(world.clips, what="the repost")
        await world.fake.click(
            "sora:delete:1", message_id=int(repost["id"]), user_id=world.mod, guild_id=world.guild_id
        )
        await until(lambda: not world.clips(), what="the moderator's delete")
        assert "A moderator removed this clip" in await show(world, world.alice)
        assert not world.clips()


async def test_an_age_restricted_image_clip_is_not_shown_in_an_ordinary_channel(world: World) -> None:
    adult = world.fake.guilds[world.guild_id].add_channel("adult", nsfw=True)
    attachment = {"pic": ("pic.png", png(320, 240), "image/png")}
    async with world.bot() as bot:
        await world.admin_command("defaults", age_restricted_images=True)
        await world.video(prompt="animate it", image="pic", attachments=attachment, channel_id=adult)
        await finished(bot, 1)
        await until(lambda: clips_in(world, adult), what="the clip in the age-restricted channel")
        assert "age-restricted channels" in await show(world, world.bob, channel_id=world.channel_id)
        assert not clips_in(world, world.channel_id)
        assert "Posted job 1 again" in await show(world, world.bob, channel_id=adult)


async def test_a_channel_moderator_deletes_only_the_message_elsewhere(world: World) -> None:
    """Manage Messages in another channel does not make a removal that holds in the whole server."""
    guild = world.fake.guilds[world.guild_id]
    other = guild.add_channel("other")
    keeper = guild.add_member(name="keeper")
    guild.set_overwrite(other, keeper, allow=MANAGE_MESSAGES)
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        assert "Posted job 1 again" in await show(world, world.bob, channel_id=other)
        [there] = await until(lambda: clips_in(world, other), what="the repost")
        inter = await world.fake.click(
            "sora:delete:1", message_id=int(there["id"]), user_id=keeper, guild_id=world.guild_id
        )
        assert "Deleted" in await private_answer(world, inter)
        assert not clips_in(world, other)
        assert "Posted job 1 again" in await show(world, world.bob)
        # The server's moderators (Manage Messages in the job's channel) still remove it everywhere.
        [again] = world.clips()[-1:]
        await world.fake.click(
            "sora:delete:1", message_id=int(again["id"]), user_id=world.mod, guild_id=world.guild_id
        )
        await until(lambda: len(world.clips()) == 1, what="the moderator's delete")
        assert "A moderator removed this clip" in await show(world, world.bob, channel_id=other)


async def test_variants_check_the_bots_permissions_first(world: World) -> None:
    async with world.bot() as bot:
        [posted] = [await a_posted_clip(world, bot)]
        guild = world.fake.guilds[world.guild_id]
        guild.set_overwrite(world.channel_id, world.fake.app_id, deny=ATTACH_FILES)
        prodia = len(world.prodia.requests)
        for action in ("reroll", "flip", "upgrade", "continue"):
            inter = await world.fake.click(
                f"sora:{action}:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
            )
            assert "missing the Attach Files permission" in await private_answer(world, inter), action
        inter = await world.fake.click(
            "sora:remix:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
        )
        await until(lambda: inter.modal or reply_text(world, inter.token), what="remix")
        assert inter.modal is not None
        inter = await world.fake.submit_modal(
            inter.modal["custom_id"], {"prompt": "the same, at night"}, user_id=world.alice
        )
        assert "missing the Attach Files permission" in await private_answer(world, inter)
        assert len(await all_jobs(bot)) == 1
        assert len(world.prodia.requests) == prodia


async def test_a_member_over_quota_pressing_continue_or_flip_writes_no_file(world: World) -> None:
    async with world.bot(default_jobs_per_hour=1) as bot:
        await world.video(
            prompt="the kite lifts off", image="pic", attachments={"pic": ("kite.png", png(), "image/png")}
        )
        await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        kept = await kept_files(bot)
        posts = len(world.fake.requests_for(CHANNEL_MESSAGES_POST))
        for action in ("continue", "flip", "continue"):
            inter = await world.fake.click(
                f"sora:{action}:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
            )
            await until(partial(answered, world, inter.token), what=action)
            assert "1 job for this hour" in reply_text(world, inter.token), action
        assert await kept_files(bot) == kept
        assert len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) == posts
        assert len(await all_jobs(bot)) == 1


async def test_two_shows_at_once_cannot_both_take_the_last_slot(world: World) -> None:
    async with world.bot() as bot:
        await a_posted_clip(world, bot)
        for _ in range(SHOWS_PER_HOUR - 1):
            assert "Posted job 1 again" in await show(world, world.bob)
        answers = await asyncio.gather(show(world, world.bob), show(world, world.bob))
        assert sorted("Posted job 1 again" in a for a in answers) == [False, True], answers
        assert len(world.clips()) == 1 + SHOWS_PER_HOUR
