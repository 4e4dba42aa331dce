"""Buttons under the server's rules: on clips sent by direct message, for members who may not make clips,
and the Remix form when several members open it at once."""

from __future__ import annotations

import io
from functools import partial
from typing import Any

import pytest
from PIL import Image

from bot import files
from bot.domain.models import JobState
from tests.e2e.conftest import (
    BOTH_STORAGES,
    World,
    all_jobs,
    finished,
    input_key,
    kept_files,
    stored_names,
    until,
)
from tests.fakes.discord import CHANNEL_MESSAGES_POST, Interaction


def png(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 60, 200)).save(out, format="PNG")
    return out.getvalue()


def reply_text(world: World, token: str) -> str:
    """What the bot answered to a click, privately (the response, or the followup after a defer)."""
    messages = [world.fake.original(token), *world.fake.followups(token)]
    return " ".join(m["content"] for m in messages if m and m.get("content"))


def answered(world: World, token: str) -> bool:
    """The bot answered with a status message (a job) or a refusal."""
    return bool(world.answer(token).get("embeds") or reply_text(world, token))


def modal_or_reply(world: World, inter: Interaction) -> Any:
    return inter.modal or reply_text(world, inter.token)


async def private_answer(world: World, inter: Interaction) -> str:
    """Wait for the bot's private answer to `inter`, and return its text."""
    text: str = await until(
        lambda: reply_text(world, inter.token), what=f"an answer to {inter.payload['data']}"
    )
    return text


async def count(bot: Any, n: int) -> Any:
    jobs = await all_jobs(bot)
    return jobs if len(jobs) >= n else None


async def _running(bot: Any, job_id: int) -> bool:
    job = await bot.pipeline.store.get(job_id)
    return bool(job and job.state is JobState.RUNNING)


async def deliver_by_dm(world: World, bot: Any, prompt: str) -> dict[str, Any]:
    """A private clip whose interaction expired before it was ready: the bot sends it by DM."""
    world.prodia.stuck = True
    token = await world.video(prompt=prompt, private=True, seed=3)
    await until(lambda: _running(bot, 1), what="job 1 at Prodia")
    await world.expire_token(bot, 1, token)  # past the bot's 14-minute margin, and Discord's
    world.prodia.stuck = False
    assert (await finished(bot, 1)).state is JobState.DELIVERED
    dms: list[dict[str, Any]] = await until(lambda: world.dm_clips(world.alice), what="the clip by DM")
    [dm] = dms
    return dm


