"""The spend page (per UTC day and per member, the /sora-admin usage chart, the /sora-admin export CSV for
admins, audited as from the dashboard) and the audit log page (who, what, when, from where; paged and filtered
by kind; every detail escaped; a private job's prompt for admins only), and who may see each."""

from __future__ import annotations

import ast
import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from PIL import Image

from bot.dashboard.app import create_app
from bot.dashboard.discord_rest import DiscordRest
from bot.dashboard.pages.audit_log import HIDDEN, KINDS, PRIVATE
from bot.domain.models import Job, JobRequest, JobState, Target
from bot.services.audit import Audit, job_details
from bot.store.jobs import JobStore, NewJob
from bot.ui.embeds import settings_line
from bot.ui.reports import usage_report
from cogs.admin import Admin
from tests.unit.dashboard.conftest import DASHBOARD_URL, World
from tests.unit.dashboard.test_access import csrf_of

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0
ROOT = Path(__file__).parents[3]


def at(day: int, hour: float, month: int = 3) -> float:
    return datetime(2025, month, day, tzinfo=UTC).timestamp() + hour * HOUR


async def make_job(
    world: World,
    user_id: int,
    *,
    when: float,
    dollars: float = 0.4,
    seconds: int = 4,
    end: str = "delivered",
    prompt: str = "a lighthouse in the fog",
    private: bool = False,
    guild_id: int | None = None,
) -> Job:
    """A job made at `when` by the real JobStore: delivered at Prodia's price `dollars` (its ledger commit),
    refunded before Prodia saw it, or still queued (its estimate, `dollars`, held)."""
    store = JobStore(world.db, clock=lambda: when)
    target = cast(Target, {"kind": "discord", "channel_id": 5, "private": private})
    made = await store.create(
        NewJob(
            request=JobRequest.parse(prompt=prompt, duration=seconds),
            user_id=user_id,
            guild_id=guild_id or world.guild.id,
            estimated_cost=dollars,
            target_kind="discord",
            target=target,
        )
    )
    if end == "queued":
        return made
    if end == "refunded":
        failed = await store.transition(made.id, JobState.FAILED, error="boom", user_error="It broke.")
        assert failed is not None
        return failed
    claimed = await store.claim_next(owner="w", lease_seconds=30, max_in_flight=10, target_kinds=["discord"])
    assert claimed is not None and claimed.id == made.id
    await store.transition(made.id, JobState.RUNNING, prodia_job_id=f"p-{made.id}", endpoint="async")
    await store.transition(made.id, JobState.DELIVERING, output_path="/x.mp4", actual_cost=dollars)
    delivered = await store.transition(made.id, JobState.DELIVERED)
    assert delivered is not None
    return delivered


async def spending(world: World) -> dict[str, int]:
    """Two members' jobs over two days (one refunded, one still queued), one in another server, one older
    than 30 days."""
    mel, ann = world.users["member"], world.users["approver"]
    await make_job(world, mel, when=at(10, 9), dollars=0.8, seconds=8)
    await make_job(world, mel, when=at(9, 10), dollars=1.0, seconds=4)
    await make_job(world, ann, when=at(9, 23.5), dollars=1.2, seconds=12)
    await make_job(world, ann, when=at(9, 22), dollars=0.4, end="refunded")
    await make_job(world, ann, when=at(1, 8, month=1), dollars=5.0, seconds=12)
    await make_job(world, mel, when=at(10, 8), dollars=9.0, guild_id=world.other.id)
    await make_job(world, ann, when=at(10, 11), dollars=0.4, end="queued")
    return {"mel": mel, "ann": ann}


def rows(page: str) -> list[str]:
    """The table rows of a page, each as its HTML with the white space between tags removed."""
    return [re.sub(r">\s+<", "><", row) for row in re.findall(r"<tr>.*?</tr>", page, flags=re.DOTALL)]


async def get(world: World, who: str, url: str) -> httpx.Response:
    async with world.browser() as browser:
        await world.log_in(browser, world.users[who])
        if url.endswith("/spend.csv"):
            return await export(browser, url)
        return await browser.get(url)


