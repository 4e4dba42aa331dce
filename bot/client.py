"""The composition root: the Discord client opens the pipeline (database, store, backend, scheduler), builds
every service with what it uses, binds the persistent buttons to their services, loads the cogs, syncs
commands; `close()` undoes it in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Literal, cast

import discord
import yarl
from discord.ext import commands

from bot.errors import ConfigError
from bot.i18n.commands import CommandTranslator
from bot.i18n.messages import load_catalogs
from bot.i18n.state import SpeakingState
from bot.media.pool import MediaPool
from bot.pipeline import Pipeline
from bot.prodia.backend import Backend
from bot.prodia.local import LocalBackend
from bot.run import close_on_signals, point_at
from bot.services.approvals import Approvals
from bot.services.audit import Audit
from bot.services.clip_http import ClipServer
from bot.services.clips import Clips
from bot.services.delivery import DiscordDeliverer
from bot.services.discord_trace import discord_trace
from bot.services.guard import Guard
from bot.services.metrics import Metrics
from bot.services.ops_http import PROBE_SECONDS, OpsServer, database_answers
from bot.services.status import StatusUpdater
from bot.services.stories import StoryDeliverer
from bot.services.story_flow import StoryFlow
from bot.services.story_posts import DiscordStoryPoster
from bot.services.story_status import StoryStatus
from bot.settings import Settings
from bot.storage import Storage
from bot.storage.links import ClipLinks
from bot.store.governance import Governance
from bot.store.guild_settings import GuildSettings
from bot.store.jobs import JobStore
from bot.store.meta import beat, forget_beat, get_value, set_value
from bot.tasks import Loop, spawn
from bot.tree import SoraTree
from bot.ui.buttons import bind_buttons
from bot.ui.stories import bind_story_buttons
from bot.worker.leases import worker_name
from bot.worker.scheduler import Deliverer

log = logging.getLogger(__name__)

COGS = ("cogs.video", "cogs.story", "cogs.jobs", "cogs.admin")
# all: gateway and workers in one process; gateway: commands, buttons, approvals; worker: runs jobs, delivers.
Role = Literal["all", "gateway", "worker"]
START_ATTEMPTS = 5
HEARTBEAT_SECONDS = 20.0


class SoraBot(commands.AutoShardedBot):
    """The bot. Every resource it opens in `setup_hook` it closes in `close`, in reverse order.

    It runs the shards SHARD_IDS of SHARD_COUNT (several gateway processes split the servers between them);
    unset, it runs every shard Discord recommends. A worker never connects, so it runs none.
    """

    def _get_state(self, **options: Any) -> SpeakingState:  # type: ignore[override]
        return SpeakingState(
            dispatch=self.dispatch, handlers=self._handlers, hooks=self._hooks, http=self.http, **options
        )

    def __init__(
        self,
        settings: Settings,
        *,
        backend: Backend | None = None,
        media: MediaPool | None = None,
        role: Role = "all",
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels, roles and upload limits of the servers the bot is in
        if settings.shard_ids is not None:  # unset: every shard of the count
            options["shard_ids"] = settings.shard_ids
        self.metrics = Metrics()  # this bot's own registry: several bots in one process never clash
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=SoraTree,
            help_command=None,
            shard_count=settings.shard_count,
            # Every request to Discord counted in one place (added to a trace the caller passes, if any).
            http_trace=discord_trace(self.metrics, options.pop("http_trace", None)),
            **options,
        )
        self.settings = settings
        self.role = role
        self._backend = backend
        self._media = media if media is not None else MediaPool(settings.media_workers)  # the pipeline's
        self._stopped = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None
        self._pipeline: Pipeline | None = None
        # The services, built in setup_hook once the pipeline is open (see there for what each uses).
        self.deliverer: DiscordDeliverer
        self.governance: Governance
        self.audit: Audit
        self.guard: Guard
        self.status_updates: StatusUpdater
        self.approvals: Approvals
        self.clips: Clips
        self.stories: StoryDeliverer  # a story's shots: the next from the last frame, then the joined clip
        self.story_status: StoryStatus
        self.story_flow: StoryFlow
        self.owner = worker_name()  # host:pid:nonce, this process in heartbeats
        self._heartbeat: Loop | None = None
        self._loops: list[Loop] = []  # the background loops started, stopped in reverse
        self._ops: OpsServer | None = None  # METRICS_PORT's endpoints, when set
        self.links: ClipLinks  # "Full quality" links, built with the deliverer
        self._clip_server: ClipServer | None = None  # HTTP_PORT's signed clip links (file:// only)

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            raise RuntimeError("the pipeline is opened in setup_hook")
        return self._pipeline

    async def setup_hook(self) -> None:
        # A gateway never runs a job, so it needs no Prodia token: it gets the local renderer, unused.
        backend = self._backend or (LocalBackend(self._media) if self.role == "gateway" else None)
        self._pipeline = pipeline = await Pipeline.open(
            self.settings,
            self._deliverers,
            backend=backend,
            media=self._media,
            on_prodia_request=self.metrics.prodia_request,
        )
        await self._serve_clips()
        self._build_services(pipeline)
        self.stories.wake = pipeline.scheduler.wake
        pipeline.store.listeners += [
            self.stories.on_transition,
            self.story_status.on_transition,
            self.status_updates.on_transition,
            self.audit.on_transition,
            self.guard.on_transition,
            self.metrics.on_transition,
        ]
        pipeline.on_accepted.append(self.metrics.job_accepted)
        cast(SoraTree, self.tree).refused = self.metrics.request_refused
        bind_buttons(self, clips=self.clips, approvals=self.approvals)
        bind_story_buttons(self, self.story_flow)
        load_catalogs()  # every process speaks: answers, posts, status edits, DMs
        if self.role != "worker":
            # Commands (in every language of the catalogs), buttons and approvals need the gateway.
            await self.tree.set_translator(CommandTranslator())
            for cog in COGS:
                await self.load_extension(cog)
            await self.sync_commands()
            self._heartbeat = Loop(
                "gateway heartbeat", self._beat, HEARTBEAT_SECONDS, before=self.wait_until_ready
            )
            self._start(self.approvals.loop, self._heartbeat)
        if self.role != "gateway":
            # Claiming, running and delivering jobs needs only Discord's REST API.
            await pipeline.start()
            # A story whose shot ended while its listener could not run (a crash) is taken up here.
            recovery = Loop("story recovery", self._recover_stories, self.settings.lease_seconds)
            self._start(recovery)
        self._start(self.status_updates.loop, self.story_status.loop)
        if self.settings.metrics_port is not None:
            self._ops = OpsServer(
                self.metrics,
                pipeline.db,
                [self._database_ready, self._storage_ready, self._role_ready],
                host=self.settings.metrics_host,
                port=self.settings.metrics_port,
            )
            await self._ops.start()

    async def _database_ready(self) -> str | None:
        return await database_answers(self.pipeline.db)

    async def _storage_ready(self) -> str | None:
        """The store of clips and images answers (a bucket: a listing within the probe's time)."""
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                await self.pipeline.storage.check()
        except Exception as exc:  # the reason is the error's class only: no bucket path or endpoint
            return f"storage unreachable ({type(exc).__name__})"
        return None

    async def _role_ready(self) -> str | None:
        """A gateway is ready once connected; a worker while its scheduler runs (`all`: both)."""
        if self.role != "worker" and (
            not self.is_ready() or any(shard.is_closed() for shard in self.shards.values())
        ):
            return "not connected to the Discord gateway"
        if self.role != "gateway" and not self.pipeline.scheduler.running:
            return "the scheduler is not running"
        return None

    @property
    def ops_port(self) -> int | None:
        """The port the endpoints listen on (METRICS_PORT=0 picks one), None when off."""
        return self._ops.port if self._ops is not None else None

    async def _server_settings(self, guild_id: int) -> GuildSettings:
        """A server's settings (its posts' language) for the deliverers: governance is built after them."""
        return await self.governance.settings(guild_id)

    def _deliverers(self, store: JobStore, storage: Storage, media: MediaPool) -> Mapping[str, Deliverer]:
        """The scheduler's deliverers, built with the pipeline's store (they record what they posted), file
        store (re-encodes are kept there) and media processes (which make them): a clip's, a story shot's."""
        self.links = ClipLinks(storage, self.settings)
        self.deliverer = DiscordDeliverer(
            self,
            store,
            storage,
            media,
            on_reencode=self.metrics.reencoded,
            links=self.links,
            server_settings=self._server_settings,
        )
        self.story_status = StoryStatus(self, store, storage, media)
        poster = DiscordStoryPoster(
            self,
            store,
            storage,
            media,
            on_reencode=self.metrics.reencoded,
            links=self.links,
            server_settings=self._server_settings,
        )
        self.stories = StoryDeliverer(
            store, storage, media, {poster.kind: poster}, on_end=self.story_status.ended
        )
        return {self.deliverer.kind: self.deliverer, **dict.fromkeys(self.stories.kinds, self.stories)}

    async def _recover_stories(self) -> None:
        # Shots that ended two leases ago: a listener of a live process would have taken them up by then.
        await self.stories.recover(ended_before=time.time() - 2 * self.settings.lease_seconds)

    async def _serve_clips(self) -> None:
        """Serve the output folder's clips on HTTP_PORT (signed links, file:// only). A worker only signs
        links to the server of the gateway (or `run`) process, so processes on one machine never clash."""
        signer, port = self.links.signer, self.settings.http_port
        if signer is None or port is None or self.role == "worker":
            return
        store = self.pipeline.store

        async def withdrawn(job_id: int) -> bool:
            """Taken down by a moderator (a requester's own Delete may be followed by a /show of theirs)."""
            job = await store.get(job_id)
            removed_by = await store.clip_removed_by(job_id)
            return job is None or removed_by not in (None, job.user_id)

        self._clip_server = ClipServer(
            self.pipeline.storage.work_dir,
            signer,
            host=self.settings.http_host,
            port=port,
            withdrawn=withdrawn,
        )
        await self._clip_server.start()
        self.links.served_on(self._clip_server.port)

    def _build_services(self, pipeline: Pipeline) -> None:
        """Every service with what it uses, in the order they need each other."""
        settings, store = self.settings, pipeline.store
        self.governance = Governance(pipeline.db)
        self.audit = Audit(self.governance, self)
        self.guard = Guard(settings, self.governance, store, self.audit)
        self.status_updates = StatusUpdater(self, store, self.deliverer)
        self.approvals = Approvals(
            settings,
            self,
            store,
            self.governance,
            self.guard,
            self.audit,
            pipeline.scheduler.wake,
            pipeline.storage,
        )
        self.clips = Clips(self, pipeline, self.guard, self.approvals, self.status_updates, self.deliverer)
        self.story_flow = StoryFlow(
            pipeline, self.guard, self.approvals, self.clips, self.story_status, self.stories
        )
        cast(SoraTree, self.tree).installation_allowed = self.guard.installation_allowed

    def _start(self, *loops: Loop) -> None:
        for loop in loops:
            loop.start()
            self._loops.append(loop)

    async def launch_shard(self, gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        if initial:  # the first shard, once the count is known (set, or Discord's recommendation)
            shards = list(self.shard_ids or range(self.shard_count or 1))
            log.info("gateway shards %s of %d", shards, self.shard_count)
        await super().launch_shard(gateway, shard_id, initial=initial)

    async def _beat(self) -> None:
        """Once connected to the gateway, say so every HEARTBEAT_SECONDS (`sora-bot health` reads it)."""
        await beat(self.pipeline.db, "gateway", self.owner)

    async def sync_commands(self) -> bool:
        """Sync the command tree only when it changed since the last sync (its hash is kept in the DB)."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        # As Discord gets it, translations included: a changed catalog syncs again.
        translator = self.tree.translator
        payload = [
            await command.get_translated_payload(self.tree, translator)
            if translator is not None
            else command.to_dict(self.tree)
            for command in self.tree.get_commands(guild=guild)
        ]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"command_tree_hash:{guild.id if guild else 'global'}:{self.application_id}"
        if await get_value(self.pipeline.db, key) == digest:
            log.info("commands unchanged since the last sync; not syncing")
            return False
        await self.tree.sync(guild=guild)
        await set_value(self.pipeline.db, key, digest)
        log.info("synced %d commands %s", len(payload), f"to server {guild.id}" if guild else "globally")
        return True

    async def wait_closed(self) -> None:
        """Until `close()` has run (a worker has no gateway connection to wait on)."""
        await self._stopped.wait()

    async def close(self) -> None:
        # A signal handler and `async with` can both close the bot; the resources must close only once.
        if self._close_task is None:
            self._close_task = spawn(self._close_once(), "closing the bot")
        await asyncio.shield(self._close_task)

    async def _close_once(self) -> None:
        self._stopped.set()
        if self._ops is not None:  # started last, stopped first
            await self._ops.stop()
        for loop in reversed(self._loops):
            await loop.stop()
        if self._heartbeat is not None:
            with contextlib.suppress(Exception):
                await forget_beat(self.pipeline.db, "gateway", self.owner)
        if self._clip_server is not None:
            await self._clip_server.stop()
        if self._pipeline is not None:
            await self._pipeline.close()
        await super().close()


async def serve(settings: Settings, *, backend: Backend | None = None, role: Role = "all") -> None:
    """Run the bot until it is closed. discord.py gives up if the very first gateway connection fails, so
    start-up is retried a bounded number of times here. A worker logs in to the REST API only."""
    point_at(settings)
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    for attempt in range(1, START_ATTEMPTS + 1):
        bot = SoraBot(settings, backend=backend, role=role)
        close_on_signals(bot)
        try:
            async with bot:
                if role == "worker":
                    await bot.login(token)  # runs setup_hook: the pipeline starts
                    await bot.wait_closed()
                else:
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


def run_bot(settings: Settings, role: Role = "all") -> int:
    """`sora-bot run` (role all), `sora-bot gateway` or `sora-bot worker`."""
    asyncio.run(serve(settings, role=role))
    return 0
