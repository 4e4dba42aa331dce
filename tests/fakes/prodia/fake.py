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

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import signal
import struct
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from aiohttp import BodyPartReader, MultipartWriter, web
from PIL import Image

from tests.fakes.server import BaseFault, BaseRecordedRequest, FakeServer

if TYPE_CHECKING:
    from aiohttp.abc import AbstractStreamWriter

log = logging.getLogger(__name__)

API_PREFIX = "/v2"

TXT2VID = "inference.sora-2.txt2vid.v1"
IMG2VID = "inference.sora-2.img2vid.v1"
PRO_TXT2VID = "inference.sora-2.pro.txt2vid.v1"
PRO_IMG2VID = "inference.sora-2.pro.img2vid.v1"
JOB_TYPES = frozenset({TXT2VID, IMG2VID, PRO_TXT2VID, PRO_IMG2VID})
PRO_TYPES = frozenset({PRO_TXT2VID, PRO_IMG2VID})
IMG2VID_TYPES = frozenset({IMG2VID, PRO_IMG2VID})

# Placeholder list prices per second of video (reference page, "Cost").
PRICE_PER_SECOND = {"standard": 0.10, "720p": 0.30, "1080p": 0.50}

MODERATION_ERROR = "content moderation: prompt rejected"
# The moderation trigger: schema-valid, but the job "runs" and fails on its input.
_MODERATED = re.compile(r"\bforbidden\b", re.IGNORECASE)

# What a broken proxy in front of the API might answer with a 200: neither JSON, nor a state, nor an MP4.
DEFAULT_MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

RESULT_TTL = timedelta(minutes=5)  # sync job JSON shows expires_at = created + 5 min
_POLL_STEP = 0.02  # how often waiting jobs re-read the live knobs (processing_seconds, stuck)
_CHUNK = 1 << 20

Route = Literal["POST /job", "POST /job/async", "GET state", "GET job.json", "GET output", "GET file"]
ROUTES: tuple[str, ...] = get_args(Route)
FaultKind = Literal["status", "hang", "drop", "truncate", "malformed", "not_found", "no_video", "bad_token"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
# These distort a real answer, so the real answer (and the job behind it) has to exist first.
_WORK_FIRST_KINDS = frozenset({"truncate", "malformed", "no_video"})

JobState = Literal["queued", "processing", "processed", "completed", "failed"]
OutputListStyle = Literal["json", "objects", "text", "quoted", "comma"]
OUTPUT_LIST_STYLES: tuple[str, ...] = get_args(OutputListStyle)


@dataclass
class Fault(BaseFault["RecordedRequest"]):
    """A one-shot (or ``times``-shot) misbehaviour, matched against requests in FIFO order.

    ``match`` is one of the route names in the module docstring, or ``"*"`` for any request.

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


class _Invalid(Exception):
    """A schema violation at a JSON pointer."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"validation failed at '{pointer}': {message}")


class _Cut(Exception):
    """Raised by `_Writer` once a truncated body reached its limit."""


class _Writer:
    """Forwards a MultipartWriter's output to a response, optionally stopping after ``limit`` bytes."""

    def __init__(self, resp: web.StreamResponse, limit: int | None = None) -> None:
        self._resp = resp
        self._limit = limit
        self._sent = 0

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._limit is not None and self._sent + len(data) >= self._limit:
            await self._resp.write(bytes(data[: self._limit - self._sent]))
            self._sent = self._limit
            raise _Cut
        await self._resp.write(data)
        self._sent += len(data)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _pointer(*keys: str) -> str:
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in keys)


def _as_bytes(body: str | bytes | dict[str, Any] | list[Any]) -> tuple[bytes, str]:
    """Encode a fault body and pick its content type."""
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain"
    return json.dumps(body).encode(), "application/json"


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bools, which are ints to Python but not to a JSON schema.
    return isinstance(value, int) and not isinstance(value, bool)


