"""The local backend: renders a real placeholder MP4 on this machine and never contacts Prodia."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from bot.domain.models import JobRequest
from bot.media.pool import MediaPool
from bot.media.render import render_clip
from bot.prodia.backend import AcceptedHook, Endpoint, Generation, SentHook


class LocalBackend:
    """Dry runs, demos and tests: same sizes, durations and audio as Sora 2 would give, at no cost (rendered
    in `media`'s worker processes)."""

    def __init__(self, media: MediaPool) -> None:
        self.media = media

    async def generate(
        self, request: JobRequest, out: Path, on_accepted: AcceptedHook, on_sent: SentHook | None = None
    ) -> Generation:
        job_id = f"local-{uuid.uuid4()}"
        await on_accepted(job_id, "local")
        return await self._render(request, job_id, out)

    async def resume(
        self, request: JobRequest, prodia_job_id: str, endpoint: Endpoint, out: Path
    ) -> Generation:
        # Rendering is free and deterministic, so an interrupted local job is simply rendered again.
        return await self._render(request, prodia_job_id, out)

    async def aclose(self) -> None:
        return None

    async def _render(self, request: JobRequest, job_id: str, out: Path) -> Generation:
        started = time.monotonic()
        width, height = request.size
        out.parent.mkdir(parents=True, exist_ok=True)
        await self.media.run(
            render_clip,
            out,
            prompt=request.prompt,
            width=width,
            height=height,
            duration=request.duration,
            audio=request.has_audio,
            image=Path(request.image_path) if request.image_path else None,
            seed=request.seed,
        )
        return Generation(job_id, "local", out, None, time.monotonic() - started)
