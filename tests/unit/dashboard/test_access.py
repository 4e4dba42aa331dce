"""Who sees a server's overview and who may log out: decided on every request from the member's standing in
Discord now; anyone else gets the same 404 as for a server that does not exist; every POST needs the
session's CSRF token and the dashboard's Origin (403 otherwise), and a refused one changes nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import cast

import httpx
import pytest
from starlette.exceptions import HTTPException

from bot.dashboard.access import GuardedDirectory, Role
from bot.dashboard.auth import SESSION_SECONDS
from bot.dashboard.discord_rest import DiscordRest
from bot.domain.models import JobRequest, Target
from bot.store.jobs import NewJob
from tests.unit.dashboard.conftest import DASHBOARD_URL, World


def server_list_reads(world: World) -> int:
    """How often the dashboard read the bot's server list (each read ends on an empty page)."""
    return sum(r.query.get("after") == "0" for r in world.fake.requests_for("GET /users/@me/guilds"))


SEES = {"owner": "admin", "administrator": "admin", "manager": "admin", "approver": "approver"}
ORIGIN = {"origin": DASHBOARD_URL}


@pytest.mark.parametrize("who", [*SEES, "member", "stranger"])
async def test_the_overview_is_for_admins_and_approvers_only(world: World, who: str) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users[who])
        page = await browser.get(f"/servers/{world.guild.id}")
        nowhere = await browser.get("/servers/123456789")
    if who in SEES:
        assert page.status_code == 200
        assert f"You see this server as its {SEES[who]}." in page.text
    else:
        assert page.status_code == 404
        assert page.text == nowhere.text  # not a hint that the server exists
        assert "clips" not in page.text


async def test_an_admin_of_one_server_gets_404_for_a_server_they_are_not_in(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["stranger"])
        assert (await browser.get(f"/servers/{world.other.id}")).status_code == 200
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404


async def test_access_follows_the_members_roles_in_discord_now(world: World) -> None:
    approver = world.users["approver"]
    async with world.browser() as browser:
        await world.log_in(browser, approver)
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 200
        world.guild.members[approver].roles.clear()  # the mods took the role away
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404
        del world.guild.members[approver]  # and then they left
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404
    asked = world.fake.requests_for("GET /guilds/{guild_id}/members/{user_id}")
    assert len(asked) == 3
    assert all(r.headers["authorization"] == f"Bot {world.fake.bot_token}" for r in asked)


async def test_logged_out_and_expired_sessions_are_sent_to_log_in(world: World) -> None:
    async with world.browser() as browser:
        logged_out = await browser.get(f"/servers/{world.guild.id}")
        assert (logged_out.status_code, logged_out.headers["location"]) == (303, "/login")
        await world.log_in(browser, world.users["owner"])
        world.now[0] += SESSION_SECONDS + 1
        expired = await browser.get(f"/servers/{world.guild.id}")
    assert (expired.status_code, expired.headers["location"]) == (303, "/login")
    assert world.fake.requests_for("GET /guilds/{guild_id}/members/{user_id}") == []


async def test_a_forged_session_cookie_is_no_session(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["member"])
        cookie = browser.cookies["__Host-sora_dashboard"]
        payload, _, signature = cookie.rpartition(".")
        browser.cookies.set(
            "__Host-sora_dashboard", f"{payload}.{signature[::-1]}", domain="dashboard.example.org"
        )
        page = await browser.get(f"/servers/{world.guild.id}")
    assert page.status_code == 303


async def csrf_of(browser_page: str) -> str:
    marker = 'name="csrf" value="'
    start = browser_page.index(marker) + len(marker)
    return browser_page[start : browser_page.index('"', start)]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("right", 303),
        ("forged csrf", 403),
        ("no csrf", 403),
        ("wrong origin", 403),
        ("no origin", 403),
        ("another session's csrf", 403),
        ("non-ascii csrf", 403),  # refused, not a 500
    ],
)
async def test_logout_needs_this_sessions_csrf_token_and_the_dashboards_origin(
    world: World, case: str, status: int
) -> None:
    async with world.browser() as browser, world.browser() as other:
        await world.log_in(browser, world.users["owner"])
        await world.log_in(other, world.users["approver"])
        token = await csrf_of((await browser.get("/")).text)
        theirs = await csrf_of((await other.get("/")).text)
        form = {
            "right": {"csrf": token},
            "forged csrf": {"csrf": token[:-2] + "xx"},
            "no csrf": {},
            "wrong origin": {"csrf": token},
            "no origin": {"csrf": token},
            "another session's csrf": {"csrf": theirs},
            "non-ascii csrf": {"csrf": "é" * len(token)},
        }[case]
        headers = {
            "wrong origin": {"origin": "https://dashboard.example.org.evil.example"},
            "no origin": {},
        }.get(case, ORIGIN)
        answer = await browser.post("/logout", data=form, headers=headers)
        after = await browser.get(f"/servers/{world.guild.id}")
    assert answer.status_code == status
    assert after.status_code == (303 if case == "right" else 200)  # refused: still signed in


