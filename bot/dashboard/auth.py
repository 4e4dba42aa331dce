"""Login with Discord (OAuth2 authorization code, scope `identify`) and the session it leaves: a signed,
HttpOnly, SameSite=Lax cookie (Secure on https) holding the member's id, which expires."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.dashboard.access import CSRF_KEY, USER_KEY, check_post
from bot.dashboard.discord_rest import DiscordUnavailable, OAuthRefused
from bot.store.dashboard_logouts import Logouts

log = logging.getLogger(__name__)

SESSION_SECONDS = 12 * 3600
# Code exchanges a minute from one client address (an IPv6 one by its /64, what one subscriber gets): a
# member signing in again after a slip takes two or three. One address can't use up the others' sign-ins.
# There is no overall cap: any would let strangers lock every member out. Codes Discord refuses (a flood of
# junk) do not count toward its ban of an address, and its own 429s on the token route are waited out.
EXCHANGES_PER_ADDRESS = 10
ADDRESSES_MAX = 100_000  # addresses remembered for their last minute (a flood from more is forgotten early)
STATE_KEY = "oauth_state"
LOGIN_AT_KEY = "login_at"
NEXT_KEY = "next"
SESSION_ID_KEY = "sid"


@dataclass(slots=True)
class Exchanges:
    """When codes were exchanged in the last minute, by client address: stray callbacks are stopped here,
    before Discord counts the refused exchanges against the host's address (which the bot shares)."""

    per_address: int = EXCHANGES_PER_ADDRESS
    _times: dict[str, list[float]] = field(default_factory=dict)
    _swept: float = 0.0

    def allowed(self, address: str, now: float) -> bool:
        """Whether one more exchange from `address` is within its limit (nothing is counted)."""
        if now - self._swept >= 60 or len(self._times) > ADDRESSES_MAX:
            self._times = {
                at: recent
                for at, times in self._times.items()
                if (recent := [t for t in times if 0 <= now - t < 60])
            }
            for oldest in list(self._times)[: max(0, len(self._times) - ADDRESSES_MAX)]:
                del self._times[oldest]  # the first seen go first; the rest keep their count
            self._swept = now
        mine = [t for t in self._times.get(subscriber(address), ()) if 0 <= now - t < 60]
        return len(mine) < self.per_address

    def count(self, address: str, now: float) -> None:
        key = subscriber(address)
        self._times[key] = [*self._times.pop(key, []), now]  # last in the table: forgotten last


def subscriber(address: str) -> str:
    """Who an address stands for: an IPv4 address itself, an IPv6 one its /64 (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class OAuthClient(Protocol):
    """Discord's side of the login."""

    authorize_url: str

    async def exchange_code(
        self, code: str, *, client_id: int, client_secret: str, redirect_uri: str
    ) -> str: ...
    async def user_id(self, access_token: str) -> int: ...


