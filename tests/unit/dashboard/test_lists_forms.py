"""The access lists page: each form does what its /sora-admin subcommand does (the same checks, store calls
and audit actions, from the dashboard), only admins may use it, a change is shown first and made only once
confirmed, ids of another server (or none) are refused, and nothing is changed by any refusal."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, cast

import httpx
import pytest
from markupsafe import escape

from bot.domain.models import JobRequest, JobState, Target
from bot.moderation.prompt_rules import InvalidRule, check_rule
from bot.store.jobs import NewJob
from bot.store.members import MemberStatus
from tests.unit.dashboard.conftest import DASHBOARD_URL, World

ORIGIN = {"origin": DASHBOARD_URL}
VOICE = 2


@dataclass(frozen=True)
class Ids:
    """What `furnish` adds: channels and roles in the server and in another one."""

    general: int  # a text channel, not listed
    clips: int  # a text channel, listed
    voice: int  # a voice channel: never listed
    artists: int  # a role, not listed
    helpers: int  # a role, listed, and given viewer access to the dashboard
    their_channel: int  # another server's
    their_role: int


async def furnish(world: World) -> Ids:
    g = world.guild
    ids = Ids(
        general=g.add_channel("general"),
        clips=g.add_channel("clips"),
        voice=g.add_channel("lounge"),
        artists=g.add_role("Artists"),
        helpers=g.add_role("Helpers"),
        their_channel=world.other.add_channel("theirs"),
        their_role=world.other.add_role("Theirs"),
    )
    g.channels[ids.voice].type = VOICE
    gov = world.governance
    await gov.set_allowed(g.id, "channels", ids.clips, True)
    await gov.set_allowed(g.id, "roles", ids.helpers, True)
    await gov.add_block_rule(g.id, "oldword", False, world.users["owner"])
    await gov.set_staff_role(g.id, ids.helpers, "viewer")
    for _ in range(2):
        await gov.add_strike(g.id, world.users["member"], 3)
    return ids


async def everything(world: World) -> dict[str, Any]:
    """Every row a form could change, in both servers, and the stored files."""
    state: dict[str, Any] = {}
    gov = world.governance
    for guild in (world.guild, world.other):
        gid = guild.id
        state[str(gid)] = {
            "channels": await gov.allowed(gid, "channels"),
            "roles": await gov.allowed(gid, "roles"),
            "blocklist": await gov.blocklist(gid),
            "staff": await gov.staff_roles(gid),
            "members": {who: await gov.member(gid, uid) for who, uid in world.users.items()},
            "audit": await gov.audit_entries(gid),
        }
    jobs = await world.jobs.list_jobs(limit=1000)
    state["jobs"] = {job.id: (job.state, job.request.prompt) for job in jobs}
    state["files"] = sorted(await world.storage.listing())
    return state


class Forms(HTMLParser):
    """The forms of a page: (action, {field: value}) in order."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.found.append((values.get("action", ""), {}))
        elif tag == "input" and self.found and "name" in values:
            self.found[-1][1][values["name"]] = values.get("value", "")


@dataclass
class Admin:
    browser: httpx.AsyncClient
    csrf: str
    guild_id: int

    async def send(self, form: str, **fields: str) -> httpx.Response:
        url = f"/servers/{self.guild_id}/lists/{form}"
        return await self.browser.post(url, data={"csrf": self.csrf, **fields}, headers=ORIGIN)

    async def confirm(self, preview: httpx.Response) -> httpx.Response:
        """Save as the preview's own form says (its hidden fields, as a browser sends them)."""
        action, fields = next((a, f) for a, f in Forms(preview.text).found if "/lists/" in a)
        assert fields["confirm"] == "1"
        return await self.browser.post(action, data=fields, headers=ORIGIN)


def csrf_in(page: str) -> str:
    return next(f["csrf"] for _, f in Forms(page).found if "csrf" in f)


@contextlib.asynccontextmanager
async def signed_in(world: World, who: str = "owner") -> AsyncIterator[Admin]:
    async with world.browser() as browser:
        await world.log_in(browser, world.users[who])
        yield Admin(browser, csrf_in((await browser.get("/")).text), world.guild.id)


