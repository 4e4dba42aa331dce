"""`sora-bot dashboard`: the web dashboard on the bot's database, served by uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from bot.dashboard.app import LOOKUPS_PER_MINUTE, create_app, rest_client
from bot.dashboard.discord_rest import DiscordRest
from bot.run import point_at
from bot.settings import Settings
from bot.storage.open import open_storage
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)
NEEDED = ("discord_token", "dashboard_url", "dashboard_secret", "discord_client_id", "discord_client_secret")


class _Server(uvicorn.Server):
    """uvicorn, minus raising SIGTERM / SIGINT again once it has stopped: that would kill the process before
    the database and the HTTP client are closed (and exit 143 from a clean stop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "dashboard", help='serve the web dashboard (DASHBOARD_URL, DASHBOARD_PORT; README "Dashboard")'
    )


def server_config(settings: Settings, app: ASGIApp) -> uvicorn.Config:
    """uvicorn for `app` on DASHBOARD_HOST:DASHBOARD_PORT. Behind a reverse proxy the client's address (which
    the sign-in limit counts) is read from X-Forwarded-For only on connections from
    DASHBOARD_FORWARDED_ALLOW_IPS; unset, no forwarding header is believed (uvicorn's own default would
    trust 127.0.0.1, or FORWARDED_ALLOW_IPS from the environment)."""
    allowed = settings.dashboard_forwarded_allow_ips
    return uvicorn.Config(
        app,
        host=settings.dashboard_host,
        port=settings.dashboard_port,
        log_config=None,  # the bot's own logging (and its secret filter)
        access_log=False,
        server_header=False,
        proxy_headers=bool(allowed),
        forwarded_allow_ips=allowed or None,
    )


def run_dashboard(settings: Settings) -> int:
    settings.require(*NEEDED)
    return asyncio.run(serve(settings))


@contextlib.asynccontextmanager
async def opened_app(
    settings: Settings, *, lookups_per_minute: int = LOOKUPS_PER_MINUTE
) -> AsyncIterator[Starlette]:
    """The dashboard's app on the bot's database as it is (the bot's processes migrate it), its Discord
    clients and storage, all closed after the block."""
    assert settings.discord_token is not None
    db = await Database.open(
        settings.database_target,
        migrate=False,
        busy_timeout=settings.database_busy_timeout_seconds,
        pool_size=settings.database_pool_size,
    )
    token = settings.discord_token.get_secret_value()
    discord = DiscordRest(token, base_url=settings.discord_api_base_url)
    # discord.py for REST only (no gateway): the dashboard posts and edits messages through the bot's own
    # services (approval requests, the audit channel), as the gateway does.
    point_at(settings)
    bot_client = rest_client()
    try:
        await bot_client.login(token)
        yield create_app(
            settings,
            db=db,
            governance=Governance(db),
            jobs=JobStore(db),
            discord=discord,
            bot_client=bot_client,
            storage=open_storage(settings, working=False),
            lookups_per_minute=lookups_per_minute,
        )
    finally:
        await bot_client.close()
        await discord.close()
        await db.close()


async def serve(settings: Settings) -> int:
    """Serve until interrupted."""
    async with opened_app(settings) as app:
        log.info(
            "dashboard for %s on %s:%d",
            settings.dashboard_url,
            settings.dashboard_host,
            settings.dashboard_port,
        )
        await _Server(server_config(settings, app)).serve()
    return 0
