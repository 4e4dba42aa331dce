"""The transport to Prodia: one httpx client, bounded retries (tenacity) by policy, and HTTP errors mapped to
the bot's typed Prodia errors."""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from bot.errors import (
    ProdiaAuthError,
    ProdiaError,
    ProdiaJobLost,
    ProdiaNoCapacity,
    ProdiaProtocolError,
    ProdiaRejected,
    ProdiaUnavailable,
)
from bot.prodia.payloads import error_text, job_from_body

log = logging.getLogger(__name__)

T = TypeVar("T")
# Told of every request `send` makes: its method, seconds taken and status (None: no answer came).
RequestObserver = Callable[[str, float, int | None], None]

MAX_ERROR_BODY = 1 << 20
CHUNK = 64 * 1024


class RetryPolicy(Enum):
    """When a failed call may be sent again."""

    # Reads are idempotent: 429, 5xx and any transport error are retried.
    READ = "read"
    # Creating an async job: retried on 429, 5xx and errors that surely happened before the request was sent;
    # never after a connection broke mid-request, since the job may exist by then.
    CREATE_ASYNC = "create_async"
    # A sync video job may run and bill twice: re-sent only when it surely did not start (refused, 429).
    CREATE_SYNC = "create_sync"


class Retry(Exception):
    """An attempt failed in a way its policy allows to retry; `error` is raised when the retries run out."""

    def __init__(self, error: ProdiaError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class ProdiaHttp:
    """The httpx client with Prodia's token, and the retry loop every call goes through."""

    def __init__(
        self,
        *,
        token: SecretStr,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        retry_base_seconds: float,
        retry_after_max_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: RequestObserver | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token.get_secret_value()}", "User-Agent": "sora-bot"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._retry_after_max = retry_after_max_seconds
        self._on_request = on_request  # metrics: method, seconds, status (None: no answer)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def send(self, method: str, path: str, policy: RetryPolicy, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        status: int | None = None
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self.transport_error(exc, policy) from None
        else:
            status = response.status_code
            return response
        finally:
            self._report(method, time.monotonic() - started, status)

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """`client.stream`, timed (body included) and reported like `send` (the sync job, downloads)."""
        started = time.monotonic()
        status: int | None = None
        try:
            async with self.client.stream(method, path, **kwargs) as response:
                status = response.status_code
                yield response
        finally:
            self._report(method, time.monotonic() - started, status)

    def _report(self, method: str, seconds: float, status: int | None) -> None:
        """Tell the observer (metrics) about one request; it must never change how the request ends."""
        if self._on_request is None:
            return
        try:
            self._on_request(method, seconds, status)
        except Exception:
            log.exception("reporting a Prodia request failed")

    def transport_error(self, exc: httpx.TransportError, policy: RetryPolicy) -> Exception:
        not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        error = ProdiaUnavailable(f"{type(exc).__name__} talking to Prodia")
        error.surely_not_billed = not_sent
        if not_sent or policy is RetryPolicy.READ:
            return Retry(error)
        if isinstance(exc, httpx.TimeoutException):
            return ProdiaUnavailable(
                "Prodia did not answer in time; the job was not re-sent to avoid paying twice"
            )
        return ProdiaUnavailable(
            f"the connection broke ({type(exc).__name__}); not re-sent to avoid paying twice"
        )

    async def raise_for_status(self, response: httpx.Response, policy: RetryPolicy) -> None:
        status = response.status_code
        if status < 400:
            return
        body = await read_limited(response)
        if status in (401, 403):
            raise ProdiaAuthError(f"Prodia answered {status}: the token was refused")
        if status == 429:
            raise Retry(ProdiaNoCapacity("Prodia answered 429 (no capacity)"), retry_after(response))
        if status >= 500:
            error = ProdiaUnavailable(f"Prodia answered {status}")
            if policy is RetryPolicy.CREATE_SYNC:
                raise error
            raise Retry(error)
        if status == 404 and policy is RetryPolicy.READ:
            raise ProdiaJobLost(f"Prodia answered 404 for {response.request.url.path}")
        raise rejection(body, response.headers.get("content-type", ""))

    async def retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        # Whether an attempt ended in a way Prodia may have billed (a 5xx, a broken connection after the
        # request went out): then the call's final error is not a clean refusal, whatever the last attempt
        # met (a retry answered 401 or 429 does not undo a job an earlier attempt may have started).
        may_have_billed = False

        async def tracked() -> T:
            nonlocal may_have_billed
            try:
                return await attempt()
            except Retry as exc:
                may_have_billed |= not exc.error.surely_not_billed
                raise
            except ProdiaError as exc:
                if may_have_billed:
                    exc.surely_not_billed = False
                raise

        try:
            async for state in AsyncRetrying(
                stop=stop_after_attempt(self._max_attempts),
                wait=self._wait,
                retry=retry_if_exception_type(Retry),
                before_sleep=_log_retry,
                reraise=True,
            ):
                with state:
                    return await tracked()
        except Retry as exc:
            if may_have_billed:
                exc.error.surely_not_billed = False
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retry) and exc.retry_after is not None:
            return min(exc.retry_after, self._retry_after_max)
        backoff: float = self._retry_base * 2.0 ** (state.attempt_number - 1)
        return min(backoff, 30.0) * random.uniform(0.75, 1.25)

    async def read_text(self, path: str, params: dict[str, str] | None = None) -> str:
        async def attempt() -> str:
            response = await self.send("GET", path, RetryPolicy.READ, params=params)
            await self.raise_for_status(response, RetryPolicy.READ)
            return (await read_limited(response, retry=True)).decode("utf-8", errors="replace")

        return await self.retrying(attempt)

    async def download(self, path: str, out: Path) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)

        async def attempt() -> None:
            try:
                async with self.stream("GET", path) as response:
                    await self.raise_for_status(response, RetryPolicy.READ)
                    expected = response.headers.get("content-length")
                    written = 0
                    with out.open("wb") as file:
                        async for chunk in response.aiter_bytes(CHUNK):
                            file.write(chunk)
                            written += len(chunk)
                    if expected is not None and expected.isdigit() and int(expected) != written:
                        raise Retry(
                            ProdiaProtocolError(f"download cut short ({written} of {expected} bytes)")
                        )
            except httpx.TransportError as exc:
                raise self.transport_error(exc, RetryPolicy.READ) from None

        await self.retrying(attempt)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    sleep = state.next_action.sleep if state.next_action else 0.0
    log.warning("Prodia call failed (%s); attempt %d, retrying in %.1fs", exc, state.attempt_number, sleep)


async def read_limited(response: httpx.Response, *, retry: bool = False) -> bytes:
    """The body, up to 1 MiB (an error page must not cost memory); a cut-short body is retried for reads."""
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes(CHUNK):
            data += chunk
            if len(data) > MAX_ERROR_BODY:
                break
    except httpx.TransportError as exc:
        if retry:
            raise Retry(ProdiaProtocolError(f"the answer was cut short ({type(exc).__name__})")) from None
    return bytes(data[:MAX_ERROR_BODY])


def rejection(body: bytes, content_type: str) -> ProdiaRejected:
    job = job_from_body(body, content_type)
    if job is not None:
        job_id = job.get("id")
        return ProdiaRejected(error_text(job) or "rejected", job_id if isinstance(job_id, str) else None)
    text = body.decode("utf-8", errors="replace").strip()[:500]
    refused = ProdiaRejected(text or "rejected")
    # Without Prodia's job part naming the error, a 4xx may come from something in between (a gateway's 408
    # or 409) after Prodia ran the job: not a clean refusal, so its money stays spent.
    refused.surely_not_billed = False
    return refused


def retry_after(response: httpx.Response) -> float | None:
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
