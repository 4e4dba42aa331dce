"""Jobs at work: acceptance (validation, capacity), processing, rendering and retention."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from aiohttp import web

from tests.fakes.prodia.constants import _MODERATED, _POLL_STEP, MODERATION_ERROR, PRO_TYPES
from tests.fakes.prodia.core import ProdiaCore
from tests.fakes.prodia.jobs import FakeJob
from tests.fakes.prodia.media import _render, write_padded_copy
from tests.fakes.prodia.records import _Body, _Reply
from tests.fakes.prodia.sending import _invalid
from tests.fakes.prodia.validation import _decoded_size, _Invalid, job_price, job_size, validate_job

log = logging.getLogger(__name__)


class JobsMixin(ProdiaCore):
    """Accepting a POSTed job (or refusing it), running and rendering it, expiring its result."""

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
