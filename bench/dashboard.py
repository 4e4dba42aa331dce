"""Dashboard pages on a big server: how fast `sora-bot dashboard` answers each page, through a real uvicorn
server on 127.0.0.1 in front of the app `create_app` builds (as the command does), for the server's owner
logged in through the fake Discord's OAuth. The server has 50,000 jobs from 200 members over 90 days and
10,000 audit entries (--quick: 5,000 and 2,000). The baseline is the home page, which reads neither the
database nor Discord; every server page also asks the fake Discord (over HTTP) for the server and the member.

    python -m bench.dashboard [--quick] [--db sqlite|postgresql] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import resource
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from bench.common import (
    Row,
    clean_environment,
    format_table,
    median,
    ms,
    percentile,
    production_logging,
    temp_dir,
)
from bench.scale import POSTGRES_URL, Engine, Options, fresh_database
from bot.cli_dashboard import opened_app, server_config
from bot.dashboard.access import MANAGE_MESSAGES
from bot.domain.limits import LimitRule
from bot.domain.models import TERMINAL, JobRequest, JobState, Target
from bot.domain.pricing import Prices
from bot.services.audit import job_details
from bot.settings import Settings
from bot.storage.open import open_storage
from bot.store.db import Database
from bot.store.governance import Governance
from bot.store.job_table import NewJob, row_to_job
from bot.store.jobs import JobStore
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.running import redirect_discord
from tests.fakes.discord.world import FakeGuild

NAME = "dashboard"
DAY = 86400.0
WARM_UPS = 3
# The dashboard allows each member 30 Discord lookups a minute (GuardedDirectory's default budget); the
# measured requests are many more, so the bench builds the app with this budget instead (bench only).
LOOKUP_BUDGET = 1_000_000
APPROVALS_WAITING = 25
SEARCHED = "lighthouse"
SEARCHED_ONE_IN = 400  # prompts that mention it
PRIVATE_ONE_IN = 50
CHUNK = 5_000  # job rows built and inserted at a time
PRICES = Prices()
SECRET = "bench-dashboard-secret-" + "d" * 24


@dataclass(frozen=True, slots=True)
class Sizes:
    jobs: int
    audit: int
    rounds: int  # measured requests per page
    members: int = 200
    days: int = 90


FULL = Sizes(jobs=50_000, audit=10_000, rounds=25)
QUICK = Sizes(jobs=5_000, audit=2_000, rounds=8)


@dataclass(frozen=True, slots=True)
class Cast:
    """The fake server's people and roles the data refers to."""

    guild: FakeGuild
    owner: int
    approver: int
    members: list[int]
    weights: list[float]  # how much each member asks for (a few ask for most)
    creators_role: int
    channels: list[int]


@dataclass
class Page:
    """One measured page and what its answers were like."""

    label: str
    path: str
    times: list[float] = field(default_factory=list)
    size: int = 0  # bytes of the last answer
    note: str = ""
    missing: bool = False


# -- the data ------------------------------------------------------------------------------------------

ADJECTIVES = ("a red", "an old", "a tiny", "a neon", "a foggy", "a quiet", "a giant", "a paper", "a golden")
SUBJECTS = ("fox", "robot", "whale", "train", "dancer", "balloon", "castle", "cat", "sailboat", "kite")
ACTIONS = ("drifting over", "running through", "circling", "sleeping beside", "glowing above", "crossing")
PLACES = ("a harbour at dawn", "the desert", "a rainy city street", "snowy mountains", "a night market")


def _prompt(rng: random.Random) -> str:
    place = f"a {SEARCHED} in a storm" if rng.randrange(SEARCHED_ONE_IN) == 0 else rng.choice(PLACES)
    extra = ", slow dolly shot, 35 mm film grain" if rng.random() < 0.5 else ""
    return f"{rng.choice(ADJECTIVES)} {rng.choice(SUBJECTS)} {rng.choice(ACTIONS)} {place}{extra}"


def _request(rng: random.Random) -> JobRequest:
    pro = rng.random() < 0.15
    return JobRequest.parse(
        prompt=_prompt(rng),
        duration=rng.choices((4, 8, 12), (6, 3, 1))[0],
        aspect_ratio=rng.choice(("16:9", "9:16")),
        model="sora-2-pro" if pro else "sora-2",
        resolution=rng.choice(("720p", "1080p")) if pro else None,
    )


