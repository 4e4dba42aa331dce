"""A dashboard on a real SQLite file, logging in against the fake Discord over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import discord as discord_py
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from bot.dashboard.access import ADMINISTRATOR, MANAGE_GUILD, MANAGE_MESSAGES
from bot.dashboard.app import LOOKUPS_PER_MINUTE, create_app, rest_client
from bot.dashboard.discord_rest import DiscordRest
from bot.settings import Settings
from bot.storage.local import FileStorage
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.running import redirect_discord
from tests.fakes.discord.world import FakeGuild

DASHBOARD_URL = "https://dashboard.example.org"
SECRET = "s" * 40
HOUR = 3600.0


@dataclass
class World:
    fake: FakeDiscord
    guild: FakeGuild
    other: FakeGuild
    users: dict[str, int]
    db: Database
    jobs: JobStore
    governance: Governance
    app: Starlette
    settings: Settings
    bot_client: discord_py.Client  # the dashboard's REST-only discord.py client
    storage: FileStorage
    now: list[float] = field(default_factory=lambda: [time.time()])  # the dashboard's clock

    def browser(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        """A browser on the dashboard: its own cookie jar, https (so Secure cookies are sent back), connecting
        from `address` (the client address the dashboard sees)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        return httpx.AsyncClient(transport=transport, base_url=DASHBOARD_URL)

    async def log_in(self, browser: httpx.AsyncClient, user_id: int) -> httpx.Response:
        """The whole Login with Discord round trip; the answer to the callback."""
        self.fake.oauth_user_id = user_id
        start = await browser.get("/login")
        assert start.status_code == 303, start.text
        async with httpx.AsyncClient() as discord_page:
            consent = await discord_page.get(start.headers["location"])
        assert consent.status_code == 302, consent.text
        return await browser.get(consent.headers["location"])


def dashboard_settings(tmp_path: Path, fake: FakeDiscord) -> Settings:
    return Settings(
        database_url=SecretStr(f"sqlite:///{tmp_path}/bot.db"),
        discord_token=SecretStr(fake.bot_token),
        discord_api_base_url=fake.api_base,
        dashboard_url=DASHBOARD_URL,
        dashboard_secret=SecretStr(SECRET),
        discord_client_id=fake.app_id,
        discord_client_secret=SecretStr(fake.oauth_client_secret),
    )


@pytest.fixture
def lookups_per_minute() -> int:
    """A member's Discord lookups a minute (the product's; a module may override this fixture)."""
    return LOOKUPS_PER_MINUTE


@pytest.fixture
async def world(tmp_path: Path, lookups_per_minute: int) -> AsyncIterator[World]:
    async with FakeDiscord() as fake, _redirected(fake):
        fake.oauth_redirect_uris.append(f"{DASHBOARD_URL}/callback")
        guild = fake.add_guild(name="Team <b>clips</b>")
        other = fake.add_guild(name="Elsewhere")
        users = {
            "owner": guild.owner_id,
            "administrator": guild.add_member(name="ada", roles=[guild.add_role("Admins", ADMINISTRATOR)]),
            "manager": guild.add_member(name="max", roles=[guild.add_role("Managers", MANAGE_GUILD)]),
            "approver": guild.add_member(name="ann", roles=[guild.add_role("Mods", MANAGE_MESSAGES)]),
            "member": guild.add_member(name="mel"),
            "stranger": other.add_member(name="sam", roles=[other.add_role("Boss", ADMINISTRATOR)]),
        }
        settings = dashboard_settings(tmp_path, fake)
        db = await Database.open(settings.database_target)
        discord = DiscordRest(fake.bot_token, base_url=fake.api_base)
        governance, jobs = Governance(db), JobStore(db)
        holder: list[float] = [time.time()]
        bot_client = rest_client()
        await bot_client.login(fake.bot_token)
        storage = FileStorage(tmp_path / "clips")
        (tmp_path / "clips").mkdir()
        app = create_app(
            settings,
            db=db,
            governance=governance,
            jobs=jobs,
            discord=discord,
            bot_client=bot_client,
            storage=storage,
            clock=lambda: holder[0],
            lookups_per_minute=lookups_per_minute,
        )
        try:
            yield World(
                fake, guild, other, users, db, jobs, governance, app, settings, bot_client, storage, holder
            )
        finally:
            await bot_client.close()
            await discord.close()
            await db.close()


@contextlib.asynccontextmanager
async def _redirected(fake: FakeDiscord) -> AsyncIterator[None]:
    with redirect_discord(fake):
        yield
