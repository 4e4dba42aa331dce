"""Prodia's v2 job API over one httpx client: async first, sync fallback, bounded retries, typed errors."""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import mimetypes
import random
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from bot.domain.models import JobRequest, JobType
from bot.errors import (
    ProdiaAuthError,
    ProdiaError,
    ProdiaJobLost,
    ProdiaNoCapacity,
    ProdiaProtocolError,
    ProdiaRejected,
    ProdiaResultExpired,
    ProdiaUnavailable,
)
from bot.media.probe import InvalidClipError, probe_clip
from bot.prodia.backend import AcceptedHook, Endpoint, Generation, SentHook
from bot.prodia.multipart import MultipartResult, boundary_of
from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ERROR_BODY = 1 << 20
CHUNK = 64 * 1024
PROCESSING_STATES = frozenset({"processing", "queued", "pending", "running", "accepted"})
DONE_STATES = frozenset({"processed", "completed", "succeeded"})
ACCEPT_VIDEO = "multipart/form-data; video/mp4"


class RetryPolicy(Enum):
    """When a failed call may be sent again."""

    # Reads are idempotent: 429, 5xx and any transport error are retried.
    READ = "read"
    # Creating an async job: retried on 429, 5xx and errors that surely happened before the request was sent;
    # never after a connection broke mid-request, since the job may exist by then.
    CREATE_ASYNC = "create_async"
    # A sync video job may run and bill twice: re-sent only when it surely did not start (refused, 429).
    CREATE_SYNC = "create_sync"