def _target(rng: random.Random, channel: int, created: float, n: int) -> Target:
    """As `discord_target` writes it (json.dumps: the store's private-job match relies on its spacing)."""
    return {
        "kind": "discord",
        "channel_id": channel,
        "private": rng.randrange(PRIVATE_ONE_IN) == 0,
        "interaction_token": f"bench-interaction-{n:08d}-" + "t" * 140,
        "token_expires_at": created + 900,
        "filesize_limit": 10 * 1024 * 1024,
        "guild_filesize_limit": 10 * 1024 * 1024,
        "locale": "en-US",
        "guild_locale": "en-US",
    }


JOB_COLUMNS = (
    "state, request, job_type, guild_id, channel_id, user_id, message_id, result_message_id, target_kind,"
    " target, prodia_job_id, endpoint, video_seconds, estimated_cost, actual_cost, error, user_error,"
    " attempts, created_at, updated_at, started_at, finished_at, lease_owner, lease_expires_at, approved_by"
)


def _job_row(rng: random.Random, cast: Cast, n: int, created: float, state: JobState) -> tuple[Any, ...]:
    """One job's row as JobStore writes it when created (`insert_job`) and moved on (`transition`)."""
    request = _request(rng)
    estimate = PRICES.estimate(request)
    user = rng.choices(cast.members, cast.weights)[0]
    channel = rng.choice(cast.channels)
    started = finished = lease_owner = lease_expires = approved_by = None
    prodia = endpoint = actual = error = user_error = result_message = None
    attempts = 0
    if state is not JobState.QUEUED and state is not JobState.REJECTED:
        started = created + rng.uniform(2, 90)
        attempts = 1
    if state in (JobState.DELIVERED, JobState.RUNNING, JobState.DELIVERING) or (
        state is JobState.FAILED and rng.random() < 0.5
    ):
        prodia, endpoint = f"bench-prodia-{n}", "async"
        actual = round(estimate * rng.choice((1.0, 1.0, 1.0, 0.9, 1.1)), 2)
    if state in TERMINAL:
        finished = (started or created) + rng.uniform(30, 400)
    else:
        lease_owner, lease_expires = "worker-bench-1", created + 3600
    if state is JobState.DELIVERED:
        result_message = 10**17 + n
        approved_by = cast.approver if rng.random() < 0.05 else None
    elif state is JobState.FAILED:
        error = "prodia: job failed (content policy)" if prodia else "prodia: 503 after 3 attempts"
        user_error = "The video service could not make this clip; your quota was given back."
        attempts = rng.randint(1, 3)
    elif state is JobState.REJECTED:
        approved_by = cast.approver
        error = f"rejected by {cast.approver}: not for this server"
        user_error = "A moderator rejected this request: not for this server."
    elif state is JobState.CANCELLED:
        user_error = "Cancelled."
    return (
        state.value, request.model_dump_json(), request.job_type.value, cast.guild.id, channel, user,
        10**16 + n, result_message, "discord", json.dumps(_target(rng, channel, created, n)), prodia,
        endpoint, request.duration, estimate, actual, error, user_error, attempts, created,
        finished or started or created, started, finished, lease_owner, lease_expires, approved_by,
    )  # fmt: skip


def _history(rng: random.Random, sizes: Sizes, now: float) -> Iterator[tuple[float, JobState]]:
    """(created_at, state) of every stored job but those waiting for approval, oldest first: the ended ones
    over the last `days`, then a few queued and in flight in the last hour."""
    recent = [JobState.QUEUED] * 10 + [JobState.SUBMITTING, JobState.RUNNING, JobState.RUNNING]
    recent.append(JobState.DELIVERING)
    ended = sizes.jobs - APPROVALS_WAITING - len(recent)
    span = (sizes.days - 0.1) * DAY
    outcomes = (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED)
    for created in sorted(now - 3600 - rng.random() * span for _ in range(ended)):
        yield created, rng.choices(outcomes, (80, 8, 6, 6))[0]
    for i, state in enumerate(recent):
        yield now - 3000 + i * 60, state


