"""The dashboard and Discord agree on who may decide: the roles a server makes "approver" for its dashboard
decide in Discord too, a "viewer" role does not, and both read the member's standing across the server, never
the moderators' channel's overwrites. End to end: the real bot, its buttons and Reject form."""

from __future__ import annotations

import time
from typing import Any

from bot.dashboard.access import Role, role_of
from bot.dashboard.discord_rest import DiscordRest
from bot.domain.models import JobState
from bot.services.approvals import ASKED_SECONDS, REFUSED_SECONDS
from tests.e2e.conftest import MANAGE_MESSAGES, World, finished, until
from tests.e2e.test_governance import approval_messages
from tests.fakes.discord.records import Interaction


def told(world: World, token: str) -> str:
    """What the member who pressed a button was answered (the deferred answer or a followup)."""
    answer = world.answer(token).get("content") or ""
    return answer + "".join(str(m.get("content") or "") for m in world.fake.followups(token))


async def test_a_configured_approver_role_approves_and_rejects_in_discord_and_a_viewer_role_may_not(
    world: World,
) -> None:
    guild = world.fake.guilds[world.guild_id]
    reviewers, watchers = guild.add_role("Reviewers"), guild.add_role("Watchers")
    rita = guild.add_member(name="rita", roles=[reviewers])
    vic = guild.add_member(name="vic", roles=[watchers])
    async with world.bot() as bot:
        await bot.governance.set_staff_role(world.guild_id, reviewers, "approver")
        await bot.governance.set_staff_role(world.guild_id, watchers, "viewer")
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="approve me, reviewers")
        [request] = await until(lambda: approval_messages(world), what="the approval request")

        refused = await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=vic)
        await until(lambda: told(world, refused.token), what="the refusal")
        assert "Only moderators can approve or reject requests." in told(world, refused.token)
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]

        await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=rita)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED and job.approved_by == rita
        [approved] = [
            e for e in await bot.governance.audit_entries(world.guild_id) if e.action == "job.approved"
        ]
        assert (approved.actor_id, approved.source) == (rita, "discord")

        await world.video(prompt="reject me, reviewers")
        second = await until(
            lambda: [m for m in approval_messages(world) if "reject me" in m["embeds"][0]["description"]]
        )
        press = await world.fake.click("sora:reject:2", message_id=int(second[0]["id"]), user_id=rita)
        await until(lambda: press.modal, what="the reject form")
        assert press.modal is not None
        await world.fake.submit_modal(press.modal["custom_id"], {"reason": "not this one"}, user_id=rita)
        rejected = await finished(bot, 2)
        assert (
            rejected.state is JobState.REJECTED
            and rejected.error == f"rejected by moderator {rita}: not this one"
        )


async def dashboard_role(world: World, user_id: int, staff: dict[int, str] | None = None) -> Role | None:
    """What the dashboard makes of the member: Discord asked over REST, as its access does on every page."""
    rest = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    try:
        guild = await rest.guild(world.guild_id)
        member = await rest.member(world.guild_id, user_id)
    finally:
        await rest.close()
    assert guild is not None and member is not None
    return role_of(guild, member, staff)


async def press(world: World, job_id: int, user_id: int) -> str:
    """`user_id` presses Approve on job `job_id`'s request; what they were answered."""
    [request] = [m for m in approval_messages(world) if f"sora:approve:{job_id}" in str(m["components"])]
    pressed = await world.fake.click(f"sora:approve:{job_id}", message_id=int(request["id"]), user_id=user_id)
    await until(lambda: told(world, pressed.token), what="the answer to the press")
    return told(world, pressed.token)


