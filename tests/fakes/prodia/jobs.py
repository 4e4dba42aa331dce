"""`FakeJob`, a job the fake accepted, and its job JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tests.fakes.prodia.constants import RESULT_TTL, JobState


@dataclass
class FakeJob:
    """A job the fake accepted (passed validation), whether it then succeeded or not."""

    id: str
    type: str
    config: dict[str, Any]  # as echoed back: defaults filled in
    mode: Literal["sync", "async"]
    created_at: datetime
    updated_at: datetime
    state: JobState = "queued"
    error: str | None = None
    output_path: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)  # what GET .../output lists
    price: float | None = None  # dollars billed; set once the job ran successfully
    elapsed: float = 0.0
    no_video: bool = False  # a `no_video` fault hides the output
    finished_at: float | None = None  # time.monotonic() when it finished (for `result_ttl`)
    expired: bool = False  # set by `FakeProdia.expire`: the result is gone, every async route is 404

    def touch(self, state: JobState) -> None:
        self.state = state
        self.updated_at = datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _job_json(job: FakeJob, *, with_price: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job.id,
        "type": job.type,
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "expires_at": _iso(job.created_at + RESULT_TTL),
        "state": {"current": job.state},
        "config": dict(job.config),
        "metrics": {"elapsed": job.elapsed},
    }
    if job.error is not None:
        data["error"] = job.error
    if with_price and job.price is not None:
        data["price"] = {"product": job.type, "dollars": job.price}
    return data
