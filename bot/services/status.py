"""Keeps each job's status message current: on every state change, and the elapsed time while it runs,
at most once every few seconds per message (Discord limits edits of older messages)."""

from __future__ import annotations

import logging
import time
from typing import Protocol

import discord

from bot.domain.models import TERMINAL, Job, JobState
from bot.i18n.messages import _, heading_, speaking
from bot.services.routes import interaction_webhook, token_gone
from bot.store.jobs import JobStore
from bot.tasks import Loop
from bot.ui.buttons import status_view
from bot.ui.embeds import FIELD_VALUE_MAX, cut, escape, status_embed

log = logging.getLogger(__name__)

MIN_INTERVAL = 5.0
TICK = 1.0


class Requester(Protocol):
    """A private word to a job's requester (the deliverer's, which knows the routes)."""

    async def tell_requester(self, job: Job, text: str, *, by_dm: bool = False) -> None: ...


def failed_text(job: Job) -> str:
    """Why the job failed, for its requester (in the language of the moment)."""
    assert job.user_error is not None
    return _("Job {job} failed: {error}", job=job.id, error=cut(escape(job.user_error), FIELD_VALUE_MAX))


class StatusUpdater:
    """Edits status messages from store transitions and a 1 s ticker, throttled per job. A status message is
    its requester's (ephemeral): every edit of it, and every word to them, is in their locale
    (`job.target["locale"]`), whichever process or task makes it."""

    def __init__(self, client: discord.Client, store: JobStore, requester: Requester) -> None:
        self.client = client  # the interaction webhooks' state
        self.store = store
        self.requester = requester
        self._last_edit: dict[int, float] = {}
        self._dirty: dict[int, Job] = {}
        self._running: dict[int, Job] = {}
        self.loop = Loop("status updates", self._tick, TICK)
        self.edits = 0

    def edited(self, job_id: int) -> None:
        """The status message was just written elsewhere (when the job was accepted)."""
        self._last_edit[job_id] = time.monotonic()

    async def on_transition(self, job: Job, previous: JobState) -> None:
        if job.target.get("kind") != "discord":
            return
        if job.message_id is None:
            if job.state is JobState.FAILED and job.user_error:
                with speaking(job.target.get("locale")):
                    text = failed_text(job)
                await self.requester.tell_requester(job, text)
            return
        if job.state in (JobState.SUBMITTING, JobState.RUNNING):
            self._running[job.id] = job
        else:
            self._running.pop(job.id, None)
        self._dirty[job.id] = job
        if job.state in TERMINAL:
            await self._flush(job.id, force=True)

    async def _tick(self) -> None:
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
        """Edit the job's status message now, in its requester's language."""
        with speaking(job.target.get("locale")):
            await self._show(job)

    async def _show(self, job: Job) -> None:
        webhook = interaction_webhook(self.client, job)
        if webhook is None or job.message_id is None:
            if job.state is JobState.FAILED and job.user_error:
                # The status message can't be edited any more; the requester must still hear why.
                await self.requester.tell_requester(job, failed_text(job))
            return
        position = await self.store.queue_position(job) if job.state is JobState.QUEUED else None
        view = None if job.state in TERMINAL or job.state is JobState.DELIVERING else status_view(job)
        embed = status_embed(job, position=position)
        if job.state is JobState.DELIVERED and job.user_error:
            # Delivered elsewhere than asked (the channel refused the clip, a DM carried it): say where.
            embed.title = heading_("Done: the clip was sent to you by direct message")
            embed.add_field(
                name=heading_("What happened"),
                value=cut(escape(job.user_error), FIELD_VALUE_MAX),
                inline=False,
            )
        try:
            await webhook.edit_message(job.message_id, embed=embed, view=view)
        except discord.HTTPException as exc:
            if job.state is JobState.FAILED and job.user_error and (token_gone(exc) or exc.code == 10008):
                # Discord ended the token before the bot's margin did, or the status message was dismissed or
                # deleted: the requester must still hear why.
                await self.requester.tell_requester(job, failed_text(job), by_dm=True)
            raise
        self.edits += 1