async def test_discord_decides_by_the_members_server_wide_standing_as_the_dashboard_does(
    world: World,
) -> None:
    """The moderators' channel denies the desk role Manage Messages and grants it to the helpers role: the
    interaction's permissions (the channel's) say the opposite of the server's. Both places follow the
    server's: a desk member approves and rejects in Discord as on the dashboard, a helper may do neither."""
    guild = world.fake.guilds[world.guild_id]
    desk, helpers = guild.add_role("Desk", MANAGE_MESSAGES), guild.add_role("Helpers")
    guild.set_overwrite(world.mods_channel_id, desk, deny=MANAGE_MESSAGES)
    guild.set_overwrite(world.mods_channel_id, helpers, allow=MANAGE_MESSAGES)
    dana = guild.add_member(name="dana", roles=[desk])
    hal = guild.add_member(name="hal", roles=[helpers])
    assert not guild.permissions_for(dana, world.mods_channel_id) & MANAGE_MESSAGES  # what Discord sends
    assert guild.permissions_for(hal, world.mods_channel_id) & MANAGE_MESSAGES
    assert (await dashboard_role(world, dana), await dashboard_role(world, hal)) == (Role.APPROVER, None)
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="approve me, desk")
        await until(lambda: approval_messages(world), what="the approval request")

        assert "Only moderators can approve or reject requests." in await press(world, 1, hal)
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]
        assert "Approved job 1." in await press(world, 1, dana)
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED and job.approved_by == dana

        await world.video(prompt="reject me, desk")
        [second] = await until(lambda: [m for m in approval_messages(world) if "sora:reject:2" in str(m)])
        refused = await world.fake.click("sora:reject:2", message_id=int(second["id"]), user_id=hal)
        await until(lambda: told(world, refused.token), what="the refusal")
        assert refused.modal is None and "Only moderators" in told(world, refused.token)
        opened = await world.fake.click("sora:reject:2", message_id=int(second["id"]), user_id=dana)
        await until(lambda: opened.modal, what="the reject form")
        assert opened.modal is not None
        await world.fake.submit_modal(None, {"reason": "not today"}, interaction=opened)
        rejected = await finished(bot, 2)
        assert (
            rejected.state is JobState.REJECTED
            and rejected.error == f"rejected by moderator {dana}: not today"
        )

        # The server takes Manage Messages from the desk role: the bot hears it (GUILD_ROLE_UPDATE) and
        # refuses dana at once, as the dashboard (which asks Discord anew) does.
        guild.set_role_permissions(desk, 0)
        await world.video(prompt="too late, desk")
        await until(lambda: [m for m in approval_messages(world) if "sora:approve:3" in str(m)])
        assert "Only moderators can approve or reject requests." in await press(world, 3, dana)
        assert await dashboard_role(world, dana) is None
        assert (await bot.pipeline.store.get(3)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]


async def test_a_server_missing_from_the_bots_cache_is_asked_of_discord(world: World) -> None:
    """In an outage (GUILD_DELETE unavailable) discord.py keeps a server it can't vouch for: the bot asks
    Discord for the server and the member, and decides by the same rule (an approver role counts)."""
    guild = world.fake.guilds[world.guild_id]
    reviewers = guild.add_role("Reviewers")
    rita = guild.add_member(name="rita", roles=[reviewers])
    async with world.bot() as bot:
        await bot.governance.set_staff_role(world.guild_id, reviewers, "approver")
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="approve me in an outage")
        await until(lambda: approval_messages(world), what="the approval request")
        await world.fake.dispatch("GUILD_DELETE", {"id": str(world.guild_id), "unavailable": True})
        await until(lambda: bot.get_guild(world.guild_id).unavailable, what="the outage")  # type: ignore[union-attr]
        asked = len(world.fake.requests_for("GET /guilds/{guild_id}/members/{user_id}"))

        assert "Only moderators can approve or reject requests." in await press(world, 1, world.bob)
        assert "Approved job 1." in await press(world, 1, rita)
        assert (await finished(bot, 1)).approved_by == rita
        fetched = world.fake.requests_for("GET /guilds/{guild_id}/members/{user_id}")[asked:]
        assert [int(r.params["user_id"]) for r in fetched] == [world.bob, rita]


async def outage(world: World, bot: Any) -> None:
    """discord.py keeps the server as unavailable (GUILD_DELETE in an outage): no roles, no owner."""
    await world.fake.dispatch("GUILD_DELETE", {"id": str(world.guild_id), "unavailable": True})
    await until(lambda: bot.get_guild(world.guild_id).unavailable, what="the outage")


def asked(world: World) -> tuple[int, int]:
    """How often the server, and any member of it, were asked of Discord so far."""
    return (
        len(world.fake.requests_for("GET /guilds/{guild_id}")),
        len(world.fake.requests_for("GET /guilds/{guild_id}/members/{user_id}")),
    )


