"""The approvals page: requests waiting for a moderator, posted to the fake Discord's approvals channel by the
bot's own Approvals; Approve and Reject from the dashboard go through the same decisions as the buttons
(the job moves once, the Discord request says who decided, the audit log says from where), and whoever
decides second, here or in Discord, is told and changes nothing. Thumbnails load through links the page
signs for the moderator, at no cost in Discord calls or the moderator's lookups a minute."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import io
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from PIL import Image

from bot import files
from bot.dashboard.app import create_app
from bot.dashboard.discord_rest import DiscordRest
from bot.dashboard.media_links import SECONDS, MediaLinks
from bot.domain.limits import LimitRule
from bot.domain.models import Job, JobRequest, JobState, Target
from bot.domain.stories import Story, StoryState
from bot.media.pool import MediaPool
from bot.services.approvals import Approvals
from bot.services.audit import Audit
from bot.services.decisions import Decisions
from bot.services.stories import StoryDeliverer
from bot.services.story_posts import DiscordStoryPoster
from bot.services.story_status import StoryStatus
from bot.store.audit_log import AuditEntry
from bot.store.jobs import JobStore, NewJob
from bot.store.stories import NewStory
from bot.ui.stories import story_status_embed
from tests.fakes.discord.records import Interaction
from tests.unit.dashboard.conftest import SECRET, World
from tests.unit.dashboard.test_access import ORIGIN, csrf_of, server_list_reads

EDITS = "PATCH /channels/{channel_id}/messages/{message_id}"
GUILDS = "GET /guilds/{guild_id}"  # one for every access check, which spends one of the member's lookups
THUMBNAIL = re.compile(r'<img src="([^"]+)" alt="The input image of job (\d+)"')
DECIDERS = ["owner", "administrator", "manager", "approver", "staff approver"]
REFUSED = ["staff viewer", "member", "stranger"]


@dataclass
class Desk:
    """The server's approvals channel in the fake Discord, and the bot's Approvals posting to it."""

    world: World
    channel: int
    approvals: Approvals

    @property
    def decisions(self) -> Decisions:
        return self.approvals.decisions

    def message(self, job: Job) -> dict[str, Any]:
        [message] = [
            m
            for m in self.world.fake.channel_messages(self.channel)
            if int(m["id"]) == job.approval_message_id
        ]
        return message

    async def request(
        self,
        prompt: str = "a lighthouse in a storm",
        *,
        image: bool = False,
        guild_id: int | None = None,
        **target: Any,
    ) -> Job:
        """A job waiting for approval (its usage reserved), posted to the moderators as the bot posts it."""
        image_path = await self.world.storage.put_bytes(files.new_input_name(), jpeg()) if image else None
        job = await self.world.jobs.create(
            NewJob(
                request=JobRequest.parse(prompt=prompt, duration=4, image_path=image_path),
                user_id=self.world.users["member"],
                guild_id=guild_id or self.world.guild.id,
                channel_id=777,
                estimated_cost=0.4,
                target_kind="discord",
                target=cast(Target, {"kind": "discord", "locale": "en-US", **target}),
                state=JobState.AWAITING_APPROVAL,
            )
        )
        if guild_id is None:
            await self.approvals.request(job, self.channel)
        found = await self.world.jobs.get(job.id)
        assert found is not None
        return found

    async def state(self, job: Job) -> JobState:
        found = await self.world.jobs.get(job.id)
        assert found is not None
        return found.state

    async def decided(self) -> list[AuditEntry]:
        entries = await self.world.governance.audit_entries(self.world.guild.id)
        return [e for e in entries if e.action in ("job.approved", "job.rejection")]


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
async def desk(world: World) -> Desk:
    channel = world.guild.add_channel("mod-queue")
    await world.governance.update_settings(world.guild.id, approvals_channel_id=channel)
    audit = Audit(world.governance, world.bot_client)
    none: Any = None  # the guard: used by the buttons only
    approvals = Approvals(
        world.settings,
        world.bot_client,
        world.jobs,
        world.governance,
        none,
        audit,
        lambda: None,
        world.storage,
    )
    # The staff roles a server may configure for its dashboard (and, for approvers, its buttons).
    for level in ("approver", "viewer"):
        role = world.guild.add_role(f"configured {level}")
        await world.governance.set_staff_role(world.guild.id, role, level)
        world.users[f"staff {level}"] = world.guild.add_member(name=f"staff-{level}", roles=[role])
    return Desk(world, channel, approvals)


@contextlib.asynccontextmanager
async def logged_in(world: World, who: str) -> AsyncIterator[httpx.AsyncClient]:
    async with world.browser() as browser:
        await world.log_in(browser, world.users[who])
        yield browser


async def send(browser: httpx.AsyncClient, path: str, **form: str) -> httpx.Response:
    """A form sent from the dashboard's page, with the session's CSRF token."""
    token = await csrf_of((await browser.get("/")).text)
    return await browser.post(path, data={"csrf": token, **form}, headers=ORIGIN)


def at(world: World, job: Job, action: str = "") -> str:
    return f"/servers/{world.guild.id}/approvals" + (f"/{job.id}/{action}" if action else "")


def thumbnails(page: httpx.Response) -> dict[int, str]:
    """The page's thumbnails: job id -> the link the page signed."""
    assert page.status_code == 200, page.text
    return {int(job): html.unescape(link) for link, job in THUMBNAIL.findall(page.text)}


