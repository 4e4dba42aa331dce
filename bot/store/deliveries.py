"""Delivery records: the result message, a delivery under way, a clip removed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store.job_table import JobTable


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A job's stored result message (channel None: an ephemeral followup) and when its upload began."""

    message_id: int | None
    channel_id: int | None
    started_at: float | None


class Deliveries(JobTable):
    """What delivering a job left behind, so a second run of it neither posts twice nor loses a removal."""

    async def start_delivery(self, job_id: int) -> None:
        """Note that an upload is about to start, unless an earlier run already did."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET delivery_started_at = ? WHERE id = ? AND delivery_started_at IS NULL",
                (self._clock(), job_id),
            )

    async def set_result_message(self, job_id: int, message_id: int, channel_id: int | None) -> None:
        """Remember the message that carries the clip the moment Discord returns it; `channel_id` None for an
        ephemeral followup (no channel can read it back)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET result_message_id = ?, result_channel_id = ? WHERE id = ?",
                (message_id, channel_id, job_id),
            )

    async def delivery_record(self, job_id: int) -> DeliveryRecord:
        """What earlier runs of the job's delivery left behind."""
        row = await self.db.reader.fetch_one(
            "SELECT result_message_id, result_channel_id, delivery_started_at FROM jobs WHERE id = ?",
            (job_id,),
        )
        if row is None:
            return DeliveryRecord(None, None, None)
        return DeliveryRecord(row[0], row[1], row[2])

    async def mark_clip_removed(self, job_id: int, by: int) -> None:
        """The posted clip was deleted through its Delete button by `by` (its requester or a moderator): the
        first removal counts, except that a moderator's replaces the requester's (which the requester could
        undo by showing the clip again)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET clip_removed_by = ?, clip_removed_at = ?"
                " WHERE id = ? AND (clip_removed_by IS NULL OR clip_removed_by = user_id)",
                (by, self._clock(), job_id),
            )

    async def clip_removed_by(self, job_id: int) -> int | None:
        """Who removed the job's posted clip (None: nobody did)."""
        row = await self.db.reader.fetch_one("SELECT clip_removed_by FROM jobs WHERE id = ?", (job_id,))
        return None if row is None or row[0] is None else int(row[0])
