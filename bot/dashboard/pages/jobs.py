"""The server's jobs and clips: a list searched by member, state, model, dates and prompt text, each job's
details, and its clip played through a link signed for the member who opened the page (bot.dashboard.
media_links). A private job is its owner's alone: to anyone else it does not exist, here as in /show.

The clip's route does not ask Discord nor spend the member's lookups a minute: a video's every seek is a
request (a Range), and would spend the budget their next page needs. The job's page checked the member's
standing with Discord moments before it signed the link; a role taken away stops new pages at once and the
link within its 15 minutes. What the database says is checked on every request: the job is the server's, a
private one its owner's, a removed clip is gone.

On S3 the route redirects to a link presigned for what is left of the member's own link, no longer: the
browser sends the video's later requests (Play, a seek past what it loaded) to that link, not back to the
route (Chromium, measured), so a shorter one would stop a clip not yet loaded; a longer one would outlive
the member's link in the hands of whoever else got it."""

from __future__ import annotations

import asyncio
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from starlette.datastructures import FormData, QueryParams, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.dashboard.access import Role, not_found
from bot.dashboard.media_links import SECONDS
from bot.dashboard.site import MAX_ID, Site, field, number
from bot.domain.models import Job, JobState, Model
from bot.errors import StorageUnavailable
from bot.files import clip_name
from bot.store.job_queries import JobFilter

PAGE_SIZE = 50
TEXT_LIMIT = 200
PROMPT_SHOWN = 300  # characters of a prompt in the list (the job's page shows it whole)
MODELS: dict[str, Model] = {"sora-2": "sora-2", "sora-2-pro": "sora-2-pro"}
STATES = {state.value: state for state in JobState}
WITH_CLIP = (JobState.DELIVERED, JobState.FAILED)  # as /show: a clip the channel refused is still kept
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Search:
    """The filter form as sent (to show it again and carry it to the next page) and what it asks for."""

    form: dict[str, str]
    found: JobFilter
    before: int | None


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    when: str
    member: int
    state: str
    model: str
    duration: str
    cost: str
    prompt: str
    private: bool


def parse_search(params: QueryParams) -> Search:
    """The list's filters from the query string; 400 with what to fix for a value that makes no sense."""
    items: list[tuple[str, str | UploadFile]] = list(params.multi_items())
    form = FormData(items)
    member = number(form, "member", low=1, high=MAX_ID)
    state, model = field(form, "state", limit=30), field(form, "model", limit=30)
    if state and state not in STATES:
        raise HTTPException(400, "state: pick one from the list.")
    if model and model not in MODELS:
        raise HTTPException(400, "model: sora-2 or sora-2-pro.")
    start, end = _day(form, "from"), _day(form, "to")
    if start is not None and end is not None and end < start:
        raise HTTPException(400, "to: a day on or after from.")
    text = field(form, "text", limit=TEXT_LIMIT)
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
        raise HTTPException(400, "text: plain text, please.")
    found = JobFilter(
        user_id=member,
        states={STATES[state]} if state else (),
        model=MODELS[model] if model else None,
        created_from=_midnight(start) if start else None,
        created_before=_midnight(end + timedelta(days=1)) if end else None,
        text=text,
    )
    sent = {"member": str(member or ""), "state": state, "model": model, "text": text}
    sent |= {"from": start.isoformat() if start else "", "to": end.isoformat() if end else ""}
    return Search(sent, found, number(form, "before", low=1, high=MAX_ID))


def _day(form: FormData, name: str) -> date | None:
    text = field(form, name, limit=10)
    if not text:
        return None
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"{name}: a day as YYYY-MM-DD (UTC), please.") from None


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def when(seconds: float | None) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC") if seconds else ""


def cost(job: Job) -> str:
    if job.actual_cost is not None:
        return f"${job.actual_cost:.2f}"
    return f"${job.estimated_cost:.2f} (estimate)"


def model(job: Job) -> str:
    request = job.request
    return f"{request.model} {request.effective_resolution} {request.aspect_ratio}"


def row(job: Job) -> Row:
    prompt = job.request.prompt
    return Row(
        id=job.id,
        when=when(job.created_at),
        member=job.user_id,
        state=job.state.value,
        model=job.request.model,
        duration=f"{job.request.duration} s",
        cost=cost(job),
        prompt=prompt if len(prompt) <= PROMPT_SHOWN else prompt[:PROMPT_SHOWN] + "…",
        private=bool(job.target.get("private")),
    )


