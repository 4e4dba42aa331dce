"""What the scheduler needs from a video backend: Prodia's API, or the local renderer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bot.domain.models import JobRequest

Endpoint = Literal["async", "sync", "local"]
# Called the moment the backend knows the provider's job id, so it is stored before anything else happens.
AcceptedHook = Callable[[str, Endpoint], Awaitable[None]]
# Called right before a request that may bill is sent, so a job that ends (or a process that dies) before the
# provider's answer is counted as possibly paid.
SentHook = Callable[[Endpoint], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Generation:
    """A finished clip on disk."""

    prodia_job_id: str
    endpoint: Endpoint
    path: Path
    price_dollars: float | None
    elapsed: float


class Backend(Protocol):
    """Turns a request into an MP4 file."""

    async def generate(
        self, request: JobRequest, out: Path, on_accepted: AcceptedHook, on_sent: SentHook | None = None
    ) -> Generation:
        """Submit the job (`on_sent` before each request that may bill), report its id through `on_accepted`,
        wait for it and write the clip to `out`."""
        ...

    async def resume(
        self, request: JobRequest, prodia_job_id: str, endpoint: Endpoint, out: Path
    ) -> Generation:
        """Finish a job submitted by an earlier process, without submitting it again."""
        ...

    async def aclose(self) -> None: ...
