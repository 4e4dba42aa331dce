"""A decision on the dashboard, seen everywhere the bot shows the request: the real bot (gateway and worker)
posts a member's request to its moderators; the dashboard, a process of its own (its own database
connection and REST-only Discord client), approves or rejects it; the moderators' message, the requester's
status message and the worker follow."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from pydantic import SecretStr

from bot.dashboard.app import create_app, rest_client
from bot.dashboard.discord_rest import DiscordRest
from bot.domain.models import JobState
from bot.domain.stories import StoryState
from bot.storage.local import FileStorage
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from tests.e2e.conftest import World, finished, until
from tests.e2e.test_governance import approval_messages
from tests.e2e.test_story import PROMPTS, story_ended, tell_story
from tests.unit.dashboard.test_access import ORIGIN, csrf_of

URL = "https://dashboard.example.org"


@contextlib.asynccontextmanager
async def dashboard(world: World, user_id: int) -> AsyncIterator[httpx.AsyncClient]:
    """The dashboard on the bot's database, as `sora-bot dashboard` builds it; a browser logged in as
    `user_id` through the fake Discord's OAuth."""
    settings = world.settings(
        dashboard_url=URL,
        dashboard_secret=SecretStr("d" * 40),
        discord_client_id=world.fake.app_id,
        discord_client_secret=SecretStr(world.fake.oauth_client_secret),
    )
    world.fake.oauth_redirect_uris.append(f"{URL}/callback")
    world.fake.oauth_user_id = user_id
    db = await Database.open(settings.database_target)
    rest = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    client = rest_client()
    try:
        await client.login(world.fake.bot_token)
        app = create_app(
            settings,
            db=db,
            governance=Governance(db),
            jobs=JobStore(db),
            discord=rest,
            bot_client=client,
            storage=FileStorage(settings.output_dir),
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=URL) as browser:
            start = await browser.get("/login")
            async with httpx.AsyncClient() as discord_page:
                consent = await discord_page.get(start.headers["location"])
            assert (await browser.get(consent.headers["location"])).status_code == 303
            yield browser
    finally:
        await client.close()
        await rest.close()
        await db.close()


async def decide(browser: httpx.AsyncClient, world: World, job_id: int, action: str, **form: str) -> int:
    token = await csrf_of((await browser.get("/")).text)
    path = f"/servers/{world.guild_id}/approvals/{job_id}/{action}"
    return (await browser.post(path, data={"csrf": token, **form}, headers=ORIGIN)).status_code


async def test_a_dashboard_decision_shows_to_the_moderators_the_requester_and_the_worker(
    world: World,
) -> None:
    async with world.bot() as bot:
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        first = await world.video(prompt="reject me from the dashboard")
        await until(lambda: world.answer(first).get("embeds"), what="the status message")
        assert world.answer(first)["embeds"][0]["title"] == "Waiting for a moderator's approval"
        await world.video(prompt="approve me from the dashboard")
        requests = await until(lambda: len(approval_messages(world)) == 2 and approval_messages(world))
        async with dashboard(world, world.mod) as browser:
            page = await browser.get(f"/servers/{world.guild_id}/approvals")
            assert (
                "reject me from the dashboard" in page.text and "approve me from the dashboard" in page.text
            )
            assert await decide(browser, world, 1, "reject", reason="not on this server") == 303
            assert await decide(browser, world, 2, "approve") == 303

        rejected = await bot.pipeline.store.get(1)
        assert rejected is not None and rejected.state is JobState.REJECTED
        assert requests[0]["embeds"][0]["title"] == "Rejected by mod"
        assert requests[0]["components"] == []
        # The requester's status message says so at once: the dashboard made the change, and shows it.
        status = world.answer(first)["embeds"][0]
        assert status["title"] == "Rejected"
        assert "A moderator rejected this request: not on this server" in str(status["fields"])
        approved = await finished(bot, 2)  # the worker found the approved job without being woken
        assert approved.state is JobState.DELIVERED and approved.approved_by == world.mod
        assert requests[1]["embeds"][0]["title"] == "Approved by mod" and requests[1]["components"] == []

        entries = await bot.governance.audit_entries(world.guild_id)
        decided = [
            (e.action, e.job_id, e.source) for e in entries if e.action in ("job.approved", "job.rejection")
        ]
        assert sorted(decided) == [("job.approved", 2, "dashboard"), ("job.rejection", 1, "dashboard")]
        # The rejected job's outcome, audited as the bot audits every job that ends: once.
        assert [(e.action, e.job_id) for e in entries].count(("job.rejected", 1)) == 1


async def test_a_story_rejected_on_the_dashboard_ends_at_once_as_one_rejected_in_discord(
    world: World,
) -> None:
    """Two 3-shot stories waiting for approval: the first rejected with the Discord button, the second from
    the dashboard. The second ends as the first did (its later shots cancelled, every reservation refunded,
    its status message saying so), and at once: not at a worker's story recovery, two leases later."""
    async with world.bot() as bot:
        store = bot.pipeline.store
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        first, _ = await tell_story(world, PROMPTS)
        [request] = await until(lambda: approval_messages(world), what="the first request")
        press = await world.fake.click("sora:reject:1", message_id=int(request["id"]), user_id=world.mod)
        await until(lambda: press.modal, what="the reject form")
        assert press.modal is not None
        await world.fake.submit_modal(press.modal["custom_id"], {"reason": "not today"}, user_id=world.mod)
        in_discord, _ = await story_ended(bot, 1)
        await until(
            lambda: "not today" in str(world.answer(first)["embeds"]), what="the first story's status"
        )

        second, _ = await tell_story(world, PROMPTS)
        await until(lambda: len(approval_messages(world)) == 2, what="the second request")
        async with dashboard(world, world.mod) as browser:
            assert await decide(browser, world, 4, "reject", reason="not today") == 303
            found = await store.get_story(2)  # as the answer comes: nothing waited for

        assert found is not None
        story, shots = found
        assert story.state is StoryState.CANCELLED is in_discord.state
        assert (story.error or "").replace("job 4", "job 1") == in_discord.error
        assert story.user_error == in_discord.user_error == "A moderator rejected this request: not today"
        assert [s.state for s in shots] == [JobState.REJECTED, JobState.CANCELLED, JobState.CANCELLED]
        assert [await store.ledger(s.id) for s in shots] == [[("reserve", 0.4), ("refund", 0.4)]] * 3
        [_, dashboard_request] = approval_messages(world)
        assert dashboard_request["embeds"][0]["title"] == "Rejected: a story of 3 shots by mod"
        assert dashboard_request["components"] == []
        [shown] = world.answer(second)["embeds"]
        assert shown["title"] == "The story was cancelled" and shown["footer"] == {"text": "Story 2"}
        # The same story, ended the same way, shown alike.
        assert [{**shown, "footer": {"text": "Story 1"}}] == world.answer(first)["embeds"]
        assert world.prodia.requests == []
