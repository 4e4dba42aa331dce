"""Approvals built from what they use (a real SQLite store, settings) and a client that records what it
posts: the request and its outcome are in the server's language, what the requester reads in theirs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot.domain.models import Job, JobRequest, JobState, Target
from bot.services.approvals import Approvals
from bot.services.audit import Audit
from bot.settings import Settings
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.job_table import NewJob
from bot.store.jobs import JobStore
from tests.unit.fake_translations import translate

GUILD, CHANNEL, MODS, MEMBER = 10, 20, 30, 40
GERMAN = {
    "Approval needed": "Freigabe nötig",
    "Expired without a decision": "Ohne Entscheidung abgelaufen",
    "No moderator approved this request in time, so it was dropped. You were not charged.": (
        "Kein Moderator hat rechtzeitig zugestimmt. Dir wurde nichts berechnet."
    ),
}


class Client:
    """Records every post and edit, as discord.py's partial channel and message would send them."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.edited: list[dict[str, Any]] = []

    def get_partial_messageable(self, channel_id: int, *, guild_id: int | None = None) -> Any:
        async def send(**fields: Any) -> Any:
            self.sent.append({"channel": channel_id, **fields})
            return SimpleNamespace(id=1000 + len(self.sent))

        async def edit(**fields: Any) -> None:
            self.edited.append(fields)

        return SimpleNamespace(send=send, get_partial_message=lambda _id: SimpleNamespace(edit=edit))

    def get_guild(self, guild_id: int) -> None:
        return None  # a worker: no guild cache


class NoImages:
    @contextlib.asynccontextmanager
    async def local_input(self, image_path: str | None) -> AsyncIterator[None]:
        yield None


@pytest.fixture
async def governance(tmp_path: Path) -> AsyncIterator[Governance]:
    db = await Database.open(tmp_path / "store.db")
    yield Governance(db)
    await db.close()


def approvals_of(governance: Governance, settings: Settings, client: Client) -> Approvals:
    audit = Audit(governance, cast(Any, client))
    none: Any = None  # the guard and the scheduler: not used by a request or its expiry
    store = JobStore(governance.db)
    return Approvals(
        settings, cast(Any, client), store, governance, none, audit, lambda: None, cast(Any, NoImages())
    )


async def waiting_job(governance: Governance, target: Target) -> Job:
    return await JobStore(governance.db).create(
        NewJob(
            request=JobRequest.parse(prompt="a cat on a skateboard", duration=4),
            user_id=MEMBER,
            estimated_cost=0.4,
            target_kind="discord",
            target=target,
            guild_id=GUILD,
            channel_id=CHANNEL,
            state=JobState.AWAITING_APPROVAL,
        )
    )


async def test_the_request_is_posted_in_the_language_the_server_chose(
    governance: Governance, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    translate(monkeypatch, {"de": GERMAN})
    client = Client()
    await governance.update_settings(GUILD, approvals_channel_id=MODS, language="de")
    job = await waiting_job(governance, {"kind": "discord", "locale": "en-US", "guild_locale": "fr"})
    await approvals_of(governance, settings, client).request(job, MODS)
    [post] = client.sent
    embed = post["embed"].to_dict()
    assert post["channel"] == MODS and embed["title"] == "Freigabe nötig"
    assert {f["value"] for f in embed["fields"]} >= {
        "0,40\xa0$"
    }  # German amounts, whatever the requester reads


async def test_without_a_chosen_language_the_request_follows_the_servers_own(
    governance: Governance, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    translate(monkeypatch, {"de": GERMAN})
    client = Client()
    await governance.update_settings(GUILD, approvals_channel_id=MODS)
    job = await waiting_job(governance, {"kind": "discord", "locale": "de", "guild_locale": "fr"})
    await approvals_of(governance, settings, client).request(job, MODS)
    embed = client.sent[0]["embed"].to_dict()
    assert embed["title"] == "Approval needed"  # French has no translation here: English, not the member's
    assert {f["value"] for f in embed["fields"]} >= {"0,40\xa0$US"}  # French amounts


async def test_an_expired_request_tells_the_requester_in_their_language_and_the_mods_in_the_servers(
    governance: Governance, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    translate(monkeypatch, {"de": GERMAN})
    client = Client()
    await governance.update_settings(GUILD, approvals_channel_id=MODS)
    job = await waiting_job(governance, {"kind": "discord", "locale": "de", "guild_locale": "en-US"})
    store = JobStore(governance.db)
    await store.set_approval_message(job.id, 555)
    expiring = approvals_of(governance, settings.model_copy(update={"approval_expiry_seconds": -1.0}), client)
    assert await expiring.expire() == 1
    expired = await store.get(job.id)
    assert expired is not None and expired.state is JobState.REJECTED
    assert (
        expired.user_error
        == GERMAN["No moderator approved this request in time, so it was dropped. You were not charged."]
    )
    [edit] = client.edited
    assert edit["embed"].to_dict()["title"] == "Expired without a decision" and edit["view"] is None