async def export(browser: httpx.AsyncClient, url: str) -> httpx.Response:
    """Press the spend page's download button: a POST with the session's CSRF token and Origin."""
    token = await csrf_of((await browser.get("/")).text)
    return await browser.post(url, data={"csrf": token}, headers={"origin": DASHBOARD_URL})


# -- spend ---------------------------------------------------------------------------------------------


async def test_spend_per_day_and_per_member_are_the_figures_of_sora_admin_usage(world: World) -> None:
    world.now[0] = NOW
    who = await spending(world)
    await world.governance.update_settings(world.guild.id, budget_dollars_per_day=1.5)
    page = await get(world, "approver", f"/servers/{world.guild.id}/spend")
    assert page.status_code == 200
    table = rows(page.text)
    # The last 30 days, by UTC day (the 9th's 23:30 job is the 9th's): jobs, seconds delivered, dollars;
    # the refunded job counts as a job costing nothing, the queued one at its estimate.
    days = [r for r in table if r.startswith("<tr><td>2025-")]
    assert days == [  # newest first
        "<tr><td>2025-03-10</td><td>2</td><td>8</td><td>$1.20</td><td></td></tr>",
        "<tr><td>2025-03-09</td><td>3</td><td>16</td><td>$2.20</td><td>over the budget</td></tr>",
    ]
    members = [r for r in table if r.startswith((f"<tr><td>{who['mel']}<", f"<tr><td>{who['ann']}<"))]
    bar = (
        '<td class="bar" role="img" aria-label="{:.0f}% of the biggest spender\'s dollars">'
        '<span style="width: {:.1f}%"></span></td>'
    )
    assert [re.sub(r"\s*\n\s*", "", m) for m in members] == [
        f"<tr><td>{who['mel']}</td><td>2</td><td>12</td><td>$1.80</td>"  # the biggest spender first
        + bar.format(100, 100)
        + "</tr>",
        f"<tr><td>{who['ann']}</td><td>3</td><td>12</td><td>$1.60</td>"
        + bar.format(1.6 / 1.8 * 100, 1.6 / 1.8 * 100)
        + "</tr>",
    ]
    assert "Daily budget: $1.50" in page.text
    assert "$9.00" not in page.text and "$5.00" not in page.text  # another server's, and older
    # The same rows /sora-admin usage counts, giving the same totals.
    spend = await world.governance.spend_rows(world.guild.id, NOW - 30 * 86400)
    lines, _png = await usage_report(spend, 30)
    assert lines[:3] == [
        "Last 30 days: 5 jobs, $3.40",
        f"<@{who['mel']}>: 2 jobs, $1.80",
        f"<@{who['ann']}>: 3 jobs, $1.60",
    ]
    assert "Last 30 days: 5 jobs, 24 seconds of video delivered, $3.40." in page.text


async def test_the_days_asked_choose_the_period_and_a_bad_number_is_a_clear_400(world: World) -> None:
    world.now[0] = NOW
    await spending(world)
    base = f"/servers/{world.guild.id}/spend"
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        day = await browser.get(base, params={"days": "1"})
        quarter = await browser.get(base, params={"days": "90"})
        bad = [await browser.get(base, params={"days": d}) for d in ("0", "91", "-1", "1.5", "ten", "٣")]
        bad_chart = await browser.get(f"{base}.png", params={"days": "365"})
    assert "Last 1 day: 4 jobs" in day.text  # since 12:00 on the 9th
    assert "<tr><td>2025-03-09</td><td>2</td><td>12</td><td>$1.20</td><td></td></tr>" in rows(day.text)
    assert "Last 90 days: 6 jobs" in quarter.text and "2025-01-01" in quarter.text
    for answer in [*bad, bad_chart]:
        assert answer.status_code == 400
        assert "days: a whole number from 1 to 90." in answer.text