def signed(world: World, job: Job, who: str) -> str:
    """A thumbnail's link signed for `who` with the dashboard's key, for any job (a page signs its own)."""
    query = MediaLinks(SECRET).query(
        "image",
        user_id=world.users[who],
        guild_id=world.guild.id,
        job_id=job.id,
        expires=int(world.now[0]) + 60,
    )
    return f"{at(world, job)}/{job.id}/image?{query}"


async def test_the_page_shows_each_waiting_request_with_its_image_settings_cost_and_quota_left(
    world: World, desk: Desk
) -> None:
    with_image = await desk.request("a red kite over the dunes", image=True)
    plain = await desk.request("a quiet harbour at dawn")
    elsewhere = await desk.request("someone else's server", guild_id=world.other.id)
    queued = await desk.request("approved already")
    await desk.decisions.approve(queued.id, by_id=1, by_name="x", source="discord")
    async with logged_in(world, "approver") as browser:
        page = await browser.get(at(world, with_image))
        links = thumbnails(page)
        thumbnail = await browser.get(links[with_image.id])
    assert page.status_code == 200
    text = page.text
    assert "a red kite over the dunes" in text and "a quiet harbour at dawn" in text
    assert "someone else" not in text and "approved already" not in text
    assert list(links) == [with_image.id]
    assert links[with_image.id].startswith(
        f"/servers/{world.guild.id}/approvals/{with_image.id}/image?expires="
    )
    assert f"approvals/{plain.id}/image" not in text
    assert "Images load for 5 minutes after this page opens: if one is missing, reload the page." in text
    assert "sora-2 · 4 s · 16:9 · from an image" in text and "sora-2 · 4 s · 16:9</td>" in text
    assert "<th>Estimated cost</th><td>$0.40</td>" in text
    # The member has 3 requests reserved (one approved since): the default limits are 10 an hour, 120 s a day.
    assert "<th>Jobs this hour</th><td>3 of 10 (7 left)</td>" in text
    assert "<th>Video today</th><td>12 s of 120 s (108 s left)</td>" in text
    assert "<th>Queued or running</th><td>3 of 2</td>" in text
    assert (thumbnail.status_code, thumbnail.headers["content-type"]) == (200, "image/jpeg")
    assert thumbnail.content == jpeg() and elsewhere.guild_id == world.other.id


async def test_the_quota_follows_the_requesters_roles_when_a_rule_is_set_for_a_role(
    world: World, desk: Desk
) -> None:
    generous = world.guild.add_role("Regulars")
    world.guild.members[world.users["member"]].roles.append(generous)
    await world.governance.set_limit_rule(world.guild.id, LimitRule("role", generous, jobs_per_hour=25))
    job = await desk.request()
    async with logged_in(world, "approver") as browser:
        text = (await browser.get(at(world, job))).text
    assert "<th>Jobs this hour</th><td>1 of 25 (24 left)</td>" in text


async def test_approving_on_the_dashboard_queues_the_job_and_closes_the_discord_request(
    world: World, desk: Desk
) -> None:
    job = await desk.request(image=True)
    assert desk.message(job)["components"]  # Approve / Reject buttons
    async with logged_in(world, "approver") as browser:
        answer = await send(browser, at(world, job, "approve"))
        after = await browser.get(answer.headers["location"])
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/servers/{world.guild.id}/approvals?done=approved&job={job.id}"
    assert f"Job {job.id} approved." in after.text and "a lighthouse" not in after.text
    approved = await world.jobs.get(job.id)
    assert approved is not None and approved.state is JobState.QUEUED
    assert approved.approved_by == world.users["approver"]
    message = desk.message(job)
    assert message["components"] == [] and message["attachments"] == []
    assert message["embeds"][0]["title"] == "Approved by ann"
    [entry] = await desk.decided()
    assert (entry.action, entry.actor_id, entry.job_id, entry.source) == (
        "job.approved",
        world.users["approver"],
        job.id,
        "dashboard",
    )


