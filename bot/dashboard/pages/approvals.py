"""The approvals page: the server's requests waiting for a moderator, with what the Discord request shows
(prompt, input image, settings, estimated cost) and the requester's quota left; Approve and Reject go
through the same decisions as the Discord buttons, so whoever decides first, here or there, wins.

A thumbnail is fetched through a link the page signed for the moderator (bot.dashboard.media_links), not
through the page's access check: 25 thumbnails would cost 50 Discord calls and 25 of the moderator's 30
lookups a minute, and their next Approve a 429. The page checked their standing with Discord moments before;
a role taken away stops new pages at once and these links within minutes."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot import files
from bot.dashboard.access import Access, Role, not_found
from bot.dashboard.media_links import SECONDS
from bot.dashboard.site import SOURCE, Site, field
from bot.domain.limits import LimitRule, Limits, Usage, resolve
from bot.domain.models import Job, JobState
from bot.errors import StorageUnavailable
from bot.i18n.messages import money
from bot.services.decisions import EXPIRED_ERROR, REASON_MAX, Decision, Decisions, decided_by
from bot.store.usage import usage_of
from bot.ui.embeds import settings_line

SHOWN = 25  # requests on the page, oldest first (they expire first)
READ_AT_MOST = 1000  # waiting requests read to find the oldest (a server has a handful)
DONE = {"approved": "approved", "rejected": "rejected"}
JOB_ID = re.compile(r"[1-9][0-9]{0,18}")  # ASCII digits only (str.isdigit takes "²", which int refuses)


@dataclass(frozen=True, slots=True)
class Quota:
    """What the requester has used of their limits, this request's reservation included."""

    limits: Limits
    usage: Usage

    @property
    def jobs_left(self) -> int:
        return max(0, self.limits.jobs_per_hour - self.usage.jobs_last_hour)

    @property
    def seconds_left(self) -> int:
        return max(0, self.limits.video_seconds_per_day - self.usage.video_seconds_last_day)


@dataclass(frozen=True, slots=True)
class Pending:
    """One request as the page shows it: a story's first shot stands for its `shots`, as in Discord."""

    job: Job
    shots: list[Job]
    settings: str
    cost: str
    image: str | None  # the thumbnail's signed link
    waiting_since: str
    quota: Quota


def has_image(job: Job) -> bool:
    """Only an input image the bot wrote is shown (a job made from the command line may name any file)."""
    return files.input_name(job.request.image_path) is not None


async def waiting(site: Site, guild_id: int) -> tuple[list[Job], int]:
    """The server's requests waiting for approval, oldest first, at most SHOWN; and how many wait."""
    jobs = await site.jobs.list_jobs(
        guild_id=guild_id, states={JobState.AWAITING_APPROVAL}, limit=READ_AT_MOST
    )
    return sorted(jobs, key=lambda job: job.id)[:SHOWN], len(jobs)


async def quota(site: Site, guild_id: int, user_id: int, rules: list[LimitRule]) -> Quota:
    """The requester's limits as the bot's guard resolves them, and their usage as /usage counts it. Their
    roles are asked of Discord only when a rule is set for a role (then they count)."""
    member = None
    if any(rule.scope == "role" for rule in rules):
        member = await site.discord.member(guild_id, user_id)
    roles = member.role_ids if member is not None else ()
    policy = resolve(site.settings.limit_defaults(), rules, roles, user_id)
    usage = await usage_of(site.db.reader, guild_id, user_id, site.clock())
    return Quota(policy.limits, usage)


def image_path(guild_id: int, job_id: int) -> str:
    return f"/servers/{guild_id}/approvals/{job_id}/image"


