"""The access matrix: every route of the dashboard (read from the app, so a route added without an entry here
fails) crossed with everyone who may ask: the server's owner, an Administrator, a Manage Server, a Manage
Messages, the roles the server made approvers and viewers, a plain member, another server's admin, and a
browser never logged in, one whose login expired, and a copy of a cookie whose session was ended by Log out;
each form also forged (CSRF token wrong or missing, Origin wrong or missing). Whoever may gets the page's
answer, and a form that saves changes what it is for; everyone else is refused the way the dashboard
refuses (404 exactly as for a server that does not exist, 303 to log in, 403) and nothing changes: no row of
any table, no stored file, no message on Discord and no request to Discord that changes one.

A page's sub-resources (the approvals page's thumbnails, a job page's clip) are not checked with Discord:
they open with the link their page signed for the member who opened it. So whoever may open the page gets
the link it signs; whoever may not has none of their own, only one signed for someone else (the owner's,
handed on), which is refused (403). An id too long for the database is no route at all (404, to anyone)."""

from __future__ import annotations

import contextlib
import copy
import html
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx
import pytest
from starlette.routing import Route

from bot.dashboard.access import Role
from bot.dashboard.auth import SESSION_SECONDS
from bot.dashboard.media_links import SECONDS, Kind, MediaLinks
from bot.dashboard.pages.access_lists import FORMS as LIST_FORMS
from bot.dashboard.pages.access_lists import MEMBER_ACTIONS
from bot.dashboard.settings_forms import FORMS as SETTINGS_FORMS
from bot.domain.limits import LimitRule
from bot.domain.models import Job, JobRequest, JobState, Target
from bot.files import clip_name
from bot.services.approvals import Approvals
from bot.services.audit import Audit
from bot.store.jobs import NewJob
from tests.unit.dashboard.conftest import DASHBOARD_URL, SECRET, World
from tests.unit.dashboard.test_access import csrf_of
from tests.unit.dashboard.test_approvals import Desk


@pytest.fixture
def lookups_per_minute() -> int:
    """One member asks for many pages here, each beside the same one for a server that does not exist: more
    than a minute's lookups (that budget has its own tests in test_access.py)."""
    return 10_000


NOWHERE = 123456789  # a server id the bot is not in: what a refusal must look like
EVIL = "https://dashboard.example.org.evil.example"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CLIP = b"\x00\x00\x00\x18ftypmp42 a clip"
SIGNED_SRC = re.compile(r'src="([^"]+\?expires=[^"]+)"')  # the first sub-resource a page signed a link for


# -- the server every case starts from ------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """The world's server furnished so that every action has something to act on."""

    world: World
    waiting: Job  # awaiting approval, with an input image, posted in the moderators' channel
    delivered: int  # a delivered job of the plain member's, its clip in the store
    artists: int  # a role no list names, with a limit rule of its own
    general: int  # a text channel no setting names


async def stage(world: World) -> Stage:
    g, gov, member = world.guild, world.governance, world.users["member"]
    for level in ("approver", "viewer"):
        role = g.add_role(f"configured {level}")
        await gov.set_staff_role(g.id, role, level)
        world.users[f"staff {level}"] = g.add_member(name=f"staff-{level}", roles=[role])
    general, mods, audit = g.add_channel("general"), g.add_channel("mod-queue"), g.add_channel("audit")
    artists = g.add_role("Artists")
    await gov.update_settings(g.id, approvals_channel_id=mods, audit_channel_id=audit)
    await gov.set_limit_rule(g.id, LimitRule("role", artists, jobs_per_hour=5))
    await gov.add_block_rule(g.id, "oldword", False, world.users["owner"])
    for _ in range(2):
        await gov.add_strike(g.id, member, 3)
    none: Any = None  # the guard: the buttons' only
    approvals = Approvals(
        world.settings,
        world.bot_client,
        world.jobs,
        gov,
        none,
        Audit(gov, world.bot_client),
        lambda: None,
        world.storage,
    )
    waiting = await Desk(world, mods, approvals).request("a lighthouse in a storm", image=True)
    job = await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt="a quiet harbour at dawn"),
            user_id=member,
            guild_id=g.id,
            estimated_cost=0.4,
            target_kind="discord",
            target=cast(Target, {"kind": "discord"}),
        )
    )
    clip = world.storage.work_dir / clip_name(job.id)
    clip.write_bytes(CLIP)
    done = await world.jobs.transition(
        job.id, JobState.DELIVERED, expect={JobState.QUEUED}, output_path=str(clip), actual_cost=0.4
    )
    assert done is not None
    return Stage(world, waiting, job.id, artists, general)


