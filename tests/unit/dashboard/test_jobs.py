"""The jobs and clips page: staff search the server's jobs (each filter narrows, pages go back in time) and
play a job's clip through a link signed for them, for that job, for a while; a private job exists only for
its owner; a removed clip plays for nobody it was removed for; bad filters are a 400 that says what to fix."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from bot.dashboard.app import create_app, media_origins
from bot.dashboard.discord_rest import DiscordRest
from bot.dashboard.media_links import SECONDS, MediaLinks
from bot.dashboard.pages.jobs import PAGE_SIZE
from bot.domain.models import JobRequest, JobState, Target
from bot.media.render import render_clip
from bot.settings import Settings
from bot.storage.s3 import S3Storage
from bot.store.jobs import JobStore, NewJob
from tests.s3 import REGION, S3Server
from tests.unit.dashboard.conftest import DASHBOARD_URL, SECRET, World
from tests.unit.dashboard.test_access import ORIGIN, csrf_of

DAY = 86400.0
T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z
STAFF = ["viewer", "approver", "administrator", "manager", "owner"]
VIDEO = re.compile(r'<video controls preload="metadata" src="([^"]+)"')


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, small MP4 (one second of 320x180 from the local renderer)."""
    clip = tmp_path_factory.mktemp("source") / "clip.mp4"
    render_clip(clip, prompt="a lighthouse at dusk", width=320, height=180, duration=1, audio=False)
    return clip


@pytest.fixture
async def staffed(world: World) -> World:
    """The world with a viewer: a member whose role the server made a dashboard viewer role."""
    role = world.guild.add_role("Clip watchers")
    world.users["viewer"] = world.guild.add_member(name="vic", roles=[role])
    await world.governance.set_staff_role(world.guild.id, role, "viewer")
    return world


async def make(
    world: World,
    prompt: str = "a quiet harbour at dawn",
    *,
    who: str = "member",
    private: bool = False,
    store: JobStore | None = None,
    **request: Any,
) -> int:
    job = await (store or world.jobs).create(
        NewJob(
            request=JobRequest.parse(prompt=prompt, **request),
            user_id=world.users[who],
            guild_id=world.guild.id,
            estimated_cost=0.4,
            target_kind="discord",
            target=cast(Target, {"kind": "discord", "private": private}),
        )
    )
    return job.id


async def deliver(world: World, job_id: int, mp4: Path) -> bytes:
    """The job delivered with its clip in the store, as the worker leaves it: the clip's bytes."""
    dest = world.storage.work_dir / f"{job_id}.mp4"
    shutil.copyfile(mp4, dest)
    done = await world.jobs.transition(
        job_id, JobState.DELIVERED, expect={JobState.QUEUED}, output_path=str(dest), actual_cost=0.4
    )
    assert done is not None
    return dest.read_bytes()


def listed(world: World, page: httpx.Response) -> list[int]:
    assert page.status_code == 200, page.text
    return [int(n) for n in re.findall(rf'<a href="/servers/{world.guild.id}/jobs/(\d+)">', page.text)]


