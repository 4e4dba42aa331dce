"""Guard and Audit built from what they use (a real SQLite store, settings), with no bot and no Discord."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import discord
import pytest

from bot.domain.models import JobRequest
from bot.errors import NotAllowed, PromptBlocked
from bot.services.audit import Audit
from bot.services.guard import Asker, Guard
from bot.settings import Settings
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore

GUILD, CHANNEL, MEMBER, ADMIN = 10, 20, 30, 40


@pytest.fixture
async def governance(tmp_path: Path) -> Any:
    db = await Database.open(tmp_path / "store.db")
    yield Governance(db)
    await db.close()


def guard_of(governance: Governance, settings: Settings) -> Guard:
    # No audit channel is set, so the audit posts nothing and never touches a client.
    audit = Audit(governance, cast(discord.Client, None))
    return Guard(settings, governance, JobStore(governance.db), audit)


def asker() -> Asker:
    return Asker(GUILD, CHANNEL, cast(discord.abc.User, discord.Object(MEMBER)))


async def test_a_blocked_member_is_refused(governance: Governance, settings: Settings) -> None:
    guard = guard_of(governance, settings)
    await guard.may_generate_as(asker())  # allowed while not blocked
    await governance.set_member(GUILD, MEMBER, blocked=True)
    with pytest.raises(NotAllowed, match="blocked"):
        await guard.may_generate_as(asker())


async def test_a_blocked_prompt_is_an_audited_strike(governance: Governance, settings: Settings) -> None:
    guard = guard_of(governance, settings)
    await governance.add_block_rule(GUILD, "forbidden", False, ADMIN)
    request = JobRequest.parse(prompt="a forbidden thing", duration=4, aspect_ratio="16:9", model="sora-2")
    with pytest.raises(PromptBlocked):
        await guard.admit_as(asker(), request, has_image=False)
    assert (await governance.member(GUILD, MEMBER)).strikes == 1
    [entry] = [e for e in await governance.audit_entries(GUILD) if e.action == "member.strike"]
    assert entry.details["requester"] == MEMBER and entry.details["prompt"] == "a forbidden thing"


async def test_a_channel_not_allowed_is_refused_naming_at_most_25_allowed_ones(
    governance: Governance, settings: Settings
) -> None:
    guard = guard_of(governance, settings)
    allowed = [10**18 + i for i in range(3)]
    for channel in allowed:
        await governance.set_allowed(GUILD, "channels", channel, True)
    with pytest.raises(NotAllowed) as caught:
        await guard.may_generate_as(asker())
    assert caught.value.user_message == (
        "Clips can't be made in this channel. Try " + ", ".join(f"<#{c}>" for c in allowed) + "."
    )
    for channel in range(10**18 + 3, 10**18 + 30):  # 30 in all: 25 named, 5 counted
        await governance.set_allowed(GUILD, "channels", channel, True)
    with pytest.raises(NotAllowed) as caught:
        await guard.may_generate_as(asker())
    message = caught.value.user_message
    assert message.count("<#") == 25 and message.endswith(f"<#{10**18 + 24}> or 5 other channels.")