# -- the table: every route, its minimum, and valid requests to it ------------------------------------------

Need = Role | Literal["anyone", "a session"]
Path = Callable[[Stage, int, int], str]  # (stage, server id, the asker's id) -> path and query
Form = Callable[[Stage], dict[str, str]]


@dataclass(frozen=True)
class Action:
    """A valid request to a route, as the page's own link or form makes it, and what whoever may gets."""

    name: str
    path: Path
    form: Form | None = None  # a POST's fields (the CSRF token is added)
    status: int = 200
    location: str = ""  # a 303's target: "{gid}" and "{job}" (the waiting job) are filled in
    touches: frozenset[str] = frozenset()  # the tables it changes; none: it changes nothing at all
    signed_on: Path | None = None  # a sub-resource: the page whose signed link the asker uses, if it opens


@dataclass(frozen=True)
class Entry:
    need: Need
    actions: tuple[Action, ...]
    logged_out: int = 303  # what a browser without a live login gets (to log in, then back)
    refused: int = 404  # what a live login below `need` gets (404: as for a server that does not exist)


def page(suffix: str = "") -> Path:
    return lambda s, gid, uid: f"/servers/{gid}{suffix}"


def owners_link(kind: Kind, path: str, job: Callable[[Stage], int]) -> Path:
    """A sub-resource's link as its page signs it for the server's owner: all that an asker the page refuses
    could hold (handed on, or copied from the owner's screen)."""

    def link(s: Stage, gid: int, uid: int) -> str:
        expires = int(s.world.now[0]) + SECONDS[kind]
        owner, job_id = s.world.users["owner"], job(s)
        query = MediaLinks(SECRET).query(kind, user_id=owner, guild_id=gid, job_id=job_id, expires=expires)
        return f"/servers/{gid}/{path.format(job=job_id)}?{query}"

    return link


def get(name: str, path: Path) -> tuple[Action, ...]:
    return (Action(name, path),)


# Each settings form, saved (confirm=1) with a value that changes something, and the table it changes.
SETTINGS: dict[str, tuple[Form, str]] = {
    "limits-set": (lambda s: {"jobs_per_hour": "3"}, "limit_rules"),
    "limits-clear": (lambda s: {"role": str(s.artists)}, "limit_rules"),
    "budget": (lambda s: {"dollars_per_day": "7"}, "guild_settings"),
    "approvals-on": (lambda s: {"channel": str(s.general)}, "guild_settings"),
    "approvals-off": (lambda s: {}, "guild_settings"),
    "audit-channel": (lambda s: {"channel": str(s.general)}, "guild_settings"),
    "defaults": (lambda s: {"strikes_to_block": "9"}, "guild_settings"),
}


def on_member(action: str) -> Form:
    return lambda s: {"action": action, "member": str(s.world.users["member"])}


# Each access lists form (the member form for each of its actions), likewise.
LISTS: dict[str, tuple[str, Form, str]] = {
    "channels": ("channels", lambda s: {"action": "add", "channel": str(s.general)}, "allowed_channels"),
    "roles": ("roles", lambda s: {"action": "add", "role": str(s.artists)}, "allowed_roles"),
    "blocklist": ("blocklist", lambda s: {"action": "add", "pattern": "newword"}, "blocklist"),
    **{
        f"member {action}": ("member", on_member(action), "jobs" if action == "forget" else "member_status")
        for action in MEMBER_ACTIONS
    },
    "staff": ("staff", lambda s: {"role": str(s.artists), "level": "approver"}, "staff_roles"),
}