async def test_the_chart_is_the_usage_commands_png_for_the_days_asked(world: World) -> None:
    world.now[0] = NOW
    await spending(world)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        page = await browser.get(f"/servers/{world.guild.id}/spend", params={"days": "7"})
        week = await browser.get(f"/servers/{world.guild.id}/spend.png", params={"days": "7"})
        quarter = await browser.get(f"/servers/{world.guild.id}/spend.png", params={"days": "90"})
    assert f'<img src="/servers/{world.guild.id}/spend.png?days=7"' in page.text
    assert week.status_code == 200 and week.headers["content-type"] == "image/png"
    assert week.content.startswith(b"\x89PNG\r\n\x1a\n") and len(week.content) > 10_000
    image = Image.open(io.BytesIO(week.content))
    assert (image.format, image.size) == ("PNG", (800, 400))
    assert quarter.content != week.content  # January's job is drawn too


class StandIn:
    """The interaction /sora-admin export is run with: Manage Server in the server, answered already (the
    cog defers first); what it sends is kept."""

    def __init__(self, guild_id: int, user_id: int) -> None:
        self.guild_id, self.user, self.guild_locale = guild_id, SimpleNamespace(id=user_id), None
        self.response = SimpleNamespace(is_done=lambda: True)
        self.sent: list[dict[str, Any]] = []

        async def send(content: str, **kwargs: Any) -> None:
            self.sent.append({"content": content, **kwargs})

        self.followup = SimpleNamespace(send=send)

    def is_expired(self) -> bool:
        return False


async def test_the_csv_is_the_bytes_sora_admin_export_sends_and_the_download_is_audited(world: World) -> None:
    mel = world.users["member"]
    await make_job(world, mel, when=NOW, prompt='=HYPERLINK("https://evil.example","click")')
    await make_job(world, mel, when=NOW, prompt="a private, quiet plan", private=True)
    await make_job(world, mel, when=NOW, prompt="line one\r\nline two", end="refunded")
    await make_job(world, mel, when=NOW, prompt="someone else's", guild_id=world.other.id)
    interaction = StandIn(world.guild.id, world.users["manager"])
    cog = Admin(world.settings, world.governance, Audit(world.governance, world.bot_client), cast(Any, None))
    await cast(Any, Admin.export).callback(cog, interaction)
    [sent] = interaction.sent
    command_bytes = sent["file"].fp.getvalue()

    download = await get(world, "manager", f"/servers/{world.guild.id}/spend.csv")
    assert download.status_code == 200
    assert download.content == command_bytes
    assert download.headers["content-disposition"] == 'attachment; filename="sora-jobs.csv"'
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    exported = list(csv.DictReader(io.StringIO(download.text)))
    assert [row["prompt"] for row in exported] == [
        '\'=HYPERLINK("https://evil.example","click")',  # a formula no more
        "a private, quiet plan",  # the command, admin-only, has every job: so has the download
        "line one\nline two",
    ]
    dashboard, command = await world.governance.audit_entries(world.guild.id, limit=2)
    assert (dashboard.action, dashboard.actor_id, dashboard.source) == (
        "jobs.export",
        world.users["manager"],
        "dashboard",
    )
    assert dashboard.details == {"rows": 3}
    assert (command.action, command.source) == ("jobs.export", "discord")


async def test_the_export_is_posted_in_the_audit_channel_like_the_commands(world: World) -> None:
    channel = world.guild.add_channel("audit")
    await world.governance.update_settings(world.guild.id, audit_channel_id=channel)
    download = await get(world, "owner", f"/servers/{world.guild.id}/spend.csv")
    assert download.status_code == 200
    [post] = world.fake.channel_messages(channel)
    assert post["embeds"][0]["title"] == "jobs.export"
    assert str(world.users["owner"]) in str(post["embeds"][0]["fields"])


async def test_without_the_bots_client_the_export_is_still_audited(world: World) -> None:
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    app = create_app(
        world.settings, db=world.db, governance=world.governance, jobs=world.jobs, discord=discord
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=DASHBOARD_URL) as browser:
            await world.log_in(browser, world.users["administrator"])
            download = await export(browser, f"/servers/{world.guild.id}/spend.csv")
    finally:
        await discord.close()
    assert download.status_code == 200 and download.text.startswith("id,state,user_id,")
    [entry] = await world.governance.audit_entries(world.guild.id)
    assert (entry.action, entry.source) == ("jobs.export", "dashboard")
    assert entry.actor_id == world.users["administrator"]


# -- who may see what ----------------------------------------------------------------------------------

