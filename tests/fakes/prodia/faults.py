"""`Fault`, the misbehaviours a test queues, and the distorted answers they produce."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.fakes.prodia.constants import DEFAULT_MALFORMED_BODY, FAULT_KINDS, ROUTES, FaultKind
from tests.fakes.prodia.jobs import _job_json
from tests.fakes.prodia.records import RecordedRequest, _Reply
from tests.fakes.server import BaseFault


@dataclass
class Fault(BaseFault["RecordedRequest"]):
    """A one-shot (or ``times``-shot) misbehaviour, matched against requests in FIFO order.

    ``match`` is one of the route names in the package docstring, or ``"*"`` for any request.

    Kinds:
      - ``status``: answer ``status`` with an optional ``Retry-After: retry_after`` header and ``body``
        (str -> text/plain, dict/list -> JSON, bytes -> octet-stream; default a short text).
      - ``hang``: never answer; the connection stays open until the client gives up or the server stops.
      - ``drop``: close the TCP connection without sending a byte of the answer.
      - ``truncate``: send the real answer's headers (with its full Content-Length) and about half its body,
        then close. On ``POST /job`` the multipart body is cut in the middle.
      - ``malformed``: a success status with an unusable body (``body`` or `DEFAULT_MALFORMED_BODY`):
        ``POST /job`` -> 200 multipart whose ``job`` part is that body and no ``output`` part;
        ``POST /job/async`` -> 201 JSON; ``GET state`` -> 200 text; ``GET job.json``/``GET output`` -> 200
        JSON; ``GET file`` -> 200 ``video/mp4``. A dict body (e.g. job JSON without ``id``) is sent as JSON.
      - ``not_found``: 404, as for an unknown or expired job id.
      - ``no_video``: the job succeeds without a video: ``POST /job`` -> multipart with only the ``job`` part;
        ``POST /job/async`` -> the job will list no outputs; ``GET output`` -> ``[]`` (or ``body`` if a list);
        ``GET file`` -> 404.
      - ``bad_token``: sets ``FakeProdia.revoked``; this and every later request gets 401.

    ``after_work=True`` makes ``status``/``hang``/``drop``/``not_found``/``bad_token`` strike only after the
    server did its normal work: for ``POST /job`` the job is created, run and billed, then e.g. the connection
    drops (a client that re-sends would be billed twice). ``hits`` counts how often the fault struck.
    """

    match: str
    kind: FaultKind
    status: int = 500
    retry_after: str | None = None
    body: str | bytes | dict[str, Any] | list[Any] | None = None
    times: int = 1
    after_work: bool = False
    hits: int = 0

    def __post_init__(self) -> None:
        if self.match != "*" and self.match not in ROUTES:
            raise ValueError(f"unknown fault match {self.match!r}; use one of {ROUTES} or '*'")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {FAULT_KINDS}")
        if self.times < 1:
            raise ValueError("times must be at least 1")

    def matches(self, rec: RecordedRequest) -> bool:
        return self.match in ("*", rec.route)


def _as_bytes(body: str | bytes | dict[str, Any] | list[Any]) -> tuple[bytes, str]:
    """Encode a fault body and pick its content type."""
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain"
    return json.dumps(body).encode(), "application/json"


def _malformed(route: str | None, fault: Fault) -> _Reply:
    data, _ = _as_bytes(fault.body) if fault.body is not None else (DEFAULT_MALFORMED_BODY, "")
    if route == "POST /job":
        return _Reply(200, multipart_job=data)
    if route == "POST /job/async":
        return _Reply(201, data=data)
    if route == "GET state":
        return _Reply(200, content_type="text/plain", data=data)
    if route == "GET file":
        return _Reply(200, content_type="video/mp4", data=data)
    return _Reply(200, data=data)


def _without_video(route: str | None, fault: Fault, reply: _Reply) -> _Reply:
    if route == "POST /job" and reply.job is not None and reply.status == 200:
        job_json = _job_json(reply.job, with_price=False)
        return _Reply(200, multipart_job=json.dumps(job_json).encode(), job=reply.job)
    if route == "POST /job/async" and reply.job is not None:
        reply.job.no_video = True
        reply.job.outputs.clear()
    elif route == "GET output" and reply.status == 200:
        listing = fault.body if isinstance(fault.body, list) else []
        return _Reply(200, data=json.dumps(listing).encode())
    elif route == "GET file":
        return _Reply(404, content_type="text/plain", data=b"output not found")
    return reply