async def test_rejecting_needs_a_reason_of_at_most_300_characters_which_the_requester_is_told(
    world: World, desk: Desk
) -> None:
    job = await desk.request()
    async with logged_in(world, "manager") as browser:
        empty = await send(browser, at(world, job, "reject"), reason="   ")
        too_long = await send(browser, at(world, job, "reject"), reason="x" * 301)
        assert await desk.state(job) is JobState.AWAITING_APPROVAL
        answer = await send(browser, at(world, job, "reject"), reason="off-topic <b>here</b>")
    assert (empty.status_code, too_long.status_code, answer.status_code) == (400, 400, 303)
    assert "A reason is needed to reject" in empty.text
    rejected = await world.jobs.get(job.id)
    assert rejected is not None and rejected.state is JobState.REJECTED
    assert rejected.user_error == "A moderator rejected this request: off-topic <b>here</b>"
    assert await world.jobs.ledger(job.id) == [("reserve", 0.4), ("refund", 0.4)]
    embed = desk.message(job)["embeds"][0]
    assert embed["title"] == "Rejected by max"
    assert {"name": "Reason", "value": "off-topic \\<b>here\\</b>", "inline": False} in embed["fields"]
    [entry] = await desk.decided()
    assert (entry.action, entry.source, entry.details) == (
        "job.rejection",
        "dashboard",
        {"reason": "off-topic <b>here</b>"},
    )
    assert len(world.fake.requests_for(EDITS)) == 1


@pytest.mark.parametrize(
    ("first", "then", "told"), [("approve", "reject", "approved"), ("reject", "approve", "rejected")]
)
async def test_a_request_decided_in_discord_first_is_refused_on_the_dashboard_saying_by_whom(
    world: World, desk: Desk, first: str, then: str, told: str
) -> None:
    job = await desk.request()
    mod = world.users["approver"]
    if first == "approve":
        won = await desk.decisions.approve(job.id, by_id=mod, by_name="ann", source="discord")
    else:
        won = await desk.decisions.reject(job.id, "no", by_id=mod, by_name="ann", source="discord")
    assert won.won
    before = await world.jobs.get(job.id)
    async with logged_in(world, "owner") as browser:
        answer = await send(browser, at(world, job, then), reason="late")
    assert answer.status_code == 409
    assert f"Job {job.id} was already {told} by ann." in answer.text
    assert await world.jobs.get(job.id) == before
    [entry] = await desk.decided()
    assert entry.source == "discord" and entry.actor_id == mod
    assert len(world.fake.requests_for(EDITS)) == 1  # Discord's close only


async def test_an_expired_request_is_refused_saying_so(world: World, desk: Desk) -> None:
    job = await desk.request()
    expiring = Approvals(
        world.settings.model_copy(update={"approval_expiry_seconds": 0.001}),
        world.bot_client,
        world.jobs,
        world.governance,
        cast(Any, None),
        Audit(world.governance, world.bot_client),
        lambda: None,
        world.storage,
    )
    await asyncio.sleep(0.01)
    assert await expiring.expire() == 1
    async with logged_in(world, "approver") as browser:
        answer = await send(browser, at(world, job, "approve"))
    assert answer.status_code == 409 and f"Job {job.id} expired without a decision." in answer.text
    assert await desk.state(job) is JobState.REJECTED


async def test_two_moderators_deciding_at_once_one_wins_and_the_other_is_told(
    world: World, desk: Desk
) -> None:
    job = await desk.request()
    async with logged_in(world, "approver") as ann, logged_in(world, "administrator") as ada:
        approving, rejecting = await asyncio.gather(
            send(ann, at(world, job, "approve")), send(ada, at(world, job, "reject"), reason="no")
        )
    statuses = sorted([approving.status_code, rejecting.status_code])
    assert statuses == [303, 409]
    loser = approving if approving.status_code == 409 else rejecting
    [entry] = await desk.decided()
    winner = "ann" if entry.action == "job.approved" else "ada"
    assert f"was already {'approved' if winner == 'ann' else 'rejected'} by {winner}." in loser.text
    state = await desk.state(job)
    assert state is (JobState.QUEUED if winner == "ann" else JobState.REJECTED)
    assert len(world.fake.requests_for(EDITS)) == 1