def saved(name: str, form: str, fields: Form, table: str, back: str) -> Action:
    return Action(
        name,
        page(f"/{back}/{form}"),
        lambda s: {**fields(s), "confirm": "1"},
        status=303,
        location=f"/servers/{{gid}}/{back}",
        touches=frozenset({table, "audit_log"}),
    )


APPROVALS = "/servers/{guild_id:snowflake}/approvals"
TABLE: dict[tuple[str, str], Entry] = {
    ("GET", "/"): Entry("anyone", get("home", lambda s, gid, uid: "/")),
    ("GET", "/login"): Entry("anyone", (Action("login", lambda s, gid, uid: "/login", status=303),)),
    # The home page's "Open" form: to the server's page (which decides), whoever asks.
    ("GET", "/servers"): Entry(
        "anyone",
        (
            Action(
                "open a server",
                lambda s, gid, uid: f"/servers?guild={gid}",
                status=303,
                location="/servers/{gid}",
            ),
        ),
    ),
    # A callback this browser did not start (no state): refused to everyone, signed in or not.
    ("GET", "/callback"): Entry(
        "anyone", (Action("stray callback", lambda s, gid, uid: "/callback?code=x&state=y", status=400),)
    ),
    ("POST", "/logout"): Entry(
        "a session",
        (
            Action(
                "log out",
                lambda s, gid, uid: "/logout",
                lambda s: {},
                status=303,
                location="/",
                touches=frozenset({"dashboard_logouts"}),
            ),
        ),
    ),
    ("GET", "/servers/{guild_id:snowflake}"): Entry(Role.VIEWER, get("overview", page())),
    ("GET", APPROVALS): Entry(Role.APPROVER, get("approvals", page("/approvals"))),
    # A sub-resource: with the link its page signed (403 without a live login or a link of one's own).
    ("GET", APPROVALS + "/{job_id:snowflake}/image"): Entry(
        Role.APPROVER,
        (
            Action(
                "thumbnail",
                owners_link("image", "approvals/{job}/image", lambda s: s.waiting.id),
                signed_on=page("/approvals"),
            ),
        ),
        logged_out=403,
        refused=403,
    ),
    ("POST", APPROVALS + "/{job_id:snowflake}/approve"): Entry(
        Role.APPROVER,
        (
            Action(
                "approve",
                lambda s, gid, uid: f"/servers/{gid}/approvals/{s.waiting.id}/approve",
                lambda s: {},
                status=303,
                location="/servers/{gid}/approvals?done=approved&job={job}",
                touches=frozenset({"jobs", "audit_log"}),
            ),
        ),
    ),
    ("POST", APPROVALS + "/{job_id:snowflake}/reject"): Entry(
        Role.APPROVER,
        (
            Action(
                "reject",
                lambda s, gid, uid: f"/servers/{gid}/approvals/{s.waiting.id}/reject",
                lambda s: {"reason": "not for this server"},
                status=303,
                location="/servers/{gid}/approvals?done=rejected&job={job}",
                touches=frozenset({"jobs", "usage_ledger", "audit_log"}),
            ),
        ),
    ),
    ("GET", "/servers/{guild_id:snowflake}/jobs"): Entry(
        Role.VIEWER, get("jobs", page("/jobs?state=delivered"))
    ),
    ("GET", "/servers/{guild_id:snowflake}/jobs/{job_id:snowflake}"): Entry(
        Role.VIEWER, get("job", lambda s, gid, uid: f"/servers/{gid}/jobs/{s.delivered}")
    ),
    # Likewise: not sent to log in without a live login, a <video>'s request is no page to come back to.
    ("GET", "/servers/{guild_id:snowflake}/jobs/{job_id:snowflake}/clip"): Entry(
        Role.VIEWER,
        (
            Action(
                "clip",
                owners_link("clip", "jobs/{job}/clip", lambda s: s.delivered),
                signed_on=lambda s, gid, uid: f"/servers/{gid}/jobs/{s.delivered}",
            ),
        ),
        logged_out=403,
        refused=403,
    ),
    ("GET", "/servers/{guild_id:snowflake}/spend"): Entry(Role.VIEWER, get("spend", page("/spend?days=7"))),
    ("GET", "/servers/{guild_id:snowflake}/spend.png"): Entry(Role.VIEWER, get("chart", page("/spend.png"))),
    ("POST", "/servers/{guild_id:snowflake}/spend.csv"): Entry(
        Role.ADMIN, (Action("export", page("/spend.csv"), lambda s: {}, touches=frozenset({"audit_log"})),)
    ),
    ("GET", "/servers/{guild_id:snowflake}/settings"): Entry(Role.ADMIN, get("settings", page("/settings"))),
    ("POST", "/servers/{guild_id:snowflake}/settings/{form}"): Entry(
        Role.ADMIN,
        (
            Action("preview budget", page("/settings/budget"), lambda s: {"dollars_per_day": "7"}),
            *(saved(name, name, form, table, "settings") for name, (form, table) in SETTINGS.items()),
        ),
    ),
    ("GET", "/servers/{guild_id:snowflake}/lists"): Entry(Role.ADMIN, get("lists", page("/lists"))),
    ("POST", "/servers/{guild_id:snowflake}/lists/{form}"): Entry(
        Role.ADMIN,
        (
            Action(
                "preview blocklist", page("/lists/blocklist"), lambda s: {"action": "add", "pattern": "w"}
            ),
            *(saved(name, form, fields, table, "lists") for name, (form, fields, table) in LISTS.items()),
        ),
    ),
    ("GET", "/servers/{guild_id:snowflake}/audit"): Entry(Role.VIEWER, get("audit log", page("/audit"))),
}


