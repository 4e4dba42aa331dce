"""The dashboard's ASGI app: Starlette routes, Jinja2 templates (autoescaped), signed session cookies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import discord as discord_py
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.dashboard.access import Directory, GuardedDirectory
from bot.dashboard.auth import SESSION_SECONDS, Login, OAuthClient
from bot.dashboard.discord_rest import DiscordUnavailable
from bot.dashboard.pages import access_lists, approvals, audit_log, jobs, overview, server_settings, spend
from bot.dashboard.site import HEADERS, LoginNeeded, Site, security_headers, templates
from bot.domain.models import Job, JobState
from bot.errors import ConfigError
from bot.media.pool import MediaPool
from bot.services.audit import Audit
from bot.services.decisions import Decisions
from bot.services.routes import tell
from bot.services.status import StatusUpdater
from bot.services.stories import StoryDeliverer
from bot.services.story_status import StoryStatus
from bot.settings import Settings
from bot.store.dashboard_logouts import Logouts
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore

if TYPE_CHECKING:
    from bot.storage.base import Storage

log = logging.getLogger(__name__)

PAGES = (overview, approvals, jobs, spend, server_settings, access_lists, audit_log)  # each: routes(site)

COOKIE = "sora_dashboard"
# Over https the cookie is a `__Host-` one: browsers then refuse it from a sibling subdomain (no Domain, Path
# /, Secure), so another site under the same parent domain can't plant a session (login CSRF).
HOST_COOKIE = "__Host-" + COOKIE
# The largest form the dashboard takes: its biggest (a blocklist pattern, a reason) are a few hundred
# characters. A bigger body is refused before anything reads it (Starlette's form parser has no limit).
BODY_MAX = 64 * 1024
LOOKUPS_PER_MINUTE = 30  # a member's pages and actions a minute, each asking Discord for their standing
FORM_TYPE = "application/x-www-form-urlencoded"


CLOSE = {"Connection": "close"}


def _small(length: str) -> bool:
    """A Content-Length of at most BODY_MAX (ASCII digits, and few of them: int() refuses 5,000)."""
    return length.isascii() and length.isdigit() and len(length) <= 19 and int(length) <= BODY_MAX


class FormsOnly:
    """Every request body is a small urlencoded form sent with a POST, or refused before it is read: 413 over
    BODY_MAX (by its Content-Length, or counted as it arrives when it has none), 415 for any other type (no
    uploads). An answer given before the body was read whole (a GET's is never read) closes the connection:
    uvicorn would otherwise read and discard the rest of it to keep the connection open for another request
    (a sender of gigabytes kept it busy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        has_body = "chunked" in headers.get("transfer-encoding", "").lower() or (
            length is not None and length.strip("0") != ""
        )
        if not has_body:
            await self.app(scope, receive, send)
            return
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        reading = scope["method"] not in ("GET", "HEAD", "OPTIONS")  # a GET's body is never read
        if reading and kind not in ("", FORM_TYPE):
            await PlainTextResponse("Only forms are taken here.", 415, CLOSE)(scope, receive, send)
            return
        if reading and length is not None and not _small(length):
            await PlainTextResponse("This form is too big.", 413, CLOSE)(scope, receive, send)
            return
        received, whole = 0, False

        async def bounded() -> Message:
            nonlocal received, whole
            message = await receive()
            received += len(message.get("body", b""))
            if received > BODY_MAX:
                raise HTTPException(413, "This form is too big.", headers=CLOSE)
            whole = whole or (message["type"] == "http.request" and not message.get("more_body", False))
            return message

        async def answering(message: Message) -> None:
            # Answered before the body was read whole (a refusal before the form, a 404): close, or uvicorn
            # reads and discards the rest, however long, to keep the connection for another request.
            if message["type"] == "http.response.start" and not whole:
                MutableHeaders(scope=message)["connection"] = "close"
            await send(message)

        await self.app(scope, bounded, answering)


class SecurityHeaders:
    """`headers` (HEADERS, with the clip store's origins) on every answer, redirects and refusals included
    (the login's callback sets the session cookie on a redirect), and HSTS when served over https."""

    def __init__(self, app: ASGIApp, *, https: bool, headers: dict[str, str] = HEADERS) -> None:
        self.app = app
        self.headers = {**headers, **({"Strict-Transport-Security": "max-age=31536000"} if https else {})}

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


def media_origins(settings: Settings, storage: Storage | None) -> tuple[str, ...]:
    """Where a bucket's presigned clip links point (a clip's dashboard link redirects there): the address
    members reach it at (S3_PUBLIC_ENDPOINT_URL, else S3_ENDPOINT_URL), or AWS S3's hosts. None for files."""
    if storage is None or not storage.remote:
        return ()
    endpoint = settings.s3_public_endpoint_url or settings.s3_endpoint_url
    if not endpoint:
        # The region (and so the host) may come from the environment, which only obstore reads.
        return ("https://*.amazonaws.com",)
    parts = urlsplit(endpoint)
    return (f"{parts.scheme}://{parts.netloc}",)


def rest_client() -> discord_py.Client:
    """discord.py for Discord's REST API only (`await client.login(token)`, never connected): the bot's own
    services post and edit messages through it. The guilds intent is on only because discord.py warns at
    start-up without it; with no gateway, no intent is used."""
    # No mention in anything it sends pings anyone (as the bot's own client: bot/client.py).
    return discord_py.Client(
        intents=discord_py.Intents(guilds=True), allowed_mentions=discord_py.AllowedMentions.none()
    )


class DiscordApi(Directory, OAuthClient, Protocol):
    """Everything the dashboard asks Discord with httpx (`DiscordRest`, or a stand-in in tests)."""


class _Requester:
    """A private word to a job's requester, as the bot's deliverer sends it (through the interaction while
    it lasts, else by DM)."""

    def __init__(self, client: discord_py.Client) -> None:
        self.client = client

    async def tell_requester(self, job: Job, text: str, *, by_dm: bool = False) -> None:
        await tell(self.client, job, text, label=f"job {job.id}", by_dm=by_dm)


class _Stories:
    """A story's shot decided here, followed as the bot's processes follow a shot decided in Discord (their
    store's listeners `StoryDeliverer.on_transition` and `StoryStatus`): a rejected first shot stops the
    story at once (its ending claimed first, so no other process ends it too; the waiting shots cancelled and
    refunded; the story ended), and the story's status message shows the decision now (this process has no
    loop to show it later). Nothing is joined or posted here: no shot of a story is made before it is
    approved, so its deliverer here has no outputs and its media pool (threads) is never used."""

    def __init__(self, client: discord_py.Client, jobs: JobStore, storage: Storage) -> None:
        media = MediaPool(0)
        self.ending = StoryDeliverer(jobs, storage, media, {})
        self.status = StoryStatus(client, jobs, storage, media)

    async def on_transition(self, job: Job, previous: JobState) -> None:
        # Only a decision: the dashboard's other changes to a shot (forgetting a member) end stories first.
        if job.story_id is None or previous is not JobState.AWAITING_APPROVAL:
            return
        await self.ending.on_transition(job, previous)
        try:
            await self.status.show(job.story_id)
        except discord_py.HTTPException as exc:
            log.info("story %d: status message not updated (%s)", job.story_id, exc.status)


def follow_jobs(
    client: discord_py.Client, jobs: JobStore, audit: Audit, storage: Storage | None = None
) -> None:
    """The bot's processes show each change of a job to its requester (their status message), audit a job
    that ends and stop a story whose shot was rejected, from their own store's listeners; a change made here
    (a rejection ends a job) is made through this process's store, so it is followed here, the same way.
    Without `storage` a story's status can't be shown here: a worker's recovery ends a rejected story."""
    status = StatusUpdater(client, jobs, _Requester(client))

    async def show(job: Job, previous: JobState) -> None:
        if job.target.get("kind") != "discord":
            return
        try:
            await status.show(job)
        except discord_py.HTTPException as exc:
            log.info("job %d: status message not updated (%s)", job.id, exc.status)

    jobs.listeners += [show, audit.on_transition]
    if storage is not None:
        jobs.listeners.append(_Stories(client, jobs, storage).on_transition)


def create_app(
    settings: Settings,
    *,
    db: Database,
    governance: Governance,
    jobs: JobStore,
    discord: DiscordApi,
    bot_client: discord_py.Client | None = None,
    storage: Storage | None = None,
    clock: Callable[[], float] = time.time,
    lookups_per_minute: int = LOOKUPS_PER_MINUTE,
) -> Starlette:
    """The dashboard for these settings (DASHBOARD_URL, DASHBOARD_SECRET, the OAuth2 client), reading `db`.
    `bot_client`: discord.py logged in with the bot token for REST only (posts and edits through the bot's
    own services); `storage`: where the clips are."""
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
        logouts=Logouts(db),
    )
    headers = security_headers(media_origins(settings, storage))
    https = settings.dashboard_url.startswith("https://")
    audit: Audit | None = None
    decisions: Decisions | None = None
    if bot_client is not None:
        audit = Audit(governance, bot_client)
        # No scheduler here to wake: the workers poll for the jobs approved here.
        decisions = Decisions(bot_client, jobs, governance, audit)
        follow_jobs(bot_client, jobs, audit, storage)
    site = Site(
        settings=settings,
        db=db,
        governance=governance,
        jobs=jobs,
        login=login,
        directory=GuardedDirectory(discord, staff=governance.staff_roles, budget=lookups_per_minute),
        pages=templates(),
        clock=clock,
        discord=discord,
        audit=audit,
        storage=storage,
        headers=headers,
        decisions=decisions,
    )

    async def home(request: Request) -> Response:
        return site.render(request, "home.html")

    async def open_server(request: Request) -> Response:
        """The home page's "Open" form: to the server's page (which decides who may see it)."""
        guild = request.query_params.get("guild", "").strip()
        if not (guild.isascii() and guild.isdigit() and len(guild) <= 20):
            raise HTTPException(400, "A server id is a number (Copy Server ID in Discord).")
        return RedirectResponse(f"/servers/{int(guild)}", status_code=303)

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        # A form sent back (400, 409): a link to the page it came from. Never on a 404 (no hint).
        parts = request.url.path.split("/")
        sent_back = exc.status_code in (400, 409) and parts[1:2] == ["servers"] and len(parts) > 2
        back = "/".join(parts[:4]) if sent_back else "/"
        page = site.render(request, "error.html", exc.status_code, message=exc.detail, back=back)
        page.headers.update(exc.headers or {})  # a 413's Connection: close
        return page

    async def unavailable(request: Request, exc: Exception) -> Response:
        message = "Discord did not answer: try again in a minute."
        return site.render(request, "error.html", 503, message=message)

    async def log_in_first(request: Request, exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    routes: list[BaseRoute] = [
        Route("/", home),
        Route("/login", login.login),
        Route("/callback", login.callback),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/servers", open_server),
    ]
    for page in PAGES:
        routes += page.routes(site)
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, https=https, headers=headers),
            Middleware(FormsOnly),
            Middleware(
                SessionMiddleware,
                secret_key=settings.dashboard_secret.get_secret_value(),
                session_cookie=HOST_COOKIE if https else COOKIE,
                max_age=SESSION_SECONDS,
                same_site="lax",
                https_only=https,
            ),
        ],
        exception_handlers={
            HTTPException: refused,
            DiscordUnavailable: unavailable,
            LoginNeeded: log_in_first,
        },
    )