# -- each form: a preview that changes nothing, then exactly the change and the cog's audit entry ------------

Expect = Callable[[dict[str, Any], Ids, World], None]


@dataclass(frozen=True)
class Case:
    form: str
    fields: Callable[[Ids, World], dict[str, str]]
    preview: str
    action: str
    details: Callable[[Ids, World], dict[str, Any]]
    change: Expect  # what the confirmed change does to `everything` of this server


def _members(change: dict[str, MemberStatus]) -> Expect:
    return lambda s, ids, w: s["members"].update(change)


CASES = {
    "channels add": Case(
        "channels",
        lambda ids, w: {"action": "add", "channel": str(ids.general)},
        "Add #general to the allowed channels.",
        "channels.add",
        lambda ids, w: {"target": ids.general},
        lambda s, ids, w: s["channels"].add(ids.general),
    ),
    "channels remove": Case(
        "channels",
        lambda ids, w: {"action": "remove", "channel": str(ids.clips)},
        "Remove #clips from the allowed channels.",
        "channels.remove",
        lambda ids, w: {"target": ids.clips},
        lambda s, ids, w: s["channels"].discard(ids.clips),
    ),
    "roles allow": Case(
        "roles",
        lambda ids, w: {"action": "add", "role": str(ids.artists)},
        "Add @Artists to the allowed roles.",
        "roles.add",
        lambda ids, w: {"target": ids.artists},
        lambda s, ids, w: s["roles"].add(ids.artists),
    ),
    "roles remove": Case(
        "roles",
        lambda ids, w: {"action": "remove", "role": str(ids.helpers)},
        "Remove @Helpers from the allowed roles.",
        "roles.remove",
        lambda ids, w: {"target": ids.helpers},
        lambda s, ids, w: s["roles"].discard(ids.helpers),
    ),
    "blocklist add words": Case(
        "blocklist",
        lambda ids, w: {"action": "add", "pattern": "  bad thing  "},
        "Refuse prompts with the word(s): bad thing",
        "blocklist.add",
        lambda ids, w: {"pattern": "bad thing", "regex": False},
        lambda s, ids, w: s["blocklist"].append(("bad thing", False)),
    ),
    "blocklist add regex": Case(
        "blocklist",
        lambda ids, w: {"action": "add", "pattern": r"b[a4]d\w*", "regex": "1"},
        r"Refuse prompts with the regular expression: b[a4]d\w*",
        "blocklist.add",
        lambda ids, w: {"pattern": r"b[a4]d\w*", "regex": True},
        lambda s, ids, w: s["blocklist"].append((r"b[a4]d\w*", True)),
    ),
    "blocklist remove": Case(
        "blocklist",
        lambda ids, w: {"action": "remove", "pattern": "oldword"},
        "Stop refusing prompts with: oldword",
        "blocklist.remove",
        lambda ids, w: {"pattern": "oldword"},
        lambda s, ids, w: s["blocklist"].remove(("oldword", False)),
    ),
    "member block": Case(
        "member",
        lambda ids, w: {"action": "block", "member": str(w.users["member"])},
        "Block member {member} (mel): they can no longer make clips here.",
        "member.block",
        lambda ids, w: {"requester": w.users["member"]},
        _members({"member": MemberStatus(2, True)}),
    ),
    "member unblock": Case(
        "member",
        lambda ids, w: {"action": "unblock", "member": str(w.users["member"])},
        "Unblock member {member} (mel)",
        "member.unblock",
        lambda ids, w: {"requester": w.users["member"]},
        _members({"member": MemberStatus(0, False)}),
    ),
    "member reset": Case(
        "member",
        lambda ids, w: {"action": "reset", "member": str(w.users["member"])},
        "Reset member {member} (mel): their strikes are cleared",
        "member.reset",
        lambda ids, w: {"requester": w.users["member"]},
        _members({"member": MemberStatus(0, False)}),
    ),
    "staff approver": Case(
        "staff",
        lambda ids, w: {"role": str(ids.artists), "level": "approver"},
        "Give @Artists approver access to this dashboard",
        "staff.set",
        lambda ids, w: {"target": ids.artists, "level": "approver"},
        lambda s, ids, w: s["staff"].update({ids.artists: "approver"}),
    ),
    "staff viewer": Case(
        "staff",
        lambda ids, w: {"role": str(ids.artists), "level": "viewer"},
        "Give @Artists viewer access to this dashboard",
        "staff.set",
        lambda ids, w: {"target": ids.artists, "level": "viewer"},
        lambda s, ids, w: s["staff"].update({ids.artists: "viewer"}),
    ),
    "staff none": Case(
        "staff",
        lambda ids, w: {"role": str(ids.helpers), "level": "none"},
        "Take access to this dashboard away from @Helpers.",
        "staff.set",
        lambda ids, w: {"target": ids.helpers, "level": None},
        lambda s, ids, w: s["staff"].pop(ids.helpers),
    ),
}