PAGES = {"owner", "administrator", "manager", "approver", "viewer"}
CSV = {"owner", "administrator", "manager"}


@pytest.mark.parametrize("who", [*sorted(PAGES), "member", "stranger", "logged out"])
async def test_the_pages_are_for_staff_and_the_csv_for_admins(world: World, who: str) -> None:
    watchers = world.guild.add_role("Watchers")
    await world.governance.set_staff_role(world.guild.id, watchers, "viewer")
    world.users["viewer"] = world.guild.add_member(name="vic", roles=[watchers])
    base = f"/servers/{world.guild.id}"
    async with world.browser() as browser:
        if who != "logged out":
            await world.log_in(browser, world.users[who])
        answers = {path: await browser.get(base + path) for path in ("/spend", "/spend.png", "/audit")}
        csv_answer = await (
            browser.post(f"{base}/spend.csv", data={}, headers={"origin": DASHBOARD_URL})
            if who == "logged out"
            else export(browser, f"{base}/spend.csv")
        )
    if who == "logged out":
        assert {a.status_code for a in answers.values()} == {303}
        assert csv_answer.status_code == 303 and csv_answer.headers["location"] == "/login"
    else:
        assert {a.status_code for a in answers.values()} == ({200} if who in PAGES else {404})
        assert csv_answer.status_code == (200 if who in CSV else 404)
        shown = answers["/spend"].text
        assert ("/spend.csv" in shown) == (who in CSV)  # the link only for who may follow it
    exports = await world.governance.audit_entries(world.guild.id, action_prefix="jobs.")
    assert len(exports) == (1 if who in CSV else 0)  # a refused download is no export


# -- the audit log -------------------------------------------------------------------------------------


def row_of(page: str, action: str) -> str:
    [row] = [r for r in rows(page) if f"<strong>{action}</strong>" in r]
    return row


async def test_each_entry_says_who_what_when_and_from_where(world: World) -> None:
    gid = world.guild.id
    manager, owner = world.users["manager"], world.users["owner"]
    mods = next(r for r, role in world.guild.roles.items() if role.name == "Mods")
    job = await make_job(world, world.users["member"], when=NOW, prompt="a red kite over the dunes")
    await world.governance.audit(gid, "budget.set", actor_id=manager, source="discord", dollars_per_day=2.5)
    await world.governance.audit(gid, "roles.add", actor_id=owner, source="dashboard", target=mods)
    await world.governance.audit(gid, f"job.{job.state.value}", job_id=job.id, **job_details(job))
    await world.governance.audit(world.other.id, "budget.clear", actor_id=manager, source="discord")
    page = await get(world, "owner", f"/servers/{gid}/audit")
    assert page.status_code == 200
    budget = row_of(page.text, "budget.set")
    assert re.match(r"<tr><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", budget)
    assert f"<td>{manager}</td>" in budget
    assert '<dt>Dollars per day</dt><dd class="prompt">$2.50</dd>' in budget
    assert budget.endswith("<td>Discord</td></tr>")
    roles = row_of(page.text, "roles.add")
    assert f"<td>{owner} (you)</td>" in roles and f"Mods ({mods})" in roles
    assert roles.endswith("<td>Dashboard</td></tr>")
    delivered = row_of(page.text, "job.delivered")
    assert "<td>—</td>" in delivered and delivered.endswith("<td>the bot</td></tr>")
    assert f'<dt>Job</dt><dd class="prompt">{job.id}</dd>' in delivered
    assert "a red kite over the dunes" in delivered and "$0.40" in delivered
    assert "budget.clear" not in page.text  # another server's
    order = [page.text.index(f"<strong>{a}</strong>") for a in ("job.delivered", "roles.add", "budget.set")]
    assert order == sorted(order)  # newest first


