"""Embeds built from member text at its worst, end to end: the longest and most multi-line prompts and reasons
reach Discord within its limits, a moderator's decision always shows, masked links in prompts and reasons
never render, and two moderators rejecting the same request both get an answer."""

from __future__ import annotations

from typing import Any

from bot.domain.models import JobState
from tests.e2e import test_database_faults
from tests.e2e.conftest import World, finished, until
from tests.e2e.test_governance import approval_messages
from tests.embed_checks import MANY_BLANK_LINES, REASON_MAX, live_links, problems, texts, unescaped
from tests.fakes.tcp_proxy import TcpProxy

database_proxy = test_database_faults.proxy  # the fixture: the bot's PostgreSQL database behind a TCP proxy
LINK = "[free nitro](https://example.com)"
PROMPT_WITH_LINKS = f"{LINK} and {LINK}\nhttps://example.com/claim <https://example.com/x> a cat"


async def the_request(world: World, prompt_start: str) -> dict[str, Any]:
    found = await until(
        lambda: [
            m
            for m in approval_messages(world)
            if unescaped(m["embeds"][0].get("description", "")).startswith(f"> {prompt_start}")
        ],
        timeout=10,
        what="the approval request in the moderators' channel",
    )
    return dict(found[0])


def said(world: World, token: str) -> str:
    """What the bot told the person privately: its response, or the followups after a silent defer."""
    answers = [world.answer(token).get("content") or "", *(m["content"] for m in world.fake.followups(token))]
    return " ".join(a for a in answers if a)


def buttons(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def reject(world: World, request: dict[str, Any], job_id: int, reason: str, user_id: int) -> str:
    """Press Reject and send the form with `reason`; returns the submit's token once the bot answered."""
    click = await world.fake.click(f"sora:reject:{job_id}", message_id=int(request["id"]), user_id=user_id)
    await until(lambda: click.modal, timeout=10, what="the reject form")
    assert click.modal is not None
    submit = await world.fake.submit_modal(click.modal["custom_id"], {"reason": reason}, user_id=user_id)
    await until(lambda: said(world, submit.token), timeout=10, what="the answer to the form")
    return submit.token


async def test_a_request_for_a_prompt_of_4096_characters_in_blank_lines_reaches_the_moderators(
    world: World,
) -> None:
    assert len(MANY_BLANK_LINES) == 4096
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        status = await world.video_answer(prompt=MANY_BLANK_LINES)
        assert "Waiting for a moderator" in status["embeds"][0]["title"]
        request = await the_request(world, "a\n> \n> \n")
        assert problems(request["embeds"][0]) == []
        assert buttons(request) == ["sora:approve:1", "sora:reject:1"]
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]


async def test_a_rejection_with_the_longest_reason_shows_on_the_request_and_takes_the_buttons_off(
    world: World,
) -> None:
    reason = ("*_~" * REASON_MAX)[:REASON_MAX]  # escaping doubles every character
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="reject me with a long reason")
        request = await the_request(world, "reject me")
        token = await reject(world, request, 1, reason, world.mod)
        assert "Rejected job 1" in said(world, token)
        assert (await finished(bot, 1)).state is JobState.REJECTED
        decided = await until(
            lambda: [m for m in approval_messages(world) if m["id"] == request["id"] and not m["components"]],
            timeout=10,
            what="the decision on the request message",
        )
        [embed] = decided[0]["embeds"]
        assert embed["title"] == "Rejected by mod"
        assert [unescaped(f["value"]) for f in embed["fields"] if f["name"] == "Reason"] == [reason]


async def test_when_the_decision_cannot_be_shown_the_buttons_still_come_off(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="the edit of this request fails once")
        request = await the_request(world, "the edit")
        world.fake.fail_next(
            "PATCH /channels/{channel_id}/messages/{message_id}",
            status=400,
            code=50035,
            when=lambda rec: bool(rec.json and rec.json.get("embeds")),
        )
        await reject(world, request, 1, "off-topic", world.mod)
        assert (await finished(bot, 1)).state is JobState.REJECTED
        await until(
            lambda: [m for m in approval_messages(world) if m["id"] == request["id"] and not m["components"]],
            timeout=10,
            what="the buttons to come off",
        )


async def test_masked_links_in_prompts_and_reasons_never_render(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        await world.video(prompt=PROMPT_WITH_LINKS)
        first = await the_request(world, LINK)
        await reject(world, first, 1, f"see {LINK} https://example.com/why", world.mod)
        await world.video(prompt=PROMPT_WITH_LINKS)
        await until(lambda: len(approval_messages(world)) == 2, timeout=10, what="the second request")
        second = approval_messages(world)[1]
        await world.fake.click("sora:approve:2", message_id=int(second["id"]), user_id=world.mod)
        assert (await finished(bot, 1)).state is JobState.REJECTED
        assert (await finished(bot, 2)).state is JobState.DELIVERED
        await until(
            lambda: [
                m
                for m in world.fake.channel_messages(world.audit_channel_id)
                if "job.delivered" in str(m["embeds"])
            ],
            timeout=10,
            what="the audit post of the delivered job",
        )
        embeds = [e for m in world.fake.messages.values() for e in m.get("embeds") or []]
        shown = [text for embed in embeds for text in texts(embed)]
        # The prompt and the reason did reach the clip, the status, the request and the audit posts...
        assert sum(LINK in unescaped(text) for text in shown) >= 6, shown
        # ...as plain text only.
        assert [(text, live_links(text)) for text in shown if live_links(text)] == []


async def test_two_moderators_rejecting_the_same_request_both_get_an_answer(world: World) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="two moderators look at this")
        request = await the_request(world, "two moderators")
        clicks = [
            await world.fake.click("sora:reject:1", message_id=int(request["id"]), user_id=user)
            for user in (world.mod, world.admin)
        ]
        await until(lambda: all(c.modal for c in clicks), timeout=10, what="both reject forms")
        forms = [c.modal for c in clicks]
        assert forms[0] is not None and forms[1] is not None
        first = await world.fake.submit_modal(
            forms[0]["custom_id"], {"reason": "first reason"}, user_id=world.mod
        )
        await until(lambda: said(world, first.token), timeout=10, what="the first answer")
        assert "Rejected job 1" in said(world, first.token)
        rejected = await finished(bot, 1)
        assert rejected.user_error is not None and "first reason" in rejected.user_error
        second = await world.fake.submit_modal(
            forms[1]["custom_id"], {"reason": "second reason"}, user_id=world.admin
        )
        await until(lambda: said(world, second.token), timeout=10, what="the second answer")
        assert "no longer waiting" in said(world, second.token)


async def test_a_reject_form_sent_while_the_database_is_down_gets_a_clear_answer(
    world: World, database_proxy: TcpProxy
) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="rejected while the database is away")
        request = await the_request(world, "rejected while")
        click = await world.fake.click("sora:reject:1", message_id=int(request["id"]), user_id=world.mod)
        await until(lambda: click.modal, timeout=10, what="the reject form")
        assert click.modal is not None
        await database_proxy.cut()
        submit = await world.fake.submit_modal(click.modal["custom_id"], {"reason": "no"}, user_id=world.mod)
        await until(lambda: said(world, submit.token), timeout=20, what="the answer to the form")
        assert "database can't be reached" in said(world, submit.token)
        database_proxy.restore()
        assert (await bot.pipeline.store.get(1)).state is JobState.AWAITING_APPROVAL  # type: ignore[union-attr]