@pytest.mark.parametrize("name", CASES)
async def test_a_preview_changes_nothing_and_saving_it_makes_exactly_that_change_and_its_audit_entry(
    world: World, name: str
) -> None:
    case = CASES[name]
    ids = await furnish(world)
    before = await everything(world)
    async with signed_in(world) as admin:
        preview = await admin.send(case.form, **case.fields(ids, world))
        assert preview.status_code == 200, preview.text
        assert case.preview.format(member=world.users["member"]) in preview.text
        assert await everything(world) == before
        saved = await admin.confirm(preview)
        back = await admin.browser.get(saved.headers["location"])
        again = await admin.browser.get(saved.headers["location"])
    assert (saved.status_code, saved.headers["location"]) == (303, f"/servers/{world.guild.id}/lists")
    after = await everything(world)
    [entry] = after[str(world.guild.id)].pop("audit")
    assert (entry.action, entry.details, entry.source) == (case.action, case.details(ids, world), "dashboard")
    assert entry.actor_id == world.users["owner"]
    expected = copy.deepcopy(before)
    expected[str(world.guild.id)].pop("audit")
    case.change(expected[str(world.guild.id)], ids, world)
    assert after == expected
    assert back.text.count('class="notice"') == 1  # what was done, shown once
    assert 'class="notice"' not in again.text


async def test_forgetting_shows_what_goes_then_cancels_removes_prompts_and_deletes_only_their_files(
    world: World,
) -> None:
    await furnish(world)
    member, approver = world.users["member"], world.users["approver"]
    held = await add_job(world, member, "held by a worker")
    claimed = await world.jobs.claim_next(
        owner="worker-1", lease_seconds=300, max_in_flight=5, target_kinds=["discord"]
    )
    assert claimed is not None and claimed.id == held  # in flight at another process
    queued = await add_job(world, member, "waiting in the queue")
    done = await add_job(world, member, "a finished one")
    await world.jobs.transition(done, JobState.CANCELLED)
    theirs = await add_job(world, approver, "someone else's")
    elsewhere = await add_job(world, member, "in another server", guild_id=world.other.id)
    stored = [f"{done}.mp4", f"{done}.poster-320.jpg", f"{queued}.mp4", f"{theirs}.mp4", f"{elsewhere}.mp4"]
    for name in stored:
        await world.storage.put_bytes(name, b"clip")
    before = await everything(world)
    async with signed_in(world, "administrator") as admin:
        preview = await admin.send("member", action="forget", member=str(member))
        assert preview.status_code == 200, preview.text
        assert await everything(world) == before
        saved = await admin.confirm(preview)
        back = await admin.browser.get(saved.headers["location"])
    assert f"Forget member {member} (mel): the prompts of their 3 job(s) and 0 story(ies)" in preview.text
    assert "their 3 stored file(s)" in preview.text
    assert "2 unfinished job(s) will be cancelled first." in preview.text
    assert saved.status_code == 303
    after = await everything(world)
    assert {job: after["jobs"][job] for job in (held, queued, done)} == {
        held: (JobState.CANCELLED, "[removed]"),
        queued: (JobState.CANCELLED, "[removed]"),
        done: (JobState.CANCELLED, "[removed]"),
    }
    assert after["jobs"][theirs] == before["jobs"][theirs]
    assert after["jobs"][elsewhere] == before["jobs"][elsewhere]
    assert after["files"] == sorted([f"{theirs}.mp4", f"{elsewhere}.mp4"])
    [entry] = await world.governance.audit_entries(world.guild.id, action_prefix="member.")
    assert (entry.action, entry.details, entry.source) == ("member.forget", {"target": member}, "dashboard")
    assert f"Forgot member {member} (mel): prompts removed, 3 files deleted." in back.text


