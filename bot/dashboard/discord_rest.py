"""The few Discord REST calls the dashboard makes: a member's standing (with the bot token) and Login with
Discord (the OAuth2 code exchange and `/users/@me` with the member's token)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)
T = TypeVar("T")

DISCORD_API = "https://discord.com/api/v10"
TIMEOUT = httpx.Timeout(10.0)
# A tenth of Discord's limit on refused answers (10,000 per 10 minutes per address): the dashboard stops
# asking well before it could get the address (shared with the bot) banned.
REFUSED_MAX = 1000
REFUSED_WINDOW = 600.0
WAIT_MAX = 600.0  # the longest a 429's Retry-After is honoured as given
GLOBAL = "*"  # a global 429 holds back every route
BUCKETS_MAX = 10_000
GUILDS_PAGE = 200  # GET /users/@me/guilds: at most 200 a page
GUILD_PAGES_MAX = 1000  # 200,000 servers: a list that goes on longer is an answer gone wrong
_ID = re.compile(r"/[0-9]+")
_MAJOR = ("/guilds/", "/channels/", "/webhooks/")


class DiscordUnavailable(Exception):
    """Discord did not answer, or answered with a server error: nothing can be decided."""


class OAuthRefused(Exception):
    """Discord refused the code exchange or the token (a used or forged code, a wrong client secret)."""


@dataclass(frozen=True, slots=True)
class Guild:
    id: int
    name: str
    owner_id: int
    role_permissions: dict[int, int]  # role id (the server's id is @everyone) -> permission bits
    role_names: dict[int, str] = field(default_factory=dict)  # in Discord's order (position) of the roles


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    name: str
    type: int  # 0 text, 5 announcement, 2 voice, 4 category, ...


TEXT_CHANNEL_TYPES = frozenset({0, 5})  # where clips, approval requests and audit posts can go


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    role_ids: tuple[int, ...]
    name: str = ""  # as the server shows them: their nickname, else their display name, else username
    timed_out_until: float | None = None  # communication_disabled_until, as a Unix time


def _when(value: object) -> float | None:
    """An ISO 8601 time from Discord as a Unix time; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _bucket(method: str, path: str) -> str:
    """The route a 429 holds back, as Discord counts its limits: the method and path with ids as `{id}`,
    but the leading server's, channel's or webhook's (a limit per server: one server's busy route does not
    hold back another's)."""
    major = ""
    for prefix in _MAJOR:
        if path.startswith(prefix):
            head, _sep, _rest = path[len(prefix) :].partition("/")
            major = prefix + head
            path = path[len(major) :]
            break
    return f"{method} {major}{_ID.sub('/{id}', path)}"


def _credential(headers: object) -> str:
    """Whose limits a call counts against: the bot token's, a member's bearer token's, or the address's."""
    authorization = headers.get("Authorization", "") if isinstance(headers, dict) else ""
    return "bot" if authorization.startswith("Bot ") else "bearer" if authorization else "none"


def _is_global(response: httpx.Response) -> bool:
    """Whether a 429 holds back every route (X-RateLimit-Global, or `global` in its body)."""
    return response.headers.get("x-ratelimit-global", "").lower() == "true" or (
        _json_field(response, "global") is True
    )


def _retry_after(response: httpx.Response) -> float:
    """How long a 429 asks to wait: the body's retry_after (to the millisecond), else its Retry-After header
    (whole seconds), else a second."""
    for value in (_json_field(response, "retry_after"), response.headers.get("retry-after")):
        if isinstance(value, (str, int, float)):
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return 1.0


def _json_field(response: httpx.Response, name: str) -> object:
    try:
        data = response.json()
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


def _parsed(response: httpx.Response, read: Callable[[Any], T]) -> T:
    """`read` of the answer's JSON; an answer not shaped as Discord documents it is Discord unavailable (a
    503 for the page), not an error of the dashboard's."""
    try:
        return read(response.json())
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        raise DiscordUnavailable(f"unexpected answer ({type(exc).__name__})") from None


def _guild(data: Any) -> Guild:
    listed = sorted(data["roles"], key=lambda r: (-int(r.get("position", 0)), int(r["id"])))
    roles = {int(r["id"]): int(r["permissions"]) for r in listed}
    names = {int(r["id"]): str(r.get("name", "")) for r in listed}
    return Guild(int(data["id"]), str(data["name"]), int(data["owner_id"]), roles, names)


def _channels(data: Any) -> list[Channel]:
    listed = sorted(data, key=lambda c: (int(c.get("position", 0)), int(c["id"])))
    return [Channel(int(c["id"]), str(c.get("name") or ""), int(c.get("type", 0))) for c in listed]


def _member(user_id: int, data: Any) -> Member:
    user = data.get("user") or {}
    name = data.get("nick") or user.get("global_name") or user.get("username") or ""
    return Member(
        user_id,
        tuple(int(r) for r in data["roles"]),  # always sent (Discord's guild member object)
        str(name),
        _when(data.get("communication_disabled_until")),
    )