async def test_a_roles_dashboard_access_is_its_own_kind_naming_the_role_and_the_level(world: World) -> None:
    gid, owner = world.guild.id, world.users["owner"]
    mods = next(r for r, role in world.guild.roles.items() if role.name == "Mods")
    await world.governance.audit(
        gid, "staff.set", actor_id=owner, source="dashboard", target=mods, level="viewer"
    )
    await world.governance.audit(
        gid, "staff.set", actor_id=owner, source="dashboard", target=mods, level=None
    )
    await world.governance.audit(gid, "budget.set", actor_id=owner, source="discord", dollars_per_day=2.5)
    page = (await get(world, "owner", f"/servers/{gid}/audit?kind=staff")).text
    assert '<option value="staff" selected>Dashboard access of roles</option>' in page
    assert re.findall(r"<strong>([a-z.]+)</strong>", page) == ["staff.set", "staff.set"]
    taken, given = [row for row in rows(page) if "<strong>staff.set</strong>" in row]  # newest first
    assert f'<dt>Target</dt><dd class="prompt">Mods ({mods})</dd>' in given
    assert '<dt>Level</dt><dd class="prompt">viewer</dd>' in given
    assert '<dt>Level</dt><dd class="prompt">none (no dashboard access)</dd>' in taken


async def test_the_log_pages_back_fifty_at_a_time_and_filters_by_kind(world: World) -> None:
    gid = world.guild.id
    for n in range(1, 121):
        kind = "budget.set" if n % 2 else "blocklist.add"
        await world.governance.audit(gid, kind, actor_id=world.users["owner"], source="discord", step=n)
    seen: list[list[int]] = []
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        url: str | None = f"/servers/{gid}/audit"
        while url is not None:
            page = (await browser.get(url)).text
            seen.append([int(s) for s in re.findall(r"<dt>Step</dt><dd class=\"prompt\">(\d+)</dd>", page)])
            older = re.search(r'<a href="([^"]+)">Older</a>', page)
            url = older.group(1).replace("&amp;", "&") if older else None
        assert [len(p) for p in seen] == [50, 50, 20]
        assert [step for page in seen for step in page] == list(range(120, 0, -1))  # each once, newest first
        budget = await browser.get(f"/servers/{gid}/audit", params={"kind": "budget"})
        older = re.search(r'<a href="([^"]+)">Older</a>', budget.text)
        assert older is not None
        following = await browser.get(older.group(1).replace("&amp;", "&"))
        wrong = [
            await browser.get(f"/servers/{gid}/audit", params=p)
            for p in ({"kind": "budget."}, {"kind": "<b>"}, {"before_id": "x"}, {"before_id": "0"})
        ]
    shown = re.findall(r"<strong>([a-z.]+)</strong>", budget.text + following.text)
    assert shown == ["budget.set"] * 60
    assert '<option value="budget" selected>' in budget.text
    assert 'href="/servers/' + str(gid) + '/audit?kind=budget"' in following.text  # back to the newest
    assert [w.status_code for w in wrong] == [400] * 4
    assert "kind: choose one of the kinds listed." in wrong[1].text and "&lt;b&gt;" not in wrong[1].text


