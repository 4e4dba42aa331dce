"""The dashboard's ASGI app: Starlette routes, Jinja2 templates (autoescaped), signed session cookies."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jinja2
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.dashboard.access import Directory, GuardedDirectory, Role, csrf_token
from bot.dashboard.auth import SESSION_SECONDS, Login, OAuthClient
from bot.dashboard.discord_rest import DiscordUnavailable
from bot.domain.models import JobState
from bot.errors import ConfigError
from bot.settings import Settings
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.job_queries import JobQueries
from bot.store.usage import spend_today

COOKIE = "sora_dashboard"
RECENT_JOBS = 10
# No scripts, styles or frames from anywhere: the pages are plain HTML with their own stylesheet inline.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SecurityHeaders:
    """HEADERS on every answer, redirects and refusals included (the login's callback sets the session cookie
    on a redirect), and HSTS when the dashboard is served over https."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = {**HEADERS, **({"Strict-Transport-Security": "max-age=31536000"} if https else {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, sending)


class DiscordApi(Directory, OAuthClient, Protocol):
    """Everything the dashboard asks Discord (`DiscordRest`, or a stand-in in tests)."""


@dataclass(frozen=True, slots=True)
class Overview:
    spent_today: float
    spent_month: float
    budget_per_day: float | None
    budget_month: float | None
    jobs_by_state: list[tuple[str, int]]
    queued: int


def month_start(now: float) -> float:
    """Midnight UTC on the first of `now`'s month (budgets count UTC days)."""
    day = datetime.fromtimestamp(now, UTC)
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def _days_in_month(now: float) -> int:
    day = datetime.fromtimestamp(now, UTC)
    following = day.replace(year=day.year + day.month // 12, month=day.month % 12 + 1, day=1)
    return (following - day.replace(day=1)).days


async def overview(
    db: Database, governance: Governance, jobs: JobQueries, guild_id: int, now: float
) -> Overview:
    """The overview page's figures, from the same store functions the bot's budget checks and /usage use."""
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
    )


def templates() -> Jinja2Templates:
    # autoescape on for every template, whatever its name: no `|safe` on anything a member wrote.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env)


def create_app(
    settings: Settings,
    *,
    db: Database,
    governance: Governance,
    jobs: JobQueries,
    discord: DiscordApi,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The dashboard for these settings (DASHBOARD_URL, DASHBOARD_SECRET, the OAuth2 client), reading `db`."""
    settings.require("dashboard_url", "dashboard_secret", "discord_client_id", "discord_client_secret")
    assert settings.dashboard_url and settings.dashboard_secret and settings.discord_client_secret
    if settings.discord_client_id is None:
        raise ConfigError("DISCORD_CLIENT_ID is not set (environment or .env)")
    login = Login(
        client_id=settings.discord_client_id,
        client_secret=settings.discord_client_secret.get_secret_value(),
        base_url=settings.dashboard_url,
        discord=discord,
        clock=clock,
    )
    pages = templates()
    directory = GuardedDirectory(discord)

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        user = login.user(request)
        context |= {"user_id": user, "csrf": csrf_token(request) if user is not None else ""}
        return pages.TemplateResponse(request, name, context, status_code=status, headers=HEADERS)

    async def home(request: Request) -> Response:
        return render(request, "home.html")

    async def server(request: Request) -> Response:
        user = login.user(request)
        if user is None:
            login.remember(request)
            return RedirectResponse("/login", status_code=303)
        guild_id = request.path_params["guild_id"]
        access = await directory.require(user, guild_id, Role.APPROVER)
        figures = await overview(db, governance, jobs, guild_id, clock())
        # A private job's prompt is its owner's: the server's page never shows it.
        recent = [
            job
            for job in await jobs.list_jobs(guild_id=guild_id, limit=RECENT_JOBS * 3)
            if not job.target.get("private")
        ][:RECENT_JOBS]
        return render(
            request,
            "overview.html",
            guild=access.guild,
            role=access.role.name.lower(),
            o=figures,
            recent=recent,
        )

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return render(request, "error.html", exc.status_code, message=exc.detail)

    async def unavailable(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", 503, message="Discord did not answer: try again in a minute.")

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login.login),
            Route("/callback", login.callback),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/servers/{guild_id:int}", server),
        ],
        middleware=[
            Middleware(SecurityHeaders, https=settings.dashboard_url.startswith("https://")),
            Middleware(
                SessionMiddleware,
                secret_key=settings.dashboard_secret.get_secret_value(),
                session_cookie=COOKIE,
                max_age=SESSION_SECONDS,
                same_site="lax",
                https_only=settings.dashboard_url.startswith("https://"),
            ),
        ],
        exception_handlers={HTTPException: refused, DiscordUnavailable: unavailable},
    )