class DiscordRest:
    """httpx against Discord's API (`DISCORD_API_BASE_URL` in tests); one client, closed by its owner."""

    def __init__(
        self,
        bot_token: str,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or DISCORD_API).rstrip("/")
        origin = urlsplit(self.base_url)
        # Discord's consent page is on the site, not under /api/vN.
        self.authorize_url = f"{origin.scheme}://{origin.netloc}/oauth2/authorize"
        self._bot = {"Authorization": f"Bot {bot_token}"}
        self._http = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, follow_redirects=False)
        self._wait_until: dict[str, float] = {}  # by route (or GLOBAL): when Discord may be asked again
        self._refused: list[float] = []  # when Discord answered 401, 403 or 429 lately

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, *, guarded: bool = True, **kwargs: Any) -> httpx.Response:
        """One request, unless Discord asked to wait (a 429: nothing is sent on its route, or anywhere for a
        global one, until its retry_after has passed), or, for the bot token's calls (`guarded`), too many
        were refused lately: Discord bans an address after 10,000 answers of 401, 403 and 429 (but "shared"
        ones) in ten minutes, and the bot's processes may share this one. Then DiscordUnavailable at once.
        The sign-in's own calls are not held back by the bot token's refusals."""
        now = time.monotonic()
        # Discord keeps its limits per token (and per address for calls without one): a global 429 on the
        # sign-in's calls does not hold back the bot token's, nor the other way round.
        who = _credential(kwargs.get("headers"))
        bucket, everything = f"{who} {_bucket(method, path)}", f"{who} {GLOBAL}"
        self._refused = [at for at in self._refused if now - at < REFUSED_WINDOW]
        if now < max(self._wait_until.get(bucket, 0.0), self._wait_until.get(everything, 0.0)):
            raise DiscordUnavailable("rate limited")
        if guarded and len(self._refused) >= REFUSED_MAX:
            raise DiscordUnavailable("too many refused requests lately")
        try:
            response = await self._http.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise DiscordUnavailable(type(exc).__name__) from None
        status = response.status_code
        shared = response.headers.get("x-ratelimit-scope", "").lower() == "shared"
        if status in (401, 403) or (status == 429 and not shared):
            self._refused.append(now)
            if len(self._refused) == REFUSED_MAX:
                log.error("Discord refused %d requests in ten minutes: holding back", REFUSED_MAX)
        if status == 429:
            wait = now + min(_retry_after(response), WAIT_MAX)
            self._wait_until[everything if _is_global(response) else bucket] = wait
            if len(self._wait_until) > BUCKETS_MAX:
                self._wait_until = {k: v for k, v in self._wait_until.items() if v > now}
        if status >= 500 or status == 429:
            raise DiscordUnavailable(f"HTTP {status}")
        return response

    async def guild_ids(self) -> set[int]:
        """The ids of every server the bot is in (`GET /users/@me/guilds`, 200 a page): a server outside it is
        not asked about at all (Discord would answer 403, which counts toward its ban of the address). Read
        until a page comes back empty (Discord has been seen to send a short page before the last,
        discord-api-docs#5886), each page after the last id seen."""
        ids: set[int] = set()
        after = 0
        for _page in range(GUILD_PAGES_MAX):
            response = await self._call(
                "GET", "/users/@me/guilds", headers=self._bot, params={"limit": GUILDS_PAGE, "after": after}
            )
            if response.status_code != 200:
                raise DiscordUnavailable(f"HTTP {response.status_code}")
            page = _parsed(response, lambda data: [int(g["id"]) for g in data])
            if not page:
                return ids
            if max(page) <= after:  # the same page again: `after` not followed
                raise DiscordUnavailable("the server list does not go on")
            ids.update(page)
            after = max(page)
        raise DiscordUnavailable("the server list did not end")

    async def guild(self, guild_id: int) -> Guild | None:
        """The server with its roles, or None when the bot is not in it (or it does not exist)."""
        response = await self._call("GET", f"/guilds/{guild_id}", headers=self._bot)
        if response.status_code != 200:
            return None
        return _parsed(response, _guild)

    async def channels(self, guild_id: int) -> list[Channel]:
        """The server's channels (every type), in Discord's order; empty when the bot can't see them."""
        response = await self._call("GET", f"/guilds/{guild_id}/channels", headers=self._bot)
        if response.status_code != 200:
            return []
        return _parsed(response, _channels)

    async def member(self, guild_id: int, user_id: int) -> Member | None:
        """The member's current roles, or None when they are not in the server."""
        response = await self._call("GET", f"/guilds/{guild_id}/members/{user_id}", headers=self._bot)
        if response.status_code != 200:
            return None
        return _parsed(response, lambda data: _member(user_id, data))

    async def exchange_code(self, code: str, *, client_id: int, client_secret: str, redirect_uri: str) -> str:
        """The access token for an authorization code (scope identify); OAuthRefused when Discord says no."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": str(client_id),
            "client_secret": client_secret,
        }
        response = await self._call("POST", "/oauth2/token", guarded=False, data=form)
        if response.status_code != 200:
            raise OAuthRefused(f"HTTP {response.status_code}")
        return _parsed(response, lambda data: str(data["access_token"]))

    async def user_id(self, access_token: str) -> int:
        """Who the access token belongs to."""
        bearer = {"Authorization": f"Bearer {access_token}"}
        response = await self._call("GET", "/users/@me", guarded=False, headers=bearer)
        if response.status_code != 200:
            raise OAuthRefused(f"HTTP {response.status_code}")
        return _parsed(response, lambda data: int(data["id"]))