async def _insert_jobs(db: Database, cast: Cast, sizes: Sizes, now: float) -> None:
    rng = random.Random(2024)
    sql = f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join('?' * 25)})"
    chunk: list[tuple[Any, ...]] = []
    for n, (created, state) in enumerate(_history(rng, sizes, now)):
        chunk.append(_job_row(rng, cast, n, created, state))
        if len(chunk) == CHUNK:
            async with db.transaction() as conn:
                await conn.execute_many(sql, chunk)
            chunk = []
    if chunk:
        async with db.transaction() as conn:
            await conn.execute_many(sql, chunk)


async def _settle(db: Database, guild_id: int, location: str) -> None:
    """The ledger rows JobStore writes: a reservation per job, then a commit for what Prodia may have billed
    (delivered, or failed after Prodia took it: quota given back) or a refund (`settlement`); and each
    clip's stored location, as the scheduler records it."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE jobs SET output_path = ? || CAST(id AS TEXT) || '.mp4'"
            " WHERE guild_id = ? AND prodia_job_id IS NOT NULL AND state IN ('delivered', 'failed')",
            (location, guild_id),
        )
        columns = "(job_id, guild_id, user_id, kind, video_seconds, dollars, created_at, quota_returned)"
        await conn.execute(
            f"INSERT INTO usage_ledger {columns}"
            " SELECT id, guild_id, user_id, 'reserve', video_seconds, estimated_cost, created_at, 0"
            " FROM jobs WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        await conn.execute(
            f"INSERT INTO usage_ledger {columns}"
            " SELECT id, guild_id, user_id, 'commit', video_seconds, COALESCE(actual_cost, estimated_cost),"
            "        finished_at, CASE WHEN state = 'failed' THEN 1 ELSE 0 END"
            " FROM jobs WHERE guild_id = ? AND (state = 'delivered' OR (state = 'failed' AND"
            " prodia_job_id IS NOT NULL)) ORDER BY id",
            (guild_id,),
        )
        await conn.execute(
            f"INSERT INTO usage_ledger {columns}"
            " SELECT id, guild_id, user_id, 'refund', video_seconds, estimated_cost, finished_at, 1"
            " FROM jobs WHERE guild_id = ? AND state IN ('failed', 'cancelled', 'rejected')"
            " AND prodia_job_id IS NULL ORDER BY id",
            (guild_id,),
        )


async def _awaiting_approval(db: Database, cast: Cast, now: float) -> None:
    """The requests waiting for a moderator, made through JobStore.create as the bot makes them."""
    rng = random.Random(25)
    for i in range(APPROVALS_WAITING):
        created = now - (APPROVALS_WAITING - i) * 90
        store = JobStore(db, clock=functools.partial(float, created))
        request = _request(rng)
        channel = rng.choice(cast.channels)
        await store.create(
            NewJob(
                request=request,
                user_id=rng.choice(cast.members),
                estimated_cost=PRICES.estimate(request),
                target_kind="discord",
                target=_target(rng, channel, created, 900_000 + i),
                guild_id=cast.guild.id,
                channel_id=channel,
                state=JobState.AWAITING_APPROVAL,
            )
        )


ADMIN_ENTRIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("limits.set", {"scope": "user", "jobs_per_hour": 4, "video_seconds_per_day": 96}),
    ("limits.clear", {"scope": "user"}),
    ("budget.set", {"dollars_per_day": 40.0}),
    ("blocklist.add", {"pattern": "gore", "regex": False}),
    ("blocklist.remove", {"pattern": "blood"}),
    ("member.strike", {"reason": "blocked word", "prompt": "a gory scene <b>with</b> & without"}),
    ("member.block", {}),
    ("approvals.on", {"channel": 1}),
    ("defaults.set", {"default_duration": 8}),
    ("jobs.export", {"rows": 1234}),
    ("interaction.refused", {"reason": "not an allowed channel"}),
)


async def _audit(db: Database, cast: Cast, sizes: Sizes) -> None:
    """`sizes.audit` entries as Audit.record writes them: most are job outcomes (with `job_details`, the
    prompt among them), the rest changes made from Discord or the dashboard; ids in time order."""
    rng = random.Random(10)
    rows = await db.reader.fetch_all(
        f"SELECT * FROM jobs WHERE guild_id = ? AND state IN ({', '.join('?' * len(TERMINAL))})",
        (cast.guild.id, *(s.value for s in TERMINAL)),
    )
    outcomes = rng.sample(rows, min(len(rows), sizes.audit * 7 // 10))
    entries: list[tuple[Any, ...]] = []
    for row in outcomes:
        job = row_to_job(row)  # the rows as the store reads them
        outcome = json.dumps(job_details(job), default=str)
        entries.append(
            (cast.guild.id, None, f"job.{job.state.value}", job.id, outcome, job.finished_at, None)
        )
    first = min(row["created_at"] for row in outcomes)
    last = max(row["finished_at"] for row in outcomes)
    for _ in range(sizes.audit - len(entries)):
        action, details = rng.choice(ADMIN_ENTRIES)
        if action.startswith(("limits.", "member.")):
            details = {**details, "target": rng.choice(cast.members)}
        source = rng.choice(("discord", "dashboard"))
        when = rng.uniform(first, last)
        entries.append((cast.guild.id, cast.owner, action, None, json.dumps(details), when, source))
    entries.sort(key=lambda entry: entry[5])
    async with db.transaction() as conn:
        await conn.execute_many(
            "INSERT INTO audit_log (guild_id, actor_id, action, job_id, details, created_at, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            entries,
        )


async def _governance(db: Database, cast: Cast) -> None:
    """A budget, a few limit rules (one for a role: the approvals page then asks Discord for each
    requester's roles), allowed channels, a staff role and a blocklist."""
    governance = Governance(db)
    gid = cast.guild.id
    await governance.update_settings(gid, budget_dollars_per_day=40.0)
    rules = [
        LimitRule("guild", gid, jobs_per_hour=6, video_seconds_per_day=120, concurrent=2),
        LimitRule("role", cast.creators_role, jobs_per_hour=12, video_seconds_per_day=240, pro=True),
        *(LimitRule("user", member, jobs_per_hour=3) for member in cast.members[:3]),
    ]
    for rule in rules:
        await governance.set_limit_rule(gid, rule)
    for channel in cast.channels:
        await governance.set_allowed(gid, "channels", channel, True)
    await governance.set_staff_role(gid, cast.creators_role, "viewer")
    for pattern in ("gore", "blood", r"\bnsfw\b"):
        await governance.add_block_rule(gid, pattern, pattern.startswith("\\"), cast.owner)


async def seed(url: str, cast: Cast, sizes: Sizes, now: float, location: str) -> float:
    """Fill the database (migrated here, as the bot's processes do); the seconds it took."""
    began = time.perf_counter()
    db = await Database.open(url)
    try:
        await _insert_jobs(db, cast, sizes, now)
        await _settle(db, cast.guild.id, location)
        await _awaiting_approval(db, cast, now)
        await _audit(db, cast, sizes)
        await _governance(db, cast)
        if db.engine == "postgresql":  # as autovacuum would have by now (the bot never analyzes SQLite)
            async with db.transaction() as conn:
                await conn.execute("ANALYZE")
    finally:
        await db.close()
    return time.perf_counter() - began


def make_cast(fake: FakeDiscord, sizes: Sizes) -> Cast:
    guild = fake.add_guild(name="Big <b>clips</b> server")
    creators = guild.add_role("Creators")
    approver = guild.add_member(name="mod", roles=[guild.add_role("Mods", MANAGE_MESSAGES)])
    members = [
        guild.add_member(name=f"member{i}", roles=[creators] if i % 4 == 0 else [])
        for i in range(sizes.members)
    ]
    channels = [guild.add_channel(name) for name in ("clips", "clips-pro", "showcase")]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(members))]
    return Cast(guild, guild.owner_id, approver, members, weights, creators, channels)