def _decoded_size(data: bytes) -> tuple[int, int] | None:
    """The image's (width, height) once fully decoded, or None if it doesn't decode."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        # verify() misses truncated pixel data; a full decode does not.
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.size
    except Exception:
        return None


def output_listing(names: list[str], style: str) -> tuple[bytes, str]:
    """The body and content type of GET output for these names, spelled in `style`."""
    if style == "json":
        return json.dumps(names).encode(), "application/json"
    if style == "objects":
        entries = [{"name": n, "content_type": "video/mp4"} for n in names]
        return json.dumps(entries).encode(), "application/json"
    if style == "text":
        return "".join(f"{n}\n" for n in names).encode(), "text/plain"
    if style == "quoted":
        return "\n".join(f'"{n}"' for n in names).encode(), "text/plain"
    if style == "comma":
        return ", ".join(names).encode(), "text/plain"
    raise ValueError(f"unknown output list style {style!r}; use one of {OUTPUT_LIST_STYLES}")


def validate_job(
    job: Any, inputs: list[tuple[str | None, bytes]]
) -> tuple[str, dict[str, Any], bytes | None]:
    """Check a job against the Sora 2 schema; return (type, config with defaults, image bytes or None).

    Raises `_Invalid` for schema violations and `KeyError` (with the type) for an unknown job type.
    The image is only matched to its part here; whether it decodes is checked by the caller.
    """
    if not isinstance(job, dict):
        raise _Invalid("", "value must be an object")
    for key in job:
        if key not in ("type", "config"):
            raise _Invalid(_pointer(key), "additional property is not allowed")
    if "type" not in job:
        raise _Invalid("/type", "required property missing")
    job_type = job["type"]
    if not isinstance(job_type, str):
        raise _Invalid("/type", "value must be a string")
    if job_type not in JOB_TYPES:
        raise KeyError(job_type)
    if "config" not in job:
        raise _Invalid("/config", "required property missing")
    config = job["config"]
    if not isinstance(config, dict):
        raise _Invalid("/config", "value must be an object")

    pro = job_type in PRO_TYPES
    img2vid = job_type in IMG2VID_TYPES
    allowed = {"prompt", "aspect_ratio", "duration", "seed"}
    if pro:
        allowed.add("resolution")
    if img2vid:
        allowed.add("image")
    for key in config:
        if key not in allowed:
            raise _Invalid(_pointer("config", key), "additional property is not allowed")

    if "prompt" not in config:
        raise _Invalid("/config/prompt", "required property missing")
    prompt = config["prompt"]
    if not isinstance(prompt, str):
        raise _Invalid("/config/prompt", "value must be a string")
    if not 3 <= len(prompt) <= 4096:
        raise _Invalid("/config/prompt", "string length must be between 3 and 4096")

    echoed: dict[str, Any] = {"prompt": prompt}
    aspect = config.get("aspect_ratio", "16:9")
    if aspect not in ("16:9", "9:16"):
        raise _Invalid("/config/aspect_ratio", 'value must be one of "16:9", "9:16"')
    echoed["aspect_ratio"] = aspect
    duration = config.get("duration", 4)
    if not _is_int(duration) or duration not in (4, 8, 12):
        raise _Invalid("/config/duration", "value must be one of 4, 8, 12")
    echoed["duration"] = duration
    if "seed" in config:
        seed = config["seed"]
        if not _is_int(seed) or not 1 <= seed <= 2_147_483_647:
            raise _Invalid("/config/seed", "value must be an integer from 1 to 2147483647")
        echoed["seed"] = seed
    if pro:
        resolution = config.get("resolution", "720p")
        if resolution not in ("720p", "1080p"):
            raise _Invalid("/config/resolution", 'value must be one of "720p", "1080p"')
        echoed["resolution"] = resolution

    names = [name for name, _ in inputs]
    for name in names:
        if not name:
            raise _Invalid("/input", "every input part needs a filename")
        if names.count(name) > 1:
            raise _Invalid("/input", f"input filename '{name}' is used more than once")
    image: bytes | None = None
    if img2vid:
        if "image" not in config:
            raise _Invalid("/config/image", "required property missing")
        wanted = config["image"]
        if not isinstance(wanted, str):
            raise _Invalid("/config/image", "value must be a string")
        image = next((data for name, data in inputs if name == wanted), None)
        if image is None:
            raise _Invalid("/config/image", f"no uploaded input part is named '{wanted}'")
        echoed["image"] = wanted
    return job_type, echoed, image


def job_size(job_type: str, config: dict[str, Any]) -> tuple[int, int, str]:
    """(width, height, resolution label) of the clip a job produces."""
    resolution = config.get("resolution", "720p") if job_type in PRO_TYPES else "720p"
    long_side, short_side = (1920, 1080) if resolution == "1080p" else (1280, 720)
    if config.get("aspect_ratio", "16:9") == "9:16":
        return short_side, long_side, resolution
    return long_side, short_side, resolution


def job_price(job_type: str, config: dict[str, Any]) -> float:
    """Dollars for a job at the placeholder per-second prices."""
    if job_type in PRO_TYPES:
        rate = PRICE_PER_SECOND[config.get("resolution", "720p")]
    else:
        rate = PRICE_PER_SECOND["standard"]
    return round(int(config["duration"]) * rate, 4)


def free_box_header(size: int) -> bytes:
    """Header of a top-level MP4 ``free`` box whose total size (header included) is ``size``."""
    if size < 8:
        raise ValueError("an MP4 box is at least 8 bytes")
    if size <= 0xFFFFFFFF:
        return struct.pack(">I4s", size, b"free")
    # 64-bit "largesize" form: size field 1, then the real size after the type.
    return struct.pack(">I4sQ", 1, b"free", size)


def write_padded_copy(source: Path, dest: Path, extra: int) -> None:
    """Copy ``source`` to ``dest`` plus a trailing ``free`` box of ``extra`` bytes, never held in memory."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    try:
        shutil.copyfile(source, tmp)
        with tmp.open("r+b") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.write(free_box_header(extra))
            # Extending with truncate() fills with zeros (sparse on most filesystems): no payload in memory.
            fh.truncate(end + extra)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _render(
    path: Path,
    *,
    prompt: str,
    width: int,
    height: int,
    duration: int,
    audio: bool,
    image: Path | None,
    seed: int | None,
) -> None:
    """Render into a temporary file and rename, so a cached clip is either complete or absent."""
    from bot.media.render import render_clip

    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.mp4")
    try:
        render_clip(
            tmp,
            prompt=prompt,
            width=width,
            height=height,
            duration=duration,
            audio=audio,
            image=image,
            seed=seed,
        )
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


