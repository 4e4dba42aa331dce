"""The Discord client: owns the pipeline (store, Prodia client, scheduler), loads the cogs, syncs commands."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot.approvals import Approvals
from bot.audit import Audit
from bot.delivery import DiscordDeliverer
from bot.errors import ConfigError, is_content_rejection
from bot.guard import Guard
from bot.jobs.models import Job, JobState
from bot.pipeline import Pipeline
from bot.prodia.backend import Backend
from bot.settings import Settings
from bot.store.governance import Governance
from bot.store.meta import get_value, set_value
from bot.tree import SoraTree
from bot.ui.buttons import JobButton
from bot.ui.status import StatusUpdater

log = logging.getLogger(__name__)

COGS = ("cogs.video", "cogs.jobs", "cogs.admin")
_closing: set[asyncio.Task[None]] = set()  # references to close() tasks started by signal handlers
START_ATTEMPTS = 5


class SoraBot(commands.Bot):
    """The bot. Every resource it opens in `setup_hook` it closes in `close`, in reverse order."""

    def __init__(self, settings: Settings, *, backend: Backend | None = None, **options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, roles and upload limits of the servers the bot is in
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=SoraTree,
            help_command=None,
            **options,
        )
        self.settings = settings
        self._backend = backend
        self._pipeline: Pipeline | None = None
        self.status_updates = StatusUpdater(self)
        self.deliverer = DiscordDeliverer(self)
        self.guard = Guard(self)
        self.audit = Audit(self)
        self.approvals = Approvals(self)
        self.governance: Governance

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("the pipeline is opened in setup_hook")
        return self._pipeline

    async def setup_hook(self) -> None:
        self._pipeline = await Pipeline.open(
            self.settings, {"discord": self.deliverer}, backend=self._backend
        )
        self.governance = Governance(self.pipeline.db)
        self.pipeline.store.listeners += [
            self.status_updates.on_transition,
            self.audit.on_transition,
            self._strike_content_rejections,
        ]
        self.add_dynamic_items(JobButton)
        for cog in COGS:
            await self.load_extension(cog)
        await self.sync_commands()
        await self.pipeline.start()
        self.status_updates.start()
        self.approvals.start()

    async def _strike_content_rejections(self, job: Job, previous: JobState) -> None:
        """A prompt Prodia refuses for its content counts as a strike, like a blocked one."""
        if job.state is JobState.FAILED and job.guild_id is not None and is_content_rejection(job.error):
            await self.guard.strike(job.guild_id, job.user_id, "rejected by Prodia", job.request.prompt)

    async def sync_commands(self) -> bool:
        """Sync the command tree only when it changed since the last sync (its hash is kept in the DB)."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"command_tree_hash:{guild.id if guild else 'global'}:{self.application_id}"
        if await get_value(self.pipeline.db, key) == digest:
            log.info("commands unchanged since the last sync; not syncing")
            return False
        await self.tree.sync(guild=guild)
        await set_value(self.pipeline.db, key, digest)
        log.info("synced %d commands %s", len(payload), f"to server {guild.id}" if guild else "globally")
        return True

    async def close(self) -> None:
        await self.approvals.stop()
        await self.status_updates.stop()
        if self._pipeline is not None:
            await self._pipeline.close()
        await super().close()


def point_at(settings: Settings) -> None:
    """Send REST and gateway traffic to DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL (proxies, tests)."""
    if settings.discord_api_base_url:
        discord.http.Route.BASE = settings.discord_api_base_url
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
            settings.discord_gateway_url.rstrip("/") + "/"
        )


async def serve(settings: Settings, *, backend: Backend | None = None) -> None:
    """Run the bot until it is closed. discord.py gives up if the very first gateway connection fails, so
    start-up is retried a bounded number of times here."""
    point_at(settings)
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    for attempt in range(1, START_ATTEMPTS + 1):
        bot = SoraBot(settings, backend=backend)
        _close_on_signals(bot)
        try:
            async with bot:
                await bot.start(token)
        except discord.LoginFailure:
            raise ConfigError("DISCORD_TOKEN was refused by Discord") from None
        except (OSError, discord.GatewayNotFound, discord.ConnectionClosed, AttributeError) as exc:
            if attempt == START_ATTEMPTS:
                raise
            log.warning("connecting to Discord failed (%s); retrying in %ds", type(exc).__name__, 2**attempt)
            await asyncio.sleep(2**attempt)
        else:
            return


def _close_on_signals(bot: SoraBot) -> None:
    """A container stop is SIGTERM: close cleanly, so in-flight jobs are handed over at once."""
    loop = asyncio.get_running_loop()

    def close() -> None:
        task = loop.create_task(bot.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, close)


def run_bot(settings: Settings) -> int:
    """`sora-bot run`."""
    asyncio.run(serve(settings))
    return 0
