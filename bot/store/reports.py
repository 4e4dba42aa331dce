"""What a server's reports read: spend per job and the jobs to export."""

from __future__ import annotations

import json
from typing import Any

from bot.store.guild_cache import GuildRepository


class ReportRepository(GuildRepository):
    """Report rows, per server."""

    async def spend_rows(self, guild_id: int, since: float) -> list[tuple[int, float, float, str]]:
        """(user id, created_at, dollars, state) per job since `since`: as the budget counts it (the ledger's
        commit once settled, nothing once refunded, Prodia's price or the estimate while open)."""
        return [row[:4] for row in await self.spend_rows_with_seconds(guild_id, since)]

    async def spend_rows_with_seconds(
        self, guild_id: int, since: float
    ) -> list[tuple[int, float, float, str, int]]:
        """`spend_rows` with each job's seconds of video delivered (its length once delivered, else 0), read
        at once so the seconds belong to the same jobs as the dollars."""
        return [
            (int(r[0]), float(r[1]), float(r[2]), str(r[3]), int(r[4]))
            for r in await self.db.reader.fetch_all(
                """SELECT user_id, created_at,
                      COALESCE((SELECT s.dollars FROM usage_ledger AS s
                                 WHERE s.job_id = jobs.id AND s.kind = 'commit'),
                               CASE WHEN state IN ('delivered', 'failed', 'cancelled', 'rejected') THEN 0.0
                                    ELSE COALESCE(actual_cost, estimated_cost) END),
                      state,
                      CASE WHEN state = 'delivered' THEN video_seconds ELSE 0 END
                 FROM jobs WHERE guild_id = ? AND created_at >= ? ORDER BY created_at""",
                (guild_id, since),
            )
        ]

    async def export_rows(self, guild_id: int) -> list[dict[str, Any]]:
        rows = await self.db.reader.fetch_all(
            """SELECT id, state, user_id, channel_id, job_type, request, estimated_cost, actual_cost,
                      approved_by, user_error AS outcome, created_at, finished_at, prodia_job_id
                 FROM jobs WHERE guild_id = ? ORDER BY id""",
            (guild_id,),
        )
        exported = []
        for row in rows:
            record = dict(row)
            request = json.loads(record.pop("request"))
            exported.append(
                {
                    **{k: record[k] for k in ("id", "state", "user_id", "channel_id", "job_type")},
                    **{k: request.get(k) for k in ("prompt", "duration", "aspect_ratio", "seed")},
                    **{k: record[k] for k in list(record)[5:]},
                }
            )
        return exported
