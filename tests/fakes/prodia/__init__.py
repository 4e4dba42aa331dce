"""A fake Prodia v2 job API, served over real HTTP on 127.0.0.1, for tests and local runs.

It follows ``shared/reference/prodia-v2-api.md`` and acts as the referee for the bot's Prodia client: it
validates every request on its own (it never imports the bot's models) and answers with real MP4 clips
rendered by ``bot.media.render.render_clip``.

Routes (all behind ``Authorization: Bearer <token>``) and the names that ``Fault.match`` uses for them:

=====================  =====================================================  ===========================
``Fault.match``        request                                                normal answer
=====================  =====================================================  ===========================
``"POST /job"``        ``POST /v2/job[?price=true]``                          200 multipart job + output
``"POST /job/async"``  ``POST /v2/job/async[?price=true]``                    201 job JSON
``"GET state"``        ``GET /v2/job/async/{id}/job.state.current``           ``processing|processed|failed``
``"GET job.json"``     ``GET /v2/job/async/{id}/job.json[?price=true]``       job JSON
``"GET output"``       ``GET /v2/job/async/{id}/output``                      ``["video.mp4"]`` (see below)
``"GET file"``         ``GET /v2/job/async/{id}/output/{filename}``           the MP4
``"*"``                any of the above (and unknown paths)
=====================  =====================================================  ===========================

Fault kinds (see `Fault`): ``status``, ``hang``, ``drop``, ``not_found`` and ``bad_token`` strike before
the server does its work unless ``after_work=True``; ``truncate``, ``malformed`` and ``no_video`` distort a
real answer, so the server always does its work (creates and bills the job) first.

Choices the reference page leaves open:
  - A refused job (schema violation, unreadable body, undecodable image, ``reject``) answers 400 multipart
    with a ``job`` part holding ``id`` and ``error`` on *both* POST routes, and creates no job. A job type
    in ``async_refused`` instead answers 400 ``application/json`` ``{"error": "... does not support async
    jobs"}``, so a client can tell "use sync" from "bad config". Unknown job types answer 429 + Retry-After.
  - A prompt containing the word "forbidden" passes the schema and creates a job that fails with
    `MODERATION_ERROR`: sync -> 400 multipart job error; async -> state ``failed``, ``error`` in job.json.
  - ``processing_seconds`` and ``stuck`` hold sync requests too (the answer waits for the job).
  - ``download_gate`` (an ``asyncio.Event``; None: off) makes downloads slow: GET file sends the headers and
    the clip's first half, then the rest once the event is set (``downloads_held`` counts those that waited).
  - ``capacity`` (None: unlimited) caps the jobs processing at once, like a provider with a fixed number of
    GPUs: a valid POST beyond it answers 429 + Retry-After and creates no job. ``peak_in_flight`` records
    the most jobs processing at once (whatever the capacity), ``capacity_refusals`` the 429s it caused.
  - The 201 answer says ``queued``; job.json then says ``processing`` and ``job.state.current`` answers
    ``processing`` for both. A finished async job is ``processed``, a finished sync job ``completed``.
  - Async routes know only async jobs (a sync job's id is 404 there). Deleting an entry from ``jobs``
    models an unknown id (404). ``result_ttl`` (seconds; None: forever) models Prodia's retention: a
    finished async job older than that, or one passed to ``expire()``, answers 404 on every async route
    (like an unknown id), although it was billed.
  - ``output_list_style`` spells the answer of GET output, which Prodia does not document: ``json``
    (``["video.mp4"]``), ``objects`` (``[{"name": "video.mp4"}]``), ``text`` (one name a line), ``quoted``
    (``"video.mp4"`` lines) or ``comma`` (``video.mp4, ...``).
  - ``async_refusal_text``: when set, a type in ``async_refused`` answers its async POST like a refused config
    (400 multipart, ``job.error`` = that text), so only the sync endpoint can tell the two apart.
  - ``exact_image_size`` (on by default): like OpenAI's API upstream, an image-to-video input must have
    exactly the pixel size of the clip (``job_size``); any other size is refused as a 400 job error.

Run standalone: ``python -m tests.fakes.prodia --port 0 --token TOKEN`` prints
``listening on http://127.0.0.1:PORT/v2`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

from tests.fakes.prodia.cli import main
from tests.fakes.prodia.constants import (
    API_PREFIX,
    DEFAULT_MALFORMED_BODY,
    FAULT_KINDS,
    IMG2VID,
    IMG2VID_TYPES,
    JOB_TYPES,
    MODERATION_ERROR,
    OUTPUT_LIST_STYLES,
    PRICE_PER_SECOND,
    PRO_IMG2VID,
    PRO_TXT2VID,
    PRO_TYPES,
    RESULT_TTL,
    ROUTES,
    TXT2VID,
    FaultKind,
    JobState,
    OutputListStyle,
    Route,
)
from tests.fakes.prodia.fake import FakeProdia
from tests.fakes.prodia.faults import Fault
from tests.fakes.prodia.jobs import FakeJob
from tests.fakes.prodia.media import free_box_header, write_padded_copy
from tests.fakes.prodia.records import RecordedRequest
from tests.fakes.prodia.routes import output_listing
from tests.fakes.prodia.validation import job_price, job_size, validate_job

__all__ = [
    "API_PREFIX",
    "DEFAULT_MALFORMED_BODY",
    "FAULT_KINDS",
    "IMG2VID",
    "IMG2VID_TYPES",
    "JOB_TYPES",
    "MODERATION_ERROR",
    "OUTPUT_LIST_STYLES",
    "PRICE_PER_SECOND",
    "PRO_IMG2VID",
    "PRO_TXT2VID",
    "PRO_TYPES",
    "RESULT_TTL",
    "ROUTES",
    "TXT2VID",
    "FakeJob",
    "FakeProdia",
    "Fault",
    "FaultKind",
    "JobState",
    "OutputListStyle",
    "RecordedRequest",
    "Route",
    "free_box_header",
    "job_price",
    "job_size",
    "main",
    "output_listing",
    "validate_job",
    "write_padded_copy",
]