async def add_job(world: World, user_id: int, prompt: str, *, guild_id: int | None = None) -> int:
    job = await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt=prompt),
            user_id=user_id,
            guild_id=guild_id or world.guild.id,
            estimated_cost=0.4,
            target_kind="discord",
            target=cast(Target, {"kind": "discord"}),
        )
    )
    return job.id


# -- refusals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("(unclosed", True),
        (".*", True),  # matches an empty prompt: every prompt
        ("a{5000}", True),
        ("((a{100}){100}){100}", True),
        ("   ", False),
        ("!!!", False),  # a word rule needs a letter or digit
    ],
)
async def test_a_blocklist_rule_the_cog_refuses_is_refused_with_its_words(
    world: World, pattern: str, regex: bool
) -> None:
    with pytest.raises(InvalidRule) as refused:
        check_rule(pattern, regex)
    before = await everything(world)
    async with signed_in(world) as admin:
        fields = {"action": "add", "pattern": pattern, "regex": "1" if regex else ""}
        answers = [await admin.send("blocklist", **fields)]
        answers.append(await admin.send("blocklist", **fields, confirm="1"))
    for answer in answers:
        assert answer.status_code == 400
        assert str(escape(str(refused.value))) in answer.text
    assert await everything(world) == before


async def test_a_blocklist_pattern_over_the_commands_length_limit_is_refused(world: World) -> None:
    """The command's option takes at most 200 characters as typed, spaces around them included."""
    before = await everything(world)
    async with signed_in(world) as admin:
        longest = await admin.send("blocklist", action="add", pattern="x" * 200)
        padded = await admin.send("blocklist", action="add", pattern="x" * 195 + " " * 6, confirm="1")
        too_long = await admin.send("blocklist", action="add", pattern="x" * 201, confirm="1")
        removal = await admin.send("blocklist", action="remove", pattern="x" * 201, confirm="1")
    assert longest.status_code == 200
    assert (padded.status_code, too_long.status_code, removal.status_code) == (400, 400, 400)
    assert await everything(world) == before


@pytest.mark.parametrize(
    ("form", "fields"),
    [
        ("channels", lambda ids, w: {"action": "add", "channel": str(ids.their_channel)}),
        ("channels", lambda ids, w: {"action": "remove", "channel": str(ids.their_channel)}),
        ("channels", lambda ids, w: {"action": "add", "channel": str(ids.voice)}),  # not a text channel
        ("channels", lambda ids, w: {"action": "add", "channel": "424242"}),
        ("roles", lambda ids, w: {"action": "add", "role": str(ids.their_role)}),
        ("roles", lambda ids, w: {"action": "remove", "role": str(ids.their_role)}),
        ("staff", lambda ids, w: {"role": str(ids.their_role), "level": "viewer"}),
        ("staff", lambda ids, w: {"role": str(ids.their_role), "level": "none"}),
        ("staff", lambda ids, w: {"role": str(w.guild.id), "level": "viewer"}),  # @everyone
        ("member", lambda ids, w: {"action": "block", "member": str(w.users["stranger"])}),
        ("member", lambda ids, w: {"action": "forget", "member": str(w.users["stranger"])}),
        ("member", lambda ids, w: {"action": "block", "member": "not a number"}),
        ("member", lambda ids, w: {"action": "ban", "member": str(w.users["member"])}),
        ("staff", lambda ids, w: {"role": str(ids.artists), "level": "admin"}),
    ],
)
async def test_another_servers_ids_and_anything_the_cog_would_not_take_are_refused(
    world: World, form: str, fields: Callable[[Ids, World], dict[str, str]]
) -> None:
    ids = await furnish(world)
    before = await everything(world)
    async with signed_in(world) as admin:
        preview = await admin.send(form, **fields(ids, world))
        confirmed = await admin.send(form, **fields(ids, world), confirm="1")
    assert (preview.status_code, confirmed.status_code) == (400, 400)
    assert await everything(world) == before


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("owner", 303),
        ("administrator", 303),
        ("manager", 303),
        ("approver", 404),
        ("member", 404),
        ("stranger", 404),
        ("logged out", 303),  # to the login
        ("forged csrf", 403),
        ("wrong origin", 403),
    ],
)
async def test_only_admins_may_change_the_lists(world: World, who: str, status: int) -> None:
    ids = await furnish(world)
    before = await everything(world)
    fields = {"action": "add", "channel": str(ids.general), "confirm": "1"}
    async with world.browser() as browser:
        if who != "logged out":
            await world.log_in(browser, world.users.get(who, world.users["owner"]))
        token = csrf_in((await browser.get("/")).text) if who != "logged out" else ""
        if who == "forged csrf":
            token = token[:-2] + "xx"
        headers = {"origin": "https://evil.example"} if who == "wrong origin" else ORIGIN
        url = f"/servers/{world.guild.id}/lists/channels"
        answer = await browser.post(url, data={"csrf": token, **fields}, headers=headers)
        page = await browser.get(f"/servers/{world.guild.id}/lists")
    assert answer.status_code == status
    after = await everything(world)
    if who in ("owner", "administrator", "manager"):
        assert answer.headers["location"] == f"/servers/{world.guild.id}/lists"
        assert after[str(world.guild.id)]["channels"] == {ids.clips, ids.general}
        assert page.status_code == 200
    else:
        assert after == before
        if who == "logged out":
            assert answer.headers["location"] == "/login"
        if who in ("approver", "member", "stranger"):
            assert page.status_code == 404
            assert "Access lists" not in page.text