def clip_link(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    found = VIDEO.search(page.text)
    assert found is not None, "no video on the page"
    return html.unescape(found[1])


def jobs_url(world: World) -> str:
    return f"/servers/{world.guild.id}/jobs"


# -- who may see ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [*STAFF, "member", "stranger", "logged out"])
async def test_the_list_the_job_and_its_clip_are_for_staff_only(staffed: World, mp4: Path, who: str) -> None:
    world = staffed
    job = await make(world, "a lighthouse in fog")
    data = await deliver(world, job, mp4)
    async with world.browser() as browser:
        if who != "logged out":
            await world.log_in(browser, world.users[who])
        page = await browser.get(jobs_url(world))
        detail = await browser.get(f"{jobs_url(world)}/{job}")
        nowhere = await browser.get(f"{jobs_url(world)}/{job + 1000}")
        huge = await browser.get(f"{jobs_url(world)}/{10**30}")
        clip = await browser.get(clip_link(detail)) if detail.status_code == 200 else None
    if who in STAFF:
        assert listed(world, page) == [job]
        assert "a lighthouse in fog" in detail.text
        assert clip is not None and clip.status_code == 200
        assert clip.headers["content-type"] == "video/mp4"
        assert clip.content == data
        assert nowhere.status_code == huge.status_code == 404
    elif who == "logged out":
        assert (page.status_code, page.headers["location"]) == (303, "/login")
        assert (detail.status_code, detail.headers["location"]) == (303, "/login")
    else:
        assert (page.status_code, detail.status_code) == (404, 404)
        assert detail.text == nowhere.text
        assert "lighthouse" not in page.text + detail.text


async def test_a_member_who_loses_the_role_gets_no_page_at_once_and_no_clip_once_the_link_expires(
    world: World, mp4: Path
) -> None:
    """The clip's route does not ask Discord: the page did, moments before it signed the link."""
    job = await make(world)
    await deliver(world, job, mp4)
    approver = world.users["approver"]
    async with world.browser() as browser:
        await world.log_in(browser, approver)
        link = clip_link(await browser.get(f"{jobs_url(world)}/{job}"))
        assert (await browser.get(link)).status_code == 200
        world.guild.members[approver].roles.clear()  # no longer a moderator
        page = await browser.get(f"{jobs_url(world)}/{job}")
        listing = await browser.get(jobs_url(world))
        within = await browser.get(link, headers={"range": "bytes=0-99"})
        world.now[0] += SECONDS["clip"] + 1
        after = await browser.get(link)
    assert (page.status_code, listing.status_code) == (404, 404)
    assert within.status_code == 206  # the link the page signed, for what is left of its 15 minutes
    assert after.status_code == 403
    async with world.browser() as logged_out:
        answer = await logged_out.get(link)
    assert answer.status_code == 403
    assert "Log in" in answer.text


async def test_seeking_a_clip_asks_discord_nothing_and_spends_none_of_the_members_lookups(
    world: World, mp4: Path
) -> None:
    """A video's every seek is a Range request: 60 of them (twice the 30 lookups a minute a member has) cost
    no Discord call at all, and the member's next page still opens."""
    job = await make(world)
    data = await deliver(world, job, mp4)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        link = clip_link(await browser.get(f"{jobs_url(world)}/{job}"))
        asked = len(world.fake.requests)
        seeks = [
            await browser.get(link, headers={"range": f"bytes={start}-{start + 99}"})
            for start in range(0, 6000, 100)
        ]
        whole = await browser.get(link)
        assert len(world.fake.requests) == asked
        pages = [await browser.get(f"{jobs_url(world)}/{job}") for _ in range(3)]
    assert [seek.status_code for seek in seeks] == [206] * 60
    assert seeks[7].content == data[700:800] and whole.content == data
    assert [page.status_code for page in pages] == [200] * 3
    assert len(world.fake.requests_for("GET /guilds/{guild_id}")) >= 3  # a page does ask Discord


# -- the signed clip link ---------------------------------------------------------------------------------


def _with(link: str, **changes: str) -> str:
    parts = urlsplit(link)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()} | changes
    return parts.path + "?" + "&".join(f"{name}={value}" for name, value in query.items() if value != "-")


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "no signature",
        "no expiry",
        "later expiry",
        "not hex",
        "another member's",
        "another job's",
        "another server's",
        "an image's",
        "after logging out",
        "a copy of a logged out session",
    ],
)
async def test_a_clip_link_that_is_not_this_members_for_this_job_is_refused(
    world: World, mp4: Path, case: str
) -> None:
    job, other_job = await make(world), await make(world)
    await deliver(world, job, mp4)
    await deliver(world, other_job, mp4)
    async with world.browser() as browser, world.browser() as admin:
        await world.log_in(browser, world.users["approver"])
        await world.log_in(admin, world.users["administrator"])
        link = clip_link(await browser.get(f"{jobs_url(world)}/{job}"))
        signature, expires = parse_qs(urlsplit(link).query)["signature"][0], urlsplit(link).query
        expires = parse_qs(expires)["expires"][0]
        flipped = ("0" if signature[-1] != "0" else "1") + signature[1:]
        user, link_for = browser, link
        if case == "tampered":
            link_for = _with(link, signature=flipped)
        elif case == "no signature":
            link_for = _with(link, signature="-")
        elif case == "no expiry":
            link_for = _with(link, expires="-")
        elif case == "later expiry":
            link_for = _with(link, expires=str(int(expires) + 3600))
        elif case == "not hex":
            link_for = _with(link, signature="z" * 64)
        elif case == "another member's":
            user = admin  # staff too, but the link was signed for the approver
        elif case == "another job's":
            link_for = link.replace(f"/jobs/{job}/", f"/jobs/{other_job}/")
        elif case == "another server's":  # the administrator's own server: the link names this one
            link_for = link.replace(f"/servers/{world.guild.id}/", f"/servers/{world.other.id}/")
        elif case == "an image's":  # signed right for this member and job, but for a thumbnail
            image = MediaLinks(SECRET).query(
                "image",
                user_id=world.users["approver"],
                guild_id=world.guild.id,
                job_id=job,
                expires=int(expires),
            )
            link_for = urlsplit(link).path + "?" + image
        genuine = await browser.get(link)
        logs_out = case in ("after logging out", "a copy of a logged out session")
        if logs_out:
            kept = httpx.Cookies(browser.cookies)
            token = await csrf_of((await browser.get("/")).text)
            assert (await browser.post("/logout", data={"csrf": token}, headers=ORIGIN)).status_code == 303
            if case == "a copy of a logged out session":
                browser.cookies = kept
        refused = await user.get(link_for)
    assert genuine.status_code == 200
    assert refused.status_code == 403
    expected = "Log in to play this clip." if logs_out else "reload the job's page"
    assert expected in html.unescape(refused.text)


