"""The settings page's forms, through a browser on the real dashboard: each answers first with what would
change (and changes nothing), saves exactly that on Save after checking it all again, and records it in the
audit log as /sora-admin does, from the dashboard; out-of-range values, another server's roles and channels,
and anyone but the server's admins are refused with nothing changed."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from bot.domain.limits import LimitRule, resolve
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.guild_settings import GuildSettings
from tests.unit.dashboard.conftest import DASHBOARD_URL, World
from tests.unit.dashboard.test_access import csrf_of

ORIGIN = {"origin": DASHBOARD_URL}
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Ids:
    """What each test adds to the world's server: a role, text channels, a voice channel."""

    regulars: int
    general: int
    mods: int
    audit: int
    voice: int
    other_role: int
    other_channel: int


def prepare(world: World) -> Ids:
    voice = world.guild.add_channel("lounge")
    world.guild.channels[voice].type = 2  # voice: no approval requests or audit posts there
    return Ids(
        regulars=world.guild.add_role("Regulars"),
        general=world.guild.add_channel("general"),
        mods=world.guild.add_channel("mods"),
        audit=world.guild.add_channel("audit"),
        voice=voice,
        other_role=world.other.add_role("Elsewhere's role"),
        other_channel=world.other.add_channel("elsewhere"),
    )


async def state(world: World) -> tuple[GuildSettings, list[LimitRule], list[tuple[str, dict[str, Any]]]]:
    """Everything a form could change: the settings, the limit rules and the audit log."""
    gid = world.guild.id
    entries = await world.governance.audit_entries(gid)
    return (
        await world.governance.settings(gid),
        await world.governance.limit_rules(gid),
        [(e.action, e.details) for e in entries],
    )


async def signed_in(world: World, browser: httpx.AsyncClient, who: str = "owner") -> str:
    """Log `who` in; the session's CSRF token."""
    await world.log_in(browser, world.users[who])
    return await csrf_of((await browser.get("/")).text)


async def send(
    world: World, browser: httpx.AsyncClient, form: str, data: dict[str, str], csrf: str
) -> httpx.Response:
    return await browser.post(
        f"/servers/{world.guild.id}/settings/{form}", data={"csrf": csrf, **data}, headers=ORIGIN
    )


def hidden_fields(preview: str) -> dict[str, str]:
    """What the preview's Save sends: its hidden fields, as the browser would."""
    return {name: html.unescape(value) for name, value in HIDDEN.findall(preview)}


async def preview_then_save(
    world: World, browser: httpx.AsyncClient, form: str, data: dict[str, str], csrf: str
) -> tuple[httpx.Response, httpx.Response]:
    preview = await send(world, browser, form, data, csrf)
    assert preview.status_code == 200, preview.text
    fields = hidden_fields(preview.text)
    assert fields["confirm"] == "1" and fields["csrf"] == csrf
    saved = await browser.post(f"/servers/{world.guild.id}/settings/{form}", data=fields, headers=ORIGIN)
    return preview, saved


@dataclass
class Case:
    """A form, what it is sent, what the preview says, and what Save stores and records."""

    form: str
    data: Callable[[World, Ids], dict[str, str]]
    shows: Callable[[World, Ids], list[str]]
    stored: Callable[[World, Ids, GuildSettings, list[LimitRule]], bool]
    details: Callable[[World, Ids], dict[str, Any]]
    action: str
    before: Callable[[World, Ids], Awaitable[object]] | None = None
    id: str = field(default="")


async def _no_setup(world: World, ids: Ids) -> None:
    return None


