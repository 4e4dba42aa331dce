"""The one rule for who moderates a server (bot.domain.staff.standing), which the dashboard's pages and the
bot's Approve and Reject buttons both follow; and the dashboard's reading of Discord's answers through it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.dashboard.access import role_of
from bot.dashboard.discord_rest import Guild, Member
from bot.domain.staff import ADMINISTRATOR, MANAGE_GUILD, MANAGE_MESSAGES, Role, standing

GUILD, OWNER, USER = 1, 2, 3
ADMINS, MANAGERS, MODS, PLAIN, REVIEWERS, WATCHERS, GONE = 10, 11, 12, 13, 14, 15, 16
ROLES = {
    GUILD: 0,  # @everyone
    ADMINS: ADMINISTRATOR,
    MANAGERS: MANAGE_GUILD,
    MODS: MANAGE_MESSAGES,
    PLAIN: 0,
    REVIEWERS: 0,
    WATCHERS: 0,
}
STAFF = {REVIEWERS: "approver", WATCHERS: "viewer", GONE: "approver", GUILD: "approver", PLAIN: "admin"}


@dataclass(frozen=True)
class Case:
    roles: tuple[int, ...]
    expected: Role | None
    timed_out: bool = False
    user: int = USER
    everyone: int = 0  # @everyone's permissions
    staff: dict[int, str] = field(default_factory=lambda: STAFF)


CASES = {
    "the owner, with no role": Case((), Role.ADMIN, user=OWNER),
    "the owner, whatever their time-out says": Case((), Role.ADMIN, timed_out=True, user=OWNER),
    "Administrator": Case((ADMINS,), Role.ADMIN),
    "Administrator in time-out": Case((ADMINS,), Role.ADMIN, timed_out=True),
    "Administrator given to @everyone": Case((), Role.ADMIN, everyone=ADMINISTRATOR),
    "Manage Server": Case((MANAGERS,), Role.ADMIN),
    "Manage Server in time-out": Case((MANAGERS,), None, timed_out=True),
    "Manage Messages": Case((MODS,), Role.APPROVER),
    "Manage Messages in time-out": Case((MODS,), None, timed_out=True),
    "Manage Messages given to @everyone": Case((), Role.APPROVER, everyone=MANAGE_MESSAGES),
    "a configured approver role": Case((REVIEWERS,), Role.APPROVER),
    "a configured approver role in time-out": Case((REVIEWERS,), None, timed_out=True),
    "a configured viewer role": Case((WATCHERS,), Role.VIEWER),
    "viewer and approver roles: the higher": Case((WATCHERS, REVIEWERS), Role.APPROVER),
    "a viewer role and Manage Messages": Case((WATCHERS, MODS), Role.APPROVER),
    "a configured role the server deleted": Case((GONE,), None),
    # discord.py's member.roles include @everyone: configured or not, it gives no one access.
    "@everyone configured as approver": Case((GUILD,), None),
    "a level no one can configure": Case((PLAIN,), None),
    "a plain role": Case((PLAIN,), None, staff={}),
    "no role": Case((), None),
    "no configured roles at all": Case((REVIEWERS,), None, staff={}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_rule(case: Case) -> None:
    roles = {**ROLES, GUILD: case.everyone}
    found = standing(
        guild_id=GUILD,
        owner_id=OWNER,
        user_id=case.user,
        role_permissions=roles,
        role_ids=case.roles,
        staff=case.staff,
        timed_out=case.timed_out,
    )
    assert found is case.expected


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_dashboard_reads_discords_answers_by_the_rule(case: Case) -> None:
    """Discord's REST member has no @everyone among its roles, and says a time-out as a time."""
    guild = Guild(GUILD, "server", OWNER, {**ROLES, GUILD: case.everyone})
    until = 2000.0 if case.timed_out else 500.0  # ended before `now`
    member = Member(case.user, tuple(r for r in case.roles if r != GUILD), timed_out_until=until)
    assert role_of(guild, member, case.staff, now=1000.0) is case.expected


def test_a_server_without_an_owner_known_gives_no_one_admin_for_it() -> None:
    """A stand-in server (discord.py's, for one not cached) has no owner: nobody is taken for it."""
    found = standing(guild_id=GUILD, owner_id=None, user_id=USER, role_permissions={}, role_ids=[GUILD])
    assert found is None