async def test_a_clip_link_expires(world: World, mp4: Path) -> None:
    job = await make(world)
    await deliver(world, job, mp4)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        link = clip_link(await browser.get(f"{jobs_url(world)}/{job}"))
        world.now[0] += SECONDS["clip"] - 5
        still = await browser.get(link)
        world.now[0] += 10
        expired = await browser.get(link)
        fresh_page = await browser.get(f"{jobs_url(world)}/{job}")  # a reload signs a new link
        fresh = clip_link(fresh_page)
        again = await browser.get(fresh)
    assert (still.status_code, expired.status_code, again.status_code) == (200, 403, 200)
    assert "The video's link works for 15 minutes after this page opens" in fresh_page.text


async def test_a_range_request_gets_206_and_exactly_those_bytes(world: World, mp4: Path) -> None:
    job = await make(world)
    data = await deliver(world, job, mp4)
    assert len(data) > 1000
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        link = clip_link(await browser.get(f"{jobs_url(world)}/{job}"))
        middle = await browser.get(link, headers={"range": "bytes=100-599"})
        tail = await browser.get(link, headers={"range": "bytes=-300"})
        beyond = await browser.get(link, headers={"range": f"bytes={len(data) + 10}-"})
    assert middle.status_code == 206
    assert middle.content == data[100:600]
    assert middle.headers["content-range"] == f"bytes 100-599/{len(data)}"
    assert (tail.status_code, tail.content) == (206, data[-300:])
    assert beyond.status_code == 416
    assert middle.headers["accept-ranges"] == "bytes"


# -- private jobs and removed clips -----------------------------------------------------------------------


async def test_a_private_job_is_its_owners_alone_listed_shown_and_played(world: World, mp4: Path) -> None:
    """The owner is staff here (a plain member has no dashboard): the other staff never learn it exists."""
    secret = await make(world, "a private garden of glass", who="approver", private=True)
    data = await deliver(world, secret, mp4)
    public = await make(world, "a public garden")
    signer = MediaLinks(SECRET)
    admin_id = world.users["administrator"]
    expires = int(world.now[0]) + 60
    forged_for_admin = f"{jobs_url(world)}/{secret}/clip?" + signer.query(
        "clip", user_id=admin_id, guild_id=world.guild.id, job_id=secret, expires=expires
    )
    async with world.browser() as owner, world.browser() as admin:
        await world.log_in(owner, world.users["approver"])
        await world.log_in(admin, admin_id)
        assert listed(world, await owner.get(jobs_url(world))) == [public, secret]
        owners_page = await owner.get(f"{jobs_url(world)}/{secret}")
        owners_link = clip_link(owners_page)
        played = await owner.get(owners_link)
        assert listed(world, await admin.get(jobs_url(world))) == [public]
        assert listed(world, await admin.get(jobs_url(world), params={"text": "glass"})) == []
        others_page = await admin.get(f"{jobs_url(world)}/{secret}")
        missing_page = await admin.get(f"{jobs_url(world)}/{secret + 1000}")
        with_owners_link = await admin.get(owners_link)
        with_own_signature = await admin.get(forged_for_admin)
    assert "a private garden of glass" in owners_page.text
    assert (played.status_code, played.content) == (200, data)
    assert others_page.status_code == 404 and others_page.text == missing_page.text
    assert with_owners_link.status_code == 403
    assert with_own_signature.status_code == 404  # signed right, but the job is not theirs to see