async def test_logout_when_logged_out_is_refused(world: World) -> None:
    async with world.browser() as browser:
        answer = await browser.post("/logout", data={"csrf": ""}, headers=ORIGIN)
    assert answer.status_code == 403


async def test_the_overview_counts_spend_against_the_budget_and_the_queue(world: World) -> None:
    gid = world.guild.id
    await world.governance.update_settings(gid, budget_dollars_per_day=5.0)
    for cost in (0.4, 0.8):
        await add_job(world, "a quiet harbour at dawn", cost=cost)
    await add_job(world, "elsewhere", cost=9.0, guild_id=world.other.id)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        page = (await browser.get(f"/servers/{gid}")).text
    assert "$1.20</td>" in page
    assert "of $5.00 a day" in page
    assert "2 waiting in the queue." in page
    assert "<th>queued</th><td>2</td>" in page
    assert "$9.00" not in page


async def add_job(
    world: World, prompt: str, *, cost: float = 0.4, guild_id: int | None = None, **target: object
) -> None:
    await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt=prompt),
            user_id=world.users["member"],
            guild_id=guild_id or world.guild.id,
            estimated_cost=cost,
            target_kind="discord",
            target=cast(Target, {"kind": "discord", **target}),
        )
    )


async def test_prompts_and_server_names_render_as_text(world: World) -> None:
    world.guild.name = "<script>alert('name')</script>"
    prompt = "<script>alert('prompt')</script> **bold** {{ 7*7 }}\n" + "x" * 4000
    await add_job(world, prompt)
    await add_job(world, "a private <i>secret</i> prompt", private=True)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        page = (await browser.get(f"/servers/{world.guild.id}")).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#39;prompt&#39;)&lt;/script&gt; **bold** {{ 7*7 }}" in page
    assert "secret" not in page


async def test_a_member_looping_over_server_ids_runs_out_of_lookups_and_discord_is_not_asked_about_them(
    world: World,
) -> None:
    """Discord answers 403 for a server the bot is not in, and bans an address after 10,000 of those in ten
    minutes (the bot's too): the dashboard asks only about servers on the bot's own list."""
    world.fake.foreign_guild_ids.update(range(1000, 1010))
    async with world.browser() as browser:
        await world.log_in(browser, world.users["member"])
        answers = [(await browser.get(f"/servers/{1000 + n % 10}")).status_code for n in range(35)]
    assert answers[:30] == [404] * 30 and set(answers[30:]) == {429}
    assert world.fake.requests_for("GET /guilds/{guild_id}") == []  # no 403 from Discord
    assert server_list_reads(world) == 1  # read once (again at most every 10 s)


async def test_a_server_the_bot_joined_moments_ago_opens_within_seconds(world: World) -> None:
    clock = [1000.0]
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    directory = GuardedDirectory(discord, clock=lambda: clock[0])
    try:
        with pytest.raises(HTTPException):
            await directory.require(world.users["owner"], 4242, Role.VIEWER)  # no such server yet
        joined = world.fake.add_guild(guild_id=4242, name="New", owner_id=world.users["owner"])
        with pytest.raises(HTTPException):  # the list was read a moment ago
            await directory.require(joined.owner_id, joined.id, Role.VIEWER)
        clock[0] += 11
        access = await directory.require(joined.owner_id, joined.id, Role.VIEWER)
    finally:
        await discord.close()
    assert access.role is Role.ADMIN
    assert server_list_reads(world) == 2