async def test_many_decisions_at_once_move_the_job_once(world: World, desk: Desk) -> None:
    job = await desk.request()
    decisions = await asyncio.gather(
        *(desk.decisions.approve(job.id, by_id=n, by_name=f"m{n}", source="dashboard") for n in range(5)),
        *(desk.decisions.reject(job.id, "no", by_id=n, by_name=f"m{n}", source="discord") for n in range(5)),
    )
    assert sum(d.won for d in decisions) == 1
    assert len(await desk.decided()) == 1 and len(world.fake.requests_for(EDITS)) == 1


@pytest.mark.parametrize("who", [*DECIDERS, *REFUSED])
async def test_who_sees_the_page_and_its_images(world: World, desk: Desk, who: str) -> None:
    """Whoever may not open the page has no link of their own: a moderator's, handed on, is refused."""
    job = await desk.request("who may see this", image=True)
    async with logged_in(world, "approver") as moderator:
        moderators = thumbnails(await moderator.get(at(world, job)))[job.id]
    async with logged_in(world, who) as browser:
        page = await browser.get(at(world, job))
        own = thumbnails(page).get(job.id) if page.status_code == 200 else None
        image = await browser.get(own or moderators)
    if who in DECIDERS:
        assert (page.status_code, image.status_code) == (200, 200)
        assert "who may see this" in page.text and image.content == jpeg()
    else:
        assert (page.status_code, image.status_code) == (404, 403)
        assert "who may see this" not in page.text and image.content != jpeg()
        assert "reload the approvals page" in html.unescape(image.text)


@pytest.mark.parametrize("who", [*DECIDERS, *REFUSED])
@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_who_may_decide(world: World, desk: Desk, who: str, action: str) -> None:
    job = await desk.request()
    async with logged_in(world, who) as browser:
        answer = await send(browser, at(world, job, action), reason="not here")
    if who in DECIDERS:
        assert answer.status_code == 303
        assert await desk.state(job) is (JobState.QUEUED if action == "approve" else JobState.REJECTED)
        [entry] = await desk.decided()
        assert entry.actor_id == world.users[who]
    else:
        assert answer.status_code == 404
        assert await desk.state(job) is JobState.AWAITING_APPROVAL
        assert await desk.decided() == [] and world.fake.requests_for(EDITS) == []


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("forged csrf", 403),
        ("no csrf", 403),
        ("wrong origin", 403),
        ("logged out", 303),
        ("another server's job", 404),
        ("no such job", 404),
        ("another server's page", 404),
    ],
)
async def test_a_refused_post_changes_nothing(world: World, desk: Desk, case: str, status: int) -> None:
    job = await desk.request()
    theirs = await desk.request("in the other server", guild_id=world.other.id)
    async with world.browser() as browser:
        if case != "logged out":
            await world.log_in(browser, world.users["approver"])  # not in the other server
        token = await csrf_of((await browser.get("/")).text) if case != "logged out" else "x"
        path, form, headers = at(world, job, "approve"), {"csrf": token}, ORIGIN
        if case == "forged csrf":
            form = {"csrf": token[:-2] + "xx"}
        elif case == "no csrf":
            form = {}
        elif case == "wrong origin":
            headers = {"origin": "https://evil.example"}
        elif case == "another server's job":
            path = at(world, theirs, "approve")
        elif case == "no such job":
            path = f"/servers/{world.guild.id}/approvals/{theirs.id + 100}/approve"
        elif case == "another server's page":
            path = f"/servers/{world.other.id}/approvals/{theirs.id}/approve"
        answer = await browser.post(path, data=form, headers=headers)
    assert answer.status_code == status
    if case == "logged out":
        assert answer.headers["location"] == "/login"
    assert await desk.state(job) is JobState.AWAITING_APPROVAL
    assert await desk.state(theirs) is JobState.AWAITING_APPROVAL
    assert await desk.decided() == [] and world.fake.requests_for(EDITS) == []


async def test_logged_out_visitors_are_sent_to_log_in_and_refused_images(world: World, desk: Desk) -> None:
    """A thumbnail is no page to come back to after logging in: refused, even with a moderator's link."""
    job = await desk.request(image=True)
    async with logged_in(world, "approver") as moderator:
        link = thumbnails(await moderator.get(at(world, job)))[job.id]
    async with world.browser() as browser:
        page = await browser.get(at(world, job))
        image = await browser.get(link)
    assert [page.status_code, image.status_code] == [303, 403]
    assert page.headers["location"] == "/login" and "Log in to see this image." in image.text