# -- the server and the browser ------------------------------------------------------------------------


def _settings(fake: FakeDiscord, database_url: str, port: int, output: Path) -> Settings:
    """As a deployment on this machine sets them (plain http on 127.0.0.1, the fake Discord's API)."""
    return Settings(
        database_url=SecretStr(database_url),
        discord_token=SecretStr(fake.bot_token),
        discord_api_base_url=fake.api_base,
        dashboard_url=f"http://127.0.0.1:{port}",
        dashboard_port=port,
        dashboard_secret=SecretStr(SECRET),
        discord_client_id=fake.app_id,
        discord_client_secret=SecretStr(fake.oauth_client_secret),
        output_dir=output,
    )


@contextlib.asynccontextmanager
async def dashboard(settings: Settings) -> AsyncIterator[Starlette]:
    """The dashboard as `sora-bot dashboard` serves it (bot.cli_dashboard.serve: DASHBOARD_HOST and
    DASHBOARD_PORT), with a Discord lookup budget the measured requests can't spend."""
    async with opened_app(settings, lookups_per_minute=LOOKUP_BUDGET) as app:
        server = uvicorn.Server(server_config(settings, app))
        # Not `serve(sockets=[...])` with a socket made here: its accepted connections would not get
        # TCP_NODELAY (asyncio sets it only for proto IPPROTO_TCP), and every answer would wait 40 ms for
        # the client's delayed ACK.
        serving = asyncio.create_task(server.serve(), name="uvicorn")
        try:
            while not server.started:
                if serving.done():
                    serving.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
            yield app
        finally:
            server.should_exit = True
            await serving