CASES = [
    Case(
        "limits-set",
        id="limits for a role",
        data=lambda w, i: {"role": str(i.regulars), "jobs_per_hour": "20", "pro": "yes", "concurrent": ""},
        shows=lambda w, i: [
            "Limits for role @Regulars",
            "<th>Jobs per hour</th><td>not set</td><td>-&gt;</td><td>20</td>",
            "<th>Sora 2 Pro</th><td>not set</td><td>-&gt;</td><td>yes</td>",
        ],
        stored=lambda w, i, s, rules: rules == [LimitRule("role", i.regulars, jobs_per_hour=20, pro=True)],
        action="limits.set",
        details=lambda w, i: {"scope": "role", "target": i.regulars, "jobs_per_hour": 20, "pro": True},
    ),
    Case(
        "limits-set",
        id="limits for a member, over their rule",
        before=lambda w, i: w.governance.set_limit_rule(
            w.guild.id, LimitRule("user", w.users["member"], jobs_per_hour=3, hd=False)
        ),
        data=lambda w, i: {
            "member": str(w.users["member"]),
            "jobs_per_hour": "3",
            "hd": "yes",
            "story_shots": "5",
        },
        shows=lambda w, i: [
            f"Limits for member {w.users['member']}",
            "<th>1080p</th><td>no</td><td>-&gt;</td><td>yes</td>",
            "<th>Shots per story</th><td>not set</td><td>-&gt;</td><td>5</td>",
        ],
        stored=lambda w, i, s, rules: (
            rules == [LimitRule("user", w.users["member"], jobs_per_hour=3, hd=True, story_shots=5)]
        ),
        action="limits.set",
        # Only what changes: the jobs per hour were 3 already.
        details=lambda w, i: {"scope": "user", "target": w.users["member"], "story_shots": 5, "hd": True},
    ),
    Case(
        "limits-set",
        id="limits for the server",
        data=lambda w, i: {"video_seconds_per_day": "120", "concurrent": "2"},
        shows=lambda w, i: [
            "Limits for the whole server",
            # The server's rule unset: the bot's default is what applies until then.
            "<th>Jobs at once</th><td>not set (the bot&#39;s default: "
            f"{w.settings.limit_defaults().concurrent})</td>",
        ],
        stored=lambda w, i, s, rules: (
            rules == [LimitRule("guild", w.guild.id, video_seconds_per_day=120, concurrent=2)]
        ),
        action="limits.set",
        details=lambda w, i: {
            "scope": "guild",
            "target": w.guild.id,
            "video_seconds_per_day": 120,
            "concurrent": 2,
        },
    ),
    Case(
        "limits-clear",
        id="clear a role's limits",
        before=lambda w, i: w.governance.set_limit_rule(
            w.guild.id, LimitRule("role", i.regulars, jobs_per_hour=7, pro=True)
        ),
        data=lambda w, i: {"role": str(i.regulars)},
        shows=lambda w, i: [
            "Limits for role @Regulars",
            "<th>Limits</th><td>jobs per hour 7, pro yes</td><td>-&gt;</td><td>none of its own</td>",
        ],
        stored=lambda w, i, s, rules: rules == [],
        action="limits.clear",
        details=lambda w, i: {"scope": "role", "target": i.regulars},
    ),
    Case(
        "budget",
        id="budget",
        before=lambda w, i: w.governance.update_settings(w.guild.id, budget_dollars_per_day=5.0),
        data=lambda w, i: {"dollars_per_day": "10"},
        shows=lambda w, i: ["<th>Budget</th><td>$5.00 a day</td><td>-&gt;</td><td>$10.00 a day</td>"],
        stored=lambda w, i, s, rules: s.budget_dollars_per_day == 10.0,
        action="budget.set",
        details=lambda w, i: {"dollars_per_day": 10.0},
    ),
    Case(
        "budget",
        id="no budget",
        before=lambda w, i: w.governance.update_settings(w.guild.id, budget_dollars_per_day=2.5),
        data=lambda w, i: {"dollars_per_day": ""},
        shows=lambda w, i: ["<td>$2.50 a day</td><td>-&gt;</td><td>no budget</td>"],
        stored=lambda w, i, s, rules: s.budget_dollars_per_day is None,
        action="budget.set",
        details=lambda w, i: {"dollars_per_day": None},
    ),
    Case(
        "approvals-on",
        id="approval on",
        data=lambda w, i: {"channel": str(i.mods), "trusted_role": str(i.regulars)},
        shows=lambda w, i: [
            "<td>nowhere: approval is off</td><td>-&gt;</td><td>#mods</td>",
            "<th>Trusted role</th><td>none</td><td>-&gt;</td><td>@Regulars</td>",
        ],
        stored=lambda w, i, s, rules: (
            (s.approvals_channel_id, s.approvals_trusted_role_id) == (i.mods, i.regulars)
        ),
        action="approvals.on",
        details=lambda w, i: {"channel": i.mods, "trusted_role": i.regulars},
    ),
    Case(
        "approvals-off",
        id="approval off",
        before=lambda w, i: w.governance.update_settings(
            w.guild.id, approvals_channel_id=i.mods, approvals_trusted_role_id=i.regulars
        ),
        data=lambda w, i: {},
        shows=lambda w, i: ["<td>#mods</td><td>-&gt;</td><td>nowhere: approval is off</td>"],
        stored=lambda w, i, s, rules: (s.approvals_channel_id, s.approvals_trusted_role_id) == (None, None),
        action="approvals.off",
        details=lambda w, i: {},
    ),
    Case(
        "audit-channel",
        id="audit channel",
        data=lambda w, i: {"channel": str(i.audit)},
        shows=lambda w, i: ["<td>nowhere (not posted)</td><td>-&gt;</td><td>#audit</td>"],
        stored=lambda w, i, s, rules: s.audit_channel_id == i.audit,
        action="audit.channel",
        details=lambda w, i: {"channel": i.audit},
    ),
    Case(
        "defaults",
        id="defaults",
        before=lambda w, i: w.governance.update_settings(w.guild.id, language="de", default_model="sora-2"),
        data=lambda w, i: {
            "duration": "12",
            "aspect_ratio": "9:16",
            "model": "sora-2",  # as it is: not a change
            "age_restricted_images": "yes",
            "strikes_to_block": "5",
            "language": "server",
        },
        shows=lambda w, i: [
            "<th>Duration</th><td>not set (the bot&#39;s default)</td><td>-&gt;</td><td>12 seconds</td>",
            "<th>Aspect ratio</th>",
            "<th>Strikes to block</th><td>3</td><td>-&gt;</td><td>5</td>",
            "<th>Language of posts</th><td>Deutsch</td><td>-&gt;</td><td>The server&#39;s own language</td>",
        ],
        stored=lambda w, i, s, rules: (
            (
                s.default_duration,
                s.default_aspect_ratio,
                s.default_model,
                s.age_restricted_images,
                s.strikes_to_block,
                s.language,
            )
            == (12, "9:16", "sora-2", True, 5, None)
        ),
        action="defaults.set",
        details=lambda w, i: {
            "default_duration": 12,
            "default_aspect_ratio": "9:16",
            "age_restricted_images": True,
            "strikes_to_block": 5,
            "language": "server",  # as /sora-admin records it: the choice, not the stored None
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_form_previews_its_change_and_saves_exactly_it_on_save(world: World, case: Case) -> None:
    ids = prepare(world)
    if case.before is not None:
        await case.before(world, ids)
    async with world.browser() as browser:
        csrf = await signed_in(world, browser, "manager")
        unchanged = await state(world)
        preview = await send(world, browser, case.form, case.data(world, ids), csrf)
        assert preview.status_code == 200, preview.text
        for shown in case.shows(world, ids):
            assert shown in preview.text
        assert '<button type="submit">Save</button>' in preview.text
        assert await state(world) == unchanged  # a preview changes nothing

        fields = hidden_fields(preview.text)
        saved = await browser.post(
            f"/servers/{world.guild.id}/settings/{case.form}", data=fields, headers=ORIGIN
        )
        assert (saved.status_code, saved.headers["location"]) == (303, f"/servers/{world.guild.id}/settings")
        page = await browser.get(saved.headers["location"])
        again = await browser.get(saved.headers["location"])
    settings, rules, _ = await state(world)
    assert case.stored(world, ids, settings, rules)
    [entry] = [e for e in await world.governance.audit_entries(world.guild.id) if e.action == case.action]
    assert (entry.source, entry.actor_id, entry.details) == (
        "dashboard",
        world.users["manager"],
        case.details(world, ids),
    )
    assert '<p class="notice" role="status">Saved.' in page.text
    assert "Saved." not in again.text  # the notice is shown once


async def test_saving_what_is_already_so_changes_nothing_and_records_nothing(world: World) -> None:
    await world.governance.update_settings(world.guild.id, budget_dollars_per_day=5.0)
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        unchanged = await state(world)
        preview = await send(world, browser, "budget", {"dollars_per_day": "5.00"}, csrf)
        assert "Nothing would change" in preview.text
        assert "Save</button>" not in preview.text
        saved = await send(world, browser, "budget", {"dollars_per_day": "5", "confirm": "1"}, csrf)
        page = await browser.get(saved.headers["location"])
    assert saved.status_code == 303
    assert "Daily budget: nothing changed." in page.text
    assert await state(world) == unchanged


async def test_save_checks_everything_again_the_server_as_it_is_now(world: World) -> None:
    """A role deleted between the preview and Save: refused, nothing saved (the preview is not believed)."""
    ids = prepare(world)
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        preview = await send(
            world, browser, "limits-set", {"role": str(ids.regulars), "concurrent": "4"}, csrf
        )
        assert preview.status_code == 200
        del world.guild.roles[ids.regulars]
        unchanged = await state(world)
        fields = hidden_fields(preview.text)
        saved = await browser.post(
            f"/servers/{world.guild.id}/settings/limits-set", data=fields, headers=ORIGIN
        )
        edited = await send(world, browser, "limits-set", {**fields, "concurrent": "101"}, csrf)
    assert saved.status_code == 400
    assert "role: not a role of this server." in saved.text
    assert edited.status_code == 400
    assert await state(world) == unchanged


LIMIT_EDGES = [
    ("limits-set", "jobs_per_hour", "0", "10000", ["-1", "10001"]),
    ("limits-set", "video_seconds_per_day", "0", "1000000", ["-1", "1000001"]),
    ("limits-set", "concurrent", "0", "100", ["-1", "101"]),
    ("limits-set", "story_shots", "0", "5", ["-1", "6"]),
    ("defaults", "strikes_to_block", "1", "100", ["0", "101"]),
    ("budget", "dollars_per_day", "0", "1000000", ["-0.01", "1000000.01", "5.001", "1e3", "nan", "inf", "$"]),
]


@pytest.mark.parametrize(
    ("form", "name", "low", "high", "outside"), LIMIT_EDGES, ids=[e[1] for e in LIMIT_EDGES]
)
async def test_values_at_the_ends_of_the_ranges_are_saved_and_just_outside_refused(
    world: World, form: str, name: str, low: str, high: str, outside: list[str]
) -> None:
    async with world.browser() as browser:
        csrf = await signed_in(world, browser, "administrator")
        for value in outside:
            unchanged = await state(world)
            for confirm in ({}, {"confirm": "1"}):
                refused = await send(world, browser, form, {name: value, **confirm}, csrf)
                assert refused.status_code == 400, (value, refused.text)
                assert f"{name}: " in refused.text
            assert await state(world) == unchanged
        for value in (low, high):
            _, saved = await preview_then_save(world, browser, form, {name: value}, csrf)
            assert saved.status_code == 303
            settings, rules, _ = await state(world)
            stored: object = (
                getattr(rules[0], name)
                if form == "limits-set"
                else settings.budget_dollars_per_day
                if form == "budget"
                else getattr(settings, name)
            )
            assert stored == float(value) and type(stored) is (float if form == "budget" else int)


REFUSALS: list[tuple[str, str, Callable[[World, Ids], dict[str, str]], str]] = [
    (
        "another server's role",
        "limits-set",
        lambda w, i: {"role": str(i.other_role), "pro": "yes"},
        "role: not a role",
    ),
    (
        "another server's role, cleared",
        "limits-clear",
        lambda w, i: {"role": str(i.other_role)},
        "role: not a role",
    ),
    (
        "another server's role, trusted",
        "approvals-on",
        lambda w, i: {"channel": str(i.mods), "trusted_role": str(i.other_role)},
        "trusted_role: not a role",
    ),
    ("@everyone", "limits-set", lambda w, i: {"role": str(w.guild.id), "pro": "yes"}, "role: not a role"),
    (
        "another server's channel",
        "approvals-on",
        lambda w, i: {"channel": str(i.other_channel)},
        "not a text channel",
    ),
    (
        "another server's channel, audit",
        "audit-channel",
        lambda w, i: {"channel": str(i.other_channel)},
        "not a text",
    ),
    (
        "a voice channel",
        "audit-channel",
        lambda w, i: {"channel": str(i.voice)},
        "channel: not a text channel",
    ),
    (
        "no approval channel",
        "approvals-on",
        lambda w, i: {"trusted_role": str(i.regulars)},
        "channel: choose",
    ),
    (
        "a member of another server",
        "limits-set",
        lambda w, i: {"member": str(w.users["stranger"]), "hd": "no"},
        "member: not",
    ),
    (
        "a role and a member",
        "limits-set",
        lambda w, i: {"role": str(i.regulars), "member": str(w.users["member"]), "hd": "no"},
        "not both",
    ),
    ("neither role nor member", "limits-clear", lambda w, i: {}, "Choose one role or one member."),
    ("no limit", "limits-set", lambda w, i: {"role": str(i.regulars)}, "Give at least one limit to set."),
    ("no default", "defaults", lambda w, i: {"duration": ""}, "Give at least one default to set."),
    (
        "a duration not offered",
        "defaults",
        lambda w, i: {"duration": "5"},
        "duration: not one of the choices.",
    ),
    (
        "a language not offered",
        "defaults",
        lambda w, i: {"language": "xx"},
        "language: not one of the choices.",
    ),
    ("a model not offered", "defaults", lambda w, i: {"model": "sora-3"}, "model: not one of the choices."),
    ("pro neither yes nor no", "limits-set", lambda w, i: {"pro": "maybe"}, "pro: not one of the choices."),
    ("not a number", "limits-set", lambda w, i: {"concurrent": "two"}, "concurrent: a whole number"),
]


@pytest.mark.parametrize(("case", "form", "data", "says"), REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_what_the_command_would_refuse_is_refused_with_nothing_changed(
    world: World, case: str, form: str, data: Callable[[World, Ids], dict[str, str]], says: str
) -> None:
    ids = prepare(world)
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        unchanged = await state(world)
        answers = [
            await send(world, browser, form, {**data(world, ids), **confirm}, csrf)
            for confirm in ({}, {"confirm": "1"})
        ]
    assert [a.status_code for a in answers] == [400, 400]
    assert all(html.escape(says, quote=True) in a.text for a in answers), answers[0].text
    assert await state(world) == unchanged


async def test_a_departed_members_rule_can_still_be_cleared(world: World) -> None:
    gone = world.users["member"]
    await world.governance.set_limit_rule(world.guild.id, LimitRule("user", gone, concurrent=1))
    del world.guild.members[gone]
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        refused = await send(world, browser, "limits-set", {"member": str(gone), "concurrent": "2"}, csrf)
        _, cleared = await preview_then_save(world, browser, "limits-clear", {"member": str(gone)}, csrf)
    assert refused.status_code == 400
    assert cleared.status_code == 303
    assert await world.governance.limit_rules(world.guild.id) == []


@pytest.mark.parametrize(
    "who",
    [
        "approver",
        "configured approver",
        "viewer",
        "member",
        "stranger",
        "logged out",
        "forged csrf",
        "wrong origin",
    ],
)
async def test_only_the_servers_admins_may_see_or_change_its_settings(world: World, who: str) -> None:
    ids = prepare(world)
    gid = world.guild.id
    for level, name in (("approver", "configured approver"), ("viewer", "viewer")):
        role_id = world.guild.add_role(f"{level}s")
        world.users[name] = world.guild.add_member(name=name, roles=[role_id])
        await world.governance.set_staff_role(gid, role_id, level)  # type: ignore[arg-type]
    forms = {
        "budget": {"dollars_per_day": "9"},
        "limits-set": {"jobs_per_hour": "0"},
        "approvals-on": {"channel": str(ids.mods)},
        "audit-channel": {"channel": str(ids.audit)},
        "defaults": {"strikes_to_block": "9"},
    }
    async with world.browser() as browser, world.browser() as admin:
        owner_csrf = await signed_in(world, admin)
        login = {"forged csrf": "owner", "wrong origin": "owner", "logged out": None}.get(who, who)
        csrf = await signed_in(world, browser, login) if login is not None else ""
        unchanged = await state(world)
        page = await browser.get(f"/servers/{gid}/settings")
        answers = []
        for form, data in forms.items():
            sent = {**data, "confirm": "1", "csrf": owner_csrf if who == "logged out" else csrf}
            if who == "forged csrf":
                sent["csrf"] = csrf[:-2] + "xx"
            origin = {"origin": "https://evil.example"} if who == "wrong origin" else ORIGIN
            answers.append(await browser.post(f"/servers/{gid}/settings/{form}", data=sent, headers=origin))
    expected = {"logged out": 303, "forged csrf": 403, "wrong origin": 403}.get(who, 404)
    assert [a.status_code for a in answers] == [expected] * len(forms)
    assert page.status_code == (
        200 if who in ("forged csrf", "wrong origin") else expected if who == "logged out" else 404
    )
    assert await state(world) == unchanged


@pytest.mark.parametrize("who", ["owner", "administrator", "manager"])
async def test_the_owner_administrators_and_managers_may(world: World, who: str) -> None:
    async with world.browser() as browser:
        csrf = await signed_in(world, browser, who)
        page = await browser.get(f"/servers/{world.guild.id}/settings")
        _, saved = await preview_then_save(world, browser, "budget", {"dollars_per_day": "3.5"}, csrf)
    assert page.status_code == 200 and saved.status_code == 303
    assert (await world.governance.settings(world.guild.id)).budget_dollars_per_day == 3.5


async def test_an_unknown_form_is_not_found_and_changes_nothing(world: World) -> None:
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        unchanged = await state(world)
        answer = await send(
            world, browser, "budget-everything", {"dollars_per_day": "1", "confirm": "1"}, csrf
        )
    assert answer.status_code == 404
    assert await state(world) == unchanged


async def test_the_page_shows_the_settings_and_every_limit_rule_by_name(world: World) -> None:
    ids = prepare(world)
    gid = world.guild.id
    gone_role = 123456789012345678
    await world.governance.update_settings(
        gid,
        budget_dollars_per_day=5.0,
        approvals_channel_id=ids.mods,
        audit_channel_id=ids.audit,
        language="ja",
    )
    for rule in (
        LimitRule("guild", gid, concurrent=2),
        LimitRule("role", ids.regulars, jobs_per_hour=30, pro=True),
        LimitRule("role", gone_role, hd=False),
        LimitRule("user", world.users["member"], story_shots=0),
    ):
        await world.governance.set_limit_rule(gid, rule)
    async with world.browser() as browser:
        await signed_in(world, browser)
        page = (await browser.get(f"/servers/{gid}/settings")).text
    for shown in (
        "<th>Daily budget</th><td>$5.00 a day</td>",
        "<th>Approval requests go to</th><td>#mods</td>",
        "<th>Audit posts go to</th><td>#audit</td>",
        "<th>Language of posts</th><td>日本語</td>",
        "<td>The bot&#39;s defaults</td><td>jobs per hour 10,",
        "<td>The whole server</td><td>concurrent 2</td>",
        "<td>Role @Regulars</td><td>jobs per hour 30, pro yes</td>",
        f"<td>Role a role no longer in the server ({gone_role})</td><td>hd no</td>",
        f"<td>Member {world.users['member']}</td><td>story shots 0</td>",
        f'<option value="{ids.general}">#general</option>',
        f'<option value="{ids.mods}" selected>#mods</option>',
        '<option value="server">The server&#39;s own language</option>',
        '<option value="12">12 seconds</option>',
        'max="10000"',
    ):
        assert shown in page
    assert f'value="{ids.voice}"' not in page  # a voice channel is offered nowhere
    assert f'value="{ids.other_channel}"' not in page and f'value="{ids.other_role}"' not in page
    assert f'<option value="{gid}">' not in page  # @everyone


async def test_names_from_discord_render_as_text_on_the_page_and_the_preview(world: World) -> None:
    script = "<script>alert('x')</script>"
    world.guild.name = script
    role_id = world.guild.add_role(script)
    channel_id = world.guild.add_channel(script)
    await world.governance.set_limit_rule(world.guild.id, LimitRule("role", role_id, concurrent=1))
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        page = (await browser.get(f"/servers/{world.guild.id}/settings")).text
        preview = (
            await send(
                world,
                browser,
                "approvals-on",
                {"channel": str(channel_id), "trusted_role": str(role_id)},
                csrf,
            )
        ).text
    for text in (page, preview):
        assert "<script>" not in text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text


async def test_what_the_dashboard_saves_is_what_the_bot_then_applies(world: World) -> None:
    """Read back by a second connection to the database, as the bot's own process would, and put through the
    limit computation the guard uses."""
    ids = prepare(world)
    regular = world.guild.add_member(name="reg", roles=[ids.regulars])
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        for form, data in (
            ("limits-set", {"jobs_per_hour": "4", "concurrent": "1"}),
            ("limits-set", {"role": str(ids.regulars), "jobs_per_hour": "25", "hd": "yes"}),
            ("budget", {"dollars_per_day": "7.25"}),
            ("approvals-on", {"channel": str(ids.mods)}),
            ("defaults", {"duration": "8", "language": "fr"}),
        ):
            _, saved = await preview_then_save(world, browser, form, data, csrf)
            assert saved.status_code == 303
    bots = await Database.open(world.settings.database_target)
    try:
        governance = Governance(bots)
        rules = await governance.limit_rules(world.guild.id)
        settings = await governance.settings(world.guild.id)
    finally:
        await bots.close()
    defaults = world.settings.limit_defaults()
    member = resolve(defaults, rules, [], world.users["member"])
    regular_policy = resolve(defaults, rules, [ids.regulars], regular)
    assert (member.limits.jobs_per_hour, member.limits.concurrent, member.hd) == (4, 1, defaults.hd)
    assert (regular_policy.limits.jobs_per_hour, regular_policy.limits.concurrent, regular_policy.hd) == (
        25,
        1,
        True,
    )
    assert (settings.budget_dollars_per_day, settings.approvals_channel_id) == (7.25, ids.mods)
    assert (settings.default_duration, settings.language, settings.approvals_trusted_role_id) == (
        8,
        "fr",
        None,
    )


async def test_with_an_audit_channel_each_change_is_posted_there(world: World) -> None:
    ids = prepare(world)
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        await preview_then_save(world, browser, "audit-channel", {"channel": str(ids.audit)}, csrf)
        await preview_then_save(world, browser, "budget", {"dollars_per_day": "12"}, csrf)
    posts = world.fake.channel_messages(ids.audit)
    assert [p["embeds"][0]["title"] for p in posts] == ["audit.channel", "budget.set"]


async def test_the_longest_names_still_fit_the_page_the_preview_and_the_session_cookie(world: World) -> None:
    """Discord allows 100 characters in a role's or a channel's name: 100 emoji is the worst case for the
    notice that rides in the session cookie (browsers keep 4 KB of it at most)."""
    longest = "\N{GRINNING FACE}" * 100
    roles = [world.guild.add_role(longest) for _ in range(2)]
    channels = [world.guild.add_channel(longest) for _ in range(2)]
    await world.governance.update_settings(
        world.guild.id, approvals_channel_id=channels[0], approvals_trusted_role_id=roles[0]
    )
    async with world.browser() as browser:
        csrf = await signed_in(world, browser)
        data = {"channel": str(channels[1]), "trusted_role": str(roles[1])}
        preview, saved = await preview_then_save(world, browser, "approvals-on", data, csrf)
        page = await browser.get(f"/servers/{world.guild.id}/settings")
        _, limited = await preview_then_save(
            world, browser, "limits-set", {"role": str(roles[1]), "hd": "no"}, csrf
        )
        after = await browser.get(f"/servers/{world.guild.id}/settings")
    assert len(limited.headers["set-cookie"].encode()) < 4096
    assert "Saved. Limits for role @" + "\N{GRINNING FACE}" * 22 + "…: 1080p." in after.text
    assert preview.text.count(longest) == 4  # before and after, the channel and the role, whole
    assert saved.status_code == 303
    assert len(saved.headers["set-cookie"].encode()) < 4096
    assert page.status_code == 200  # still logged in
    assert "Saved. Approval: Approval requests go to, Trusted role." in page.text
    assert page.text.count(longest) >= 4  # the selects and the current settings
