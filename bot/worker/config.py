"""What the scheduler is given: how to run jobs, and the deliverers it hands finished clips to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.domain.models import Job


class Deliverer(Protocol):
    """Puts a finished clip where the job asked for it. Must be safe to call again for the same job."""

    async def deliver(self, job: Job, clip: Path) -> int | None:
        """Deliver; returns the id of the message that carries the clip, when there is one."""
        ...


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """How the scheduler runs jobs."""

    max_concurrent_jobs: int = 4
    worker_slots: int | None = None  # jobs this process runs at once; None: up to max_concurrent_jobs
    job_timeout_seconds: float = 1800.0
    lease_seconds: float = 30.0
    idle_poll_seconds: float = 1.0
    retention_seconds: float = 30 * 86400.0
    retention_check_seconds: float = 3600.0