async def test_images_only_of_waiting_requests_the_bot_stored(world: World, desk: Desk) -> None:
    waiting = await desk.request(image=True)
    decided = await desk.request(image=True)
    await desk.decisions.approve(decided.id, by_id=1, by_name="x", source="discord")
    here = Path(__file__)  # a file that exists, but not an input image the bot stored
    foreign = await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt="from the command line", image_path=str(here)),
            user_id=world.users["member"],
            guild_id=world.guild.id,
            estimated_cost=0.4,
            target_kind="discord",
            target={"kind": "discord"},
            state=JobState.AWAITING_APPROVAL,
        )
    )
    async with logged_in(world, "owner") as browser:
        answers = [
            (await browser.get(signed(world, job, "owner"))).status_code
            for job in (waiting, decided, foreign)
        ]
        page = await browser.get(at(world, waiting))
    assert answers == [200, 404, 404]
    assert list(thumbnails(page)) == [waiting.id]  # the page signs no link for the others


async def test_prompts_reasons_and_notices_render_as_text(world: World, desk: Desk) -> None:
    prompt = "<script>alert(1)</script> **bold** [link](https://evil.example) {{ 7*7 }}\n" + "line\n" * 800
    job = await desk.request(prompt.strip()[:4096])
    private = await desk.request("a private <i>secret</i> request", private=True)
    async with logged_in(world, "approver") as browser:
        page = (await browser.get(at(world, job))).text
        forged = (await browser.get(at(world, job) + "?done=approved&job=<script>alert(2)</script>")).text
        other = (await browser.get(at(world, job) + "?done=<b>deleted</b>&job=5")).text
        superscript = await browser.get(at(world, job) + "?done=approved&job=%C2%B2")
        done = (await browser.get(at(world, job) + "?done=rejected&job=12")).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold** [link](https://evil.example) {{ 7*7 }}" in page
    assert '<p class="prompt">&lt;script&gt;' in page
    # A private request's prompt is the moderators' to read, as in Discord: shown, marked private.
    assert "a private &lt;i&gt;secret&lt;/i&gt; request" in page
    assert page.count("Private: only the requester will see the clip.") == 1
    assert f"Job {private.id}" in page
    assert superscript.status_code == 200 and 'class="notice"' not in superscript.text
    assert '<p class="notice" role="status">Job 12 rejected.</p>' in done
    for text in (forged, other):
        assert "<script>" not in text and "<b>" not in text and 'class="notice"' not in text


async def test_a_story_shows_every_shot_and_the_cost_of_all_and_closes_as_a_story(
    world: World, desk: Desk
) -> None:
    story, shots = await world.jobs.create_story(
        NewStory(
            requests=[JobRequest.parse(prompt=f"shot {n}: the <b>fox</b> runs", seed=7) for n in (1, 2, 3)],
            estimated_costs=[0.4, 0.4, 0.4],
            user_id=world.users["member"],
            guild_id=world.guild.id,
            channel_id=777,
            target={"kind": "discord", "locale": "en-US"},
            needs_approval=True,
        )
    )
    await desk.approvals.request(shots[0], desk.channel, story=shots)
    first = await world.jobs.get(shots[0].id)
    assert first is not None
    async with logged_in(world, "approver") as browser:
        page = (await browser.get(at(world, first))).text
        answer = await send(browser, at(world, first, "approve"))
    assert f"Job {first.id}: a story of 3 shots" in page
    for n in (1, 2, 3):
        assert f'<h3>Shot {n}</h3>\n  <p class="prompt">shot {n}: the &lt;b&gt;fox&lt;/b&gt; runs</p>' in page
    assert "<th>Estimated cost</th><td>$1.20</td>" in page
    assert f"approvals/{shots[1].id}/approve" not in page  # the later shots wait for the first
    assert answer.status_code == 303 and story.id == first.story_id
    assert desk.message(first)["embeds"][0]["title"] == "Approved: a story of 3 shots by ann"
    assert await desk.state(first) is JobState.QUEUED


async def test_without_a_discord_client_the_page_lists_but_offers_no_decision(world: World) -> None:
    rest = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    world.app = create_app(
        world.settings, db=world.db, governance=world.governance, jobs=world.jobs, discord=rest
    )
    job = await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt="waiting without a client"),
            user_id=world.users["member"],
            guild_id=world.guild.id,
            estimated_cost=0.4,
            target_kind="discord",
            target={"kind": "discord"},
            state=JobState.AWAITING_APPROVAL,
        )
    )
    try:
        async with logged_in(world, "approver") as browser:
            page = await browser.get(at(world, job))
            answer = await send(browser, at(world, job, "approve"))
    finally:
        await rest.close()
    assert "waiting without a client" in page.text and "Approve job" not in page.text
    assert answer.status_code == 503
    found = await world.jobs.get(job.id)
    assert found is not None and found.state is JobState.AWAITING_APPROVAL


