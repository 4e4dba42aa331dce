"""The audit posts in the server's language: the one its admins chose, else the server's own (from the
interaction or the job, else the gateway's guild cache), else English; what is stored stays as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import discord
import pytest

from bot.i18n.messages import speaking
from bot.services.audit import DETAIL_NAMES, Audit, audit_embed, detail_name
from bot.store.audit_log import AuditEntry
from bot.store.db import Database
from bot.store.governance import Governance
from tests.unit.fake_translations import translate

GUILD, AUDIT, ADMIN = 10, 20, 30
TABLES = {"de": {"By": "Von", "Reason": "Grund"}, "fr": {"By": "Par", "Reason": "Motif"}}


class Client:
    """Records the audit posts; its guild cache holds the servers given (id -> preferred locale)."""

    def __init__(self, cached: dict[int, str] | None = None) -> None:
        self.cached = cached or {}
        self.sent: list[discord.Embed] = []

    def get_partial_messageable(self, channel_id: int, *, guild_id: int | None = None) -> Any:
        async def send(*, embed: discord.Embed, allowed_mentions: discord.AllowedMentions) -> None:
            self.sent.append(embed)

        return SimpleNamespace(send=send)

    def get_guild(self, guild_id: int) -> Any:
        locale = self.cached.get(guild_id)
        return SimpleNamespace(preferred_locale=discord.Locale(locale)) if locale else None


@pytest.fixture
async def governance(tmp_path: Path) -> AsyncIterator[Governance]:
    db = await Database.open(tmp_path / "store.db")
    governance = Governance(db)
    await governance.update_settings(GUILD, audit_channel_id=AUDIT)
    yield governance
    await db.close()


async def posted_names(audit: Audit, client: Client, **where: Any) -> list[str]:
    await audit.record(GUILD, "job.rejection", actor_id=ADMIN, reason="off-topic", **where)
    return [field.name or "" for field in client.sent[-1].fields]


async def test_the_post_is_in_the_language_the_admins_chose_over_the_servers_own(
    governance: Governance, monkeypatch: pytest.MonkeyPatch
) -> None:
    translate(monkeypatch, TABLES)
    client = Client({GUILD: "fr"})
    audit = Audit(governance, cast(discord.Client, client))
    await governance.update_settings(GUILD, language="de")
    assert await posted_names(audit, client, guild_locale="fr") == ["Von", "Grund"]
    [entry] = await governance.audit_entries(GUILD)
    assert entry.details == {"reason": "off-topic"}  # the row is the same in every language


async def test_unchosen_the_post_follows_the_servers_own_language_else_english(
    governance: Governance, monkeypatch: pytest.MonkeyPatch
) -> None:
    translate(monkeypatch, TABLES)
    client = Client({GUILD: "fr"})
    audit = Audit(governance, cast(discord.Client, client))
    assert await posted_names(audit, client, guild_locale="de") == ["Von", "Grund"]  # the interaction's
    assert await posted_names(audit, client) == ["Par", "Motif"]  # the guild cache's
    uncached = Client()
    assert await posted_names(Audit(governance, cast(discord.Client, uncached)), uncached) == ["By", "Reason"]


def test_every_details_name_is_its_key_in_words_in_english() -> None:
    for key, english in DETAIL_NAMES.items():
        assert english == key.replace("_", " ").capitalize() == detail_name(key)
    assert detail_name("some_new_key") == "Some new key"


def test_a_detail_name_is_translated_when_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    translate(monkeypatch, {"de": {"Estimated cost": "Geschätzte Kosten"}})
    entry = AuditEntry(id=1, guild_id=GUILD, actor_id=None, action="job.failed", job_id=None,
                       details={"estimated_cost": 0.4}, created_at=1.0)  # fmt: skip
    with speaking("de"):
        assert [f.name for f in audit_embed(entry).fields] == ["Geschätzte Kosten"]
    assert [f.name for f in audit_embed(entry).fields] == ["Estimated cost"]