# -- who asks -------------------------------------------------------------------------------------------

Session = Literal["live", "none", "expired", "ended"]


@dataclass(frozen=True)
class Who:
    user: str | None  # whose login (a key of world.users); None: never logged in
    role: Role | None  # their access to the server
    session: Session = "live"


IDENTITIES = {
    "owner": Who("owner", Role.ADMIN),
    "administrator": Who("administrator", Role.ADMIN),
    "manager": Who("manager", Role.ADMIN),
    "approver": Who("approver", Role.APPROVER),
    "configured approver": Who("staff approver", Role.APPROVER),
    "configured viewer": Who("staff viewer", Role.VIEWER),
    "plain member": Who("member", None),
    "another server's admin": Who("stranger", None),
    "logged out": Who(None, None, "none"),
    "expired session": Who("owner", Role.ADMIN, "expired"),  # the owner's: only the session is wrong
    "ended session": Who("owner", Role.ADMIN, "ended"),
}
Forgery = Literal["forged csrf", "missing csrf", "wrong origin", "no origin"]
FORGERIES: tuple[Forgery, ...] = ("forged csrf", "missing csrf", "wrong origin", "no origin")


@dataclass(frozen=True)
class Outcome:
    status: int
    location: str | None = None  # a 303's target
    touches: frozenset[str] | None = None  # None: nothing changes at all
    as_nowhere: bool = False  # the very answer a server that does not exist gets
    allowed: bool = False  # the request is granted (else refused)


def outcome(entry: Entry, action: Action, who: Who) -> Outcome:
    """What the dashboard must answer `who` (a forgery aside)."""
    allowed = Outcome(action.status, action.location or None, action.touches or None, allowed=True)
    if entry.need == "anyone":
        return allowed
    if entry.need == "a session":
        if who.session == "none":
            return Outcome(403)
        # An ended session's Log out ends nothing more; an expired one's is written down all the same.
        return allowed if who.session != "ended" else Outcome(action.status, action.location, allowed=True)
    if who.session in ("none", "expired", "ended"):  # a page goes to log in; a clip is refused
        return Outcome(entry.logged_out, "/login" if entry.logged_out == 303 else None)
    if who.role is None or who.role < entry.need:
        return Outcome(404, as_nowhere=True) if entry.refused == 404 else Outcome(entry.refused)
    return allowed