# -- a story rejected ------------------------------------------------------------------------------------

STORY_REASON = "not this story, sorry"


def story_interaction(world: World, channel: int) -> Interaction:
    """The member's /story, as the fake Discord keeps an interaction it sent."""
    iid = world.fake.snowflake()
    token = f"fake-itoken-{iid}-story"
    world.fake.interactions[token] = Interaction(
        id=iid,
        token=token,
        type=2,
        payload={},
        guild_id=world.guild.id,
        channel_id=channel,
        user_id=world.users["member"],
        attachment_size_limit=world.guild.upload_limit,
    )
    return world.fake.interactions[token]


async def answer_with_status(world: World, interaction: Interaction, story: Story, shots: list[Job]) -> int:
    """Answer the /story with the story's status message (ephemeral), as the bot does; its id."""
    embed = story_status_embed(story, shots, settled={}).to_dict()
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{world.fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback",
            json={"type": 4, "data": {"embeds": [embed], "flags": 64}},
        )
    assert answer.status_code == 204, answer.text
    assert interaction.original_message_id is not None
    return interaction.original_message_id


async def waiting_story(world: World, desk: Desk) -> tuple[int, list[Job], str]:
    """A 3-shot story waiting for a moderator (every shot's cost reserved), its request posted to the
    moderators and its status message shown to the member, as /story leaves it: its id, shots and token."""
    channel = world.guild.add_channel("clips")
    interaction = story_interaction(world, channel)
    story, shots = await world.jobs.create_story(
        NewStory(
            requests=[JobRequest.parse(prompt=f"shot {n}: a fox crosses the ice", seed=7) for n in (1, 2, 3)],
            estimated_costs=[0.4, 0.4, 0.4],
            user_id=world.users["member"],
            guild_id=world.guild.id,
            channel_id=channel,
            target={
                "kind": "discord",
                "channel_id": channel,
                "locale": "en-US",
                "interaction_token": interaction.token,
                "token_expires_at": time.time() + 900,
            },
            needs_approval=True,
        )
    )
    await desk.approvals.request(shots[0], desk.channel, story=shots)
    status_id = await answer_with_status(world, interaction, story, shots)
    await world.jobs.set_story_messages(story.id, status_message_id=status_id)
    found = await world.jobs.get_story(story.id)
    assert found is not None
    assert [s.state for s in found[1]] == [JobState.AWAITING_APPROVAL, JobState.WAITING, JobState.WAITING]
    status = world.fake.original(interaction.token)
    assert status is not None
    assert status["embeds"][0]["title"] == "Story: shot 1 of 3, waiting for a moderator's approval"
    return story.id, found[1], interaction.token


@dataclass(frozen=True)
class Ended:
    """What a story's rejection left: the story, its shots, their ledgers, its status message (job and story
    ids written as N), the moderators' request."""

    story: tuple[StoryState, str | None, str | None]
    shots: list[tuple[JobState, str | None, str | None]]
    ledgers: list[list[tuple[str, float]]]
    status: dict[str, Any]
    request: str


async def ended(world: World, desk: Desk, story_id: int, token: str) -> Ended:
    found = await world.jobs.get_story(story_id)
    assert found is not None
    story, shots = found

    def anonymous(text: str | None) -> str | None:
        return re.sub(r"\b(job|story) [0-9]+\b", r"\1 N", text, flags=re.IGNORECASE) if text else text

    original = world.fake.original(token)
    assert original is not None
    [embed] = original["embeds"]  # as /story showed it, or as edited since
    return Ended(
        story=(story.state, anonymous(story.error), story.user_error),
        shots=[(s.state, anonymous(s.error), s.user_error) for s in shots],
        ledgers=[await world.jobs.ledger(s.id) for s in shots],
        status=json.loads(anonymous(json.dumps(embed)) or ""),
        request=desk.message(shots[0])["embeds"][0]["title"],
    )


