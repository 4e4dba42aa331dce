"""What every dashboard page shares: the stores, the logged-in member's access to a server (decided anew on
every page), the signed links a page gives its sub-resources (bot.dashboard.media_links), the POST checks,
rendering (Jinja2, autoescaped), and the ids a path may hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bot.dashboard.access import Access, GuardedDirectory, Role, check_post, csrf_token, not_found
from bot.dashboard.auth import Login
from bot.dashboard.media_links import SECONDS, Kind, MediaLinks
from bot.settings import Settings
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.jobs import JobStore

if TYPE_CHECKING:
    from bot.dashboard.discord_rest import DiscordRest
    from bot.services.audit import Audit
    from bot.services.decisions import Decisions
    from bot.storage.base import Storage

NOTICE_KEY = "notice"
# The notice rides in the session cookie, which browsers keep up to 4 KB; JSON writes an emoji as 12 bytes and
# the cookie is base64, so 300 characters of the worst text still leave room for the rest of the session.
NOTICE_MAX = 200
SOURCE = "dashboard"  # the audit log's "from where" for every change made here


def security_headers(media: Sequence[str] = ()) -> dict[str, str]:
    """The headers of every answer. No scripts, styles or frames from anywhere: the pages are plain HTML with
    their own stylesheet inline. Video from the dashboard itself, and from `media` (the origins of a bucket's
    presigned clip links, which a clip's link redirects to)."""
    media_src = " ".join(("'self'", *media))
    return {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
        f" media-src {media_src}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


HEADERS = security_headers()
MAX_ID = 2**63 - 1  # SQLite's integers, Discord's snowflakes


def at_most(limit: int) -> str:
    """A regex for the decimal numbers from 0 to `limit` (leading zeros allowed, up to its length)."""
    digits = str(limit)
    alternatives = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for at, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - at - 1
            alternatives.append(f"{digits[:at]}[0-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    return "|".join([*alternatives, digits])


class Snowflake(Convertor[int]):
    """`{guild_id:snowflake}`, `{job_id:snowflake}`: an id that fits 64 bits, or the route does not match (404
    to anyone, logged in or not). Starlette's `int` takes any digits: SQLite overflows past 2**63 - 1 and
    int() refuses 5000 of them, both a 500. The bound is in the regex because a convertor may not refuse."""

    regex = at_most(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("snowflake", Snowflake())

LOG_IN: dict[Kind, str] = {"image": "Log in to see this image.", "clip": "Log in to play this clip."}
RELOAD: dict[Kind, str] = {
    "image": "This image's link has expired or is not yours: reload the approvals page.",
    "clip": "This clip link has expired or is not yours: reload the job's page.",
}


class LoginNeeded(Exception):
    """No session (or an expired one): the page is shown after logging in."""


@dataclass(frozen=True, slots=True)
class Signed:
    """What a sub-resource's signed link was made for: this member, this server's job."""

    user_id: int
    guild_id: int
    job_id: int
    expires: int  # when the link stops working (Unix time)


def templates() -> Jinja2Templates:
    # autoescape on for every template, whatever its name: no `|safe` on anything a member wrote.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.dashboard", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    return Jinja2Templates(env=env)


@dataclass
class Site:
    """The pieces a page uses. `discord` is the bot token's REST client (httpx); `bot_client` a discord.py
    client logged in for REST only (no gateway), through which the dashboard posts and edits messages with
    the bot's own services (approval requests, audit posts); `storage` where clips are kept."""

    settings: Settings
    db: Database
    governance: Governance
    jobs: JobStore
    login: Login
    directory: GuardedDirectory
    pages: Jinja2Templates
    clock: Callable[[], float]
    discord: DiscordRest | Any
    audit: Audit | None = None
    storage: Storage | None = None
    decisions: Decisions | None = (
        None  # Approve / Reject, as the Discord buttons make them (needs bot_client)
    )
    services: Any = None  # bot.dashboard.services.Services, once built (approvals, ...)
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(HEADERS))  # the clips' origins
    links: MediaLinks = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        secret = self.settings.dashboard_secret
        assert secret is not None, "create_app requires DASHBOARD_SECRET"
        self.links = MediaLinks(secret.get_secret_value())

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        user = self.login.user(request)
        context |= {"user_id": user, "csrf": csrf_token(request) if user is not None else ""}
        return self.pages.TemplateResponse(request, name, context, status_code=status, headers=self.headers)

    async def record(self, access: Access, action: str, **details: Any) -> None:
        """The audit entry /sora-admin writes for the same change, from the dashboard, by this member (posted
        in the audit channel too when the dashboard has the bot's client; kept all the same without)."""
        guild_id, actor = access.guild.id, access.user_id
        if self.audit is not None:
            await self.audit.record(guild_id, action, actor_id=actor, source=SOURCE, **details)
        else:
            await self.governance.audit(guild_id, action, actor_id=actor, source=SOURCE, **details)

    def tell(self, request: Request, text: str) -> None:
        """Say `text` once, on the next page this browser opens (after a form's redirect)."""
        request.session[NOTICE_KEY] = text if len(text) <= NOTICE_MAX else text[: NOTICE_MAX - 1] + "…"

    def told(self, request: Request) -> str | None:
        """The notice `tell` left, once."""
        text = request.session.pop(NOTICE_KEY, None)
        return text if isinstance(text, str) else None

    def user(self, request: Request) -> int:
        """The logged-in member's id (LoginNeeded otherwise: back here after logging in, for a GET)."""
        user = self.login.user(request)
        if user is None:
            if request.method == "GET":
                self.login.remember(request)
            raise LoginNeeded
        return user

    async def access(self, request: Request, at_least: Role) -> Access:
        """The member's access to the page's server (`guild_id` in the path) as Discord has it now: 404 for
        anyone below `at_least`, exactly as for a server that does not exist."""
        user = self.user(request)
        if await self.login.ended(request):
            raise LoginNeeded
        guild_id = request.path_params.get("guild_id")
        if not isinstance(guild_id, int):
            raise not_found()
        return await self.directory.require(user, guild_id, at_least)

    def link(self, kind: Kind, access: Access, job_id: int, path: str) -> str:
        """`path` (the sub-resource's route) with a query signed for the member `access` was just decided for,
        working for SECONDS[kind]."""
        expires = int(self.clock()) + SECONDS[kind]
        query = self.links.query(
            kind, user_id=access.user_id, guild_id=access.guild.id, job_id=job_id, expires=expires
        )
        return f"{path}?{query}"

    async def signed(self, request: Request, kind: Kind) -> Signed:
        """A sub-resource's request: a live session, and a link of `kind` signed for its member and the path's
        server and job, unexpired (403 otherwise; a sub-resource is no page to come back to after logging in).
        Discord is not asked and the member's budget is not spent: the page that signed it just did both."""
        user = self.login.user(request)
        if user is None or await self.login.ended(request):
            raise HTTPException(403, LOG_IN[kind])
        guild_id, job_id = request.path_params["guild_id"], request.path_params["job_id"]
        if not self.links.verify(
            kind,
            user_id=user,
            guild_id=guild_id,
            job_id=job_id,
            expires=request.query_params.get("expires", ""),
            signature=request.query_params.get("signature", ""),
            now=self.clock(),
        ):
            raise HTTPException(403, RELOAD[kind])
        return Signed(user, guild_id, job_id, int(request.query_params["expires"]))

    async def post(self, request: Request, at_least: Role) -> tuple[Access, FormData]:
        """A form sent to the page's server: logged in, from the dashboard's origin with the session's CSRF
        token, by a member with `at_least` access now. Nothing is changed by a request that fails any."""
        self.user(request)
        await check_post(request, self.login.origin)
        access = await self.access(request, at_least)
        return access, await request.form()


def field(form: FormData, name: str, *, limit: int = 4000) -> str:
    """A text field as sent (stripped), "" when absent; 400 for a file or anything over `limit` characters."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise HTTPException(400, f"{name}: expected text.")
    if len(value) > limit:
        raise HTTPException(400, f"{name}: at most {limit} characters.")
    return value.strip()


def number(form: FormData, name: str, *, low: int, high: int, required: bool = False) -> int | None:
    """An integer field within [low, high]; None when left empty (400 when `required`, or not a number)."""
    text = field(form, name, limit=30)
    if not text:
        if required:
            raise HTTPException(400, f"{name}: required.")
        return None
    try:
        value = int(text)
    except ValueError:
        raise HTTPException(400, f"{name}: a whole number, please.") from None
    if not low <= value <= high:
        raise HTTPException(400, f"{name}: between {low} and {high}.")
    return value
