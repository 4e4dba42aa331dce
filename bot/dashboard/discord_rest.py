"""The few Discord REST calls the dashboard makes: a member's standing (with the bot token) and Login with
Discord (the OAuth2 code exchange and `/users/@me` with the member's token)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

DISCORD_API = "https://discord.com/api/v10"
TIMEOUT = httpx.Timeout(10.0)
# A tenth of Discord's limit on refused answers (10,000 per 10 minutes per address): the dashboard stops
# asking well before it could get the address (shared with the bot) banned.
REFUSED_MAX = 1000
REFUSED_WINDOW = 600.0
WAIT_MAX = 600.0  # the longest a 429's Retry-After is honoured as given


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
        self._wait_until = 0.0  # monotonic time before which Discord asked not to be called (429)
        self._refused: list[float] = []  # when Discord answered 401, 403 or 429 lately

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, unless Discord asked to wait (429: nothing is sent until its Retry-After has passed)
        or too many were refused lately (Discord bans an address after 10,000 answers of 401, 403 and 429 in
        ten minutes, and the bot's processes may share this one): then DiscordUnavailable at once."""
        now = time.monotonic()
        self._refused = [at for at in self._refused if now - at < REFUSED_WINDOW]
        if now < self._wait_until or len(self._refused) >= REFUSED_MAX:
            raise DiscordUnavailable("holding back")
        try:
            response = await self._http.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise DiscordUnavailable(type(exc).__name__) from None
        if response.status_code in (401, 403, 429):
            self._refused.append(now)
        if response.status_code == 429:
            self._wait_until = now + min(_retry_after(response), WAIT_MAX)
        if response.status_code >= 500 or response.status_code == 429:
            raise DiscordUnavailable(f"HTTP {response.status_code}")
        return response

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
        response = await self._call("POST", "/oauth2/token", data=form)
        if response.status_code != 200:
            raise OAuthRefused(f"HTTP {response.status_code}")
        return str(response.json()["access_token"])

    async def user_id(self, access_token: str) -> int:
        """Who the access token belongs to."""
        response = await self._call("GET", "/users/@me", headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise OAuthRefused(f"HTTP {response.status_code}")
        return int(response.json()["id"])
