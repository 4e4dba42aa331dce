"""What the fake reads and answers: the recorded request, a parsed POST body, an abstract reply."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.prodia.jobs import FakeJob
from tests.fakes.server import BaseRecordedRequest


@dataclass(kw_only=True)
class RecordedRequest(BaseRecordedRequest):
    """One request as the fake saw it (recorded before auth, so 401s are in the log too).

    ``route`` is a `Route` name (None for a path the API does not have); ``headers`` keep their values as
    sent (Authorization included).
    """

    content_type: str = ""
    job: Any = None  # the parsed job JSON of a POST, if it parsed
    inputs: list[tuple[str | None, int]] = field(default_factory=list)  # (filename, size) per `input` part
    job_id: str | None = None  # the {id} of async GET routes


@dataclass
class _Body:
    """A parsed POST body; ``error`` is answered as a validation error once auth and faults are through."""

    job: Any = None
    error: str | None = None
    inputs: list[tuple[str | None, bytes]] = field(default_factory=list)


@dataclass
class _Reply:
    """A normal answer, kept abstract so faults can distort it before it is sent.

    Exactly one shape: ``multipart_job`` set -> multipart with a ``job`` part (plus ``output`` if ``file``);
    else ``file`` set -> the raw file; else ``data``.
    """

    status: int
    content_type: str = "application/json"
    data: bytes = b""
    multipart_job: bytes | None = None
    file: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    job: FakeJob | None = None
    drop: bool = False  # no answer at all: the connection is closed (the server is going away)