def details(job: Job) -> list[tuple[str, str]]:
    """The job's facts for its page (not its raw error: that is for the logs)."""
    request = job.request
    facts = [
        ("State", job.state.value),
        ("Member", str(job.user_id)),
        ("Channel", str(job.channel_id or "")),
        ("Private", "yes" if job.target.get("private") else "no"),
        ("Model", model(job)),
        ("Duration", f"{request.duration} s"),
        ("From an image", "yes" if request.image_path else "no"),
        ("Seed", str(request.seed or "")),
        ("Cost", cost(job)),
        ("Asked", when(job.created_at)),
        ("Started", when(job.started_at)),
        ("Finished", when(job.finished_at)),
        ("Approved by", str(job.approved_by or "")),
        ("Attempts", str(job.attempts)),
        ("What the member was told", job.user_error or ""),
    ]
    return [(label, value) for label, value in facts if value]


async def visible_job(site: Site, guild_id: int, viewer: int, job_id: int) -> Job:
    """The server's job, as long as `viewer` may see it (a private one: its owner); 404 otherwise."""
    job = await site.jobs.get(job_id)
    if job is None or job.guild_id != guild_id:
        raise not_found()
    if job.target.get("private") and job.user_id != viewer:
        raise not_found()
    return job


def link_minutes(site: Site) -> int:
    """How long the job page's video works: its link's life (a bucket's presigned link ends with it)."""
    return SECONDS["clip"] // 60


def clip_path(guild_id: int, job_id: int) -> str:
    return f"/servers/{guild_id}/jobs/{job_id}/clip"


async def why_no_clip(site: Site, job: Job, viewer: int) -> str | None:
    """None when `viewer` may play the job's clip; otherwise why not, for the job's page. A removal holds as
    in Discord: a moderator's for everyone, the requester's for everyone but the requester."""
    if job.state not in WITH_CLIP or not job.output_path:
        return "This job has no clip."
    removed_by = await site.jobs.clip_removed_by(job.id)
    if removed_by is not None and removed_by != job.user_id:
        return "A moderator removed this clip in Discord."
    if removed_by is not None and viewer != job.user_id:
        return "Its requester removed this clip in Discord."
    if site.storage is None:
        return "The dashboard has no clip store."
    if not site.storage.remote and not await asyncio.to_thread(_is_file, site, job):
        return "The clip is no longer kept."
    return None


def _is_file(site: Site, job: Job) -> bool:
    assert site.storage is not None
    return (site.storage.work_dir / clip_name(job.id)).is_file()


def routes(site: Site) -> list[BaseRoute]:
    async def jobs_page(request: Request) -> Response:
        access = await site.access(request, Role.VIEWER)
        search = parse_search(request.query_params)
        found = await site.jobs.search_jobs(
            access.guild.id, access.user_id, search.found, before_id=search.before, limit=PAGE_SIZE + 1
        )
        shown = found[:PAGE_SIZE]
        older = None
        if len(found) > PAGE_SIZE:
            kept = {name: value for name, value in search.form.items() if value}
            older = f"?{urlencode({**kept, 'before': shown[-1].id})}"
        return site.render(
            request,
            "jobs.html",
            page="jobs",
            access=access,
            guild=access.guild,
            form=search.form,
            states=list(STATES),
            models=list(MODELS),
            rows=[row(job) for job in shown],
            older=older,
            paged=search.before is not None,
        )

    async def job_page(request: Request) -> Response:
        access = await site.access(request, Role.VIEWER)
        job = await visible_job(site, access.guild.id, access.user_id, request.path_params["job_id"])
        missing = await why_no_clip(site, job, access.user_id)
        clip = None
        if missing is None:
            clip = site.link("clip", access, job.id, clip_path(access.guild.id, job.id))
        return site.render(
            request,
            "job.html",
            page="jobs",
            access=access,
            guild=access.guild,
            job=job,
            facts=details(job),
            clip=clip,
            clip_minutes=link_minutes(site),
            missing=missing,
        )

    async def clip(request: Request) -> Response:
        """The clip of a job page's `<video>`: only with the link the page signed for this member and job,
        unexpired, while the database still lets them play it."""
        signed = await site.signed(request, "clip")
        job = await visible_job(site, signed.guild_id, signed.user_id, signed.job_id)
        if await why_no_clip(site, job, signed.user_id) is not None:
            raise not_found()
        assert site.storage is not None
        name = clip_name(job.id)
        if site.storage.remote:
            try:
                url = await site.storage.presign(name, max(1, signed.expires - int(site.clock())))
            except StorageUnavailable:
                raise HTTPException(503, "The clip store did not answer: try again in a minute.") from None
            if url is None:
                raise not_found()
            return RedirectResponse(url, status_code=303)
        path = site.storage.work_dir / name
        try:
            stat = await asyncio.to_thread(os.stat, path)
        except FileNotFoundError:
            raise not_found() from None
        # Range requests (seeking) are answered with 206 and the asked bytes.
        return FileResponse(path, media_type="video/mp4", stat_result=stat)

    return [
        Route("/servers/{guild_id:snowflake}/jobs", jobs_page),
        Route("/servers/{guild_id:snowflake}/jobs/{job_id:snowflake}", job_page),
        Route("/servers/{guild_id:snowflake}/jobs/{job_id:snowflake}/clip", clip),
    ]