@pytest.mark.parametrize("level", ["viewer", "approver"])
async def test_a_staff_role_lets_its_members_see_the_overview_but_not_this_page(
    world: World, level: str
) -> None:
    ids = await furnish(world)
    member = world.users["member"]
    world.guild.members[member].roles.append(ids.artists)
    async with world.browser() as browser, signed_in(world) as admin:
        await world.log_in(browser, member)
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404
        preview = await admin.send("staff", role=str(ids.artists), level=level)
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404  # a preview gives nothing
        assert (await admin.confirm(preview)).status_code == 303
        overview = await browser.get(f"/servers/{world.guild.id}")
        lists = await browser.get(f"/servers/{world.guild.id}/lists")
        before = await everything(world)
        token = csrf_in((await browser.get("/")).text)
        url = f"/servers/{world.guild.id}/lists/staff"
        fields = {"csrf": token, "role": str(ids.artists), "level": "approver", "confirm": "1"}
        promote = await browser.post(url, data=fields, headers=ORIGIN)
        after = await everything(world)
        removed = await admin.confirm(await admin.send("staff", role=str(ids.artists), level="none"))
        assert removed.status_code == 303
        gone = await browser.get(f"/servers/{world.guild.id}")
    assert overview.status_code == 200
    assert f"You see this server as its {level}." in overview.text
    assert (lists.status_code, promote.status_code) == (404, 404)
    assert after == before
    assert gone.status_code == 404


# -- the page ------------------------------------------------------------------------------------------------