async def open_reject(world: World, job_id: int, user_id: int) -> Interaction:
    """`user_id` presses Reject on job `job_id`'s request; once answered (a form, or a refusal)."""
    [request] = [m for m in approval_messages(world) if f"sora:reject:{job_id}" in str(m["components"])]
    pressed = await world.fake.click(f"sora:reject:{job_id}", message_id=int(request["id"]), user_id=user_id)
    await until(lambda: pressed.modal or told(world, pressed.token), what="the answer to Reject")
    return pressed


async def submitted(world: World, opened: Interaction, reason: str) -> str:
    """The form `opened` showed, sent with `reason`; what its sender was answered."""
    assert opened.modal is not None
    sent = await world.fake.submit_modal(None, {"reason": reason}, interaction=opened)
    await until(lambda: told(world, sent.token), what="the answer to the form")
    return told(world, sent.token)


async def test_in_an_outage_reject_shows_its_form_first_and_the_submit_decides(world: World) -> None:
    """Deciding in a server missing from the cache asks Discord twice (a rate limit may hold either for
    seconds): Reject's form, which must be the first answer within 3 s, comes first, and its submit (answered
    at once) decides. Whoever may not decide is refused on submit, and nothing changes."""
    guild = world.fake.guilds[world.guild_id]
    reviewers = guild.add_role("Reviewers")
    rita = guild.add_member(name="rita", roles=[reviewers])
    async with world.bot() as bot:
        await bot.governance.set_staff_role(world.guild_id, reviewers, "approver")
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="reject me in an outage")
        await until(lambda: approval_messages(world), what="the approval request")
        await outage(world, bot)
        before = asked(world)
        world.fake.fail_next("GET /guilds/{guild_id}", status=429, retry_after=3.5)  # Discord busy
        opened = await open_reject(world, 1, rita)
        assert opened.modal is not None and asked(world) == before  # the form first: nothing asked yet
        assert "Rejected job 1." in await submitted(world, opened, "not in an outage")
        rejected = await finished(bot, 1)
        assert rejected.error == f"rejected by moderator {rita}: not in an outage"
        assert asked(world)[1] == before[1] + 1  # rita, asked on submit

        await world.video(prompt="bob tries to reject this")
        await until(lambda: [m for m in approval_messages(world) if "sora:reject:2" in str(m)])
        before = asked(world)
        opened = await open_reject(world, 2, world.bob)
        assert opened.modal is not None and asked(world) == before
        assert "Only moderators can approve or reject requests." in await submitted(world, opened, "mine now")
        assert (await bot.pipeline.store.get(2)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]
        assert asked(world) == (before[0], before[1] + 1)  # the server's answer kept: bob alone asked
        # Discord's answers about bob are at hand now: he is refused at once, no form.
        again = await open_reject(world, 2, world.bob)
        assert again.modal is None and "Only moderators" in told(world, again.token)
        assert asked(world) == (before[0], before[1] + 1)


async def test_discords_answers_about_a_server_missing_from_the_cache_are_kept_a_moment(
    world: World,
) -> None:
    """A member pressing again costs no new call for a moment (REFUSED_SECONDS for a refusal: a member not
    found); then Discord is asked anew. A server that refuses the bot (Forbidden) is kept too, and nobody
    decides, for REFUSED_SECONDS only: a refusal that passes does not shut the moderators out for long."""
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="asked once")
        await until(lambda: approval_messages(world), what="the approval request")
        await outage(world, bot)
        before = asked(world)
        world.fake.fail_next("GET /guilds/{guild_id}/members/{user_id}", status=404, code=10007)
        for _ in range(3):
            assert "Only moderators can approve or reject requests." in await press(world, 1, world.bob)
        assert asked(world) == (before[0] + 1, before[1] + 1)  # the 404 was kept

        later = time.monotonic() + ASKED_SECONDS + 1
        bot.approvals.asked.clock = lambda: later
        world.fake.fail_next("GET /guilds/{guild_id}", status=403, code=50001)
        for _ in range(2):
            assert "Only moderators" in await press(world, 1, world.mod)
        assert asked(world) == (before[0] + 2, before[1] + 1)  # the server's refusal kept; no member asked
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]

        later += REFUSED_SECONDS + 0.5
        assert "Approved job 1." in await press(world, 1, world.mod)
        assert asked(world) == (before[0] + 3, before[1] + 2)
        assert (await finished(bot, 1)).approved_by == world.mod
