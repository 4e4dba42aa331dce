"""The server's settings for its admins: limits, budget, approval, the audit channel and the defaults, each
form standing for a /sora-admin subcommand. A form first answers with what would change, field by field; only
its Save (confirm=1) writes, after checking everything again, through the same store calls as the command,
and records the same audit action and details, from the dashboard."""

from __future__ import annotations

from typing import Any

from discord.app_commands import Choice
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.dashboard.access import Role
from bot.dashboard.settings_forms import (
    FORMS,
    LIMIT_LABELS,
    YES_NO,
    Change,
    Server,
    budget_shown,
    default_shown,
)
from bot.dashboard.site import Site, field
from bot.domain.limits import LimitRule
from bot.ui.admin_options import (
    ASPECT_RATIO_CHOICES,
    BUDGET_MAX,
    DURATION_CHOICES,
    LIMIT_RANGES,
    MODEL_CHOICES,
    STRIKES_MAX,
    STRIKES_MIN,
)
from bot.ui.languages import CHOICES as LANGUAGES
from bot.ui.reports import rule_text

NOTICE_TITLE_MAX = 40


def limit_lines(site: Site, server: Server) -> list[tuple[str, str]]:
    """Who each rule is for and what it sets, as /sora-admin limits show lists them: the bot's defaults
    first, then the server's own, the roles' and the members'."""
    lines = [("The bot's defaults", rule_text(site.settings.limit_defaults()))]
    order = {"guild": 0, "role": 1, "user": 2}
    for rule in sorted(server.rules, key=lambda r: order[r.scope]):
        lines.append((_rule_for(server, rule), rule_text(rule)))
    return lines


def _rule_for(server: Server, rule: LimitRule) -> str:
    who = server.whom(rule.scope, rule.target_id)
    return who[0].upper() + who[1:]


def current(server: Server) -> list[tuple[str, str]]:
    """The server's settings, in words."""
    now = server.settings
    lines = [
        ("Daily budget", budget_shown(now.budget_dollars_per_day)),
        ("Approval requests go to", server.channel(now.approvals_channel_id, "nowhere: approval is off")),
        ("Trusted role (skips approval)", server.role(now.approvals_trusted_role_id)),
        ("Audit posts go to", server.channel(now.audit_channel_id, "nowhere (not posted)")),
    ]
    for column, label in (
        ("default_duration", "Default duration"),
        ("default_aspect_ratio", "Default aspect ratio"),
        ("default_model", "Default model"),
        ("age_restricted_images", "Input images only in age-restricted channels"),
        ("strikes_to_block", "Strikes to block"),
        ("language", "Language of posts"),
    ):
        lines.append((label, default_shown(column, getattr(now, column))))
    return lines


def choices() -> dict[str, Any]:
    """The forms' ranges and choices: the same as /sora-admin's."""
    return {
        "limit_ranges": LIMIT_RANGES,
        "limit_labels": LIMIT_LABELS,
        "yes_no": [Choice(name=answer, value=answer) for answer in YES_NO],
        "allowed": [Choice(name="allowed", value="yes"), Choice(name="not allowed", value="no")],
        "budget_max": BUDGET_MAX,
        "durations": DURATION_CHOICES,
        "aspect_ratios": ASPECT_RATIO_CHOICES,
        "models": MODEL_CHOICES,
        "languages": LANGUAGES,
        "strikes": (STRIKES_MIN, STRIKES_MAX),
    }


def notice(change: Change) -> str:
    """What a Save did, for the page after it. It rides in the session cookie (4 KB at most, and a role's or a
    channel's name can be 100 emoji): the fields by their labels, the title cut short; the page shows the
    values."""
    title = (
        change.title if len(change.title) <= NOTICE_TITLE_MAX else change.title[: NOTICE_TITLE_MAX - 1] + "…"
    )
    if not change.rows:
        return f"{title}: nothing changed."
    return f"Saved. {title}: {', '.join(row.label for row in change.rows)}."


def routes(site: Site) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        access = await site.access(request, Role.ADMIN)
        server = await Server.read(site, access.guild)
        saved = site.told(request)
        return site.render(
            request,
            "settings.html",
            page="settings",
            access=access,
            guild=access.guild,
            server=server,
            settings_now=server.settings,
            current=current(server),
            limits=limit_lines(site, server),
            notice=saved,
            **choices(),
        )

    async def submit(request: Request) -> Response:
        access, form = await site.post(request, Role.ADMIN)
        check = FORMS.get(request.path_params["form"])
        if check is None:
            raise HTTPException(404, "There is nothing here.")
        # Everything is checked again on Save, against the server as it is now: never the preview's word.
        change = await check(site, await Server.read(site, access.guild), form)
        if field(form, "confirm", limit=1) != "1":
            return site.render(
                request,
                "settings_preview.html",
                page="settings",
                access=access,
                guild=access.guild,
                change=change,
                form_name=request.path_params["form"],
            )
        if change.rows:
            await change.save()
            await site.record(access, change.action, **change.details)
        site.tell(request, notice(change))
        return RedirectResponse(f"/servers/{access.guild.id}/settings", status_code=303)

    return [
        Route("/servers/{guild_id:snowflake}/settings", page),
        Route("/servers/{guild_id:snowflake}/settings/{form}", submit, methods=["POST"]),
    ]