async def test_the_page_names_what_is_listed_and_offers_only_this_servers_text_channels(world: World) -> None:
    ids = await furnish(world)
    gid = world.guild.id
    await world.governance.set_allowed(gid, "channels", 900001, True)
    await world.governance.set_allowed(gid, "roles", 900002, True)
    await world.governance.set_staff_role(gid, 900003, "approver")
    async with signed_in(world) as admin:
        page = (await admin.browser.get(f"/servers/{gid}/lists")).text
        # A listed id the server no longer has can still be taken off.
        gone = await admin.confirm(await admin.send("channels", action="remove", channel="900001"))
        staff_gone = await admin.confirm(await admin.send("staff", role="900003", level="none"))
    for text in ("#clips", "@Helpers", "oldword", "deleted channel (900001)", "deleted role (900002)"):
        assert text in page
    assert "deleted role (900003)</td><td>approver" in page
    forms = Forms(page).found
    here = f"/servers/{gid}/lists"
    assert (f"{here}/channels", {"csrf": admin.csrf, "action": "remove", "channel": str(ids.clips)}) in forms
    assert (f"{here}/blocklist", {"csrf": admin.csrf, "action": "remove", "pattern": "oldword"}) in forms
    assert (f"{here}/staff", {"csrf": admin.csrf, "role": str(ids.helpers), "level": "none"}) in forms
    assert (f"{here}/channels", {"csrf": admin.csrf, "action": "add"}) in forms  # the choice: a select
    options = page[page.index('name="channel" required') : page.index("Add…</button>")]
    assert f'value="{ids.general}"' in options
    assert f'value="{ids.clips}"' not in options  # listed already
    assert f'value="{ids.voice}"' not in options  # not a text channel
    assert f'value="{ids.their_channel}"' not in options
    assert (gone.status_code, staff_gone.status_code) == (303, 303)
    assert await world.governance.allowed(gid, "channels") == {ids.clips}
    assert 900003 not in await world.governance.staff_roles(gid)


async def test_a_members_strikes_are_shown_and_a_stranger_is_refused(world: World) -> None:
    await furnish(world)
    async with signed_in(world) as admin:
        here = f"/servers/{world.guild.id}/lists"
        page = await admin.browser.get(f"{here}?member={world.users['member']}")
        stranger = await admin.browser.get(f"{here}?member={world.users['stranger']}")
    assert f"Member {world.users['member']} (mel): 2 of 3 strikes, not blocked." in page.text
    assert stranger.status_code == 400


async def test_names_and_patterns_render_as_text(world: World) -> None:
    ids = await furnish(world)
    gid = world.guild.id
    world.guild.channels[ids.clips].name = "<script>alert('channel')</script>**bold**"
    world.guild.roles[ids.helpers].name = "<img src=x onerror=alert(1)> __role__"
    member = world.guild.add_member(name="<script>alert('member')</script>`code`")
    pattern = "<script>alert('pattern')</script> **x** \"quoted\""
    await world.governance.add_block_rule(gid, pattern, False, world.users["owner"])
    async with signed_in(world) as admin:
        page = (await admin.browser.get(f"/servers/{gid}/lists")).text
        previews = [
            (await admin.send("blocklist", action="remove", pattern=pattern)).text,
            (await admin.send("channels", action="remove", channel=str(ids.clips))).text,
            (await admin.send("roles", action="remove", role=str(ids.helpers))).text,
            (await admin.send("member", action="block", member=str(member))).text,
        ]
        saved = await admin.confirm(await admin.send("blocklist", action="add", pattern=pattern + " two"))
        notice = (await admin.browser.get(saved.headers["location"])).text
    for text in (page, *previews, notice):
        assert "<script>" not in text
        assert "<img" not in text
    assert "&lt;script&gt;alert(&#39;channel&#39;)&lt;/script&gt;**bold**" in page
    assert "&lt;img src=x onerror=alert(1)&gt; __role__" in page
    assert str(escape(pattern)) in page
    assert "&lt;script&gt;alert(&#39;member&#39;)&lt;/script&gt;`code`" in previews[3]
    assert f'value="{escape(pattern)}"' in previews[0]  # held in the form as typed
    assert f"Blocked word: {escape(pattern)} two" in notice
    assert (pattern + " two", False) in await world.governance.blocklist(gid)


async def test_a_change_is_posted_in_the_audit_channel_like_the_cogs(world: World) -> None:
    ids = await furnish(world)
    await world.governance.update_settings(world.guild.id, audit_channel_id=ids.general)
    async with signed_in(world) as admin:
        saved = await admin.confirm(await admin.send("roles", action="add", role=str(ids.artists)))
    assert saved.status_code == 303
    [post] = world.fake.channel_messages(ids.general)
    [embed] = post["embeds"]
    assert embed["title"] == "roles.add"
    assert {"name": "By", "value": f"<@{world.users['owner']}>", "inline": True} in embed["fields"]
    assert {"name": "Target", "value": str(ids.artists), "inline": True} in embed["fields"]
    assert post["allowed_mentions"] == {"parse": []}
