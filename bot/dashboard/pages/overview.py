"""The server's overview: today's and this month's spend against the budget, jobs by state, the queue, the
jobs in flight and the latest ones."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.dashboard.access import Role
from bot.dashboard.site import Site
from bot.domain.models import LEASED, Job, JobState
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.job_queries import JobQueries
from bot.store.usage import spend_today

RECENT_JOBS = 10
IN_FLIGHT_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Overview:
    spent_today: float
    spent_month: float
    budget_per_day: float | None
    budget_month: float | None
    jobs_by_state: list[tuple[str, int]]
    queued: int
    in_flight: list[Job]  # submitting, running or delivering now (a private job: for its owner only)


def month_start(now: float) -> float:
    """Midnight UTC on the first of `now`'s month (budgets count UTC days)."""
    day = datetime.fromtimestamp(now, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def _days_in_month(now: float) -> int:
    day = datetime.fromtimestamp(now, UTC)
    following = day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1, day=1)
    return (following - day.replace(day=1)).days


def shown(jobs: list[Job], viewer: int) -> list[Job]:
    """A private job is its owner's: the server's pages list it for them alone (to anyone else it does not
    exist, as on the jobs pages: not its id, its member or its prompt)."""
    return [job for job in jobs if not job.target.get("private") or job.user_id == viewer]


async def overview(
    db: Database, governance: Governance, jobs: JobQueries, guild_id: int, now: float, viewer: int
) -> Overview:
    """The overview page's figures, from the same store functions the bot's budget checks and /usage use;
    the jobs in flight as `viewer` may see them."""
    rows = await governance.spend_rows(guild_id, month_start(now))
    budget = (await governance.settings(guild_id)).budget_dollars_per_day
    states = Counter(state for *_, state in rows)
    order = [s.value for s in JobState]
    return Overview(
        spent_today=await spend_today(db.reader, guild_id, now),
        spent_month=sum(dollars for _, _, dollars, _ in rows),
        budget_per_day=budget,
        budget_month=budget * _days_in_month(now) if budget is not None else None,
        jobs_by_state=sorted(
            states.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99
        ),
        queued=await jobs.count_queued(guild_id),
        in_flight=shown(
            await jobs.list_jobs(guild_id=guild_id, states=LEASED, limit=IN_FLIGHT_SHOWN), viewer
        ),
    )


def routes(site: Site) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        access = await site.access(request, Role.VIEWER)
        guild_id = access.guild.id
        figures = await overview(site.db, site.governance, site.jobs, guild_id, site.clock(), access.user_id)
        latest = await site.jobs.list_jobs(guild_id=guild_id, limit=RECENT_JOBS * 3)
        recent = shown(latest, access.user_id)[:RECENT_JOBS]
        return site.render(
            request,
            "overview.html",
            page="overview",
            access=access,
            guild=access.guild,
            role=access.role.name.lower(),
            o=figures,
            in_flight=figures.in_flight,
            recent=recent,
        )

    return [Route("/servers/{guild_id:snowflake}", page)]
