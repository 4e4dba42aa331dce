"""Who may see a server's pages, decided on every page and form from the member's standing in Discord now
(never from the browser), and the checks every POST passes: the session's CSRF token and the Origin header."""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request

from bot.dashboard.discord_rest import DiscordUnavailable, Guild, Member
from bot.domain.staff import ADMINISTRATOR, MANAGE_GUILD, MANAGE_MESSAGES, Role, StaffRoles, standing

__all__ = [  # the permission bits and levels, as the dashboard's callers (and tests) name them from here
    "ADMINISTRATOR",
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "Access",
    "Directory",
    "GuardedDirectory",
    "Role",
    "StaffRoles",
    "check_post",
    "csrf_token",
    "not_found",
    "require",
    "role_of",
]
CSRF_KEY = "csrf"
log = logging.getLogger(__name__)
CACHE_MAX = 10_000  # members' budgets kept
GUILDS_TTL = 300.0
GUILDS_AGAIN = 10.0
READ_SECONDS = 20.0  # the longest a read of the bot's server list may take, all its pages
USER_KEY = "user_id"


@dataclass(frozen=True, slots=True)
class Access:
    guild: Guild
    user_id: int
    role: Role


class Directory(Protocol):
    """The Discord REST calls access needs (with the bot token)."""

    async def guild(self, guild_id: int) -> Guild | None: ...
    async def member(self, guild_id: int, user_id: int) -> Member | None: ...
    async def guild_ids(self) -> set[int]: ...


def role_of(
    guild: Guild, member: Member, staff: StaffRoles | None = None, *, now: float | None = None
) -> Role | None:
    """The member's standing in the server (bot.domain.staff.standing, the rule the bot's Approve and Reject
    buttons follow too), from Discord's answers about the server and the member."""
    until = member.timed_out_until
    return standing(
        guild_id=guild.id,
        owner_id=guild.owner_id,
        user_id=member.user_id,
        role_permissions=guild.role_permissions,
        role_ids=member.role_ids,
        staff=staff,
        timed_out=until is not None and until > (time.time() if now is None else now),
    )


def not_found() -> HTTPException:
    """The one answer for a server someone may not see: the same as for one that does not exist."""
    return HTTPException(404, "There is nothing here.")


async def require(
    directory: Directory,
    user_id: int,
    guild_id: int,
    at_least: Role,
    *,
    guild: Guild | None = None,
    staff: StaffRoles | None = None,
) -> Access:
    """The member's access to the server as Discord has it now; 404 for anything less than `at_least`."""
    guild = guild or await directory.guild(guild_id)
    member = await directory.member(guild_id, user_id) if guild is not None else None
    role = role_of(guild, member, staff) if guild is not None and member is not None else None
    if guild is None or role is None or role < at_least:
        raise not_found()
    return Access(guild, user_id, role)


class GuardedDirectory:
    """The Discord lookups access makes, at most `budget` per member per minute; and none at all about a
    server the bot is not in (the bot's server list is read every GUILDS_TTL seconds, and again, at most every
    GUILDS_AGAIN, for a server not on it: one the bot joined moments ago). A member looping over server ids
    can't spend the bot token's request budget, nor make Discord answer 403s, which count toward its ban of
    the host's address (the bot's too). A member's standing is asked anew on every page and form: a role taken
    away counts at once. A page's thumbnails and clip are not asked here (their links, signed by the page,
    are: bot.dashboard.media_links)."""

    def __init__(
        self,
        directory: Directory,
        *,
        budget: int = 30,
        clock: Callable[[], float] = time.monotonic,
        staff: Callable[[int], Awaitable[StaffRoles]] | None = None,
    ) -> None:
        self._directory = directory
        self._staff = staff  # the server's configured approver and viewer roles (from the database)
        self._budget = budget
        self._clock = clock
        self._known: set[int] | None = None  # the bot's servers, as last read
        self._known_at = 0.0
        self._tried_at = -GUILDS_AGAIN  # when the list was last read, or tried
        self._reading = asyncio.Lock()  # one read of the list at a time, for every request waiting on it
        self._spent: dict[int, list[float]] = {}

    async def require(self, user_id: int, guild_id: int, at_least: Role) -> Access:
        """As `require`, within the member's budget (429 once it is spent)."""
        now = self._clock()
        # Charged first, whether the server is known absent or not: running out must not tell the two apart.
        spent = [at for at in self._spent.get(user_id, []) if now - at < 60]
        if len(spent) >= self._budget:
            raise HTTPException(429, "Too many pages at once: wait a minute and try again.")
        self._spent[user_id] = [*spent, now]
        if len(self._spent) > CACHE_MAX:
            self._spent = {user_id: self._spent[user_id]}
        if not await self._bot_is_in(guild_id, now):
            raise not_found()
        guild = await self._directory.guild(guild_id)
        if guild is None:  # left since the list was read: not asked about again
            if self._known is not None:
                self._known.discard(guild_id)
            raise not_found()
        staff = await self._staff(guild_id) if self._staff is not None else None
        return await require(self._directory, user_id, guild_id, at_least, guild=guild, staff=staff)

    async def _bot_is_in(self, guild_id: int, now: float) -> bool:
        """Whether the server is on the bot's list, read again when old (or, for a server not on it, when
        more than GUILDS_AGAIN old): once for all the requests waiting on it, and while it is being read the
        old list answers. A read that fails (or takes over READ_SECONDS) keeps the old list and is tried
        again GUILDS_AGAIN later; with no list at all yet, Discord is unavailable (503)."""
        if self._known is None and self._reading.locked():
            async with self._reading:  # the first read is under way: its answer, whatever it is
                pass
        elif self._stale(guild_id, now) and not self._reading.locked():
            async with self._reading:
                if self._stale(guild_id, self._clock()):  # not read meanwhile by a request before this one
                    self._tried_at = self._clock()
                    try:
                        async with asyncio.timeout(READ_SECONDS):
                            known = await self._directory.guild_ids()
                    except (DiscordUnavailable, TimeoutError) as exc:
                        log.warning("the bot's server list was not read: %s", exc or type(exc).__name__)
                    else:
                        self._known, self._known_at = known, self._clock()
        if self._known is None:
            raise DiscordUnavailable("the bot's server list is not known yet")
        return guild_id in self._known

    def _stale(self, guild_id: int, now: float) -> bool:
        if now - self._tried_at < GUILDS_AGAIN:  # read, or tried, a moment ago
            return False
        age = now - self._known_at
        return self._known is None or age > GUILDS_TTL or guild_id not in self._known


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made on first use; every form carries it."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


async def check_post(request: Request, origin: str) -> None:
    """403 unless the POST comes from the dashboard's own origin and carries the session's CSRF token."""
    if request.headers.get("origin") != origin:
        raise HTTPException(403, "This form was not sent from the dashboard.")
    form = await request.form()
    sent = form.get(CSRF_KEY)
    expected = request.session.get(CSRF_KEY)
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise HTTPException(403, "This form has expired: reload the page and try again.")
