"""The governance repository on both engines: every query filtered by server, upserts, strikes, forgetting."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.domain.limits import LimitRule
from bot.domain.models import Target
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore, NewJob
from tests.unit.store.test_jobs import new_job

GUILD, OTHER = 10, 20
BIG_ID = 1_234_567_890_123_456_789  # Discord ids need 64 bits


def job_for(user_id: int, guild_id: int = GUILD, *, prompt: str = "a secret plan") -> NewJob:
    """A job posted to Discord: its target carries the interaction token that forgetting removes."""
    target: Target = {"kind": "discord", "interaction_token": "tok-123", "channel_id": 5}
    return replace(new_job(user_id, guild_id, prompt=prompt), target_kind="discord", target=target)


async def test_settings_upsert_and_stay_per_server(db: Database) -> None:
    gov = Governance(db)
    await gov.update_settings(GUILD, budget_dollars_per_day=2.5, age_restricted_images=True)
    updated = await gov.update_settings(GUILD, audit_channel_id=BIG_ID)
    assert (updated.budget_dollars_per_day, updated.audit_channel_id) == (2.5, BIG_ID)
    assert updated.age_restricted_images is True
    assert (await gov.settings(OTHER)).budget_dollars_per_day is None


async def test_limit_rules_merge_given_fields_and_clear(db: Database) -> None:
    gov = Governance(db)
    await gov.set_limit_rule(GUILD, LimitRule("role", BIG_ID, jobs_per_hour=3, pro=True))
    merged = await gov.set_limit_rule(GUILD, LimitRule("role", BIG_ID, concurrent=1))
    assert (merged.jobs_per_hour, merged.concurrent, merged.pro, merged.hd) == (3, 1, True, None)
    assert merged.story_shots is None
    shots = await gov.set_limit_rule(GUILD, LimitRule("role", BIG_ID, story_shots=0))
    assert shots == LimitRule("role", BIG_ID, jobs_per_hour=3, concurrent=1, pro=True, story_shots=0)
    await gov.set_limit_rule(GUILD, LimitRule("user", BIG_ID, story_shots=5))
    assert [r.story_shots for r in await Governance(db).limit_rules(GUILD)] == [0, 5]  # from the rows
    assert await gov.limit_rules(OTHER) == []
    assert await gov.clear_limit_rule(GUILD, "role", BIG_ID) is True
    assert await gov.clear_limit_rule(GUILD, "role", BIG_ID) is False


async def test_allowed_channels_and_blocklist_report_whether_anything_changed(db: Database) -> None:
    gov = Governance(db)
    assert await gov.set_allowed(GUILD, "channels", 5, True) is True
    assert await gov.set_allowed(GUILD, "channels", 5, True) is False  # already there
    assert await gov.allowed(GUILD, "channels") == {5} and await gov.allowed(OTHER, "channels") == set()
    assert await gov.set_allowed(GUILD, "channels", 5, False) is True
    assert await gov.add_block_rule(GUILD, "dragon", False, by=1) is True
    assert await gov.add_block_rule(GUILD, "dragon", False, by=1) is False
    assert await gov.add_block_rule(GUILD, r"dr\w+", True, by=1) is True
    assert await gov.blocklist(GUILD) == [("dragon", False), (r"dr\w+", True)]
    assert await gov.remove_block_rule(GUILD, "dragon") is True
    assert await gov.remove_block_rule(GUILD, "dragon") is False


async def test_strikes_block_at_the_threshold_and_unblocking_clears_them(db: Database) -> None:
    gov = Governance(db)
    assert (await gov.add_strike(GUILD, 7, 3)).strikes == 1
    assert (await gov.add_strike(GUILD, 7, 3)).blocked is False
    third = await gov.add_strike(GUILD, 7, 3)
    assert (third.strikes, third.blocked) == (3, True)
    assert (await gov.add_strike(GUILD, 8, 1)).blocked is True  # one strike is enough when set so
    assert (await gov.member(OTHER, 7)).strikes == 0
    unblocked = await gov.set_member(GUILD, 7, blocked=False)
    assert (unblocked.strikes, unblocked.blocked) == (0, False)
    assert (await gov.set_member(GUILD, 9, blocked=True)).blocked is True
    assert (await gov.set_member(GUILD, 9, reset=True)).blocked is False


async def test_export_and_forget_a_member(db: Database) -> None:
    gov, store = Governance(db), JobStore(db)
    mine = await store.create(job_for(7))
    theirs = await store.create(job_for(8, prompt="someone else's idea"))
    elsewhere = await store.create(job_for(7, OTHER))
    await gov.audit(GUILD, "job_delivered", job_id=mine.id, requester=7, prompt="a secret plan")
    await gov.audit(GUILD, "job_delivered", job_id=theirs.id, requester=8, prompt="someone else's idea")
    exported = await gov.export_rows(GUILD)
    assert [(r["id"], r["prompt"], r["duration"], r["user_id"]) for r in exported] == [
        (mine.id, "a secret plan", 4, 7),
        (theirs.id, "someone else's idea", 4, 8),
    ]
    assert list(exported[0])[:9] == [
        "id", "state", "user_id", "channel_id", "job_type", "prompt", "duration", "aspect_ratio", "seed"
    ]  # fmt: skip

    await gov.forget_member(GUILD, 7)
    forgotten = await store.get(mine.id)
    assert forgotten is not None and forgotten.request.prompt == "[removed]"
    assert "interaction_token" not in forgotten.target
    assert (await store.get(theirs.id)).request.prompt == "someone else's idea"  # type: ignore[union-attr]
    assert (await store.get(elsewhere.id)).request.prompt == "a secret plan"  # type: ignore[union-attr]
    prompts = {e.details["requester"]: e.details["prompt"] for e in await gov.audit_entries(GUILD)}
    assert prompts == {7: "[removed]", 8: "someone else's idea"}
    raw = await db.reader.fetch_one("SELECT request FROM jobs WHERE id = ?", (mine.id,))
    assert raw is not None and json.loads(raw[0])["prompt"] == "[removed]"
