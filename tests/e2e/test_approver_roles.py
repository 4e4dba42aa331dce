"""The roles a server makes "approver" for its dashboard decide in Discord too (the two places agree on who
may decide); a "viewer" role does not. End to end: the real bot, its buttons and Reject form."""

from __future__ import annotations

from bot.domain.models import JobState
from tests.e2e.conftest import World, finished, until
from tests.e2e.test_governance import approval_messages


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
