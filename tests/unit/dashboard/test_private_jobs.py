"""A private job is its owner's on every page: the overview's jobs in flight and latest jobs name it (its id,
its member, its prompt) to its owner only, and the strike its prompt earned at Prodia is an entry about that
job, of which others see only the act, as of its other entries."""

from __future__ import annotations

import re
from typing import cast

from bot.dashboard.pages.audit_log import HIDDEN, PRIVATE
from bot.domain.models import Job, JobRequest, JobState, Target
from bot.services.audit import Audit
from bot.services.guard import Guard
from bot.store.jobs import NewJob
from tests.unit.dashboard.conftest import World
from tests.unit.dashboard.test_spend_audit import get, rows


def with_viewers(world: World) -> tuple[int, int]:
    """olive and vic, each seeing the dashboard as a viewer (olive's private jobs are hers)."""
    watchers = world.guild.add_role("Watchers")
    world.users["olive"] = world.guild.add_member(name="olive", roles=[watchers])
    world.users["vic"] = world.guild.add_member(name="vic", roles=[watchers])
    return watchers, world.users["olive"]


async def new_job(world: World, user_id: int, prompt: str, *, private: bool) -> Job:
    return await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt=prompt, duration=4),
            user_id=user_id,
            guild_id=world.guild.id,
            estimated_cost=0.4,
            target_kind="discord",
            target=cast(Target, {"kind": "discord", "channel_id": 5, "private": private}),
        )
    )


async def running(world: World, jobs: list[Job]) -> None:
    """Each job taken by a worker and running at Prodia (oldest first, as workers take them)."""
    for job in jobs:
        claimed = await world.jobs.claim_next(
            owner="w", lease_seconds=300, max_in_flight=10, target_kinds=["discord"]
        )
        assert claimed is not None and claimed.id == job.id
        await world.jobs.transition(job.id, JobState.RUNNING, prodia_job_id=f"p-{job.id}", endpoint="async")


def section(page: str, title: str) -> str:
    """The HTML of one of the overview's tables, from its heading to the next."""
    found = re.search(rf"<h2>{title}</h2>(.*?)(?:<h2>|$)", page, flags=re.DOTALL)
    assert found is not None, title
    return found.group(1)


async def test_the_overview_names_a_private_job_in_flight_to_its_owner_only(world: World) -> None:
    watchers, olive = with_viewers(world)
    await world.governance.set_staff_role(world.guild.id, watchers, "viewer")
    mel = world.users["member"]
    public = await new_job(world, mel, "a public kite at noon", private=False)
    mine = await new_job(world, olive, "olive's quiet pond", private=True)
    theirs = await new_job(world, mel, "mel's hidden cave", private=True)
    await running(world, [public, mine, theirs])
    seen = {}
    for who in ("vic", "olive", "owner", "approver"):
        page = (await get(world, who, f"/servers/{world.guild.id}")).text
        seen[who] = (section(page, "In flight"), section(page, "Latest jobs"))
    for who, tables in seen.items():
        for table in tables:
            shown = [row for row in rows(table) if "prompt" in row]
            assert [r for r in shown if f"<td>{public.id}</td>" in r and str(mel) in r], who  # everyone's
            assert "a public kite at noon" in table
            assert "mel&#39;s hidden cave" not in table and f"<td>{theirs.id}</td>" not in table, who
            owns = who == "olive"
            assert ("olive&#39;s quiet pond" in table) == owns, who
            assert (f"<td>{mine.id}</td>" in table) == owns and (str(olive) in table) == owns, who
    # Someone else's private job in flight: not its id, its member or its prompt; not even "(private)".
    assert [table.count(str(mel)) for table in seen["vic"]] == [1, 1]  # the public job's row alone
    assert "(private)" not in seen["vic"][0]


async def test_a_strike_from_prodia_is_an_entry_about_its_job_hidden_with_a_private_one(world: World) -> None:
    watchers, olive = with_viewers(world)
    await world.governance.set_staff_role(world.guild.id, watchers, "viewer")
    mel = world.users["member"]
    guard = Guard(world.settings, world.governance, world.jobs, Audit(world.governance, world.bot_client))
    refused = []
    for user, prompt, private in ((olive, "olive's secret lagoon", True), (mel, "mel's open field", False)):
        job = await new_job(world, user, prompt, private=private)
        failed = await world.jobs.transition(
            job.id, JobState.FAILED, error="rejected by Prodia: content moderation", user_error="Refused."
        )
        assert failed is not None
        await guard.on_transition(failed, JobState.QUEUED)
        refused.append(failed)
    strikes = [e for e in await world.governance.audit_entries(world.guild.id) if e.action == "member.strike"]
    assert sorted((e.job_id, e.details["requester"]) for e in strikes) == sorted(
        (job.id, job.user_id) for job in refused
    )
    for who in ("vic", "approver", "olive", "manager", "owner"):
        page = (await get(world, who, f"/servers/{world.guild.id}/audit")).text
        strike_rows = [r for r in rows(page) if "<strong>member.strike</strong>" in r]
        assert len(strike_rows) == 2, who
        everything = who in ("olive", "manager", "owner")  # the job's owner, and admins
        assert ("olive&#39;s secret lagoon" in page) == everything, who
        assert (PRIVATE in page) == (not everything), who
        assert "mel&#39;s open field" in page, who  # a public job's strike: everyone's to read
        assert HIDDEN not in page, who  # each strike names its job: no guessing whether it was private