async def test_a_moderators_removal_takes_the_clip_away_from_everyone(world: World, mp4: Path) -> None:
    job = await make(world, who="approver")
    await deliver(world, job, mp4)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        link = clip_link(await browser.get(f"{jobs_url(world)}/{job}"))
        await world.jobs.mark_clip_removed(job, world.users["manager"])
        page = await browser.get(f"{jobs_url(world)}/{job}")
        answer = await browser.get(link)
    assert VIDEO.search(page.text) is None
    assert "A moderator removed this clip in Discord." in page.text
    assert answer.status_code == 404


async def test_a_requesters_own_removal_leaves_the_clip_to_the_requester(world: World, mp4: Path) -> None:
    job = await make(world, who="approver")
    data = await deliver(world, job, mp4)
    await world.jobs.mark_clip_removed(job, world.users["approver"])
    signer = MediaLinks(SECRET)
    admin_id = world.users["administrator"]
    signed_for_admin = f"{jobs_url(world)}/{job}/clip?" + signer.query(
        "clip", user_id=admin_id, guild_id=world.guild.id, job_id=job, expires=int(world.now[0]) + 60
    )
    async with world.browser() as requester, world.browser() as admin:
        await world.log_in(requester, world.users["approver"])
        await world.log_in(admin, admin_id)
        mine = await requester.get(clip_link(await requester.get(f"{jobs_url(world)}/{job}")))
        admins_page = await admin.get(f"{jobs_url(world)}/{job}")
        admins_clip = await admin.get(signed_for_admin)
    assert (mine.status_code, mine.content) == (200, data)
    assert VIDEO.search(admins_page.text) is None
    assert "Its requester removed this clip in Discord." in admins_page.text
    assert admins_clip.status_code == 404


async def test_a_clip_no_longer_kept_or_never_made_is_not_offered(world: World, mp4: Path) -> None:
    gone = await make(world)
    await deliver(world, gone, mp4)
    (world.storage.work_dir / f"{gone}.mp4").unlink()  # retention deleted it
    queued = await make(world)
    signer = MediaLinks(SECRET)
    approver = world.users["approver"]
    async with world.browser() as browser:
        await world.log_in(browser, approver)
        for job, why in ((gone, "The clip is no longer kept."), (queued, "This job has no clip.")):
            page = await browser.get(f"{jobs_url(world)}/{job}")
            assert VIDEO.search(page.text) is None
            assert why in page.text
            signed = f"{jobs_url(world)}/{job}/clip?" + signer.query(
                "clip", user_id=approver, guild_id=world.guild.id, job_id=job, expires=int(world.now[0]) + 60
            )
            assert (await browser.get(signed)).status_code == 404


async def test_a_job_of_another_server_is_not_found_here(world: World, mp4: Path) -> None:
    job = await world.jobs.create(
        NewJob(
            request=JobRequest.parse(prompt="elsewhere entirely"),
            user_id=world.users["stranger"],
            guild_id=world.other.id,
            estimated_cost=0.4,
            target_kind="discord",
            target={"kind": "discord"},
        )
    )
    await deliver(world, job.id, mp4)
    signed = f"{jobs_url(world)}/{job.id}/clip?" + MediaLinks(SECRET).query(
        "clip",
        user_id=world.users["owner"],
        guild_id=world.guild.id,
        job_id=job.id,
        expires=int(world.now[0]) + 60,
    )
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        assert listed(world, await browser.get(jobs_url(world))) == []
        assert (await browser.get(f"{jobs_url(world)}/{job.id}")).status_code == 404
        assert (await browser.get(signed)).status_code == 404


# -- the list's filters and pages -------------------------------------------------------------------------