# -- asking ---------------------------------------------------------------------------------------------


@dataclass
class Visitor:
    """A browser set up as `who`; every request starts from the cookie as set up (a refusal that drops the
    session does not turn an expired session into no session for the next case)."""

    browser: httpx.AsyncClient
    cookies: httpx.Cookies
    csrf: str
    user_id: int  # whose login (the owner's id, for a browser never logged in)

    async def send(
        self, method: str, path: str, form: dict[str, str] | None, forgery: Forgery | None = None
    ) -> httpx.Response:
        self.browser.cookies = httpx.Cookies(self.cookies)
        if method == "GET":
            return await self.browser.get(path)
        data = dict(form or {})
        if forgery != "missing csrf":
            data["csrf"] = self.csrf[:-2] + "xx" if forgery == "forged csrf" else self.csrf
        headers = {"wrong origin": {"origin": EVIL}, "no origin": {}}.get(
            forgery or "", {"origin": DASHBOARD_URL}
        )
        return await self.browser.post(path, data=data, headers=headers)


@contextlib.asynccontextmanager
async def visiting(world: World, who: Who) -> AsyncIterator[Visitor]:
    async with world.browser() as browser:
        csrf, user_id = "", world.users["owner"]
        if who.user is not None:
            user_id = world.users[who.user]
            await world.log_in(browser, user_id)
            csrf = await csrf_of((await browser.get("/")).text)
        cookies = httpx.Cookies(browser.cookies)
        if who.session == "expired":
            world.now[0] += SESSION_SECONDS + 1
        elif who.session == "ended":  # logged out in this browser; `cookies` is the copy kept from before
            ended = await browser.post("/logout", data={"csrf": csrf}, headers={"origin": DASHBOARD_URL})
            assert ended.status_code == 303
        yield Visitor(browser, cookies, csrf, user_id)


async def snapshot(world: World) -> dict[str, Any]:
    """Everything a request could change: every table's rows, the stored files, Discord's messages and the
    requests that change something there."""
    reader = world.db.reader
    tables = await reader.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    state: dict[str, Any] = {}
    for (table,) in tables:
        rows = await reader.fetch_all(f'SELECT * FROM "{table}"')
        state[table] = sorted((tuple(row) for row in rows), key=repr)
    state["files"] = sorted(await world.storage.listing())
    state["discord messages"] = copy.deepcopy(world.fake.messages)
    state["discord requests"] = [
        (r.method, r.path, r.json) for r in world.fake.requests if r.method in MUTATING
    ]
    return state