Handler = Callable[[web.Request, _Body | None], Awaitable[_Reply]]


class FakeProdia(FakeServer[RecordedRequest, Fault]):
    """The fake server. Knobs are plain attributes and may be changed while it runs."""

    def __init__(self, *, token: str = "test-token", clip_dir: Path, processing_seconds: float = 0.0) -> None:
        super().__init__()
        self.token = token
        self.clip_dir = Path(clip_dir)
        # How long an accepted job stays "processing" at least (also delays the sync answer).
        self.processing_seconds = processing_seconds
        self.async_refused: set[str] = set()  # job types whose POST /job/async answers 400
        self.stuck = False  # jobs never finish while set (sync requests then never answer)
        self.revoked = False  # every request gets 401 while set (see the `bad_token` fault)
        self.capacity_error = False  # every POST answers 429 + Retry-After while set
        self.reject = False  # every valid POST answers 400 (job error: moderation) while set
        self.retry_after = "1"  # Retry-After of capacity errors and unknown job types
        self.capacity: int | None = None  # most jobs processing at once; a POST beyond answers 429
        self.peak_in_flight = 0  # the most jobs that were processing at once
        self.capacity_refusals = 0  # POSTs refused because `capacity` was reached
        self.clip_bytes_extra = 0  # pad each produced MP4 with a `free` box of this many bytes (0 or >= 8)
        self.output_list_style: OutputListStyle = "json"  # how GET output spells its list
        self.result_ttl: float | None = None  # seconds a finished async job's result is kept (None: forever)
        self.async_refusal_text: str | None = None  # async refusals look like a config error with this text
        self.exact_image_size = True  # img2vid inputs must have exactly the clip's pixel size
        self.jobs: dict[str, FakeJob] = {}
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._renders: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 and return the base URL, e.g. ``http://127.0.0.1:PORT/v2``."""
        self.clip_dir.mkdir(parents=True, exist_ok=True)
        self._stopping = asyncio.Event()  # a stopped fake may be started again
        return await super().start(port)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(f"{API_PREFIX}/job", self._post_sync)
        router.add_post(f"{API_PREFIX}/job/async", self._post_async)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/job.state.current", self._get_state)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/job.json", self._get_job_json)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/output", self._get_output)
        router.add_get(f"{API_PREFIX}/job/async/{{id}}/output/{{filename}}", self._get_file)
        router.add_route("*", "/{tail:.*}", self._unknown)

    def _listening(self, origin: str) -> str:
        return super()._listening(f"{origin}{API_PREFIX}")

    async def _closing(self) -> None:
        """Hanging requests are dropped, background jobs cancelled."""
        self._stopping.set()
        pending = [*self._tasks, *self._renders.values()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # -- conveniences for tests --------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Queue a fault and return it (so a test can check ``hits`` later)."""
        self.faults.append(fault)
        return fault

    @property
    def in_flight(self) -> int:
        """Jobs accepted and not yet finished (what ``capacity`` counts)."""
        return sum(1 for job in self.jobs.values() if job.state in ("queued", "processing"))

    # -- plumbing ----------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, route: str | None, work: Handler) -> web.StreamResponse:
        body = await self._read_body(request) if request.method == "POST" and route else None
        rec = self._record(request, route, body)
        if self.revoked or request.headers.get("Authorization") != f"Bearer {self.token}":
            return _unauthorized()
        fault = self._take_fault(rec)
        if fault is not None and not fault.after_work and fault.kind not in _WORK_FIRST_KINDS:
            return await self._inflict(request, route, fault, None)
        reply = await work(request, body)
        if fault is not None:
            return await self._inflict(request, route, fault, reply)
        return await self._send(request, reply)

    def _record(self, request: web.Request, route: str | None, body: _Body | None) -> RecordedRequest:
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            route=route,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            content_type=request.headers.get("Content-Type", ""),
            job=body.job if body else None,
            inputs=[(name, len(data)) for name, data in body.inputs] if body else [],
            job_id=request.match_info.get("id"),
        )
        self.requests.append(rec)
        return rec

    async def _read_body(self, request: web.Request) -> _Body:
        body = _Body()
        if request.content_type == "application/json":
            raw = await request.read()
            try:
                body.job = json.loads(raw)
            except ValueError:
                body.error = "request body is not valid JSON"
            return body
        if request.content_type != "multipart/form-data":
            body.error = f"unsupported content type '{request.content_type}'"
            return body
        jobs: list[bytes] = []
        try:
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    body.error = "nested multipart bodies are not supported"
                    continue
                data = bytes(await part.read())
                if part.name == "job":
                    jobs.append(data)
                elif part.name == "input":
                    body.inputs.append((part.filename, data))
                elif body.error is None:
                    body.error = f"unexpected multipart part '{part.name}'"
        except (ValueError, AssertionError, RuntimeError) as exc:
            body.error = f"unreadable multipart body: {exc}"
            return body
        if body.error is not None:
            return body
        if len(jobs) != 1:
            body.error = f"multipart body needs exactly one 'job' part, got {len(jobs)}"
            return body
        try:
            body.job = json.loads(jobs[0])
        except ValueError:
            body.error = "the 'job' part is not valid JSON"
        return body

    # -- faults ------------------------------------------------------------------------------------------

    async def _inflict(
        self, request: web.Request, route: str | None, fault: Fault, reply: _Reply | None
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind == "status":
            data, ctype = _as_bytes(
                fault.body if fault.body is not None else f"fake fault: HTTP {fault.status}"
            )
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.Response(status=fault.status, body=data, content_type=ctype, headers=headers)
        if kind == "hang":
            await self._stopping.wait()
            return _drop(request)
        if kind == "drop":
            return _drop(request)
        if kind == "not_found":
            return _text(404, "job not found")
        if kind == "bad_token":
            self.revoked = True
            return _unauthorized()
        assert reply is not None, "work-first faults always have a reply"
        if kind == "truncate":
            return await self._send(request, reply, truncate=True)
        if kind == "malformed":
            return await self._send(request, _malformed(route, fault))
        return await self._send(request, self._without_video(route, fault, reply))

    def _without_video(self, route: str | None, fault: Fault, reply: _Reply) -> _Reply:
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

    async def _send(
        self, request: web.Request, reply: _Reply, *, truncate: bool = False
    ) -> web.StreamResponse:
        if reply.drop:
            return _drop(request)
        if reply.multipart_job is not None:
            return await self._send_multipart(request, reply, truncate=truncate)
        if reply.file is not None:
            if not truncate:
                headers = {"Content-Type": "video/mp4", **reply.headers}
                return web.FileResponse(reply.file, status=reply.status, headers=headers, chunk_size=_CHUNK)
            resp = web.StreamResponse(
                status=reply.status, headers={"Content-Type": "video/mp4", **reply.headers}
            )
            size = reply.file.stat().st_size
            resp.content_length = size
            await resp.prepare(request)
            left = size // 2
            with reply.file.open("rb") as fh:
                while left > 0:
                    chunk = await asyncio.to_thread(fh.read, min(_CHUNK, left))
                    if not chunk:
                        break
                    await resp.write(chunk)
                    left -= len(chunk)
            return _drop(request, resp)
        if not truncate:
            return web.Response(
                status=reply.status, body=reply.data, content_type=reply.content_type, headers=reply.headers
            )
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        resp.content_type = reply.content_type
        # A tiny body cannot be halved meaningfully: promise more than it has instead.
        resp.content_length = len(reply.data) if len(reply.data) >= 2 else len(reply.data) + 16
        await resp.prepare(request)
        await resp.write(reply.data[: len(reply.data) // 2] if len(reply.data) >= 2 else reply.data)
        return _drop(request, resp)

    async def _send_multipart(
        self, request: web.Request, reply: _Reply, *, truncate: bool
    ) -> web.StreamResponse:
        assert reply.multipart_job is not None
        resp = web.StreamResponse(status=reply.status, headers=reply.headers)
        with contextlib.ExitStack() as stack:
            writer = MultipartWriter("form-data")
            part = writer.append(reply.multipart_job, {"Content-Type": "application/json"})
            part.set_content_disposition("form-data", name="job", filename="job.json")
            if reply.file is not None:
                # A file payload is streamed in chunks by aiohttp, so large clips never sit in memory.
                fh = stack.enter_context(reply.file.open("rb"))
                part = writer.append(fh, {"Content-Type": "video/mp4"})
                part.set_content_disposition("form-data", name="output", filename="video.mp4")
            resp.headers["Content-Type"] = writer.content_type
            size = writer.size
            if size is not None:
                resp.content_length = size
            await resp.prepare(request)
            if truncate:
                limit = (size or 2) // 2
                with contextlib.suppress(_Cut):
                    await writer.write(cast("AbstractStreamWriter", _Writer(resp, limit)))
                return _drop(request, resp)
            await writer.write(cast("AbstractStreamWriter", _Writer(resp)))
            await resp.write_eof()
        return resp

    # -- jobs --------------------------------------------------------------------------------------------

    async def _post_sync(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "POST /job", self._work_sync)

    async def _post_async(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "POST /job/async", self._work_async)

    async def _work_sync(self, request: web.Request, body: _Body | None) -> _Reply:
        accepted = await self._accept(request, body, mode="sync")
        if isinstance(accepted, _Reply):
            return accepted
        job, image = accepted
        await self._run_job(job, image)
        if job.state == "failed":
            if job.error == MODERATION_ERROR:
                return _Reply(
                    400, multipart_job=json.dumps(_job_json(job, with_price=False)).encode(), job=job
                )
            return _Reply(
                500, content_type="text/plain", data=f"internal error: {job.error}".encode(), job=job
            )
        if job.state != "completed":  # the server is stopping under a waiting client
            return _Reply(503, job=job, drop=True)
        assert job.output_path is not None
        if request.headers.get("Accept", "").strip() == "video/mp4":
            return _Reply(200, file=job.output_path, job=job)
        with_price = request.query.get("price") == "true"
        job_json = _job_json(job, with_price=with_price)
        return _Reply(200, multipart_job=json.dumps(job_json).encode(), file=job.output_path, job=job)

    async def _work_async(self, request: web.Request, body: _Body | None) -> _Reply:
        accepted = await self._accept(request, body, mode="async")
        if isinstance(accepted, _Reply):
            return accepted
        job, image = accepted
        job_json = _job_json(job, with_price=request.query.get("price") == "true")
        task = asyncio.create_task(self._run_job(job, image))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _Reply(201, data=json.dumps(job_json).encode(), job=job)

    async def _accept(
        self, request: web.Request, body: _Body | None, *, mode: Literal["sync", "async"]
    ) -> _Reply | tuple[FakeJob, bytes | None]:
        """Validate a POST; return the created job, or the reply that refuses it (no job is created)."""
        assert body is not None
        if self.capacity_error:
            return _Reply(
                429, content_type="text/plain", data=b"no capacity", headers={"Retry-After": self.retry_after}
            )
        if body.error is not None:
            return _invalid(body.error, body.job)
        try:
            job_type, config, image = validate_job(body.job, body.inputs)
        except KeyError as exc:
            # The reference: an unknown job type answers 429 today.
            return _Reply(
                429,
                content_type="text/plain",
                data=f"unknown job type '{exc.args[0]}'".encode(),
                headers={"Retry-After": self.retry_after},
            )
        except _Invalid as exc:
            return _invalid(str(exc), body.job)
        if mode == "async" and job_type in self.async_refused:
            if self.async_refusal_text is not None:
                return _invalid(self.async_refusal_text, body.job)
            message = {"error": f"job type '{job_type}' does not support async jobs"}
            return _Reply(400, data=json.dumps(message).encode())
        if image is not None:
            size = await asyncio.to_thread(_decoded_size, image)
            if size is None:
                return _invalid(str(_Invalid("/config/image", "input is not a decodable image")), body.job)
            width, height, _ = job_size(job_type, config)
            if self.exact_image_size and size != (width, height):
                wrong = f"input image is {size[0]}x{size[1]}; it must be exactly {width}x{height}"
                return _invalid(str(_Invalid("/config/image", wrong)), body.job)
        if self.reject:
            return _invalid(MODERATION_ERROR, body.job)
        if self.capacity is not None and self.in_flight >= self.capacity:
            self.capacity_refusals += 1
            return _Reply(
                429, content_type="text/plain", data=b"no capacity", headers={"Retry-After": self.retry_after}
            )
        now = datetime.now(UTC)
        job = FakeJob(
            id=str(uuid.uuid4()), type=job_type, config=config, mode=mode, created_at=now, updated_at=now
        )
        self.jobs[job.id] = job
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return job, image

    async def _run_job(self, job: FakeJob, image: bytes | None) -> None:
        """Render (or moderate) the job, then hold it "processing" as the knobs say."""
        started = time.monotonic()
        job.touch("processing")
        moderated = bool(_MODERATED.search(job.config["prompt"]))
        try:
            path = None if moderated else await self._clip_for(job, image)
            if not await self._hold(started):
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("fake prodia: job %s failed to render", job.id)
            job.error = f"{type(exc).__name__}: {exc}"
            job.elapsed = round(time.monotonic() - started, 3)
            job.touch("failed")
            return
        job.elapsed = round(time.monotonic() - started, 3)
        if path is None:
            job.error = MODERATION_ERROR
            job.touch("failed")
            return
        job.output_path = path
        if not job.no_video:
            job.outputs["video.mp4"] = path
        job.price = job_price(job.type, job.config)
        job.finished_at = time.monotonic()
        job.touch("completed" if job.mode == "sync" else "processed")

    async def _hold(self, started: float) -> bool:
        """Wait until ``processing_seconds`` passed and ``stuck`` is off; False if the server stops first."""
        while not self._stopping.is_set():
            remaining = self.processing_seconds - (time.monotonic() - started)
            if remaining <= 0 and not self.stuck:
                return True
            # Re-read the knobs often: tests change them while jobs wait.
            await asyncio.sleep(min(_POLL_STEP, remaining) if remaining > 0 else _POLL_STEP)
        return False

    async def _clip_for(self, job: FakeJob, image: bytes | None) -> Path:
        """The job's MP4: rendered once per (type, resolution, aspect, duration, image) and cached."""
        width, height, resolution = job_size(job.type, job.config)
        image_hash = hashlib.sha256(image).hexdigest()[:16] if image is not None else "noimage"
        aspect = job.config["aspect_ratio"].replace(":", "x")
        key = f"{job.type}-{resolution}-{aspect}-{job.config['duration']}s-{image_hash}"
        base = self.clip_dir / f"{key}.mp4"
        if not base.exists():
            task = self._renders.get(key)
            if task is None:
                image_path = await asyncio.to_thread(self._store_image, image, image_hash)
                task = asyncio.create_task(
                    asyncio.to_thread(
                        _render,
                        base,
                        prompt=job.config["prompt"],
                        width=width,
                        height=height,
                        duration=job.config["duration"],
                        audio=job.type in PRO_TYPES,
                        image=image_path,
                        seed=job.config.get("seed"),
                    )
                )
                self._renders[key] = task
                task.add_done_callback(lambda _t: self._renders.pop(key, None))
            # shield: a cancelled waiter (client gave up) must not kill a render other jobs share.
            await asyncio.shield(task)
        extra = self.clip_bytes_extra
        if extra <= 0:
            return base
        padded = self.clip_dir / f"{key}+free{extra}.mp4"
        if not padded.exists():
            await asyncio.to_thread(write_padded_copy, base, padded, extra)
        return padded

    def _store_image(self, image: bytes | None, image_hash: str) -> Path | None:
        if image is None:
            return None
        path = self.clip_dir / "inputs" / f"{image_hash}.img"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(image)
        return path

    # -- async reads -------------------------------------------------------------------------------------

    def expire(self, job_id: str) -> None:
        """Forget a job's result as Prodia does after its retention time: every async route answers 404."""
        self.jobs[job_id].expired = True

    def is_expired(self, job: FakeJob) -> bool:
        if job.expired:
            return True
        return (
            self.result_ttl is not None
            and job.finished_at is not None
            and time.monotonic() - job.finished_at > self.result_ttl
        )

    def _async_job(self, request: web.Request) -> FakeJob | None:
        job = self.jobs.get(request.match_info["id"])
        # Sync jobs have no async resource; an expired job is as unknown as a wrong id (still billed).
        if job is None or job.mode != "async" or self.is_expired(job):
            return None
        return job

    async def _get_state(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            state = "processing" if job.state == "queued" else job.state
            return _Reply(200, content_type="text/plain", data=state.encode(), job=job)

        return await self._serve(request, "GET state", work)

    async def _get_job_json(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            job_json = _job_json(job, with_price=request.query.get("price") == "true")
            return _Reply(200, data=json.dumps(job_json).encode(), job=job)

        return await self._serve(request, "GET job.json", work)

    async def _get_output(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            data, content_type = output_listing(sorted(job.outputs), self.output_list_style)
            return _Reply(200, content_type=content_type, data=data, job=job)

        return await self._serve(request, "GET output", work)

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        async def work(request: web.Request, _body: _Body | None) -> _Reply:
            job = self._async_job(request)
            if job is None:
                return _Reply(404, content_type="text/plain", data=b"job not found")
            path = job.outputs.get(request.match_info["filename"])
            if path is None:
                return _Reply(404, content_type="text/plain", data=b"output not found", job=job)
            return _Reply(200, file=path, job=job)

        return await self._serve(request, "GET file", work)

    async def _unknown(self, request: web.Request) -> web.StreamResponse:
        async def work(_request: web.Request, _body: _Body | None) -> _Reply:
            return _Reply(404, content_type="text/plain", data=b"404: Not Found")

        return await self._serve(request, None, work)


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


def _invalid(message: str, job: Any) -> _Reply:
    """Prodia's answer to a job it refuses: 400 multipart whose ``job`` part carries ``id`` and ``error``."""
    now = _iso(datetime.now(UTC))
    data: dict[str, Any] = {"id": str(uuid.uuid4())}
    if isinstance(job, dict) and isinstance(job.get("type"), str):
        data["type"] = job["type"]
    data.update({"created_at": now, "updated_at": now, "state": {"current": "failed"}, "error": message})
    return _Reply(400, multipart_job=json.dumps(data).encode())


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


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def _unauthorized() -> web.Response:
    return _text(401, "token is invalid")


def _drop(request: web.Request, resp: web.StreamResponse | None = None) -> web.StreamResponse:
    """Close the connection under the client's feet.

    Whatever aiohttp then tries to write fails with a ConnectionError, which it swallows quietly, so the
    returned response is never seen.
    """
    if request.transport is not None:
        request.transport.close()
    return resp if resp is not None else web.Response(status=500)


# -- standalone --------------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.prodia", description="A fake Prodia v2 job API on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--token", default="test-token", help="the only accepted bearer token")
    parser.add_argument("--clip-dir", type=Path, default=None, help="render cache (default: a temp dir)")
    parser.add_argument("--processing-seconds", type=float, default=0.0, help="minimum time a job processes")
    parser.add_argument(
        "--async-refused",
        action="append",
        default=[],
        metavar="TYPE",
        help="job type whose async submission answers 400 (repeatable)",
    )
    parser.add_argument("--capacity-error", action="store_true", help="every POST answers 429 + Retry-After")
    parser.add_argument("--retry-after", default="1", help="Retry-After value of 429 answers")
    parser.add_argument("--capacity", type=int, help="most jobs processing at once (then 429)")
    parser.add_argument("--reject", action="store_true", help="every valid POST answers a 400 job error")
    parser.add_argument("--stuck", action="store_true", help="jobs never finish")
    parser.add_argument("--clip-bytes-extra", type=int, default=0, help="pad every MP4 by this many bytes")
    parser.add_argument(
        "--output-list-style",
        choices=OUTPUT_LIST_STYLES,
        default="json",
        help="how GET output spells its list",
    )
    parser.add_argument("--result-ttl", type=float, help="seconds a finished async job's result is kept")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        clip_dir = args.clip_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="fake-prodia-"))
        )
        fake = FakeProdia(token=args.token, clip_dir=clip_dir, processing_seconds=args.processing_seconds)
        fake.async_refused = set(args.async_refused)
        fake.capacity_error = args.capacity_error
        fake.retry_after = args.retry_after
        fake.capacity = args.capacity
        fake.reject = args.reject
        fake.stuck = args.stuck
        fake.clip_bytes_extra = args.clip_bytes_extra
        fake.output_list_style = args.output_list_style
        fake.result_ttl = args.result_ttl
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        url = await fake.start(args.port)
        print(f"listening on {url}", flush=True)  # the line callers wait for
        try:
            await stop.wait()
        finally:
            await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m tests.fakes.prodia``."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(_run(_parse_args(argv)))


if __name__ == "__main__":
    main()
