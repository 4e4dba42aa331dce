"""bot/services/routes.py: the language of a clip's message (a job's or a story's), by who reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.domain.models import Target
from bot.services.routes import delivery_language
from bot.store.guild_settings import GuildSettings


@dataclass(frozen=True)
class Posted:
    target: Target
    guild_id: int | None = 7
    id: int = 1
    user_id: int = 2


@dataclass
class Settings:
    language: str | None
    asked: list[int] = field(default_factory=list)

    async def __call__(self, guild_id: int) -> GuildSettings:
        self.asked.append(guild_id)
        return GuildSettings(guild_id, language=self.language)


def target(**values: Any) -> Target:
    return {"kind": "discord", "channel_id": 3, **values}  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("chosen", "guild_locale", "language"),
    [
        ("fr", "de", "fr"),  # the admins' choice first
        (None, "de", "de"),  # else the server's own locale
        (None, "es-419", "es-ES"),  # the nearest the bot speaks
        (None, None, "en-US"),
        (None, "nl", "en-US"),  # one the bot does not speak
    ],
)
async def test_a_public_post_is_in_the_servers_language(
    chosen: str | None, guild_locale: str | None, language: str
) -> None:
    settings = Settings(chosen)
    posted = Posted(target(locale="ja", guild_locale=guild_locale))
    assert await delivery_language(posted, settings, public=True) == language
    assert settings.asked == [7]


async def test_a_private_message_is_in_its_requesters_language_whatever_the_server_chose() -> None:
    settings = Settings("fr")
    posted = Posted(target(locale="ja", guild_locale="de"))
    assert await delivery_language(posted, settings, public=False) == "ja"
    assert settings.asked == []  # the server's settings are not read for it
    assert await delivery_language(Posted(target()), settings, public=False) == "en-US"


async def test_without_settings_or_a_server_a_post_is_in_the_servers_own_locale() -> None:
    assert await delivery_language(Posted(target(guild_locale="pl")), None, public=True) == "pl"
    settings = Settings("fr")
    assert (
        await delivery_language(Posted(target(guild_locale="pl"), guild_id=None), settings, public=True)
        == "pl"
    )
    assert settings.asked == []