@dataclass(frozen=True, slots=True)
class Login:
    """The application's OAuth2 client and where Discord sends the member back."""

    client_id: int
    client_secret: str = field(repr=False)
    base_url: str  # DASHBOARD_URL
    discord: OAuthClient
    clock: Callable[[], float]
    logouts: Logouts | None = None
    exchanges: Exchanges = field(default_factory=Exchanges, repr=False)

    @property
    def redirect_uri(self) -> str:
        return f"{self.base_url}/callback"

    def user(self, request: Request) -> int | None:
        """The signed-in member's id, or None (never signed in, logged out, or the session expired)."""
        user_id, login_at = request.session.get(USER_KEY), request.session.get(LOGIN_AT_KEY)
        if not isinstance(user_id, int) or not isinstance(login_at, (int, float)):
            return None
        if not 0 <= self.clock() - login_at < SESSION_SECONDS:
            request.session.clear()  # the cookie is dropped with this answer
            return None
        return user_id

    async def ended(self, request: Request) -> bool:
        """Whether this session was logged out (from this browser or from a copy of its cookie)."""
        session_id = request.session.get(SESSION_ID_KEY)
        if self.logouts is None:
            return False
        if not isinstance(session_id, str) or await self.logouts.ended(session_id):
            request.session.clear()
            return True
        return False

    async def login(self, request: Request) -> Response:
        """Send the browser to Discord's consent page with a fresh, single-use `state`."""
        state = secrets.token_urlsafe(32)
        request.session[STATE_KEY] = state
        query = {
            "client_id": str(self.client_id),
            "response_type": "code",
            "scope": "identify",
            "redirect_uri": self.redirect_uri,
            "state": state,
        }
        return RedirectResponse(f"{self.discord.authorize_url}?{urlencode(query)}", status_code=303)

    async def callback(self, request: Request) -> Response:
        """Check the `state` (once: it is removed whatever happens, but for a sign-in refused for too many
        exchanges, which the member may try again in a minute), exchange the code, start the session."""
        # The proxy's address behind a reverse proxy, unless DASHBOARD_FORWARDED_ALLOW_IPS trusts it.
        address = request.client.host if request.client is not None else ""
        now = self.clock()
        if not self.exchanges.allowed(address, now):
            raise HTTPException(429, "Too many sign-ins at once: try again in a minute.")
        expected = request.session.pop(STATE_KEY, None)
        sent = request.query_params.get("state")
        if not (
            isinstance(expected, str) and sent and secrets.compare_digest(sent.encode(), expected.encode())
        ):
            raise HTTPException(400, "This sign-in link has expired or was not started here: log in again.")
        code = request.query_params.get("code")
        if not code:  # the member pressed Cancel on Discord's page
            raise HTTPException(400, "Discord did not sign you in: log in again.")
        self.exchanges.count(address, now)
        try:
            token = await self.discord.exchange_code(
                code,
                client_id=self.client_id,
                client_secret=self.client_secret,
                redirect_uri=self.redirect_uri,
            )
            user_id = await self.discord.user_id(token)
        except OAuthRefused as exc:
            log.warning("dashboard login refused by Discord: %s", exc)
            raise HTTPException(400, "Discord refused this sign-in: log in again.") from None
        except DiscordUnavailable as exc:
            log.warning("dashboard login: Discord unavailable: %s", exc)
            raise HTTPException(503, "Discord did not answer: try again in a minute.") from None
        target = request.session.get(NEXT_KEY)
        # A new session on every login: nothing set before it (a planted cookie) carries over.
        request.session.clear()
        request.session.update(
            {
                USER_KEY: user_id,
                LOGIN_AT_KEY: self.clock(),
                CSRF_KEY: secrets.token_urlsafe(32),
                SESSION_ID_KEY: secrets.token_urlsafe(24),
            }
        )
        log.info("dashboard login: user %d", user_id)
        return RedirectResponse(_local(target), status_code=303)

    async def logout(self, request: Request) -> Response:
        if CSRF_KEY not in request.session:  # no session: refused before the form is read
            raise HTTPException(403, "This form has expired: reload the page and try again.")
        await check_post(request, self.origin)
        session_id, login_at = request.session.get(SESSION_ID_KEY), request.session.get(LOGIN_AT_KEY)
        if self.logouts is not None and isinstance(session_id, str) and isinstance(login_at, (int, float)):
            await self.logouts.end(session_id, login_at + SESSION_SECONDS, self.clock())
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    @property
    def origin(self) -> str:
        """What browsers send as Origin from the dashboard's own pages (scheme://host[:port])."""
        scheme, _, rest = self.base_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    def remember(self, request: Request) -> None:
        """Come back to this page after logging in (a path on this site only)."""
        request.session[NEXT_KEY] = request.url.path


def _local(target: object) -> str:
    """A path on this site, never another site's URL (`//host` or `/\\host` are other sites to browsers)."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"