class _Retry(Exception):
    """An attempt failed in a way its policy allows to retry; `error` is raised when the retries run out."""

    def __init__(self, error: ProdiaError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


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
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token.get_secret_value()}", "User-Agent": "sora-bot"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )
        self._poll_min = poll_min_seconds
        self._poll_max = max(poll_max_seconds, poll_min_seconds)
        self._sync_timeout = httpx.Timeout(sync_timeout, connect=connect_timeout)
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._retry_after_max = retry_after_max_seconds
        self.sync_only: set[JobType] = set()

    @classmethod
    def from_settings(
        cls, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
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
            response = await self._send(
                "POST",
                "job/async",
                RetryPolicy.CREATE_ASYNC,
                params={"price": "true"},
                files=_multipart_body(request),
                headers={"Accept": "application/json"},
            )
            if response.status_code == 400:
                body = await _read_limited(response)
                raise _AsyncUnsupported(body.decode("utf-8", errors="replace").strip()[:200])
            await self._raise_for_status(response, RetryPolicy.CREATE_ASYNC)
            job = _parse_json_object(await _read_limited(response), "async job")
            job_id = job.get("id")
            if not isinstance(job_id, str) or not job_id:
                raise ProdiaProtocolError("the async job answer has no id")
            return job_id

        return await self._retrying(attempt)

    async def _finish_async(
        self, job_id: str, out: Path, started: float, *, accepted_earlier: bool = False
    ) -> Generation:
        delay = self._poll_min
        while True:
            try:
                state = (
                    (await self._read_text(f"job/async/{job_id}/job.state.current"))
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
                job = _parse_json_object(
                    (await self._read_text(f"job/async/{job_id}/job.json")).encode(), "job.json"
                )
                raise ProdiaRejected(_error_text(job) or "the job failed", job_id)
            if state not in PROCESSING_STATES:
                raise ProdiaProtocolError(f"unknown job state {state[:40]!r} for job {job_id}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self._poll_max)
        # The job is done, so it is billed: from here a 404 means the paid result expired, not a lost job.
        try:
            job = _parse_json_object(
                (await self._read_text(f"job/async/{job_id}/job.json", params={"price": "true"})).encode(),
                "job.json",
            )
            names = parse_output_names(await self._read_text(f"job/async/{job_id}/output"))
            video = next((n for n in names if n.lower().endswith(".mp4")), None)
            if video is None:
                raise ProdiaProtocolError(f"job {job_id}: no video among its outputs {names[:5]}")
            await self._download(f"job/async/{job_id}/output/{quote(video, safe='')}", out)
        except ProdiaJobLost as exc:
            raise ProdiaResultExpired(job_id, exc.detail.removeprefix("Prodia answered 404 for ")) from None
        await _check_clip(out)
        return Generation(job_id, "async", out, _price(job), time.monotonic() - started)

    async def _read_text(self, path: str, params: dict[str, str] | None = None) -> str:
        async def attempt() -> str:
            response = await self._send("GET", path, RetryPolicy.READ, params=params)
            await self._raise_for_status(response, RetryPolicy.READ)
            return (await _read_limited(response, retry=True)).decode("utf-8", errors="replace")

        return await self._retrying(attempt)

    async def _download(self, path: str, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)

        async def attempt() -> None:
            try:
                async with self._http.stream("GET", path) as response:
                    await self._raise_for_status(response, RetryPolicy.READ)
                    expected = response.headers.get("content-length")
                    written = 0
                    with out.open("wb") as file:
                        async for chunk in response.aiter_bytes(CHUNK):
                            file.write(chunk)
                            written += len(chunk)
                    if expected is not None and expected.isdigit() and int(expected) != written:
                        raise _Retry(
                            ProdiaProtocolError(f"download cut short ({written} of {expected} bytes)")
                        )
            except httpx.TransportError as exc:
                raise self._transport_error(exc, RetryPolicy.READ) from None

        await self._retrying(attempt)

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
                    files=_multipart_body(request),
                    headers={"Accept": ACCEPT_VIDEO},
                    timeout=self._sync_timeout,
                ) as response:
                    if response.status_code >= 400:
                        await self._raise_for_status(response, RetryPolicy.CREATE_SYNC)
                    return await self._read_sync_body(response, out, started)
            except httpx.TransportError as exc:
                raise self._transport_error(exc, RetryPolicy.CREATE_SYNC) from None

        generation = await self._retrying(attempt)
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
            error.price_dollars = _price(parts.job)  # the job part says what was billed
            raise error
        job_id = parts.job.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ProdiaProtocolError("the sync job JSON has no id")
        return Generation(job_id, "sync", out, _price(parts.job), time.monotonic() - started)

    # -- shared ------------------------------------------------------------------------------------------

    async def _send(self, method: str, path: str, policy: RetryPolicy, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_error(exc, policy) from None

    def _transport_error(self, exc: httpx.TransportError, policy: RetryPolicy) -> Exception:
        not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        error = ProdiaUnavailable(f"{type(exc).__name__} talking to Prodia")
        error.surely_not_billed = not_sent
        if not_sent or policy is RetryPolicy.READ:
            return _Retry(error)
        if isinstance(exc, httpx.TimeoutException):
            return ProdiaUnavailable(
                "Prodia did not answer in time; the job was not re-sent to avoid paying twice"
            )
        return ProdiaUnavailable(
            f"the connection broke ({type(exc).__name__}); not re-sent to avoid paying twice"
        )

    async def _raise_for_status(self, response: httpx.Response, policy: RetryPolicy) -> None:
        status = response.status_code
        if status < 400:
            return
        body = await _read_limited(response)
        if status in (401, 403):
            raise ProdiaAuthError(f"Prodia answered {status}: the token was refused")
        if status == 429:
            raise _Retry(ProdiaNoCapacity("Prodia answered 429 (no capacity)"), _retry_after(response))
        if status >= 500:
            error = ProdiaUnavailable(f"Prodia answered {status}")
            if policy is RetryPolicy.CREATE_SYNC:
                raise error
            raise _Retry(error)
        if status == 404 and policy is RetryPolicy.READ:
            raise ProdiaJobLost(f"Prodia answered 404 for {response.request.url.path}")
        raise _rejection(body, response.headers.get("content-type", ""))

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        try:
            async for state in AsyncRetrying(
                stop=stop_after_attempt(self._max_attempts),
                wait=self._wait,
                retry=retry_if_exception_type(_Retry),
                before_sleep=_log_retry,
                reraise=True,
            ):
                with state:
                    return await attempt()
        except _Retry as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return min(exc.retry_after, self._retry_after_max)
        backoff: float = self._retry_base * 2.0 ** (state.attempt_number - 1)
        return min(backoff, 30.0) * random.uniform(0.75, 1.25)


async def _nothing_sent(endpoint: Endpoint) -> None:
    return None


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.warning("Prodia call failed (%s); attempt %d, retrying in %.1fs", exc, state.attempt_number, sleep)


def _multipart_body(request: JobRequest) -> list[tuple[str, tuple[str, bytes, str]]]:
    body = [("job", ("job.json", json.dumps(request.prodia_job()).encode(), "application/json"))]
    if request.image_path is not None and request.input_filename is not None:
        mime = mimetypes.guess_type(request.input_filename)[0] or "application/octet-stream"
        body.append(("input", (request.input_filename, Path(request.image_path).read_bytes(), mime)))
    return body


async def _read_limited(response: httpx.Response, *, retry: bool = False) -> bytes:
    """The body, up to 1 MiB (an error page must not cost memory); a cut-short body is retried for reads."""
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes(CHUNK):
            data += chunk
            if len(data) > MAX_ERROR_BODY:
                break
    except httpx.TransportError as exc:
        if retry:
            raise _Retry(ProdiaProtocolError(f"the answer was cut short ({type(exc).__name__})")) from None
    return bytes(data[:MAX_ERROR_BODY])


def _parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise ProdiaProtocolError(f"the {what} answer is not JSON") from None
    if not isinstance(value, dict):
        raise ProdiaProtocolError(f"the {what} answer is not a JSON object")
    return value


def _error_text(job: dict[str, Any]) -> str | None:
    error = job.get("error")
    if isinstance(error, dict):
        error = error.get("message") or json.dumps(error)
    return str(error) if error else None


def _job_from_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    boundary = boundary_of(content_type)
    if boundary is not None:
        parts = MultipartResult(boundary, None)
        try:
            parts.feed(body)
        except ProdiaProtocolError:
            return None
        return parts.job
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _rejection(body: bytes, content_type: str) -> ProdiaRejected:
    job = _job_from_body(body, content_type)
    if job is not None:
        job_id = job.get("id")
        return ProdiaRejected(_error_text(job) or "rejected", job_id if isinstance(job_id, str) else None)
    text = body.decode("utf-8", errors="replace").strip()[:500]
    return ProdiaRejected(text or "rejected")


# Keys a file entry of an output list may name itself by (the format is not documented).
_NAME_KEYS = ("name", "filename", "file_name", "file", "path", "key", "id")
_SPLIT = re.compile(r"[\r\n,]+")


def parse_output_names(text: str) -> list[str]:
    """The file names in an answer of GET /job/async/{id}/output, however it is spelled.

    Prodia documents "a list of output files" without a format, and the job is billed by then, so this is
    lenient: a JSON array of names or of objects naming a file (name/filename/path ...), an object holding
    such an array, a JSON string, or plain text with one name a line or names separated by commas, each
    maybe quoted. A path or URL counts by its last segment (the name GET .../output/{name} takes).
    """
    text = text.strip().lstrip("\ufeff")
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = None
    # A bare number or word that parses as JSON (`0`, `true`, `null`) is a name in plain text, not a list.
    if isinstance(value, list | dict | str):
        entries = _json_entries(value)
    else:
        entries = list(_SPLIT.split(text.strip("[]")))
    names: list[str] = []
    for entry in entries:
        name = _entry_name(entry)
        if name and name not in names:
            names.append(name)
    return names


def _json_entries(value: list[Any] | dict[str, Any] | str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("outputs", "output", "files", "names", "items", "data"):
            if isinstance(value.get(key), list):
                return list(value[key])
        return [value]
    return list(_SPLIT.split(value))


def _entry_name(entry: Any) -> str | None:
    if isinstance(entry, dict):
        entry = next(
            (entry[k] for k in _NAME_KEYS if isinstance(entry.get(k), str) and entry[k].strip()), None
        )
    if not isinstance(entry, str):
        return None
    name = entry.strip().strip("'\"` ").strip()
    name = name.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or None


def _price(job: dict[str, Any]) -> float | None:
    price = job.get("price")
    if isinstance(price, dict) and isinstance(price.get("dollars"), int | float):
        return float(price["dollars"])
    return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def _check_clip(path: Path) -> None:
    try:
        await asyncio.to_thread(probe_clip, path)
    except InvalidClipError as exc:
        raise ProdiaProtocolError(f"the clip from Prodia is not a playable video: {exc}") from None
