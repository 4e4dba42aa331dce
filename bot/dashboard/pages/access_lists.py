"""The access lists: where clips may be made (channels), by whom (roles), what prompts may not say (the
blocklist), one member's standing (block, unblock, reset, strikes, forget), and which roles see this dashboard
(staff roles, set only here). Each form does what its /sora-admin subcommand does, with the same checks, store
calls and audit actions; a change is shown first, holding its values, and made only once confirmed."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.dashboard.access import Access, Role, not_found
from bot.dashboard.discord_rest import TEXT_CHANNEL_TYPES, Channel, Member
from bot.dashboard.site import Site, field, number
from bot.moderation.prompt_rules import MAX_RULE_LENGTH, InvalidRule, check_rule
from bot.services.forgetting import cancel_through_store, forget, forgettable
from bot.store.guild_settings import STAFF_LEVELS, StaffLevel
from bot.ui import admin_replies as said

ID_MAX = 2**63 - 1  # Discord ids are 64-bit snowflakes
Kind = Literal["channels", "roles"]


@dataclass(frozen=True, slots=True)
class Server:
    """The server as Discord has it now: its channels and roles, by id, with the names the page shows."""

    id: int
    channels: dict[int, Channel]
    roles: dict[int, str]  # in Discord's order; the server's own id is @everyone

    @property
    def text_channels(self) -> dict[int, Channel]:
        """Where clips can be posted: the channels a channel may be allowed from."""
        return {cid: c for cid, c in self.channels.items() if c.type in TEXT_CHANNEL_TYPES}

    def channel(self, channel_id: int) -> str:
        found = self.channels.get(channel_id)
        return f"#{found.name}" if found is not None else f"deleted channel ({channel_id})"

    def role(self, role_id: int) -> str:
        name = self.roles.get(role_id)
        if name is None:
            return f"deleted role ({role_id})"
        return name if name.startswith("@") else f"@{name}"  # @everyone is named so already


@dataclass(frozen=True, slots=True)
class Change:
    """One form's change, checked: what it does in words, the values that make it again once confirmed,
    and `save`, which makes it and records it (returning what the page then says)."""

    summary: str
    fields: dict[str, str]
    save: Callable[[], Awaitable[str]]
    notes: list[str] = dataclass_field(default_factory=list)


Form = Callable[[Site, Access, Server, FormData], Awaitable[Change]]


async def _server(site: Site, access: Access) -> Server:
    channels = await site.discord.channels(access.guild.id)
    return Server(access.guild.id, {c.id: c for c in channels}, dict(access.guild.role_names))


def _choice(form: FormData, name: str, allowed: tuple[str, ...]) -> str:
    value = field(form, name, limit=30)
    if value not in allowed:
        raise HTTPException(400, f"{name}: one of {', '.join(allowed)}.")
    return value


def _id(form: FormData, name: str) -> int:
    value = number(form, name, low=1, high=ID_MAX, required=True)
    assert value is not None  # required
    return value


# -- channels and roles -------------------------------------------------------------------------------------


async def _allowed_change(
    site: Site, access: Access, kind: Kind, item: int, name: str, allow: bool, field_name: str
) -> Change:
    """Allow a channel or role, or no longer (the cog's `_allow`)."""
    listed = await site.governance.allowed(access.guild.id, kind)
    noun = "channel" if kind == "channels" else "role"
    notes = []
    if (item in listed) == allow:
        notes.append(f"It is {'already' if allow else 'not'} on the list: nothing will change.")
    elif allow and not listed:
        everyone = "in every channel" if kind == "channels" else "by everyone"
        notes.append(f"No {noun} is listed now (clips may be made {everyone}): after this, only the listed.")
    elif not allow and listed == {item}:
        notes.append(f"It is the last {noun} listed: after this, every {noun} is allowed again.")
    summary = f"Add {name} to the allowed {kind}." if allow else f"Remove {name} from the allowed {kind}."

    async def save() -> str:
        changed = await site.governance.set_allowed(access.guild.id, kind, item, allow)
        await site.record(access, f"{kind}.{'add' if allow else 'remove'}", target=item)
        return said.allowed(name, allow, changed)

    action = "add" if allow else "remove"
    return Change(summary, {"action": action, field_name: str(item)}, save, notes)


async def _channels(site: Site, access: Access, server: Server, form: FormData) -> Change:
    allow = _choice(form, "action", ("add", "remove")) == "add"
    channel = _id(form, "channel")
    listed = await site.governance.allowed(server.id, "channels")
    # Only a text channel of this server can be added; a listed one can always be taken off (deleted too).
    if channel not in server.text_channels and (allow or channel not in listed):
        raise HTTPException(400, "Choose a text channel of this server.")
    return await _allowed_change(site, access, "channels", channel, server.channel(channel), allow, "channel")


async def _roles(site: Site, access: Access, server: Server, form: FormData) -> Change:
    allow = _choice(form, "action", ("add", "remove")) == "add"
    role = _id(form, "role")
    listed = await site.governance.allowed(server.id, "roles")
    if role not in server.roles and (allow or role not in listed):
        raise HTTPException(400, "Choose a role of this server.")
    return await _allowed_change(site, access, "roles", role, server.role(role), allow, "role")


# -- blocklist ----------------------------------------------------------------------------------------------


async def _blocklist(site: Site, access: Access, server: Server, form: FormData) -> Change:
    """As /sora-admin blocklist add and remove: the same length limit and the same rule check."""
    adding = _choice(form, "action", ("add", "remove")) == "add"
    pattern = field(form, "pattern", limit=MAX_RULE_LENGTH)
    if adding:
        try:
            rule = check_rule(pattern, form.get("regex") == "1")
        except InvalidRule as exc:
            raise HTTPException(400, str(exc)) from None
        kind = "the regular expression" if rule.is_regex else "the word(s)"
        notes = []
        if (rule.pattern, rule.is_regex) in await site.governance.blocklist(server.id):
            notes.append("It is already on the blocklist: nothing will change.")

        async def add() -> str:
            added = await site.governance.add_block_rule(
                server.id, rule.pattern, rule.is_regex, access.user_id
            )
            await site.record(access, "blocklist.add", pattern=rule.pattern, regex=rule.is_regex)
            if not added:
                return "Already blocked."
            return f"Blocked {'regex' if rule.is_regex else 'word'}: {rule.pattern}"

        values = {"action": "add", "pattern": rule.pattern, "regex": "1" if rule.is_regex else ""}
        return Change(f"Refuse prompts with {kind}: {rule.pattern}", values, add, notes)
    if not pattern:
        raise HTTPException(400, "pattern: required.")
    listed = [p for p, _ in await site.governance.blocklist(server.id)]
    notes = [] if pattern in listed else ["That pattern is not on the list: nothing will change."]

    async def remove() -> str:
        removed = await site.governance.remove_block_rule(server.id, pattern)
        await site.record(access, "blocklist.remove", pattern=pattern)
        return "Removed." if removed else "That pattern was not on the list."

    summary = f"Stop refusing prompts with: {pattern}"
    return Change(summary, {"action": "remove", "pattern": pattern}, remove, notes)


# -- members ------------------------------------------------------------------------------------------------


async def in_server(site: Site, guild_id: int, user_id: int) -> Member:
    """The member as Discord has them now; 400 when they are not in the server (as for the cog's option)."""
    member: Member | None = await site.discord.member(guild_id, user_id)
    if member is None:
        raise HTTPException(400, "That member is not in this server.")
    return member


def _who(member: Member) -> str:
    return f"member {member.user_id} ({member.name})" if member.name else f"member {member.user_id}"


def _first_up(text: str) -> str:
    return text[:1].upper() + text[1:]


async def _standing(site: Site, guild_id: int, member: Member) -> str:
    status = await site.governance.member(guild_id, member.user_id)
    limit = (await site.governance.settings(guild_id)).strikes_to_block
    return said.standing(_first_up(_who(member)), status.strikes, limit, status.blocked)


# What each change to a member's standing says first, what the store is told, and what the page says after
# (as the cog answers).
MEMBER_CHANGES: dict[str, tuple[str, dict[str, bool], str]] = {
    "block": ("Block {who}: they can no longer make clips here.", {"blocked": True}, "{Who} is blocked."),
    "unblock": (
        "Unblock {who}: they can make clips again (their strikes are cleared).",
        {"blocked": False},
        "{Who} is unblocked.",
    ),
    "reset": (
        "Reset {who}: their strikes are cleared and their usage counted afresh.",
        {"reset": True},
        "{Who}: strikes and usage reset.",
    ),
}
MEMBER_ACTIONS = (*MEMBER_CHANGES, "forget")


async def _member(site: Site, access: Access, server: Server, form: FormData) -> Change:
    """As /sora-admin user block, unblock, reset and forget."""
    action = _choice(form, "action", MEMBER_ACTIONS)
    member = await in_server(site, server.id, _id(form, "member"))
    values = {"action": action, "member": str(member.user_id)}
    if action == "forget":
        return await _forget(site, access, member, values)
    said_first, given, said_after = MEMBER_CHANGES[action]
    who = _who(member)

    async def save() -> str:
        await site.governance.set_member(server.id, member.user_id, **given)
        await site.record(access, f"member.{action}", requester=member.user_id)
        return said_after.format(Who=_first_up(who))

    notes = [f"Now: {await _standing(site, server.id, member)}"]
    return Change(said_first.format(who=who), values, save, notes)


async def _forget(site: Site, access: Access, member: Member, values: dict[str, str]) -> Change:
    """As /sora-admin user forget, without the bot's pipeline: jobs cancelled through the store (the worker
    running one stops it), prompts removed, files deleted from the store the dashboard shares with the bot."""
    storage, guild_id = site.storage, access.guild.id
    if storage is None:
        raise HTTPException(503, "The dashboard can't reach the clips' storage: use /sora-admin user forget.")
    taken = await forgettable(site.jobs, storage, guild_id, member.user_id)
    summary = (
        f"Forget {_who(member)}: the prompts of their {taken.jobs} job(s) and {taken.stories} story(ies) here"
        f" will be removed, and their {taken.files} stored file(s) (clips and their copies) deleted."
    )
    notes = [
        f"{taken.unfinished} unfinished job(s) will be cancelled first.",
        "Input images no one else's job uses are deleted too. This can't be undone.",
    ]

    async def save() -> str:
        cancel = functools.partial(cancel_through_store, site.jobs)
        removed = await forget(site.governance, site.jobs, storage, cancel, guild_id, member.user_id)
        await site.record(access, "member.forget", target=member.user_id)
        return said.forgotten(_who(member), removed)

    return Change(summary, values, save, notes)


# -- staff roles --------------------------------------------------------------------------------------------

LEVELS: dict[str, StaffLevel | None] = {**{level: level for level in STAFF_LEVELS}, "none": None}
GIVES = {
    "approver": "approver access to this dashboard: they see the server's pages and approve or reject"
    " requests",
    "viewer": "viewer access to this dashboard: they see the server's pages and change nothing",
}


async def _staff(site: Site, access: Access, server: Server, form: FormData) -> Change:
    """A role given approver or viewer access to the dashboard, or none (only here: no subcommand sets it)."""
    role = _id(form, "role")
    level = _choice(form, "level", tuple(LEVELS))
    configured = await site.governance.staff_roles(server.id)
    if role == server.id:
        raise HTTPException(400, "@everyone can't be given access: choose a role.")
    if role not in server.roles and (level != "none" or role not in configured):
        raise HTTPException(400, "Choose a role of this server.")
    name = server.role(role)
    stored = LEVELS[level]
    if stored is None:
        summary = f"Take access to this dashboard away from {name}."
    else:
        summary = f"Give {name} {GIVES[level]}."
    notes = [
        "Whatever is set here, the owner and Administrator or Manage Server are admins, and Manage Messages"
        " approves."
    ]
    if configured.get(role) == stored:
        notes.insert(0, "It is so already: nothing will change.")

    async def save() -> str:
        changed = await site.governance.set_staff_role(server.id, role, stored)
        await site.record(access, "staff.set", target=role, level=stored)
        if not changed:
            return f"Nothing to change for {name}."
        return f"{name}: no dashboard access." if stored is None else f"{name}: {stored} access."

    return Change(summary, {"role": str(role), "level": level}, save, notes)


FORMS: Mapping[str, Form] = {
    "channels": _channels,
    "roles": _roles,
    "blocklist": _blocklist,
    "member": _member,
    "staff": _staff,
}


# -- the page -----------------------------------------------------------------------------------------------


def _listing(ids: set[int], name: Callable[[int], str]) -> list[tuple[int, str]]:
    """Listed ids with their names, by name (a deleted channel or role among them, by its id)."""
    return sorted(((i, name(i)) for i in ids), key=lambda item: (item[1].casefold(), item[0]))


def routes(site: Site) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        access = await site.access(request, Role.ADMIN)
        server = await _server(site, access)
        gid = server.id
        channels = await site.governance.allowed(gid, "channels")
        roles = await site.governance.allowed(gid, "roles")
        staff = await site.governance.staff_roles(gid)
        standing = None
        asked = request.query_params.get("member")
        if asked is not None:
            wanted = _id(FormData({"member": asked}), "member")
            standing = await _standing(site, gid, await in_server(site, gid, wanted))
        return site.render(
            request,
            "lists.html",
            page="lists",
            access=access,
            guild=access.guild,
            notice=site.told(request),
            channels=_listing(channels, server.channel),
            channel_choices=[(c, server.channel(c)) for c in server.text_channels if c not in channels],
            roles=_listing(roles, server.role),
            role_choices=[(r, server.role(r)) for r in server.roles if r not in roles],
            blocklist=await site.governance.blocklist(gid),
            staff=[(r, name, staff[r]) for r, name in _listing(set(staff), server.role)],
            staff_choices=[(r, server.role(r)) for r in server.roles if r != gid],
            member_actions=MEMBER_ACTIONS,
            standing=standing,
            rule_max=MAX_RULE_LENGTH,
        )

    async def change(request: Request) -> Response:
        access, form = await site.post(request, Role.ADMIN)
        parse = FORMS.get(request.path_params["form"])
        if parse is None:
            raise not_found()
        server = await _server(site, access)
        # Checked again on confirm: Discord (or the lists) may have changed since the preview.
        checked = await parse(site, access, server, form)
        if field(form, "confirm", limit=1) != "1":
            return site.render(
                request,
                "lists_preview.html",
                page="lists",
                access=access,
                guild=access.guild,
                change=checked,
                action=f"/servers/{server.id}/lists/{request.path_params['form']}",
            )
        site.tell(request, await checked.save())
        return RedirectResponse(f"/servers/{server.id}/lists", status_code=303)

    return [
        Route("/servers/{guild_id:snowflake}/lists", page),
        Route("/servers/{guild_id:snowflake}/lists/{form}", change, methods=["POST"]),
    ]
