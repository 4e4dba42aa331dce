"""Who moderates a server: one rule for the dashboard's pages and the bot's Approve and Reject buttons, so
the two agree on who may decide. It reads the member's standing across the whole server (their roles'
permissions, never a channel's overwrites): the dashboard has no channel to ask about."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MANAGE_MESSAGES = 1 << 13

StaffRoles = Mapping[int, str]  # role id -> "approver" | "viewer", as the server set them


class Role(enum.IntEnum):
    """What a member may do in a server's dashboard (and its approvals in Discord); higher includes lower."""

    VIEWER = 0
    APPROVER = 1
    ADMIN = 2


STAFF = {"approver": Role.APPROVER, "viewer": Role.VIEWER}


def standing(
    *,
    guild_id: int,
    owner_id: int | None,
    user_id: int,
    role_permissions: Mapping[int, int],
    role_ids: Iterable[int],
    staff: StaffRoles | None = None,
    timed_out: bool = False,
) -> Role | None:
    """Owner, Administrator or Manage Server: admin; Manage Messages or a configured approver role: approver;
    a configured viewer role: viewer; anyone else: none.

    `role_permissions` are the server's roles (the server's own id is @everyone, which every member holds
    and no one is given access by); only roles the server still has count. A member in time-out has none
    (Discord leaves them only reading channels), unless they hold Administrator."""
    if user_id == owner_id:
        return Role.ADMIN
    permissions = role_permissions.get(guild_id, 0)
    held = [role_id for role_id in role_ids if role_id in role_permissions and role_id != guild_id]
    for role_id in held:
        permissions |= role_permissions[role_id]
    if permissions & ADMINISTRATOR:
        return Role.ADMIN
    if timed_out:
        return None
    if permissions & MANAGE_GUILD:
        return Role.ADMIN
    configured = [STAFF[level] for role_id in held if (level := (staff or {}).get(role_id)) in STAFF]
    if permissions & MANAGE_MESSAGES:
        configured.append(Role.APPROVER)
    return max(configured, default=None)