async def log_in(fake: FakeDiscord, browser: httpx.AsyncClient, user_id: int) -> None:
    """Login with Discord, the whole round trip (tests/unit/dashboard/conftest.py `World.log_in`)."""
    fake.oauth_user_id = user_id
    start = await browser.get("/login")
    async with httpx.AsyncClient() as discord_page:
        consent = await discord_page.get(start.headers["location"])
    back = await browser.get(consent.headers["location"])
    if (start.status_code, consent.status_code, back.status_code) != (303, 302, 303):
        raise RuntimeError(f"login failed: {start.status_code} {consent.status_code} {back.status_code}")


def pages(cast: Cast) -> list[Page]:
    g = f"/servers/{cast.guild.id}"
    member = cast.members[7]  # a regular: ~1% of the jobs
    return [
        Page("home (baseline)", "/"),
        Page("overview", g),
        Page("approvals", f"{g}/approvals"),
        Page("jobs", f"{g}/jobs"),
        Page(f"jobs, text search '{SEARCHED}'", f"{g}/jobs?text={SEARCHED}"),
        Page("jobs, delivered of one member", f"{g}/jobs?state=delivered&member={member}"),
        Page("spend, 90 days", f"{g}/spend?days=90"),
        Page("spend chart PNG, 90 days", f"{g}/spend.png?days=90"),
        Page("audit", f"{g}/audit"),
        Page("settings", f"{g}/settings"),
        Page("lists", f"{g}/lists"),
    ]


async def measure(browser: httpx.AsyncClient, measured: list[Page], rounds: int) -> None:
    """WARM_UPS requests of each page, then `rounds` rounds of one request per page (interleaved, so every
    page sees the same machine); a page answering 404 is left out, any other non-200 stops the run."""
    for page in measured:
        for _ in range(WARM_UPS):
            answer = await browser.get(page.path)
            if answer.status_code == 404:
                page.missing = True
                break
            if answer.status_code != 200:
                raise RuntimeError(f"{page.path}: HTTP {answer.status_code}: {answer.text[:200]}")
    live = [page for page in measured if not page.missing]
    for _ in range(rounds):
        for page in live:
            began = time.perf_counter()
            answer = await browser.get(page.path)
            page.times.append(time.perf_counter() - began)
            if answer.status_code != 200:
                raise RuntimeError(f"{page.path}: HTTP {answer.status_code}: {answer.text[:200]}")
            page.size = len(answer.content)
            page.note = _what_it_shows(page, answer)


def _what_it_shows(page: Page, answer: httpx.Response) -> str:
    """A count that says the page showed the big server's data (and so what was timed)."""
    text = answer.text if answer.headers.get("content-type", "").startswith("text/") else ""
    if page.path.endswith("/approvals"):
        return f"{text.count('/approve')} requests shown"
    if "/jobs" in page.path:
        return f"{text.count('<tr><td><a href=')} jobs listed"
    if "/audit" in page.path:
        return f"{text.count('<tr>') - 1} entries shown"
    return ""


# -- the benchmark -------------------------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now, for the dashboard to listen on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss_mib() -> float:
    try:
        pages_resident = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return float("nan")
    return pages_resident * resource.getpagesize() / 2**20


