"""Finding a clip an earlier run of a delivery posted (a re-run after a crash or an outage must not post
it twice): the message id stored the moment Discord returned it, else the clip's message in the channel's
(or the requester's DMs') history since the upload began."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import discord

from bot.domain.models import Job
from bot.services.routes import find_clip_message, interaction_webhook
from bot.store.jobs import JobStore

log = logging.getLogger(__name__)

DISCORD_EPOCH = 1420070400.0  # 2015-01-01: the earliest time a snowflake can name
# Among the messages since the upload began (less this margin, for clock skew between this host and
# Discord), at most this many.
HISTORY_MARGIN_SECONDS = 60.0
HISTORY_LOOKBACK = 1000


class EarlierPosts:
    """What an earlier run of a job's delivery posted."""

    def __init__(self, client: discord.Client, store: JobStore) -> None:
        self.client = client
        self.store = store

    async def find(self, job: Job) -> tuple[int, int | None] | None:
        """The message (id, channel id; None for an ephemeral followup) an earlier run of this delivery
        posted the clip in, if any."""
        store = self.store
        record = await store.delivery_record(job.id)
        if record.message_id is not None:
            await self._confirm(job, record.message_id, record.channel_id)
            return record.message_id, record.channel_id
        if record.started_at is None:
            return None  # the first run: nothing was sent yet
        found = await self._in_history(job, record.started_at)
        if found is not None:
            log.info(
                "job %d: found its clip already posted (message %d); not posting again", job.id, found.id
            )
            await store.set_result_message(job.id, found.id, found.channel.id)
            return found.id, found.channel.id
        return None

    async def _confirm(self, job: Job, message_id: int, channel_id: int | None) -> None:
        """Look the stored message up, for the log: once Discord returned it the clip was delivered, and if it
        is gone since, someone deleted it on purpose: posting it again would undo that."""
        try:
            if channel_id is not None:
                await self.client.http.get_message(channel_id, message_id)
            else:
                webhook = interaction_webhook(self.client, job)
                if webhook is None:
                    return
                await webhook.fetch_message(message_id)
            log.info("job %d: already delivered as message %d; not posting again", job.id, message_id)
        except discord.NotFound:
            log.info(
                "job %d: message %d was delivered and deleted since; not posting again", job.id, message_id
            )
        except discord.HTTPException as exc:
            log.info(
                "job %d: message %d could not be checked (%s); not posting again",
                job.id,
                message_id,
                exc.status,
            )

    async def _in_history(self, job: Job, started_at: float) -> discord.Message | None:
        """The clip's message in the history, since the upload began, of the channel it was going to, or of
        the requester's DMs (a private clip, or a public one handed over there when the channel refused it).

        Discord does not keep a message's nonce (only the create response carries it), so the bot's own
        message is recognised by the clip embed's footer, which names the job; a nonce is matched too.
        Ephemeral followups are in no history: a crash right after one is not caught here.
        """
        # Oldest first from just before the upload began: a busy channel's later messages don't hide it.
        since = datetime.fromtimestamp(max(started_at - HISTORY_MARGIN_SECONDS, DISCORD_EPOCH), UTC)
        after = discord.Object(discord.utils.time_snowflake(since))
        private = bool(job.target.get("private"))
        for where in ("dm",) if private else ("channel", "dm"):
            try:
                channel: discord.abc.Messageable
                if where == "dm":
                    channel = await (await self.client.fetch_user(job.user_id)).create_dm()
                else:
                    channel = self.client.get_partial_messageable(
                        int(job.target["channel_id"]), guild_id=job.guild_id
                    )
                me = self.client.user.id if self.client.user else self.client.application_id
                found = await find_clip_message(channel, job, after, me, HISTORY_LOOKBACK)
            except discord.HTTPException as exc:
                # No history to read (no Read Message History): post; the nonce still covers a short outage.
                log.info("job %d: could not read the %s's history (%s)", job.id, where, exc.status)
                continue
            if found is not None:
                return found
        return None