async def test_buttons_on_a_clip_sent_by_direct_message_act_in_its_server_for_its_requester(
    world: World,
) -> None:
    outsider = world.fake.add_guild(name="elsewhere")
    elsewhere = outsider.add_channel("general")
    outsider.add_member(user_id=world.bob, name="bob")
    async with world.bot() as bot:
        dm = await deliver_by_dm(world, bot, "just for me, later")
        labels = [c["label"] for row in dm["components"] for c in row["components"]]
        assert labels == ["Post to channel", "Re-roll", "Remix"]
        assert world.clips() == []

        # Re-roll in the DM: a private job of the requester's in the original server and channel.
        reroll = await world.fake.click("sora:reroll:1", message_id=int(dm["id"]), user_id=world.alice)
        assert reroll.guild_id is None
        await until(lambda: answered(world, reroll.token), what="the re-roll's answer")
        assert world.answer(reroll.token).get("embeds"), reply_text(world, reroll.token)
        [_, again] = await until(lambda: count(bot, 2), what="the re-rolled job")
        assert (again.user_id, again.guild_id, again.channel_id) == (
            world.alice,
            world.guild_id,
            world.channel_id,
        )
        assert again.request.prompt == "just for me, later" and again.target["private"] is True
        assert (await finished(bot, again.id)).state is JobState.DELIVERED

        # Remix in the DM: the form, then a job in the original server (held at Prodia, to be cancelled).
        world.prodia.stuck = True
        remix = await world.fake.click("sora:remix:1", message_id=int(dm["id"]), user_id=world.alice)
        shown = await until(lambda: remix.modal, what="the remix form in the DM")
        submitted = await world.fake.submit_modal(
            shown["custom_id"], {"prompt": "remixed from a DM"}, user_id=world.alice
        )
        await until(lambda: answered(world, submitted.token), what="the remix's answer")
        jobs = await until(lambda: count(bot, 3), what="the remixed job")
        assert (jobs[2].request.prompt, jobs[2].guild_id) == ("remixed from a DM", world.guild_id)
        # Its status message, in the DM, has a Cancel button that works there.
        status = world.answer(submitted.token)
        assert [c["label"] for row in status["components"] for c in row["components"]] == ["Cancel"]
        cancel = await world.fake.click(
            f"sora:cancel:{jobs[2].id}", message_id=int(status["id"]), user_id=world.alice
        )
        assert f"Cancelled job {jobs[2].id}" in await private_answer(world, cancel)
        world.prodia.stuck = False

        # Post in the DM: the clip goes to the original channel.
        post = await world.fake.click("sora:post:1", message_id=int(dm["id"]), user_id=world.alice)
        [posted] = await until(world.clips, what="the clip in the channel")
        assert (
            posted["channel_id"] == str(world.channel_id)
            and "Job 1 " in posted["embeds"][0]["footer"]["text"]
        )
        await until(lambda: "Posted" in reply_text(world, post.token), what="the post's answer")

        # Someone else naming alice's job: from their own DM, and from another server.
        posts = len(world.fake.requests_for(CHANNEL_MESSAGES_POST))
        forged: list[Interaction] = []
        for action in ("reroll", "post", "remix"):
            forged.append(
                await world.fake.click(
                    f"sora:{action}:1",
                    message_id=world.fake.snowflake(),
                    channel_id=world.fake.snowflake(),
                    guild_id=None,
                    user_id=world.bob,
                )
            )
            forged.append(
                await world.fake.click(
                    f"sora:{action}:1",
                    message_id=world.fake.snowflake(),
                    channel_id=elsewhere,
                    guild_id=outsider.id,
                    user_id=world.bob,
                )
            )
        for inter in forged:
            await private_answer(world, inter)
            assert inter.modal is None
        dm_refusals = [reply_text(world, i.token) for i in forged if i.guild_id is None]
        assert all("Only the person who asked for this clip" in text for text in dm_refusals), dm_refusals
        assert all("no longer exists" in reply_text(world, i.token) for i in forged if i.guild_id), forged
        assert len(await all_jobs(bot)) == 3
        assert len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) == posts


@pytest.mark.fake_refusal(
    status=404,
    code=10007,
    route="GET /guilds/{guild_id}/members/{user_id}",
    reason="the bot looks the requester up in the server they left",
)
async def test_a_requester_who_left_the_server_cannot_use_the_buttons_of_a_clip_sent_by_dm(
    world: World,
) -> None:
    async with world.bot() as bot:
        dm = await deliver_by_dm(world, bot, "a clip for someone about to leave")
        await world.admin_command("user", "block", member=world.alice)
        reroll = await world.fake.click("sora:reroll:1", message_id=int(dm["id"]), user_id=world.alice)
        assert "blocked from making clips in this server" in await private_answer(world, reroll)

        del world.fake.guilds[world.guild_id].members[world.alice]
        reroll = await world.fake.click("sora:reroll:1", message_id=int(dm["id"]), user_id=world.alice)
        post = await world.fake.click("sora:post:1", message_id=int(dm["id"]), user_id=world.alice)
        for inter in (reroll, post):
            assert "no longer a member of the server" in await private_answer(world, inter)
        assert len(await all_jobs(bot)) == 1 and world.clips() == []


