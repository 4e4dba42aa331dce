"""The audit log page: every change made from Discord or the dashboard, and what the bot did on its own, with
who, what, when and from where; newest first, a page at a time, filtered by kind."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.dashboard.access import Access, Role
from bot.dashboard.site import Site
from bot.i18n.messages import money
from bot.services.audit import detail_name
from bot.store.audit_log import AuditEntry
from bot.ui.embeds import cut

PAGE_SIZE = 50
VALUE_SHOWN = 300  # characters of one detail (a prompt, a reason, an error) shown before "…"
ID_MAX = 2**63 - 1
DIGITS_MAX = len(str(ID_MAX))

# The kinds of entry by the first part of their action, as the bot, its commands and the dashboard record
# them (tests/unit/dashboard/test_spend_audit.py checks that every action recorded in the code has its kind).
KINDS = {
    "job": "Jobs: outcomes, approvals, re-posts",
    "jobs": "Job exports",
    "limits": "Limits",
    "budget": "Budget",
    "channels": "Channels",
    "roles": "Roles",
    "blocklist": "Blocklist",
    "approvals": "Approvals",
    "audit": "Audit channel",
    "defaults": "Defaults",
    "member": "Members: blocks, strikes, resets, forgetting",
    "staff": "Dashboard access of roles",
    "interaction": "Refused interactions",
}
SOURCES = {"discord": "Discord", "dashboard": "Dashboard", None: "the bot"}
MONEY = frozenset({"estimated_cost", "actual_cost", "dollars_per_day"})
HIDDEN = "(hidden: only admins see prompts that may be from a private request)"
PRIVATE = "Details of a private job are hidden."
NO_ACCESS = "none (no dashboard access)"  # a staff.set that took a role's access away (its level is None)


class Seen(enum.Enum):
    """How much of an entry a member sees."""

    ALL = "all"
    NO_PROMPT = "no prompt"  # a prompt that may be from a private request (a strike's names no job)
    ACT = "act"  # the entry is about someone else's private job: only the act (who, what, when, where)


@dataclass(frozen=True, slots=True)
class Line:
    """One entry as the page shows it: plain text only, escaped by the template."""

    id: int
    when: str
    actor_id: int | None
    action: str
    details: list[tuple[str, str]]
    source: str
    private: bool = False  # about a private job of someone else: `details` is empty, PRIVATE is shown


def _whole_number(request: Request, name: str) -> int | None:
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    # At most ID_MAX's 19 digits before int(): Python refuses to convert thousands of them (a 500).
    if not (text.isascii() and text.isdigit() and len(text) <= DIGITS_MAX) or not 0 < int(text) <= ID_MAX:
        raise HTTPException(400, f"{name}: a positive whole number, as the older link gives it.")
    return int(text)


def kind_asked(request: Request) -> str | None:
    kind = request.query_params.get("kind", "").strip()
    if not kind:
        return None
    if kind not in KINDS:
        raise HTTPException(400, "kind: choose one of the kinds listed.")
    return kind


def when(created_at: float) -> str:
    return datetime.fromtimestamp(created_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def shown_value(key: str, value: Any, entry: AuditEntry, access: Access) -> str:
    """A detail as text: amounts in dollars, yes or no, a role by its name where the server has it."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif key in MONEY and isinstance(value, int | float):
        text = money(value)
    elif isinstance(value, int) and _is_role(key, entry) and value in access.guild.role_names:
        text = f"{access.guild.role_names[value]} ({value})"
    else:
        text = str(value)
    return cut(text, VALUE_SHOWN)


def _is_role(key: str, entry: AuditEntry) -> bool:
    if key == "trusted_role":
        return True
    return key == "target" and (
        entry.action.startswith(("roles.", "staff.")) or entry.details.get("scope") == "role"
    )


def line(entry: AuditEntry, access: Access, seen: Seen) -> Line:
    """The entry as `access`'s member may see it: all of it, a prompt hidden, or (about a private job of
    someone else) only who did what, when and from where."""
    source = SOURCES.get(entry.source) or str(entry.source)
    if seen is Seen.ACT:
        return Line(entry.id, when(entry.created_at), entry.actor_id, entry.action, [], source, private=True)
    details = [("Job", str(entry.job_id))] if entry.job_id is not None else []
    for key, stored in entry.details.items():
        value = NO_ACCESS if stored is None and key == "level" and entry.action == "staff.set" else stored
        if value is None or value == "":
            continue
        prompt_hidden = key == "prompt" and seen is Seen.NO_PROMPT
        text = HIDDEN if prompt_hidden else shown_value(key, value, entry, access)
        details.append((detail_name(key), text))
    return Line(entry.id, when(entry.created_at), entry.actor_id, entry.action, details, source)


async def visibility(site: Site, access: Access, entries: list[AuditEntry]) -> dict[int, Seen]:
    """How much of each entry the member sees (by entry id). Admins see everything. Anyone else sees an
    entry about a job as the jobs pages show that job: a private job is its owner's, so of an entry about
    someone else's only the act (and of a job not found in this server, likewise); a prompt with no job
    (a strike's) is hidden, as it may be from a private request."""
    if access.role >= Role.ADMIN:
        return dict.fromkeys((e.id for e in entries), Seen.ALL)
    own: dict[int, bool] = {}  # job id: whether the member may see all of it
    for job_id in {e.job_id for e in entries if e.job_id is not None}:
        job = await site.jobs.get(job_id)
        own[job_id] = (
            job is not None
            and job.guild_id == access.guild.id
            and (not job.target.get("private") or job.user_id == access.user_id)
        )
    found = {}
    for entry in entries:
        if entry.job_id is not None:
            found[entry.id] = Seen.ALL if own[entry.job_id] else Seen.ACT
        else:
            found[entry.id] = Seen.NO_PROMPT if "prompt" in entry.details else Seen.ALL
    return found


def routes(site: Site) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        access = await site.access(request, Role.VIEWER)
        guild_id = access.guild.id
        kind = kind_asked(request)
        before_id = _whole_number(request, "before_id")
        found = await site.governance.audit_entries(
            guild_id,
            limit=PAGE_SIZE + 1,
            before_id=before_id,
            action_prefix=f"{kind}." if kind else None,
        )
        entries = found[:PAGE_SIZE]
        shown = await visibility(site, access, entries)
        lines = [line(e, access, shown[e.id]) for e in entries]
        chosen = {"kind": kind} if kind else {}
        older = urlencode(chosen | {"before_id": entries[-1].id}) if len(found) > PAGE_SIZE else None
        return site.render(
            request,
            "audit.html",
            page="audit",
            access=access,
            guild=access.guild,
            lines=lines,
            kinds=KINDS,
            private=PRIVATE,
            kind=kind,
            older=older,
            newest=urlencode(chosen) if before_id is not None else None,
        )

    return [Route("/servers/{guild_id:snowflake}/audit", page)]