async def test_running_out_of_lookups_does_not_tell_a_server_the_bot_is_in_from_one_it_is_not_in(
    world: World,
) -> None:
    statuses: dict[int, list[int]] = {}
    for guild_id in (world.guild.id, 999):  # the bot's server, where `mel` is no one; and no server at all
        async with world.browser() as browser:
            await world.log_in(browser, world.users["member"] if guild_id == 999 else world.users["stranger"])
            statuses[guild_id] = [(await browser.get(f"/servers/{guild_id}")).status_code for _ in range(32)]
    assert statuses[world.guild.id] == statuses[999] == [404] * 30 + [429] * 2


async def test_every_answer_carries_the_security_headers_redirects_and_refusals_too(world: World) -> None:
    async with world.browser() as browser:
        answers = [await browser.get("/login"), await browser.get(f"/servers/{world.guild.id}")]
        await world.log_in(browser, world.users["member"])
        answers += [await browser.get("/servers/1"), await browser.post("/logout", data={}, headers=ORIGIN)]
    assert [a.status_code for a in answers] == [303, 303, 404, 403]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["strict-transport-security"].startswith("max-age=")


async def test_logging_out_ends_the_session_for_a_copy_of_its_cookie_too(world: World) -> None:
    async with world.browser() as browser, world.browser() as thief:
        await world.log_in(browser, world.users["owner"])
        thief.cookies = httpx.Cookies(browser.cookies)  # the cookie copied before logging out
        assert (await thief.get(f"/servers/{world.guild.id}")).status_code == 200
        token = await csrf_of((await browser.get("/")).text)
        assert (await browser.post("/logout", data={"csrf": token}, headers=ORIGIN)).status_code == 303
        copied = await thief.get(f"/servers/{world.guild.id}")
        assert (copied.status_code, copied.headers["location"]) == (303, "/login")
        await world.log_in(browser, world.users["owner"])  # a new login is a new session
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 200


async def test_a_member_in_time_out_loses_manage_server_and_manage_messages_but_not_administrator(
    world: World,
) -> None:
    later = datetime.fromtimestamp(time.time() + 3600, UTC).isoformat()
    earlier = datetime.fromtimestamp(time.time() - 60, UTC).isoformat()
    for who, sees in (("manager", 404), ("approver", 404), ("administrator", 200)):
        world.guild.members[world.users[who]].timed_out_until = later
        async with world.browser() as browser:
            await world.log_in(browser, world.users[who])
            assert (await browser.get(f"/servers/{world.guild.id}")).status_code == sees, who
            world.guild.members[world.users[who]].timed_out_until = earlier  # the time-out is over
            assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 200, who


@pytest.mark.parametrize("level", ["approver", "viewer"])
async def test_a_role_the_server_configured_gives_its_level_and_only_while_held(
    world: World, level: str
) -> None:
    member = world.users["member"]
    role = world.guild.add_role("Crew")
    await world.governance.set_staff_role(world.guild.id, role, level)  # type: ignore[arg-type]
    async with world.browser() as browser:
        await world.log_in(browser, member)
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404  # not theirs yet
        world.guild.members[member].roles.append(role)
        page = await browser.get(f"/servers/{world.guild.id}")
        assert page.status_code == 200
        assert f"You see this server as its {level}." in page.text
        await world.governance.set_staff_role(world.guild.id, role, None)
        assert (await browser.get(f"/servers/{world.guild.id}")).status_code == 404


async def test_the_home_pages_open_form_goes_to_the_server_and_refuses_what_is_no_id(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        home = await browser.get("/")
        assert 'action="/servers"' in home.text
        opened = await browser.get("/servers", params={"guild": f" {world.guild.id} "})
        assert (opened.status_code, opened.headers["location"]) == (303, f"/servers/{world.guild.id}")
        for bad in ("", "abc", "1" * 21, "١٢", "-5", "https://evil.example"):
            refused = await browser.get("/servers", params={"guild": bad})
            assert refused.status_code == 400, bad
            assert "Copy Server ID" in refused.text
            assert "Back</a>" not in refused.text


async def test_a_refused_form_links_back_to_its_page_and_a_404_links_nowhere(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        bad = await browser.get(f"/servers/{world.guild.id}/spend", params={"days": "ten"})
        assert bad.status_code == 400
        assert f'<a href="/servers/{world.guild.id}/spend">Back</a>' in bad.text
        missing = await browser.get("/servers/123456789/spend", params={"days": "ten"})
        assert missing.status_code == 404
        assert "Back</a>" not in missing.text