async def test_two_members_remixing_one_clip_each_get_their_job(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="a red kite climbs", seed=5)
        await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        opened = [
            await world.fake.click(
                "sora:remix:1", message_id=int(posted["id"]), user_id=user, guild_id=world.guild_id
            )
            for user in (world.alice, world.bob)
        ]
        forms = [await until(partial(getattr, inter, "modal"), what="a remix form") for inter in opened]
        submits = [
            await world.fake.submit_modal(form["custom_id"], {"prompt": f"remixed by {name}"}, user_id=user)
            for form, user, name in zip(forms, (world.alice, world.bob), ("alice", "bob"), strict=True)
        ]
        for submit in submits:
            await until(partial(answered, world, submit.token), timeout=10, what="each submit answered")
        jobs = await until(lambda: count(bot, 3), what="two remixed jobs")
        assert {(j.user_id, j.request.prompt, j.request.seed) for j in jobs[1:]} == {
            (world.alice, "remixed by alice", 5),
            (world.bob, "remixed by bob", 5),
        }
        assert forms[0]["custom_id"] != forms[1]["custom_id"]


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
async def test_a_blocked_member_pressing_any_button_costs_nothing_and_leaves_no_file(world: World) -> None:
    async with world.bot() as bot:
        await world.video(
            prompt="the kite lifts off", image="pic", attachments={"pic": ("kite.png", png(), "image/png")}
        )
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        [posted] = await until(world.clips, what="the clip")
        await world.admin_command("user", "block", member=world.bob)

        kept = await kept_files(bot)
        prodia = len(world.prodia.requests)
        posts = len(world.fake.requests_for(CHANNEL_MESSAGES_POST))
        for action in ("reroll", "flip", "upgrade", "continue", "remix"):
            inter = await world.fake.click(
                f"sora:{action}:1", message_id=int(posted["id"]), user_id=world.bob, guild_id=world.guild_id
            )
            await until(partial(modal_or_reply, world, inter), what=action)
            if inter.modal is not None:  # a form shown anyway: the rules must refuse its submission
                inter = await world.fake.submit_modal(
                    inter.modal["custom_id"], {"prompt": "a blocked remix"}, user_id=world.bob
                )
            assert "blocked from making clips" in await private_answer(world, inter), action

        assert await kept_files(bot) == kept
        assert len(world.prodia.requests) == prodia
        assert len(world.fake.requests_for(CHANNEL_MESSAGES_POST)) == posts
        assert len(await all_jobs(bot)) == 1


@pytest.mark.parametrize("storage", BOTH_STORAGES, indirect=True)
async def test_an_image_variant_owns_its_own_input_file(world: World) -> None:
    """A re-roll of an image clip gets its own copy of the image: a refusal deleting it, or retention,
    must not take the original job's image."""
    async with world.bot(default_jobs_per_hour=2) as bot:
        await world.video(
            prompt="the kite lifts off", image="pic", attachments={"pic": ("kite.png", png(), "image/png")}
        )
        first = await finished(bot, 1)
        [posted] = await until(world.clips, what="the clip")
        tokens = []
        for _ in range(2):  # the second goes past alice's 2 jobs an hour
            inter = await world.fake.click(
                "sora:reroll:1", message_id=int(posted["id"]), user_id=world.alice, guild_id=world.guild_id
            )
            await until(partial(answered, world, inter.token), what="re-roll")
            tokens.append(inter.token)
        assert "jobs" in reply_text(world, tokens[1]).lower(), reply_text(world, tokens[1])
        [_, second] = await all_jobs(bot)
        assert first.request.image_path and second.request.image_path
        assert second.request.image_path != first.request.image_path
        stored_inputs = {n for n in await stored_names(bot) if n.startswith(f"{files.INPUTS}/")}
        assert stored_inputs == {input_key(first.request.image_path), input_key(second.request.image_path)}


async def test_a_job_started_by_a_button_in_a_dm_keeps_its_servers_language_for_its_posts(
    world: World,
) -> None:
    """A DM has no server language: the new job's posts take the server's own, from the member fetched
    from it (else a later Post to channel would be in English in a server that speaks French)."""
    world.guild.preferred_locale = "fr"
    async with world.bot() as bot:
        dm = await deliver_by_dm(world, bot, "just for me, in French later")
        reroll = await world.fake.click(
            "sora:reroll:1", message_id=int(dm["id"]), user_id=world.alice, locale="de"
        )
        await until(lambda: answered(world, reroll.token), what="the re-roll's answer")
        [first, again] = await until(lambda: count(bot, 2), what="the re-rolled job")
        assert first.target.get("guild_locale") == again.target.get("guild_locale") == "fr"
        assert again.target.get("locale") == "de"
