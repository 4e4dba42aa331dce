"""The few Discord REST calls the dashboard makes: a member's standing (with the bot token) and Login with
Discord (the OAuth2 code exchange and `/users/@me` with the member's token)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

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
        bucket = _bucket(method, path)
        self._refused = [at for at in self._refused if now - at < REFUSED_WINDOW]
        if now < max(self._wait_until.get(bucket, 0.0), self._wait_until.get(GLOBAL, 0.0)):
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
            self._wait_until[GLOBAL if _is_global(response) else bucket] = wait
            if len(self._wait_until) > BUCKETS_MAX:
                self._wait_until = {k: v for k, v in self._wait_until.items() if v > now}
        if status >= 500 or status == 429:
            raise DiscordUnavailable(f"HTTP {status}")
        return response

    async def guild_ids(self) -> set[int]:
        """The ids of every server the bot is in (`GET /users/@me/guilds`, 200 a page): a server outside it is
        not asked about at all (Discord would answer 403, which counts toward its ban of the address)."""
        ids: set[int] = set()
        after = 0
        while True:
            response = await self._call(
                "GET", "/users/@me/guilds", headers=self._bot, params={"limit": GUILDS_PAGE, "after": after}
            )
            if response.status_code != 200:
                raise DiscordUnavailable(f"HTTP {response.status_code}")
            page = [int(g["id"]) for g in response.json()]
            ids.update(page)
            if len(page) < GUILDS_PAGE:
                return ids
            after = max(page)

    async def guild(self, guild_id: int) -> Guild | None:
        """The server with its roles, or None when the bot is not in it (or it does not exist)."""
        response = await self._call("GET", f"/guilds/{guild_id}", headers=self._bot)
        if response.status_code != 200:
            return None
        data = response.json()
        listed = sorted(data.get("roles", []), key=lambda r: (-int(r.get("position", 0)), int(r["id"])))
        roles = {int(r["id"]): int(r["permissions"]) for r in listed}
        names = {int(r["id"]): str(r.get("name", "")) for r in listed}
        return Guild(int(data["id"]), str(data["name"]), int(data["owner_id"]), roles, names)

    async def channels(self, guild_id: int) -> list[Channel]:
        """The server's channels (every type), in Discord's order; empty when the bot can't see them."""
        response = await self._call("GET", f"/guilds/{guild_id}/channels", headers=self._bot)
        if response.status_code != 200:
            return []
        listed = sorted(response.json(), key=lambda c: (int(c.get("position", 0)), int(c["id"])))
        return [Channel(int(c["id"]), str(c.get("name") or ""), int(c.get("type", 0))) for c in listed]

    async def member(self, guild_id: int, user_id: int) -> Member | None:
        """The member's current roles, or None when they are not in the server."""
        response = await self._call("GET", f"/guilds/{guild_id}/members/{user_id}", headers=self._bot)
        if response.status_code != 200:
            return None
        data = response.json()
        user = data.get("user") or {}
        name = data.get("nick") or user.get("global_name") or user.get("username") or ""
        return Member(
            user_id,
            tuple(int(r) for r in data.get("roles", [])),
            str(name),
            _when(data.get("communication_disabled_until")),
        )

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
        return str(response.json()["access_token"])

    async def user_id(self, access_token: str) -> int:
        """Who the access token belongs to."""
        bearer = {"Authorization": f"Bearer {access_token}"}
        response = await self._call("GET", "/users/@me", guarded=False, headers=bearer)
        if response.status_code != 200:
            raise OAuthRefused(f"HTTP {response.status_code}")
        return int(response.json()["id"])