async def rejected_in_discord(world: World, desk: Desk) -> Ended:
    """The same story rejected with the Discord button's decision, followed by the bot's own listeners
    (bot/client.py: the story's deliverer stops it, its status loop shows it)."""
    story_id, shots, token = await waiting_story(world, desk)
    store = JobStore(world.db)  # the bot process's
    media = MediaPool(0)
    status = StoryStatus(world.bot_client, store, world.storage, media)
    poster = DiscordStoryPoster(world.bot_client, store, world.storage, media)
    stories = StoryDeliverer(store, world.storage, media, {poster.kind: poster}, on_end=status.ended)
    store.listeners += [stories.on_transition, status.on_transition]
    decisions = Decisions(
        world.bot_client, store, world.governance, Audit(world.governance, world.bot_client)
    )
    before = copy.deepcopy(world.fake.original(token))
    decision = await decisions.reject(
        shots[0].id, STORY_REASON, by_id=world.users["approver"], by_name="ann", source="discord"
    )
    assert decision.won
    status.loop.start()
    try:
        async with asyncio.timeout(10):
            while world.fake.original(token) == before:
                await asyncio.sleep(0.05)
    finally:
        await status.loop.stop()
    return await ended(world, desk, story_id, token)


async def test_a_story_rejected_on_the_dashboard_ends_at_once_as_when_rejected_in_discord(
    world: World, desk: Desk
) -> None:
    in_discord = await rejected_in_discord(world, desk)
    story_id, shots, token = await waiting_story(world, desk)
    async with logged_in(world, "approver") as browser:
        answer = await send(browser, at(world, shots[0], "reject"), reason=STORY_REASON)
    assert answer.status_code == 303
    # At once: no worker's recovery (two leases later) is waited for.
    here = await ended(world, desk, story_id, token)
    told = f"A moderator rejected this request: {STORY_REASON}"
    stopped = "The story stopped before this shot; you were not charged for it."
    moderator = world.users["approver"]
    error = f"shot 1 (job N): rejected by moderator {moderator}: {STORY_REASON}"
    assert here.story == (StoryState.CANCELLED, error, told)
    assert here.shots == [
        (JobState.REJECTED, f"rejected by moderator {moderator}: {STORY_REASON}", told),
        (JobState.CANCELLED, "story stopped: shot 1 (job N) rejected", stopped),
        (JobState.CANCELLED, "story stopped: shot 1 (job N) rejected", stopped),
    ]
    assert here.ledgers == [[("reserve", 0.4), ("refund", 0.4)]] * 3
    assert here.status["title"] == "The story was cancelled"
    assert told in json.dumps(here.status)
    assert here.request == "Rejected: a story of 3 shots by ann"
    assert here == in_discord  # the story, its shots, its ledger, its status message and request alike
    decided = [(e.action, e.source) for e in await desk.decided()]
    assert decided == [("job.rejection", "dashboard"), ("job.rejection", "discord")]


async def test_a_story_approved_on_the_dashboard_shows_its_requester_it_is_queued(
    world: World, desk: Desk
) -> None:
    story_id, shots, token = await waiting_story(world, desk)
    async with logged_in(world, "approver") as browser:
        answer = await send(browser, at(world, shots[0], "approve"))
    assert answer.status_code == 303
    found = await world.jobs.get_story(story_id)
    assert found is not None
    assert found[0].state is StoryState.RUNNING
    assert [s.state for s in found[1]] == [JobState.QUEUED, JobState.WAITING, JobState.WAITING]
    assert [await world.jobs.ledger(s.id) for s in found[1]] == [[("reserve", 0.4)]] * 3
    status = world.fake.original(token)
    assert status is not None
    assert status["embeds"][0]["title"] == "Story: shot 1 of 3, queued at position 1"


async def wait_for_many(desk: Desk, count: int) -> list[Job]:
    return [await desk.request(f"request number {n}", image=True) for n in range(count)]


async def test_a_page_of_25_thumbnails_costs_the_page_alone_in_discord_calls_and_lookups(
    world: World, desk: Desk
) -> None:
    """The review's case: a page of 25 waiting requests with images, Approve, the reloaded page's 24
    thumbnails, Approve again. Each page and form asks Discord once for the server (one of the moderator's 30
    lookups a minute); the thumbnails ask Discord nothing."""
    jobs = await wait_for_many(desk, 26)
    async with logged_in(world, "approver") as browser:
        asked, lookups = len(world.fake.requests), len(world.fake.requests_for(GUILDS))
        page = await browser.get(at(world, jobs[0]))
        links = thumbnails(page)
        after_page = len(world.fake.requests)
        images = [await browser.get(link) for link in links.values()]
        assert len(world.fake.requests) == after_page  # 25 thumbnails: no Discord call
        first = await send(browser, at(world, jobs[0], "approve"))
        reloaded = thumbnails(await browser.get(first.headers["location"]))
        before_images = len(world.fake.requests)
        again = [await browser.get(link) for link in reloaded.values()]
        again += [
            await browser.get(link) for link in reloaded.values()
        ]  # a reload from the browser's history
        assert len(world.fake.requests) == before_images
        second = await send(browser, at(world, jobs[1], "approve"))
    assert list(links) == [job.id for job in jobs[:25]] and list(reloaded) == [job.id for job in jobs[1:26]]
    assert [image.status_code for image in images] == [200] * 25
    assert [image.status_code for image in again] == [200] * 50
    assert (first.status_code, second.status_code) == (303, 303)
    # The page, Approve, the page, Approve (and the send helper's home page, which asks nothing).
    assert len(world.fake.requests_for(GUILDS)) - lookups == 4
    page_asked = [r.route for r in world.fake.requests[asked:after_page]]
    # The page: 2 calls, no more (and, the dashboard's first page, the bot's server list, read once).
    assert page_asked == ["GET /users/@me/guilds"] * 2 + [GUILDS, "GET /guilds/{guild_id}/members/{user_id}"]
    assert server_list_reads(world) == 1
    assert await desk.state(jobs[1]) is JobState.QUEUED