async def test_reasons_prompts_and_patterns_render_as_text_and_long_ones_are_cut(world: World) -> None:
    gid = world.guild.id
    script = "<script>alert('x')</script> **bold** [link](https://evil.example) {{ 7*7 }}"
    job = await make_job(world, world.users["member"], when=NOW, prompt=script + "\n" + "p" * 4000)
    await world.governance.audit(gid, "job.rejection", actor_id=world.users["approver"], job_id=job.id,
                                 source="discord", reason=script + "\nsecond line " + "r" * 4000)  # fmt: skip
    await world.governance.audit(gid, f"job.{job.state.value}", job_id=job.id, **job_details(job))
    await world.governance.audit(gid, "blocklist.add", actor_id=1, source="dashboard", pattern="<img src=x>")
    page = (await get(world, "approver", f"/servers/{gid}/audit")).text
    assert "<script>" not in page and "<img src=x>" not in page
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; **bold** [link](https://evil.example)"
    assert page.count(escaped) == 2  # the reason and the (public) prompt, as typed
    assert "&lt;img src=x&gt;" in page
    assert "r" * 200 in page and "r" * 400 not in page and "p" * 400 not in page  # cut
    assert page.count("…</dd>") == 2


async def test_a_private_jobs_prompt_is_shown_to_admins_only(world: World) -> None:
    gid, mel = world.guild.id, world.users["member"]
    public = await make_job(world, mel, when=NOW, prompt="an open meadow for all")
    private = await make_job(world, mel, when=NOW, prompt="my secret birthday surprise", private=True)
    for job in (public, private):
        await world.governance.audit(gid, f"job.{job.state.value}", job_id=job.id, **job_details(job))
    await world.governance.audit(gid, "member.strike", requester=mel, reason="blocked prompt",
                                 prompt="a refused secret wish", strikes=1, blocked=False)  # fmt: skip
    watchers = world.guild.add_role("Watchers")
    await world.governance.set_staff_role(gid, watchers, "viewer")
    world.users["viewer"] = world.guild.add_member(name="vic", roles=[watchers])
    for who in ("viewer", "approver"):
        page = (await get(world, who, f"/servers/{gid}/audit")).text
        assert "an open meadow for all" in page
        assert "secret" not in page
        assert page.count(HIDDEN) == 1  # the strike's prompt (which names no job)
        assert page.count(PRIVATE) == 1  # the private job's entry: nothing of it but the act
        assert "blocked prompt" in page  # the strike's reason stays
    admin = (await get(world, "manager", f"/servers/{gid}/audit")).text
    assert "my secret birthday surprise" in admin and "a refused secret wish" in admin
    assert HIDDEN not in admin and PRIVATE not in admin


async def private_job_entries(world: World) -> tuple[Job, Job]:
    """A private job of a staff member (olive, a viewer) and a public one of a member, each approved from the
    dashboard, then rejected from Discord with a reason quoting its prompt; and the private job's outcome as
    the bot records it (requester, settings, cost, the error it was told)."""
    gid, ann = world.guild.id, world.users["approver"]
    watchers = world.guild.add_role("Watchers")
    await world.governance.set_staff_role(gid, watchers, "viewer")
    world.users["viewer"] = world.guild.add_member(name="vic", roles=[watchers])
    world.users["olive"] = world.guild.add_member(name="olive", roles=[watchers])
    olive, mel = world.users["olive"], world.users["member"]
    private = await make_job(
        world, olive, when=NOW, prompt="olive's hidden garden", private=True, dollars=0.8, end="refunded"
    )
    public = await make_job(world, mel, when=NOW, prompt="a public pier at dusk")
    for job in (public, private):
        await world.governance.audit(
            gid, "job.approved", actor_id=ann, job_id=job.id, source="dashboard", requester=job.user_id
        )
        reason = f"no '{job.request.prompt}' today"
        await world.governance.audit(
            gid, "job.rejection", actor_id=ann, job_id=job.id, source="discord", reason=reason
        )
    await world.governance.audit(gid, "job.failed", job_id=private.id, **job_details(private))
    return private, public


def dd(value: object) -> str:
    return f'<dd class="prompt">{value}</dd>'


@pytest.mark.parametrize("who", ["viewer", "approver", "olive", "manager", "owner"])
async def test_an_entry_about_a_private_job_shows_others_only_the_act(world: World, who: str) -> None:
    private, public = await private_job_entries(world)
    page = (await get(world, who, f"/servers/{world.guild.id}/audit")).text
    everything = who in ("olive", "manager", "owner")  # the job's owner, and admins
    about_private = [r for r in rows(page) if "<strong>job." in r and dd(public.id) not in r]
    [failed, rejected, approved] = about_private  # newest first
    # The act is always shown: when, who acted (the bot, for an outcome), what, from where.
    ann = world.users["approver"]
    for row, action, actor, source in (
        (approved, "job.approved", f"<td>{ann}", "Dashboard"),
        (rejected, "job.rejection", f"<td>{ann}", "Discord"),
        (failed, "job.failed", "<td>—</td>", "the bot"),
    ):
        assert re.match(r"<tr><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", row)
        assert actor in row and f"<strong>{action}</strong>" in row
        assert row.endswith(f"<td>{source}</td></tr>")
        assert (PRIVATE in row) == (not everything)
        assert ("<dl>" in row) == everything  # no detail at all, or all of them
    details = [
        "olive&#39;s hidden garden",  # the prompt, and the rejection's reason quoting it
        dd(private.id),
        dd(private.user_id),  # its requester
        dd(settings_line(private)),
        "$0.80",  # its estimated cost
        "It broke.",  # the error its requester was told
    ]
    assert [d for d in details if d in page] == (details if everything else [])
    assert page.count("olive&#39;s hidden garden") == (2 if everything else 0)
    # The public job's entries are everyone's (its reason quoting its prompt too).
    assert "no &#39;a public pier at dusk&#39; today" in page
    assert page.count(dd(public.id)) == 2


ACTION = re.compile(r"[a-z]+\.[a-z_]+")  # an audit action: "kind.what"
ACTION_HEAD = re.compile(r"[a-z]+\.")  # an f-string's head naming the kind: f"job.{state}"


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _recorders(trees: list[ast.Module]) -> set[str]:
    """The names of the calls that record an audit entry: any whose name says "record" or "audit", and any
    function that hands one of its own parameters to one of those (the cog's `_changed`), found anew until
    none is added."""
    functions = [
        f for tree in trees for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    names = {_name(c) for tree in trees for c in ast.walk(tree) if isinstance(c, ast.Call)}
    recorders = {n for n in names if "record" in n.lower() or "audit" in n.lower()}
    while True:
        more = set()
        for function in functions:
            params = {a.arg for a in (*function.args.args, *function.args.kwonlyargs)}
            for call in ast.walk(function):
                if isinstance(call, ast.Call) and _name(call) in recorders:
                    given = [*call.args, *(k.value for k in call.keywords)]
                    if any(isinstance(a, ast.Name) and a.id in params for a in given):
                        more.add(function.name)
        if more <= recorders:
            return recorders
        recorders |= more


def recorded_actions() -> set[str]:
    """Every action name the code records: a literal "kind.what" (or a module constant holding one, or an
    f-string's "kind." head) given, in any position or by keyword, to a call that records (see `_recorders`),
    or given anywhere as `action=` (the dashboard's forms carry it to their record call)."""
    trees = [ast.parse(p.read_text()) for d in ("bot", "cogs") for p in (ROOT / d).rglob("*.py")]
    constants: dict[str, set[str]] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                for target in node.targets:
                    if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                        constants.setdefault(target.id, set()).add(node.value.value)
    recorders = _recorders(trees)
    found: set[str] = set()
    for tree in trees:
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            given = [*call.args, *(k.value for k in call.keywords)] if _name(call) in recorders else []
            given += [k.value for k in call.keywords if k.arg == "action"]
            for value in given:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.add(value.value)
                elif isinstance(value, ast.Name):
                    found |= constants.get(value.id, set())
                elif isinstance(value, ast.JoinedStr) and isinstance(head := value.values[0], ast.Constant):
                    found.add(str(head.value))
    return {a for a in found if ACTION.fullmatch(a) or ACTION_HEAD.fullmatch(a)}


def test_every_action_the_code_records_has_a_kind_to_filter_by() -> None:
    actions = recorded_actions()
    # The scan finds them wherever they are given: first or second argument, through a wrapper, a form.
    assert {
        "staff.set",  # the dashboard's `_record(site, access, "staff.set", ...)`: its third argument
        "member.block",  # the cog's `_changed(interaction, "member.block", ...)`
        "limits.set",  # a dashboard form's `Change(action="limits.set")`, recorded later
        "member.strike",  # `self.audit.record(guild_id, "member.strike", ...)`
        "job.",  # `f"job.{job.state.value}"`
        "jobs.export",
        "interaction.refused",
    } <= actions
    kinds = {action.split(".")[0] for action in actions}
    assert kinds - set(KINDS) == set(), "an action with no kind on the audit log page"


async def test_a_link_or_a_form_from_another_site_exports_nothing(world: World) -> None:
    url = f"/servers/{world.guild.id}/spend.csv"
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        token = await csrf_of((await browser.get("/")).text)
        link = await browser.get(url)
        forged = await browser.post(url, data={"csrf": token}, headers={"origin": "https://evil.example"})
        no_token = await browser.post(url, data={}, headers={"origin": DASHBOARD_URL})
    assert (link.status_code, forged.status_code, no_token.status_code) == (405, 403, 403)
    assert await world.governance.audit_entries(world.guild.id) == []