async def test_each_filter_narrows_the_list(world: World) -> None:
    now = [T0]
    store = JobStore(world.db, clock=lambda: now[0])
    a = await make(world, "a harbour at dawn", who="member", store=store)
    now[0] = T0 + DAY
    b = await make(world, "a HARBOUR at dusk", who="approver", store=store, model="sora-2-pro")
    now[0] = T0 + 2 * DAY
    c = await make(world, "100% mountain_road", who="member", store=store)
    await world.jobs.transition(c, JobState.CANCELLED)
    cases: list[tuple[dict[str, str], list[int]]] = [
        ({}, [c, b, a]),
        ({"member": str(world.users["member"])}, [c, a]),
        ({"member": str(world.users["approver"])}, [b]),
        ({"state": "cancelled"}, [c]),
        ({"state": "queued"}, [b, a]),
        ({"model": "sora-2-pro"}, [b]),
        ({"model": "sora-2"}, [c, a]),
        ({"from": "2025-06-16"}, [c, b]),
        ({"to": "2025-06-16"}, [b, a]),
        ({"from": "2025-06-16", "to": "2025-06-16"}, [b]),
        ({"from": "2025-06-18"}, []),
        ({"text": "harbour"}, [b, a]),
        ({"text": "%"}, [c]),
        ({"text": "_"}, [c]),
        ({"text": "harbour", "model": "sora-2"}, [a]),
        ({"member": "", "state": "", "model": "", "from": "", "to": "", "text": ""}, [c, b, a]),
    ]
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        for params, expected in cases:
            page = await browser.get(jobs_url(world), params=params)
            assert listed(world, page) == expected, params
            for name, value in params.items():  # the form shows what was asked
                if value and name not in ("state", "model"):
                    assert f'name="{name}" value="{html.escape(value)}"' in page.text


async def test_older_pages_go_back_in_time_and_keep_the_filters(world: World) -> None:
    harbours = []
    for n in range(PAGE_SIZE + 3):
        harbours.append(await make(world, f"harbour number {n}"))
        if n % 10 == 0:
            await make(world, "a mountain")
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        first = await browser.get(jobs_url(world), params={"text": "harbour"})
        older = re.search(r'<a href="([^"]+)" rel="next">Older jobs</a>', first.text)
        assert older is not None
        second = await browser.get(html.unescape(older[1]))
        assert "text=harbour" in html.unescape(older[1])
    assert listed(world, first) == harbours[::-1][:PAGE_SIZE]
    assert listed(world, second) == harbours[::-1][PAGE_SIZE:]
    assert "Older jobs" not in second.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"member": "abc"}, "member: a whole number, please."),
        ({"member": "0"}, "member: between 1 and"),
        ({"member": "9" * 31}, "member: at most 30 characters."),
        ({"member": "9" * 20}, "member: between 1 and"),
        ({"state": "exploded"}, "state: pick one from the list."),
        ({"model": "gpt-4"}, "model: sora-2 or sora-2-pro."),
        ({"from": "2025-13-01"}, "from: a day as YYYY-MM-DD (UTC), please."),
        ({"from": "20250601"}, "from: a day as YYYY-MM-DD (UTC), please."),
        ({"to": "yesterday"}, "to: a day as YYYY-MM-DD (UTC), please."),
        ({"from": "2025-06-02", "to": "2025-06-01"}, "to: a day on or after from."),
        ({"text": "x" * 201}, "text: at most 200 characters."),
        ({"text": "nul\x00byte"}, "text: plain text, please."),
        ({"before": "-5"}, "before: between 1 and"),
    ],
)
async def test_a_filter_that_makes_no_sense_is_a_400_that_says_what_to_fix(
    world: World, params: dict[str, str], message: str
) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["approver"])
        answer = await browser.get(jobs_url(world), params=params)
    assert answer.status_code == 400
    assert message in html.unescape(answer.text)


async def test_prompts_render_as_text_in_the_list_and_on_the_job_page(world: World, mp4: Path) -> None:
    prompt = "<script>alert('x')</script> **bold** [link](javascript:alert(1)) {{ 7*7 }}\nline two"
    job = await make(world, prompt)
    await deliver(world, job, mp4)
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; **bold** [link](javascript:alert(1)) {{ 7*7 }}"
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        pages = [
            (await browser.get(jobs_url(world))).text,
            (await browser.get(f"{jobs_url(world)}/{job}")).text,
            (await browser.get(jobs_url(world), params={"text": "<script>"})).text,
        ]
    for page in pages:
        assert "<script>" not in page
        assert escaped in page
        assert "<strong>" not in page and 'href="javascript' not in page
    assert 'value="&lt;script&gt;"' in pages[2]


