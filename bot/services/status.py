"""Keeps each job's status message current: on every state change, and the elapsed time while it runs,
at most once every few seconds per message (Discord limits edits of older messages)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.domain.models import TERMINAL, Job, JobState
from bot.ui.buttons import status_view
from bot.ui.embeds import FIELD_VALUE_MAX, cut, escape, status_embed

if TYPE_CHECKING:
    from bot.client import SoraBot

log = logging.getLogger(__name__)

MIN_INTERVAL = 5.0
TICK = 1.0


def token_gone(exc: discord.HTTPException) -> bool:
    """The interaction token stopped working (expired: 401 50027; unknown: 404 10015)."""
    return exc.status == 401 or exc.code in (50027, 10015)


def interaction_webhook(bot: SoraBot, job: Job) -> discord.Webhook | None:
    """The webhook of the interaction that made the job, while its token still works (15 minutes)."""
    token = job.target.get("interaction_token")
    if not token or time.time() > float(job.target.get("token_expires_at", 0)) or bot.application_id is None:
        return None
    data = {"id": bot.application_id, "type": 3, "token": token}
    return discord.Webhook.from_state(data=data, state=bot._connection)  # type: ignore[arg-type]


class StatusUpdater:
    """Edits status messages from store transitions and a 1 s ticker, throttled per job."""

    def __init__(self, bot: SoraBot) -> None:
        self.bot = bot
        self._last_edit: dict[int, float] = {}
        self._dirty: dict[int, Job] = {}
        self._running: dict[int, Job] = {}
        self._task: asyncio.Task[None] | None = None
        self.edits = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="status updates")
        self._task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def edited(self, job_id: int) -> None:
        """The status message was just written elsewhere (when the job was accepted)."""
        self._last_edit[job_id] = time.monotonic()

    async def on_transition(self, job: Job, previous: JobState) -> None:
        if job.target.get("kind") != "discord":
            return
        if job.message_id is None:
            if job.state is JobState.FAILED and job.user_error:
                await self.bot.deliverer.tell_requester(job, f"Job {job.id} failed: {escape(job.user_error)}")
            return
        if job.state in (JobState.SUBMITTING, JobState.RUNNING):
            self._running[job.id] = job
        else:
            self._running.pop(job.id, None)
        self._dirty[job.id] = job
        if job.state in TERMINAL:
            await self._flush(job.id, force=True)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            for job_id, job in list(self._running.items()):
                if now - self._last_edit.get(job_id, 0) >= MIN_INTERVAL * 2:
                    self._dirty.setdefault(job_id, job)
            for job_id in list(self._dirty):
                try:
                    await self._flush(job_id)
                except Exception:
                    # One bad update (a database hiccup) must not end status updates for every job.
                    log.exception("job %d: status update failed", job_id)

    async def _flush(self, job_id: int, *, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_edit.get(job_id, 0) < MIN_INTERVAL:
            return
        job = self._dirty.pop(job_id, None)
        if job is None:
            return
        self._last_edit[job_id] = time.monotonic()
        if job.state in TERMINAL:
            self._last_edit.pop(job_id, None)
        try:
            await self.show(job)
        except discord.HTTPException as exc:
            log.info("job %d: status message not updated (%s)", job.id, exc.status)

    async def show(self, job: Job) -> None:
        """Edit the job's status message now."""
        webhook = interaction_webhook(self.bot, job)
        if webhook is None or job.message_id is None:
            if job.state is JobState.FAILED and job.user_error:
                # The status message can't be edited any more; the requester must still hear why.
                await self.bot.deliverer.tell_requester(job, f"Job {job.id} failed: {escape(job.user_error)}")
            return
        position = await self.bot.pipeline.store.queue_position(job) if job.state is JobState.QUEUED else None
        view = None if job.state in TERMINAL or job.state is JobState.DELIVERING else status_view(job)
        embed = status_embed(job, position=position)
        if job.state is JobState.DELIVERED and job.user_error:
            # Delivered elsewhere than asked (the channel refused the clip, a DM carried it): say where.
            embed.title = "Done: the clip was sent to you by direct message"
            embed.add_field(
                name="What happened", value=cut(escape(job.user_error), FIELD_VALUE_MAX), inline=False
            )
        try:
            await webhook.edit_message(job.message_id, embed=embed, view=view)
        except discord.HTTPException as exc:
            if job.state is JobState.FAILED and job.user_error and token_gone(exc):
                # Discord ended the token before the bot's margin did: the requester must still hear why.
                text = f"Job {job.id} failed: {escape(job.user_error)}"
                await self.bot.deliverer.tell_requester(job, text, by_dm=True)
            raise
        self.edits += 1


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("status updates stopped", exc_info=task.exception())