@dataclass
class Outcome:
    pages: list[Page]
    seed_seconds: float
    rss_before: float
    rss_after: float
    peak_mib: float
    lookups: int  # Discord requests the fake answered while measuring
    log_note: str


async def measure_all(sizes: Sizes, engine: Engine, postgres_url: str) -> Outcome:
    with temp_dir(NAME) as tmp, production_logging(tmp / "bot.log") as watch:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        options = Options(db=engine, postgres_url=postgres_url)
        async with FakeDiscord() as fake, fresh_database(options, tmp, "dashboard") as database_url:
            fake.oauth_redirect_uris.append(f"{url}/callback")
            cast = make_cast(fake, sizes)
            settings = _settings(fake, database_url, port, tmp / "clips")
            location = open_storage(settings, working=False).location("")
            seeded = await seed(database_url, cast, sizes, time.time(), location)
            rss_before = _rss_mib()
            with redirect_discord(fake):
                async with dashboard(settings), httpx.AsyncClient(base_url=url, timeout=60) as browser:
                    await log_in(fake, browser, cast.owner)
                    measured = pages(cast)
                    before = fake.mark()
                    await measure(browser, measured, sizes.rounds)
                    lookups = fake.mark() - before
        return Outcome(
            measured,
            seeded,
            rss_before,
            _rss_mib(),
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            lookups,
            watch.note(),
        )


def rows(outcome: Outcome, sizes: Sizes, engine: Engine) -> list[Row]:
    home = median(outcome.pages[0].times)
    result: list[Row] = []
    for page in outcome.pages:
        if page.missing:
            result.append(Row(NAME, f"GET {page.label}", "n/a", "", "", f"{page.path}: 404, not built yet"))
            continue
        mid, p95 = median(page.times), percentile(page.times, 95)
        result.append(
            Row(
                NAME,
                f"GET {page.label}",
                f"{ms(mid)} (p95 {ms(p95)})",
                f"{ms(home)} (home)" if page is not outcome.pages[0] else "",
                f"{mid / home:.1f}x of home" if page is not outcome.pages[0] else "",
                "; ".join(filter(None, [f"{page.size / 1024:.1f} KB", page.note])),
            )
        )
    requests = sum(len(page.times) + WARM_UPS for page in outcome.pages if not page.missing)
    result.append(
        Row(
            NAME,
            "peak RSS (the whole bench process)",
            f"{outcome.peak_mib:.0f} MiB",
            "",
            "",
            f"server, fake Discord, client and seeding in one process (under bench/run.py, earlier"
            f" benchmarks too); RSS {outcome.rss_before:.0f} MiB before serving, {outcome.rss_after:.0f} MiB"
            f" after {requests} requests",
        )
    )
    result.append(
        Row(
            NAME,
            "data set",
            f"{sizes.jobs} jobs, {sizes.audit} audit entries",
            "",
            "",
            f"{engine}; {sizes.members} members over {sizes.days} days, {APPROVALS_WAITING} awaiting"
            f" approval, 1 in {PRIVATE_ONE_IN} private, 1 in {SEARCHED_ONE_IN} prompts with '{SEARCHED}';"
            f" seeded in {outcome.seed_seconds:.1f} s; owner logged in through OAuth; uvicorn on 127.0.0.1;"
            f" median/p95 of {sizes.rounds} requests per page after {WARM_UPS} warm-ups, pages interleaved;"
            f" Discord lookup budget raised to {LOOKUP_BUDGET} in the bench only (default 30/min);"
            f" {outcome.lookups} requests to the fake Discord; {outcome.log_note}",
        )
    )
    return result


async def run(quick: bool, engine: Engine = "sqlite", postgres_url: str = POSTGRES_URL) -> list[Row]:
    sizes = QUICK if quick else FULL
    return rows(await measure_all(sizes, engine, postgres_url), sizes, engine)


def main() -> None:
    clean_environment()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 jobs, fewer requests")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--postgres-url", default=POSTGRES_URL, help="a server to create (and drop) the database on"
    )
    args = parser.parse_args()
    print(format_table(asyncio.run(run(args.quick, args.db, args.postgres_url))))


if __name__ == "__main__":
    main()