async def test_a_long_prompt_is_cut_in_the_list_and_whole_on_its_page(world: World) -> None:
    prompt = "a very long scene\n" + "word " * 800 + "THE END"
    job = await make(world, prompt)
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        listing = (await browser.get(jobs_url(world))).text
        page = (await browser.get(f"{jobs_url(world)}/{job}")).text
    assert "THE END" not in listing and "…" in listing
    assert "THE END" in page


# -- a bucket as the store --------------------------------------------------------------------------------


@pytest.fixture
async def bucket_app(
    world: World, s3_server: S3Server, s3_storage: dict[str, str], tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, S3Storage]]:
    """The dashboard over the same database with an S3 bucket (moto on 127.0.0.1) as its clip store."""
    settings = world.settings.model_copy(
        update={"storage_url": s3_storage["storage_url"], "s3_endpoint_url": s3_server.endpoint}
    )
    bucket = s3_storage["storage_url"].removeprefix("s3://").split("/")[0]
    storage = S3Storage(
        tmp_path / "scratch", bucket=bucket, prefix="clips", endpoint_url=s3_server.endpoint, region=REGION
    )
    (tmp_path / "scratch").mkdir()
    discord = DiscordRest(world.fake.bot_token, base_url=world.fake.api_base)
    app = create_app(
        settings,
        db=world.db,
        governance=world.governance,
        jobs=world.jobs,
        discord=discord,
        storage=storage,
        clock=lambda: world.now[0],
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=DASHBOARD_URL
        ) as browser:
            yield browser, storage
    finally:
        await discord.close()


async def test_with_a_bucket_the_clip_redirects_to_a_presigned_link_the_page_may_play(
    world: World, bucket_app: tuple[httpx.AsyncClient, S3Storage], s3_server: S3Server, mp4: Path
) -> None:
    browser, storage = bucket_app
    job = await make(world)
    name = storage.work_dir / f"{job}.mp4"
    shutil.copyfile(mp4, name)
    await storage.save(name)
    name.unlink()
    await world.jobs.transition(
        job, JobState.DELIVERED, expect={JobState.QUEUED}, output_path=storage.location(name.name)
    )
    await world.log_in(browser, world.users["approver"])
    page = await browser.get(f"{jobs_url(world)}/{job}")
    answer = await browser.get(clip_link(page))
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(f"{s3_server.endpoint}/")
    assert "X-Amz-Signature=" in location
    # Whoever holds it may play it: it ends with this member's own link (the browser plays and seeks on it
    # without coming back to the dashboard), never later.
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [str(SECONDS["clip"])] == ["900"]
    world.now[0] += 14 * 60
    later = (await browser.get(clip_link(page))).headers["location"]
    assert parse_qs(urlsplit(later).query)["X-Amz-Expires"] == ["60"]
    world.now[0] += 61
    assert (await browser.get(clip_link(page))).status_code == 403  # the member's link is over: reload
    assert (
        "The video's link works for 15 minutes after this page opens: after that, reload the page."
        in page.text
    )
    csp = page.headers["content-security-policy"]
    assert f"media-src 'self' {s3_server.endpoint};" in csp
    assert answer.headers["content-security-policy"] == csp
    async with httpx.AsyncClient() as anyone:
        fetched = await anyone.get(location)
    assert (fetched.status_code, fetched.content) == (200, mp4.read_bytes())


def test_media_origins_follow_the_address_members_reach_the_bucket_at(tmp_path: Path) -> None:
    def origins(**settings: str) -> tuple[str, ...]:
        full = Settings(**{"dashboard_secret": SecretStr(SECRET), **settings})  # type: ignore[arg-type]
        endpoint = settings.get("s3_endpoint_url")
        storage = S3Storage(tmp_path, bucket="clips", prefix="", endpoint_url=endpoint, region=REGION)
        return media_origins(full, storage)

    assert origins(s3_endpoint_url="http://minio:9000") == ("http://minio:9000",)
    assert origins(
        s3_endpoint_url="http://minio:9000", s3_public_endpoint_url="https://media.example.org/s3"
    ) == ("https://media.example.org",)
    assert origins() == ("https://*.amazonaws.com",)
    assert media_origins(Settings(), None) == ()


async def test_with_files_video_plays_from_the_dashboard_only(world: World) -> None:
    async with world.browser() as browser:
        await world.log_in(browser, world.users["owner"])
        page = await browser.get(jobs_url(world))
    assert "media-src 'self';" in page.headers["content-security-policy"]