async def pending(site: Site, access: Access, jobs: list[Job]) -> list[Pending]:
    """The requests as the page shows them to this moderator; each requester's quota worked out once."""
    guild_id = access.guild.id
    rules = await site.governance.limit_rules(guild_id)
    quotas: dict[int, Quota] = {}
    shown = []
    for job in jobs:
        if job.user_id not in quotas:
            quotas[job.user_id] = await quota(site, guild_id, job.user_id, rules)
        found = await site.jobs.get_story(job.story_id) if job.story_id is not None else None
        shots = [s for s in found[1] if s.story_id == job.story_id] if found is not None else []
        shown.append(
            Pending(
                job=job,
                shots=shots,
                settings=settings_line(job),
                cost=money(sum(s.estimated_cost for s in shots) if shots else job.estimated_cost),
                image=site.link("image", access, job.id, image_path(guild_id, job.id))
                if has_image(job)
                else None,
                waiting_since=datetime.fromtimestamp(job.created_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
                quota=quotas[job.user_id],
            )
        )
    return shown


async def already(decisions: Decisions, job_id: int, job: Job | None) -> str:
    """Why a decision changed nothing: who decided first (or what else ended the wait)."""
    if job is None:
        return f"Job {job_id} no longer exists."
    if job.state is JobState.REJECTED and job.error == EXPIRED_ERROR:
        return f"Job {job.id} expired without a decision."
    if job.state is JobState.CANCELLED:
        return f"Job {job.id} was cancelled: there is nothing to decide."
    by = decided_by(job)
    if by is not None:
        outcome = "rejected" if job.state is JobState.REJECTED else "approved"
        return f"Job {job.id} was already {outcome} by {await decisions.name_of(by)}."
    return f"Job {job.id} is no longer waiting for approval ({job.state.value})."


def notice_of(request: Request) -> str | None:
    """The redirect's word on a decision just made (?done=approved&job=N); anything else is ignored."""
    done, job = request.query_params.get("done", ""), request.query_params.get("job", "")
    if done not in DONE or JOB_ID.fullmatch(job) is None:
        return None
    return f"Job {job} {DONE[done]}."


def routes(site: Site) -> list[BaseRoute]:
    async def show(
        request: Request, access: Access, *, status: int = 200, error: str | None = None
    ) -> Response:
        jobs, total = await waiting(site, access.guild.id)
        return site.render(
            request,
            "approvals.html",
            status,
            page="approvals",
            access=access,
            guild=access.guild,
            requests=await pending(site, access, jobs),
            image_minutes=SECONDS["image"] // 60,
            total=total,
            notice=notice_of(request) if error is None else None,
            error=error,
            reason_max=REASON_MAX,
            can_decide=site.decisions is not None,
        )

    async def page(request: Request) -> Response:
        return await show(request, await site.access(request, Role.APPROVER))

    async def image(request: Request) -> Response:
        """The input image of a waiting request, for its thumbnail: with the link the page signed."""
        signed = await site.signed(request, "image")
        job = await site.jobs.get(signed.job_id)
        if (
            job is None
            or job.guild_id != signed.guild_id
            or job.state is not JobState.AWAITING_APPROVAL
            or not has_image(job)
            or site.storage is None
        ):
            raise not_found()
        try:
            async with site.storage.local_input(job.request.image_path) as path:
                data = await asyncio.to_thread(path.read_bytes) if path is not None else None
        except StorageUnavailable:
            raise HTTPException(503, "The image can't be read right now.") from None
        if data is None:
            raise not_found()
        return Response(data, media_type="image/jpeg")  # bot-written input images are JPEG (bot.files)

    async def decide(request: Request, action: str) -> Response:
        """Approve or reject (`action`) a request of this server, as its moderators' buttons do."""
        access, form = await site.post(request, Role.APPROVER)
        job_id: int = request.path_params["job_id"]
        job = await site.jobs.get(job_id)
        if job is None or job.guild_id != access.guild.id:
            raise not_found()
        decisions = site.decisions
        if decisions is None:
            raise HTTPException(503, "Deciding needs the bot's Discord client; approve in Discord for now.")
        reason = field(form, "reason", limit=REASON_MAX) if action == "reject" else ""
        if action == "reject" and not reason:
            error = "A reason is needed to reject: the requester reads it."
            return await show(request, access, status=400, error=error)
        decision = Decision(job, won=False)  # decided already: no need to ask Discord for the member's name
        if job.state is JobState.AWAITING_APPROVAL:
            name = await decisions.name_of(access.user_id)
            if action == "approve":
                decision = await decisions.approve(job_id, by_id=access.user_id, by_name=name, source=SOURCE)
            else:
                decision = await decisions.reject(
                    job_id, reason, by_id=access.user_id, by_name=name, source=SOURCE
                )
        if not decision.won:
            error = await already(decisions, job_id, decision.job)
            return await show(request, access, status=409, error=error)
        done = "approved" if action == "approve" else "rejected"
        return RedirectResponse(f"/servers/{access.guild.id}/approvals?done={done}&job={job_id}", 303)

    async def approve(request: Request) -> Response:
        return await decide(request, "approve")

    async def reject(request: Request) -> Response:
        return await decide(request, "reject")

    base = "/servers/{guild_id:snowflake}/approvals"
    return [
        Route(base, page),
        Route(base + "/{job_id:snowflake}/image", image),
        Route(base + "/{job_id:snowflake}/approve", approve, methods=["POST"]),
        Route(base + "/{job_id:snowflake}/reject", reject, methods=["POST"]),
    ]
