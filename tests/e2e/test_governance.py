"""/sora-admin end to end: access, isolation between servers, limits, gating, prompt rules, approvals,
budgets, audit, reports."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest
from PIL import Image

from bot.domain.models import JobState
from tests.e2e.conftest import BOTH_ENGINES, World, all_jobs, clip_key, finished, stored_names, until
from tests.fakes.discord import EPHEMERAL

# The store's PostgreSQL side under the real bot, as well as SQLite.
pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)


def refused(answer: dict[str, Any]) -> str:
    """The text of a refusal (a private message without a status embed)."""
    assert answer["flags"] & EPHEMERAL
    assert not answer.get("embeds"), f"expected a refusal, got a status: {answer}"
    return str(answer["content"])


async def test_members_without_manage_server_get_no_access_even_invoking_directly(world: World) -> None:
    async with world.bot() as bot:
        [admin] = [c for c in world.fake.commands[world.guild_id] if c["name"] == "sora-admin"]
        assert admin["default_member_permissions"] == str(1 << 5)
        token = await world.admin_command("budget", "set", user_id=world.alice, dollars_per_day=0.0)
        assert "Manage Server" in world.answer(token)["content"]
        assert (await bot.governance.settings(world.guild_id)).budget_dollars_per_day is None


async def test_settings_of_one_server_never_affect_another(world: World) -> None:
    other = world.fake.add_guild(name="other")
    other_channel = other.add_channel("general")
    other_member = other.add_member(name="carol")
    async with world.bot() as bot:
        await world.admin_command("blocklist", "add", pattern="dragon")
        await world.admin_command("limits", "set", jobs_per_hour=0)
        await world.admin_command("channels", "add", channel=world.channel_id)
        blocked = await world.video_answer(prompt="a dragon over the hills")
        assert "doesn't allow" in refused(blocked)
        answer = await world.video_answer(
            other_member, prompt="a dragon over the hills", guild_id=other.id, channel_id=other_channel
        )
        assert answer["embeds"], answer
        assert await bot.governance.blocklist(other.id) == []
        assert await bot.governance.limit_rules(other.id) == []
        assert await bot.governance.allowed(other.id, "channels") == set()


async def test_role_limits_the_most_generous_role_and_a_user_override(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    regulars = guild.add_role("regulars")
    vips = guild.add_role("vips")
    dave = guild.add_member(name="dave", roles=[regulars, vips])
    async with world.bot() as bot:
        await world.admin_command("limits", "set", role=regulars, jobs_per_hour=1)
        await world.admin_command("limits", "set", role=vips, jobs_per_hour=2)
        assert (await world.video_answer(dave, prompt="first clip of dave"))["embeds"]
        assert (await world.video_answer(dave, prompt="second clip of dave"))["embeds"]
        assert "2 jobs for this hour" in refused(await world.video_answer(dave, prompt="third clip of dave"))
        await world.admin_command("limits", "set", user=dave, jobs_per_hour=3)
        assert (await world.video_answer(dave, prompt="third clip, now allowed"))["embeds"]
        assert len([j for j in await all_jobs(bot) if j.user_id == dave]) == 3


async def test_story_shots_set_for_a_role_and_a_member_show_and_apply(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    tellers = guild.add_role("storytellers")
    gina = guild.add_member(name="gina", roles=[tellers])
    async with world.bot() as bot:
        token = await world.admin_command("limits", "set", role=tellers, story_shots=5)
        assert world.answer(token)["content"] == f"Limits for <@&{tellers}>: story shots 5."
        await world.admin_command("limits", "set", user=world.alice, story_shots=0, jobs_per_hour=4)
        with pytest.raises(ValueError, match="max_value 5"):  # Discord's client refuses it
            await world.admin_command("limits", "set", story_shots=6)
        shown = world.answer(await world.admin_command("limits", "show"))["content"].splitlines()
        assert "story shots 3" in shown[0]  # the bot's default
        assert f"<@&{tellers}>: story shots 5" in shown
        assert f"<@{world.alice}>: jobs per hour 4, story shots 0" in shown
        server = bot.get_guild(world.guild_id)
        assert server is not None
        for member_id, shots in ((gina, 5), (world.alice, 0), (world.bob, 3)):
            member = server.get_member(member_id) or await server.fetch_member(member_id)
            assert (await bot.guard.policy(world.guild_id, member)).story_shots == shots


async def test_pro_and_1080p_are_gated(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    pros = guild.add_role("pro-users")
    erin = guild.add_member(name="erin", roles=[pros])
    async with world.bot():
        await world.admin_command("limits", "set", pro=False, hd=False)
        await world.admin_command("limits", "set", role=pros, pro=True)
        assert "Sora 2 Pro isn't enabled" in refused(
            await world.video_answer(prompt="x y z", model="sora-2-pro")
        )
        assert (await world.video_answer(erin, prompt="a pro clip", model="sora-2-pro"))["embeds"]
        answer = await world.video_answer(erin, prompt="a pro clip", model="sora-2-pro", resolution="1080p")
        assert "1080p isn't enabled" in refused(answer)


async def test_channel_and_role_gating(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    makers = guild.add_role("makers")
    frank = guild.add_member(name="frank", roles=[makers])
    other_channel = guild.add_channel("off-topic")
    async with world.bot() as bot:
        await world.admin_command("channels", "add", channel=world.channel_id)
        answer = await world.video_answer(prompt="wrong channel", channel_id=other_channel)
        assert "can't be made in this channel" in refused(answer)
        await world.admin_command("roles", "allow", role=makers)
        assert "needs one of the roles" in refused(await world.video_answer(prompt="no role here"))
        assert (await world.video_answer(frank, prompt="frank has the role"))["embeds"]
        assert len(await all_jobs(bot)) == 1


async def test_blocked_prompts_look_alikes_spaces_zero_width_strikes_and_blocking(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("blocklist", "add", pattern="dragon")
        await world.admin_command("defaults", strikes_to_block=3)
        for prompt in (
            "a d r a g o n flies",
            "a drаgon flies",
            "a dra\u200bgon flies",
        ):  # spaces, a Cyrillic letter, a zero-width space
            assert "doesn't allow" in refused(await world.video_answer(prompt=prompt)), prompt
        assert "You are blocked" in refused(await world.video_answer(prompt="a harmless kitten"))
        status = await bot.governance.member(world.guild_id, world.alice)
        assert status.strikes == 3 and status.blocked
        await world.admin_command("user", "unblock", member=world.alice)
        assert (await world.video_answer(prompt="a harmless kitten"))["embeds"]
        # The status answers before the worker sends the job: wait for the job to end, then read Prodia's log.
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        assert world.prodia.requests_for("POST /job/async")[0].job["config"]["prompt"] == "a harmless kitten"
        assert len(world.prodia.requests_for("POST /job/async")) == 1  # no blocked prompt reached Prodia


async def test_a_catastrophic_regex_cannot_stall_the_bot(world: World) -> None:
    async with world.bot():
        await world.admin_command("blocklist", "add", pattern="(a+)+$", regex=True)
        answer = await world.video_answer(prompt="a" * 3000 + "!")
        assert answer.get("content") or answer.get("embeds")
        # The bot still answers promptly afterwards.
        assert (await world.video_answer(world.bob, prompt="a kitten naps"))["embeds"]


async def test_an_invalid_regex_is_refused_to_the_admin(world: World) -> None:
    async with world.bot() as bot:
        token = await world.admin_command("blocklist", "add", pattern="(unclosed", regex=True)
        assert "not valid" in world.answer(token)["content"]
        assert await bot.governance.blocklist(world.guild_id) == []


async def test_a_prompt_prodia_rejects_for_content_is_a_strike(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="something forbidden here")
        job = await finished(bot, 1)
        assert job.state is JobState.FAILED
        await until(lambda: _strikes(bot, world), what="the strike")


async def _strikes(bot: Any, world: World) -> bool:
    return bool((await bot.governance.member(world.guild_id, world.alice)).strikes == 1)


def approval_messages(world: World) -> list[dict[str, Any]]:
    return [m for m in world.fake.channel_messages(world.mods_channel_id) if m.get("embeds")]


async def test_approval_flow_approve_reject_and_non_moderators(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        token = await world.video_answer(prompt="please approve me")
        assert "Waiting for a moderator" in token["embeds"][0]["title"]
        [request] = await until(lambda: approval_messages(world), what="the approval request")
        assert "please approve me" in request["embeds"][0]["description"]
        assert world.prodia.requests == []  # nothing spent before approval
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]

        click = await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=world.bob)
        await until(lambda: world.answer(click.token).get("content") or world.fake.followups(click.token))
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]

        await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=world.mod)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED and job.approved_by == world.mod

        await world.video(prompt="please reject me")
        second = await until(
            lambda: [m for m in approval_messages(world) if "reject me" in m["embeds"][0]["description"]]
        )
        press = await world.fake.click("sora:reject:2", message_id=int(second[0]["id"]), user_id=world.mod)
        await until(lambda: press.modal, what="the reject modal")
        assert press.modal is not None
        # Each opening has its own custom_id (see test_embed_limits: two moderators' forms).
        await world.fake.submit_modal(
            press.modal["custom_id"], {"reason": "off-topic for this server"}, user_id=world.mod
        )
        rejected = await finished(bot, 2)
        assert rejected.state is JobState.REJECTED
        assert rejected.user_error is not None and "off-topic for this server" in rejected.user_error
        assert await bot.pipeline.store.ledger(2) == [("reserve", 0.4), ("refund", 0.4)]
        assert len(world.prodia.requests_for("POST /job/async")) == 1


async def test_the_posts_language_is_stored_shown_used_and_cleared(world: World) -> None:
    def costs(post: dict[str, Any]) -> list[str]:
        return [
            f["value"] for f in post["embeds"][0]["fields"] if "0,40" in f["value"] or "0.40" in f["value"]
        ]

    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        token = await world.admin_command("defaults", language="de")
        assert world.answer(token)["content"] == "Defaults set: language Deutsch."
        assert (await bot.governance.settings(world.guild_id)).language == "de"
        shown = world.answer(await world.admin_command("limits", "show"))["content"].splitlines()
        assert "Language of posts: Deutsch" in shown
        await world.video(prompt="read in German by the moderators")
        [german] = await until(lambda: approval_messages(world), what="the approval request")
        assert costs(german) == ["0,40\xa0$"]  # the member reads English; the server's post is German

        token = await world.admin_command("defaults", language="server")
        assert world.answer(token)["content"] == "Defaults set: language the server's own language (English)."
        assert (await bot.governance.settings(world.guild_id)).language is None
        shown = world.answer(await world.admin_command("limits", "show"))["content"].splitlines()
        assert "Language of posts: the server's own language (English)" in shown
        await world.video(prompt="read in the server's own language")
        [own] = await until(
            lambda: [m for m in approval_messages(world) if "own language" in m["embeds"][0]["description"]]
        )
        assert costs(own) == ["$0.40"]
        changes = [
            e.details
            for e in await bot.governance.audit_entries(world.guild_id)
            if e.action == "defaults.set"
        ]
        assert changes == [{"language": "server"}, {"language": "de"}]  # the newest first, as chosen


async def test_unanswered_requests_expire_and_are_refunded(world: World) -> None:
    async with world.bot(approval_expiry_seconds=0.5, approval_sweep_seconds=0.2) as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="nobody will look at this")
        job = await finished(bot, 1)
        assert job.state is JobState.REJECTED and job.error == "approval expired"
        assert await bot.pipeline.store.ledger(1) == [("reserve", 0.4), ("refund", 0.4)]


async def test_a_restart_while_awaiting_approval_keeps_the_buttons_working(world: World) -> None:
    async with world.bot():
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="approve me after a restart")
        [request] = await until(lambda: approval_messages(world), what="the approval request")
    async with world.bot() as bot:
        await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=world.mod)
        assert (await finished(bot, 1)).state is JobState.DELIVERED


async def test_trusted_role_skips_approval(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    trusted = guild.add_role("trusted")
    gina = guild.add_member(name="gina", roles=[trusted])
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id, trusted_role=trusted)
        await world.video(gina, prompt="trusted clip")
        assert (await finished(bot, 1)).state is JobState.DELIVERED


async def test_a_budget_that_30_concurrent_requests_cannot_exceed(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    users = [guild.add_member(name=f"user{i}") for i in range(30)]
    world.prodia.processing_seconds = 1.0
    async with world.bot() as bot:
        await world.admin_command("budget", "set", dollars_per_day=2.0)
        answers = await asyncio.gather(
            *(world.video_answer(u, prompt=f"budget clip {i}") for i, u in enumerate(users))
        )
        accepted = [a for a in answers if a.get("embeds")]
        assert len(accepted) == 5  # 5 x $0.40 = $2.00
        assert all("daily budget of $2.00" in a["content"] for a in answers if not a.get("embeds"))
        for job in await all_jobs(bot):
            await finished(bot, job.id)
        rows = await bot.governance.spend_rows(world.guild_id, 0)
        assert sum(r[2] for r in rows) <= 2.0 + 1e-9


async def test_audit_rows_and_channel_posts_never_ping(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        await world.admin_command("limits", "set", jobs_per_hour=7)
        await world.video(prompt="an audited clip @everyone")
        await finished(bot, 1)
        posts = await until(
            lambda: [
                m
                for m in world.fake.channel_messages(world.audit_channel_id)
                if "job.delivered" in str(m["embeds"])
            ]
        )
        actions = [e.action for e in reversed(await bot.governance.audit_entries(world.guild_id))]
        assert actions[:3] == ["audit.channel", "limits.set", "job.delivered"]
        delivered = (await bot.governance.audit_entries(world.guild_id))[0]
        assert (
            delivered.details["prompt"] == "an audited clip @everyone"
            and delivered.details["requester"] == world.alice
        )
        for message in world.fake.channel_messages(world.audit_channel_id):
            assert message["allowed_mentions"] == {"parse": []}
        assert posts


async def test_usage_chart_is_a_png_and_export_is_csv(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="one clip, with a comma, for the export")
        await finished(bot, 1)
        token = await world.admin_command("usage", days=7)
        answer = world.answer(token)
        assert "1 job, $0.40" in answer["content"]
        [chart] = answer["attachments"]
        image = Image.open(io.BytesIO(world.fake.attachment_bytes(chart)))
        assert image.format == "PNG" and image.size[0] >= 400
        token = await world.admin_command("export")
        [export] = world.answer(token)["attachments"]
        rows = list(csv.DictReader(io.StringIO(world.fake.attachment_bytes(export).decode())))
        assert (
            rows[0]["prompt"] == "one clip, with a comma, for the export" and rows[0]["state"] == "delivered"
        )


async def test_forget_removes_a_members_prompts_and_files(world: World) -> None:
    async with world.bot() as bot:
        await world.video(prompt="please forget this prompt")
        job = await finished(bot, 1)
        clip = clip_key(bot, job)
        assert clip in await stored_names(bot)
        await world.admin_command("user", "forget", member=world.alice)
        forgotten = await bot.pipeline.store.get(1)
        assert (
            forgotten is not None
            and forgotten.request.prompt == "[removed]"
            and forgotten.output_path is None
        )
        assert clip not in await stored_names(bot)
        assert all(
            "please forget" not in str(e.details) for e in await bot.governance.audit_entries(world.guild_id)
        )


async def test_server_defaults_and_age_restricted_images(world: World) -> None:
    guild = world.fake.guilds[world.guild_id]
    adult = guild.add_channel("adult", nsfw=True)
    still = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 90, 200)).save(still, format="PNG")
    attachment = {"pic": ("pic.png", still.getvalue(), "image/png")}
    async with world.bot() as bot:
        await world.admin_command("defaults", duration=8, aspect_ratio="9:16", age_restricted_images=True)
        assert (await world.video_answer(prompt="uses the server defaults"))["embeds"]
        job = (await all_jobs(bot))[0]
        assert (job.request.duration, job.request.aspect_ratio) == (8, "9:16")
        answer = await world.video_answer(prompt="animate it", image="pic", attachments=attachment)
        assert "age-restricted channels" in refused(answer)
        answer = await world.video_answer(
            prompt="animate it", image="pic", attachments=attachment, channel_id=adult
        )
        assert answer["embeds"]


async def test_strikes_can_be_read_and_reset(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("blocklist", "add", pattern="dragon")
        await world.video_answer(prompt="a dragon again")
        token = await world.admin_command("user", "strikes", member=world.alice)
        assert "1 of 3 strikes, not blocked" in world.answer(token)["content"]
        await world.admin_command("user", "block", member=world.alice)
        assert "You are blocked" in refused(await world.video_answer(prompt="a kitten"))
        await world.admin_command("user", "reset", member=world.alice)
        status = await bot.governance.member(world.guild_id, world.alice)
        assert status.strikes == 0 and not status.blocked
        assert (await world.video_answer(prompt="a kitten"))["embeds"]


async def test_every_option_of_every_command_has_a_description(world: World) -> None:
    """Discord shows an option's description as its help; discord.py sends "…" when none was given."""

    def undescribed(options: list[dict[str, Any]], path: str) -> list[str]:
        found = []
        for option in options:
            where = f"{path} {option['name']}"
            if option.get("description", "…") in ("…", ""):
                found.append(where)
            found += undescribed(option.get("options") or [], where)
        return found

    async with world.bot():
        commands = world.fake.commands.get(world.guild_id, []) + world.fake.commands.get(None, [])
        assert {"sora-admin", "video", "queue", "history"} <= {c["name"] for c in commands}
        missing = [m for c in commands for m in undescribed(c.get("options") or [], "/" + c["name"])]
        assert missing == [], missing