def changes(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {part for part in before.keys() | after.keys() if before.get(part) != after.get(part)}


async def attempt(
    stage: Stage,
    visitor: Visitor,
    key: tuple[str, str],
    action: Action,
    expected: Outcome,
    forgery: Forgery | None = None,
) -> list[str]:
    """Ask, and what differs from `expected` (nothing: as it should be)."""
    method, gid = key[0], stage.world.guild.id
    form = action.form(stage) if action.form is not None else None
    path = action.path(stage, gid, visitor.user_id)
    if action.signed_on is not None:
        path = await signed_link(visitor, action.signed_on(stage, gid, visitor.user_id)) or path
    before = await snapshot(stage.world)
    answer = await visitor.send(method, path, form, forgery)
    changed = changes(before, await snapshot(stage.world))
    problems = []
    if answer.status_code != expected.status:
        problems.append(f"answered {answer.status_code}, not {expected.status}: {answer.text[:100]!r}")
    elif expected.location is not None:
        location = expected.location.format(gid=gid, job=stage.waiting.id)
        if answer.headers["location"] != location:
            problems.append(f"sent to {answer.headers['location']}, not {location}")
    if expected.as_nowhere:
        nowhere = await visitor.send(method, action.path(stage, NOWHERE, visitor.user_id), form, forgery)
        if (nowhere.status_code, nowhere.text) != (answer.status_code, answer.text):
            problems.append("told apart from a server that does not exist")
    if expected.touches is None and changed:
        problems.append(f"changed {sorted(changed)}")
    if expected.touches is not None and not expected.touches <= changed:
        problems.append(f"changed {sorted(changed)}, not all of {sorted(expected.touches)}")
    return [f"{method} {key[1]} ({action.name}): {problem}" for problem in problems]


async def signed_link(visitor: Visitor, page: str) -> str | None:
    """The sub-resource link the page signs for the visitor, when it opens for them."""
    answer = await visitor.send("GET", page, None)
    found = SIGNED_SRC.search(answer.text) if answer.status_code == 200 else None
    return html.unescape(found[1]) if found is not None else None


def cases(method: str) -> Iterator[tuple[tuple[str, str], Entry, Action]]:
    for key, entry in TABLE.items():
        if key[0] == method:
            yield from ((key, entry, action) for action in entry.actions)


# -- the tests ------------------------------------------------------------------------------------------


async def test_the_table_has_every_route_of_the_app_and_every_form(world: World) -> None:
    routes = set()
    for route in world.app.routes:
        assert isinstance(route, Route), route
        routes |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    assert set(TABLE) == routes
    assert set(SETTINGS) == set(SETTINGS_FORMS)
    assert {form for form, _, _ in LISTS.values()} == set(LIST_FORMS)
    assert {name for name in LISTS if name.startswith("member ")} == {f"member {a}" for a in MEMBER_ACTIONS}


async def test_the_other_method_is_not_allowed_and_changes_nothing(world: World) -> None:
    """A link can't send a form (an export, a Log out), nor a form fetch a page."""
    staged = await stage(world)
    problems = []
    async with visiting(world, IDENTITIES["owner"]) as visitor:
        for (method, path), entry in TABLE.items():
            other = "POST" if method == "GET" else "GET"
            if (other, path) not in TABLE:
                problems += await attempt(staged, visitor, (other, path), entry.actions[0], Outcome(405))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", IDENTITIES)
async def test_every_page_answers_whoever_may_and_refuses_everyone_else(world: World, name: str) -> None:
    staged, who = await stage(world), IDENTITIES[name]
    problems = []
    async with visiting(world, who) as visitor:
        if name == "another server's admin":  # refused here for the server alone: an admin at home
            assert (await visitor.send("GET", f"/servers/{world.other.id}", None)).status_code == 200
        for key, entry, action in cases("GET"):
            problems += await attempt(staged, visitor, key, action, outcome(entry, action, who))
    assert not problems, "\n".join(problems)


REFUSED = [
    name
    for name, who in IDENTITIES.items()
    if any(not outcome(e, a, who).allowed for _, e, a in cases("POST"))
]


@pytest.mark.parametrize("name", REFUSED)
async def test_every_form_refused_to_who_may_not_changes_nothing(world: World, name: str) -> None:
    staged, who = await stage(world), IDENTITIES[name]
    problems = []
    async with visiting(world, who) as visitor:
        for key, entry, action in cases("POST"):
            expected = outcome(entry, action, who)
            if not expected.allowed:
                problems += await attempt(staged, visitor, key, action, expected)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_every_form_forged_is_refused_and_changes_nothing(world: World, forgery: Forgery) -> None:
    staged = await stage(world)
    problems = []
    async with visiting(world, IDENTITIES["owner"]) as visitor:
        for key, _entry, action in cases("POST"):
            problems += await attempt(staged, visitor, key, action, Outcome(403), forgery)
    assert not problems, "\n".join(problems)


ALLOWED = [
    pytest.param(key, action, name, id=f"{action.name} as {name}")
    for key, entry, action in cases("POST")
    for name, who in IDENTITIES.items()
    if outcome(entry, action, who).allowed
]


@pytest.mark.parametrize(("key", "action", "name"), ALLOWED)
async def test_every_form_sent_by_who_may_does_what_it_is_for(
    world: World, key: tuple[str, str], action: Action, name: str
) -> None:
    """A fresh server each: the change is this form's alone."""
    staged, who = await stage(world), IDENTITIES[name]
    async with visiting(world, who) as visitor:
        problems = await attempt(staged, visitor, key, action, outcome(TABLE[key], action, who))
    assert not problems, "\n".join(problems)


# -- ids the database can't hold --------------------------------------------------------------------------

MAX_ID = 2**63 - 1  # SQLite's largest integer
TOO_BIG = {"25 digits": "9" * 25, "5000 digits": "9" * 5000, "2**63": str(MAX_ID + 1)}
IDS = ("{guild_id:snowflake}", "{job_id:snowflake}")


def filled(route: str, ids: dict[str, str]) -> str:
    """The route's path with these ids, and a form name that exists (the ids alone decide)."""
    for param, value in ids.items():
        route = route.replace(param, value)
    return route.replace("{form}", "budget")


def with_one_id(stage: Stage, route: str, value: str) -> Iterator[tuple[str, str]]:
    """The route's path with `value` for each of its ids in turn (the others as the stage has them)."""
    real = {IDS[0]: str(stage.world.guild.id), IDS[1]: str(stage.waiting.id)}
    for param in IDS:
        if param in route:
            yield param, filled(route, real | {param: value})


async def test_every_id_in_a_path_is_bounded(world: World) -> None:
    """Each `{..._id}` of every route takes only what fits the database (the `snowflake` convertor)."""
    params = [
        found
        for route in world.app.routes
        if isinstance(route, Route)
        for found in re.findall(r"{(\w+)(?::(\w+))?}", route.path)
    ]
    ids = [(name, convertor) for name, convertor in params if name.endswith("_id")]
    assert {convertor for _, convertor in ids} == {"snowflake"} and len(ids) == 21
    assert {name for name, convertor in params if convertor == "snowflake"} == {"guild_id", "job_id"}


@pytest.mark.parametrize("name", ["owner", "logged out"])
async def test_an_id_too_big_for_the_database_is_a_404_on_every_route_and_changes_nothing(
    world: World, name: str
) -> None:
    """SQLite overflows past 2**63 - 1 and int() refuses 5000 digits: both were a 500."""
    staged = await stage(world)
    problems = []
    async with visiting(world, IDENTITIES[name]) as visitor:
        for method, route in TABLE:
            for size, value in TOO_BIG.items():
                for param, path in with_one_id(staged, route, value):
                    form = {"reason": "no", "confirm": "1"} if method == "POST" else None
                    before = await snapshot(world)
                    try:
                        answer = await visitor.send(method, path, form)
                    except Exception as exc:  # the app's own error, raised through the test transport
                        problems.append(f"{method} {route} {param}={size}: raised {exc!r}"[:300])
                        continue
                    changed = changes(before, await snapshot(world))
                    if answer.status_code != 404 or changed:
                        problems.append(
                            f"{method} {route} {param}={size}: {answer.status_code} {sorted(changed)}"
                        )
    assert not problems, "\n".join(problems)


async def test_the_largest_id_the_database_holds_is_looked_up_and_not_found(world: World) -> None:
    staged = await stage(world)
    problems = []
    async with visiting(world, IDENTITIES["owner"]) as visitor:
        for method, route in TABLE:
            for param, path in with_one_id(staged, route, str(MAX_ID)):
                form = {"reason": "no", "confirm": "1"} if method == "POST" else None
                answer = await visitor.send(method, path, form)
                # a sub-resource's link is signed for no such id: refused before any lookup
                expected = 403 if route.endswith(("/image", "/clip")) else 404
                if answer.status_code != expected:
                    problems.append(f"{method} {route} {param}: {answer.status_code}, not {expected}")
    assert not problems, "\n".join(problems)
