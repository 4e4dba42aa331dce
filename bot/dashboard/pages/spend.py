"""The spend page: what the server spent in the last N days per UTC day and per member (jobs, seconds of video
delivered, dollars), the same rows and chart /sora-admin usage gives; and the jobs as the CSV /sora-admin
export sends (admins only, audited)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.dashboard.access import Access, Role
from bot.dashboard.site import Site
from bot.ui.export import jobs_export
from bot.ui.reports import usage_report

DAYS_DEFAULT = 30
DAYS_MAX = 90  # as /sora-admin usage allows
DAY_SECONDS = 86400
EXPORT_NAME = "sora-jobs.csv"  # the file name /sora-admin export sends

SpendRow = tuple[int, float, float, str, int]  # user id, created_at, dollars, state, seconds delivered


@dataclass(slots=True)
class Tally:
    jobs: int = 0
    seconds: int = 0
    dollars: float = 0.0


@dataclass(frozen=True, slots=True)
class SpendReport:
    days: int
    per_day: list[tuple[date, Tally]]  # newest first, days with jobs only
    per_member: list[tuple[int, Tally]]  # the biggest spenders first
    total: Tally
    budget_per_day: float | None


def days_asked(request: Request) -> int:
    """`?days=` as a whole number of days within 1..DAYS_MAX (DAYS_DEFAULT when absent or empty)."""
    text = request.query_params.get("days", "").strip()
    if not text:
        return DAYS_DEFAULT
    # Few digits before int(), which refuses to convert thousands of them (a 500); 19 allow leading zeros.
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or not 1 <= int(text) <= DAYS_MAX:
        raise HTTPException(400, f"days: a whole number from 1 to {DAYS_MAX}.")
    return int(text)


def tally(rows: list[SpendRow], days: int, budget_per_day: float | None) -> SpendReport:
    """Per UTC day and per member, counted the way /sora-admin usage counts them (`usage_report`)."""
    per_day: dict[date, Tally] = defaultdict(Tally)
    per_member: dict[int, Tally] = defaultdict(Tally)
    total = Tally()
    for user_id, created_at, dollars, _state, seconds in rows:
        day = datetime.fromtimestamp(created_at, tz=UTC).date()
        for bucket in (per_day[day], per_member[user_id], total):
            bucket.jobs += 1
            bucket.seconds += seconds
            bucket.dollars += dollars
    return SpendReport(
        days=days,
        per_day=sorted(per_day.items(), reverse=True),
        per_member=sorted(per_member.items(), key=lambda item: (-item[1].dollars, item[0])),
        total=total,
        budget_per_day=budget_per_day,
    )


async def _rows(site: Site, access: Access, days: int) -> list[SpendRow]:
    # The last `days` times 24 hours, as /sora-admin usage reads them (by the dashboard's clock).
    return await site.governance.spend_rows_with_seconds(access.guild.id, site.clock() - days * DAY_SECONDS)


def routes(site: Site) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        access = await site.access(request, Role.VIEWER)
        days = days_asked(request)
        budget = (await site.governance.settings(access.guild.id)).budget_dollars_per_day
        report = tally(await _rows(site, access, days), days, budget)
        return site.render(
            request,
            "spend.html",
            page="spend",
            access=access,
            guild=access.guild,
            report=report,
            may_export=access.role >= Role.ADMIN,
        )

    async def chart(request: Request) -> Response:
        access = await site.access(request, Role.VIEWER)
        days = days_asked(request)
        spend = [row[:4] for row in await _rows(site, access, days)]
        _lines, png = await usage_report(spend, days)  # drawn in a worker thread, as for /sora-admin usage
        return Response(png, media_type="image/png")

    async def export(request: Request) -> Response:
        """The CSV /sora-admin export sends (it is for Manage Server only: so is this), audited alike. A
        POST with the session's CSRF token: a link on another site can't make an export happen."""
        access, _form = await site.post(request, Role.ADMIN)
        guild_id = access.guild.id
        rows = await site.governance.export_rows(guild_id)
        data = jobs_export(rows)
        await site.record(access, "jobs.export", rows=len(rows))
        disposition = {"Content-Disposition": f'attachment; filename="{EXPORT_NAME}"'}
        return Response(data, media_type="text/csv; charset=utf-8", headers=disposition)

    return [
        Route("/servers/{guild_id:snowflake}/spend", page),
        Route("/servers/{guild_id:snowflake}/spend.png", chart),
        Route("/servers/{guild_id:snowflake}/spend.csv", export, methods=["POST"]),
    ]
