"""Prodia's v2 job API, the flow: async first, sync fallback, polling, resuming after a restart.

The transport and its retries are in bot.prodia.http; request bodies and answers in bot.prodia.payloads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from bot.domain.models import JobRequest, JobType
from bot.errors import (
    ProdiaError,
    ProdiaJobLost,
    ProdiaProtocolError,
    ProdiaRejected,
    ProdiaResultExpired,
)
from bot.media.probe import InvalidClipError, probe_clip
from bot.prodia.backend import AcceptedHook, Endpoint, Generation, SentHook
from bot.prodia.http import CHUNK, ProdiaHttp, RequestObserver, RetryPolicy, read_limited
from bot.prodia.multipart import MultipartResult, boundary_of
from bot.prodia.payloads import error_text, multipart_body, parse_json_object, parse_output_names, price
from bot.settings import Settings

log = logging.getLogger(__name__)

PROCESSING_STATES = frozenset({"processing", "queued", "pending", "running", "accepted"})
DONE_STATES = frozenset({"processed", "completed", "succeeded"})
ACCEPT_VIDEO = "multipart/form-data; video/mp4"


class _AsyncUnsupported(Exception):
    """The async endpoint answered 400: the type may lack async support, or the config is bad. Only the
    sync endpoint can tell (its 400 carries job.error); the 400's text is not a stable interface."""