@pytest.mark.parametrize(
    "case",
    [
        "another member's",
        "another job's",
        "a clip's",
        "signed for a later expiry",
        "expired",
        "after logging out",
        "a copy of a logged out session",
    ],
)
async def test_a_thumbnail_link_not_this_members_for_this_job_now_is_refused(
    world: World, desk: Desk, case: str
) -> None:
    job, other = await desk.request(image=True), await desk.request(image=True)
    async with logged_in(world, "approver") as browser, logged_in(world, "administrator") as admin:
        links = thumbnails(await browser.get(at(world, job)))
        link, user = links[job.id], browser
        genuine = await browser.get(link)
        if case == "another member's":
            user = admin  # a moderator too, but the link was signed for the approver
        elif case == "another job's":
            link = link.replace(f"/approvals/{job.id}/", f"/approvals/{other.id}/")
        elif case == "a clip's":
            clip = MediaLinks(SECRET).query(
                "clip",
                user_id=world.users["approver"],
                guild_id=world.guild.id,
                job_id=job.id,
                expires=10**11,
            )
            link = link.split("?")[0] + "?" + clip
        elif case == "signed for a later expiry":
            link = re.sub(r"expires=[0-9]+", f"expires={int(world.now[0]) + 3600}", link)
        elif case == "expired":
            world.now[0] += SECONDS["image"] + 1
        else:
            kept = httpx.Cookies(browser.cookies)
            assert (await send_logout(browser)).status_code == 303
            if case == "a copy of a logged out session":
                browser.cookies = kept
        refused = await user.get(link)
    assert genuine.status_code == 200 and genuine.content == jpeg()
    assert refused.status_code == 403 and refused.content != jpeg()
    logged_out = case in ("after logging out", "a copy of a logged out session")
    expected = "Log in to see this image." if logged_out else "reload the approvals page"
    assert expected in html.unescape(refused.text)


async def send_logout(browser: httpx.AsyncClient) -> httpx.Response:
    token = await csrf_of((await browser.get("/")).text)
    return await browser.post("/logout", data={"csrf": token}, headers=ORIGIN)


async def test_a_thumbnail_link_lasts_5_minutes(world: World, desk: Desk) -> None:
    job = await desk.request(image=True)
    async with logged_in(world, "approver") as browser:
        link = thumbnails(await browser.get(at(world, job)))[job.id]
        world.now[0] += SECONDS["image"] - 5
        still = await browser.get(link)
        world.now[0] += 10
        expired = await browser.get(link)
        fresh = await browser.get(thumbnails(await browser.get(at(world, job)))[job.id])
    assert (still.status_code, expired.status_code, fresh.status_code) == (200, 403, 200)
    assert SECONDS["image"] == 300


async def test_a_moderator_who_loses_the_role_gets_no_page_nor_decision_at_once(
    world: World, desk: Desk
) -> None:
    """The page asks Discord every time; a thumbnail's link already signed shows for what is left of its 5
    minutes (an image the moderator was just shown), then no more."""
    job = await desk.request("a role taken away", image=True)
    approver = world.users["approver"]
    async with logged_in(world, "approver") as browser:
        link = thumbnails(await browser.get(at(world, job)))[job.id]
        world.guild.members[approver].roles.clear()
        page = await browser.get(at(world, job))
        decision = await send(browser, at(world, job, "approve"))
        within = await browser.get(link)
        world.now[0] += SECONDS["image"] + 1
        after = await browser.get(link)
    assert (page.status_code, decision.status_code) == (404, 404)
    assert "a role taken away" not in page.text
    assert await desk.state(job) is JobState.AWAITING_APPROVAL
    assert within.status_code == 200 and after.status_code == 403