class ProdiaClient:
    """The Prodia backend. One instance per process; it remembers which job types only work synchronously."""

    def __init__(
        self,
        *,
        token: SecretStr,
        base_url: str,
        poll_min_seconds: float = 2.0,
        poll_max_seconds: float = 5.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        sync_timeout: float = 900.0,
        max_attempts: int = 5,
        retry_base_seconds: float = 1.0,
        retry_after_max_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestObserver | None = None,
    ) -> None:
        self._http = ProdiaHttp(
            token=token,
            base_url=base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
            retry_base_seconds=retry_base_seconds,
            retry_after_max_seconds=retry_after_max_seconds,
            transport=transport,
            on_request=on_request,
        )
        self._poll_min = poll_min_seconds
        self._poll_max = max(poll_max_seconds, poll_min_seconds)
        self._sync_timeout = httpx.Timeout(sync_timeout, connect=connect_timeout)
        self.sync_only: set[JobType] = set()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestObserver | None = None,
    ) -> ProdiaClient:
        settings.require("prodia_token")
        assert settings.prodia_token is not None
        return cls(
            token=settings.prodia_token,
            base_url=settings.prodia_base_url,
            poll_min_seconds=settings.prodia_poll_min_seconds,
            poll_max_seconds=settings.prodia_poll_max_seconds,
            connect_timeout=settings.prodia_connect_timeout_seconds,
            read_timeout=settings.prodia_read_timeout_seconds,
            sync_timeout=settings.prodia_sync_timeout_seconds,
            max_attempts=settings.prodia_max_attempts,
            retry_base_seconds=settings.prodia_retry_base_seconds,
            retry_after_max_seconds=settings.prodia_retry_after_max_seconds,
            transport=transport,
            on_request=on_request,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def generate(
        self, request: JobRequest, out: Path, on_accepted: AcceptedHook, on_sent: SentHook | None = None
    ) -> Generation:
        """Run a job: async when the type allows it (the id is stored at once), else sync. `on_sent` runs
        before each request that may bill (a sync job stays unaccepted until its whole answer is read)."""
        started = time.monotonic()
        job_type = request.job_type
        sent = on_sent or _nothing_sent
        if job_type not in self.sync_only:
            try:
                job_id = await self._create_async(request, sent)
            except _AsyncUnsupported as refused:
                log.info(
                    "%s: the async endpoint answered 400 (%s); trying sync once", job_type.value, refused
                )
            else:
                await on_accepted(job_id, "async")
                return await self._finish_async(job_id, out, started)
            # A bad config fails here too, as a 4xx with job.error (ProdiaRejected), and nothing is
            # remembered: only a sync endpoint that took the job proves the type is sync-only.
            generation = await self._run_sync(request, out, started, sent)
            self.sync_only.add(job_type)
            await on_accepted(generation.prodia_job_id, "sync")
            return generation
        generation = await self._run_sync(request, out, started, sent)
        await on_accepted(generation.prodia_job_id, "sync")
        return generation

    async def resume(
        self, request: JobRequest, prodia_job_id: str, endpoint: Endpoint, out: Path
    ) -> Generation:
        """Finish a job an earlier process submitted; only async jobs can be picked up again."""
        if endpoint == "sync" and out.exists():
            # A sync job is marked running only once its answer is on disk: an earlier process got that far.
            await _check_clip(out)
            return Generation(prodia_job_id, "sync", out, None, 0.0)
        if endpoint != "async":
            raise ProdiaJobLost(f"job {prodia_job_id} ran on the {endpoint} endpoint and can't be resumed")
        # Prodia accepted this job before the bot stopped: a 404 now means its result outlived Prodia's
        # retention (the reference: "a 404 after a long outage means the paid result is gone").
        return await self._finish_async(prodia_job_id, out, time.monotonic(), accepted_earlier=True)

    # -- async API ---------------------------------------------------------------------------------------

    async def _create_async(self, request: JobRequest, on_sent: SentHook) -> str:
        async def attempt() -> str:
            await on_sent("async")
            response = await self._http.send(
                "POST",
                "job/async",
                RetryPolicy.CREATE_ASYNC,
                params={"price": "true"},
                files=multipart_body(request),
                headers={"Accept": "application/json"},
            )
            if response.status_code == 400:
                body = await read_limited(response)
                raise _AsyncUnsupported(body.decode("utf-8", errors="replace").strip()[:200])
            await self._http.raise_for_status(response, RetryPolicy.CREATE_ASYNC)
            job = parse_json_object(await read_limited(response), "async job")
            job_id = job.get("id")
            if not isinstance(job_id, str) or not job_id:
                raise ProdiaProtocolError("the async job answer has no id")
            return job_id

        return await self._http.retrying(attempt)

    async def _finish_async(
        self, job_id: str, out: Path, started: float, *, accepted_earlier: bool = False
    ) -> Generation:
        delay = self._poll_min
        while True:
            try:
                state = (
                    (await self._http.read_text(f"job/async/{job_id}/job.state.current"))
                    .strip()
                    .strip('"')
                    .lower()
                )
            except ProdiaJobLost:
                if accepted_earlier:
                    raise ProdiaResultExpired(job_id, "the job") from None
                raise
            if state in DONE_STATES:
                break
            if state == "failed":
                job = parse_json_object(
                    (await self._http.read_text(f"job/async/{job_id}/job.json")).encode(), "job.json"
                )
                raise ProdiaRejected(error_text(job) or "the job failed", job_id)
            if state not in PROCESSING_STATES:
                raise ProdiaProtocolError(f"unknown job state {state[:40]!r} for job {job_id}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._poll_max)
        # The job is done, so it is billed: from here a 404 means the paid result expired, not a lost job.
        try:
            job_json = await self._http.read_text(f"job/async/{job_id}/job.json", params={"price": "true"})
            job = parse_json_object(job_json.encode(), "job.json")
            names = parse_output_names(await self._http.read_text(f"job/async/{job_id}/output"))
            video = next((n for n in names if n.lower().endswith(".mp4")), None)
            if video is None:
                raise ProdiaProtocolError(f"job {job_id}: no video among its outputs {names[:5]}")
            await self._http.download(f"job/async/{job_id}/output/{quote(video, safe='')}", out)
        except ProdiaJobLost as exc:
            raise ProdiaResultExpired(job_id, exc.detail.removeprefix("Prodia answered 404 for ")) from None
        await _check_clip(out)
        return Generation(job_id, "async", out, price(job), time.monotonic() - started)

    # -- sync API ----------------------------------------------------------------------------------------

    async def _run_sync(
        self, request: JobRequest, out: Path, started: float, on_sent: SentHook
    ) -> Generation:
        out.parent.mkdir(parents=True, exist_ok=True)

        async def attempt() -> Generation:
            await on_sent("sync")
            try:
                async with self._http.stream(
                    "POST",
                    "job",
                    params={"price": "true"},
                    files=multipart_body(request),
                    headers={"Accept": ACCEPT_VIDEO},
                    timeout=self._sync_timeout,
                ) as response:
                    if response.status_code >= 400:
                        await self._http.raise_for_status(response, RetryPolicy.CREATE_SYNC)
                    return await self._read_sync_body(response, out, started)
            except httpx.TransportError as exc:
                raise self._http.transport_error(exc, RetryPolicy.CREATE_SYNC) from None

        generation = await self._http.retrying(attempt)
        try:
            await _check_clip(out)
        except ProdiaError as exc:
            exc.price_dollars = generation.price_dollars  # billed all the same
            raise
        return generation

    async def _read_sync_body(self, response: httpx.Response, out: Path, started: float) -> Generation:
        content_type = response.headers.get("content-type", "")
        boundary = boundary_of(content_type)
        if boundary is None:
            if not content_type.lower().startswith("video/"):
                raise ProdiaProtocolError(f"unexpected sync answer type {content_type[:60]!r}")
            with out.open("wb") as file:
                async for chunk in response.aiter_bytes(CHUNK):
                    file.write(chunk)
            return Generation(
                f"sync-{int(time.time() * 1000)}", "sync", out, None, time.monotonic() - started
            )
        parts = MultipartResult(boundary, out)
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                parts.feed(chunk)
        except httpx.TransportError:
            parts.close()
            raise ProdiaProtocolError(
                "the sync answer was cut short (the job may have been billed)"
            ) from None
        parts.finish()
        if parts.job is None:
            raise ProdiaProtocolError("the sync answer has no job part")
        if not parts.video_written:
            error = ProdiaProtocolError("the sync answer has no video")
            error.price_dollars = price(parts.job)  # the job part says what was billed
            raise error
        job_id = parts.job.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ProdiaProtocolError("the sync job JSON has no id")
        return Generation(job_id, "sync", out, price(parts.job), time.monotonic() - started)


async def _nothing_sent(endpoint: Endpoint) -> None:
    return None


async def _check_clip(path: Path) -> None:
    try:
        await asyncio.to_thread(probe_clip, path)
    except InvalidClipError as exc:
        raise ProdiaProtocolError(f"the clip from Prodia is not a playable video: {exc}") from None
