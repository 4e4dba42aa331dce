"""The job pipeline without Discord: database, store, backend and scheduler, opened and closed together."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bot.domain.limits import Limits
from bot.domain.models import Job, JobRequest, JobState, Target
from bot.domain.stories import Story
from bot.errors import DeliveryError, StorageUnavailable
from bot.files import INPUTS, input_name, new_input_name
from bot.media.images import prepare_image
from bot.media.pool import MediaPool
from bot.prodia.backend import Backend
from bot.prodia.client import ProdiaClient
from bot.prodia.http import RequestObserver
from bot.prodia.local import LocalBackend
from bot.settings import Settings
from bot.storage import Storage, open_storage
from bot.store.db import Database
from bot.store.jobs import JobStore, NewJob
from bot.worker.scheduler import Deliverer, Scheduler, SchedulerConfig


class FileDeliverer:
    """Delivers a clip by copying it to the path the job names (the `generate` command)."""

    kind = "file"

    async def deliver(self, job: Job, clip: Path) -> int | None:
        destination = Path(job.target["path"])
        await asyncio.to_thread(_copy_atomically, clip, destination)
        return None


class FileStoryOutput:
    """Delivers a story's joined clip by copying it to the path the story names (`sora-bot story`)."""

    async def deliver_story(
        self, story: Story, video: Path, *, shots: Sequence[Job] | None = None, note: object = None
    ) -> None:
        await asyncio.to_thread(_copy_atomically, video, Path(story.target["path"]))


def _copy_atomically(source: Path, destination: Path) -> None:
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.{uuid.uuid4().hex[:8]}.part")
        shutil.copyfile(source, partial)
        partial.replace(destination)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise DeliveryError(f"could not write {destination}: {exc.strerror}") from None


def make_backend(settings: Settings, media: MediaPool, on_request: RequestObserver | None = None) -> Backend:
    """The local renderer (rendering in `media`'s processes) or Prodia's API, as PRODIA_BACKEND says
    (`on_request` sees Prodia's requests)."""
    if settings.prodia_backend == "local":
        return LocalBackend(media)
    return ProdiaClient.from_settings(settings, on_request=on_request)


# The scheduler's deliverers by target kind; or, built with the pipeline's store (a deliverer records its
# posts), file store and media processes, a factory of them.
Deliverers = Mapping[str, Deliverer] | Callable[[JobStore, Storage, MediaPool], Mapping[str, Deliverer]]


class Pipeline:
    """Owns the media processes, the database, the backend and the scheduler; closes them in reverse order."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        backend: Backend,
        scheduler: Scheduler,
        storage: Storage,
        media: MediaPool,
    ) -> None:
        self.settings = settings
        self.media = media  # CPU-heavy media work, in worker processes (MEDIA_WORKERS)
        self.storage = storage
        self.db = db
        self.store = scheduler.store
        self.backend = backend
        self.scheduler = scheduler
        self.prices = settings.prices()
        self.on_accepted: list[Callable[[Job], None]] = []  # told of each job `submit` stores (metrics)

    @classmethod
    async def open(
        cls,
        settings: Settings,
        deliverers: Deliverers,
        *,
        backend: Backend | None = None,
        media: MediaPool | None = None,
        owner: str | None = None,
        on_prodia_request: RequestObserver | None = None,
    ) -> Pipeline:
        """Open everything; a `media` pool given is the pipeline's to close."""
        media = media if media is not None else MediaPool(settings.media_workers)
        backend = backend or make_backend(settings, media, on_prodia_request)
        try:
            db = await Database.open(
                settings.database_target,
                busy_timeout=settings.database_busy_timeout_seconds,
                pool_size=settings.database_pool_size,
            )
        except BaseException:
            await backend.aclose()
            await media.close()
            raise
        storage = open_storage(settings)
        config = SchedulerConfig(
            max_concurrent_jobs=settings.max_concurrent_jobs,
            worker_slots=settings.worker_slots,
            job_timeout_seconds=settings.job_timeout_seconds,
            lease_seconds=settings.lease_seconds,
            retention_seconds=settings.clip_retention_days * 86400,
        )
        store = JobStore(db)
        by_kind = deliverers(store, storage, media) if callable(deliverers) else deliverers
        scheduler = Scheduler(store, backend, by_kind, config, storage, owner=owner)
        return cls(settings, db, backend, scheduler, storage, media)

    async def start(self) -> None:
        await self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.backend.aclose()
        await self.db.close()
        await self.media.close()

    async def store_image(self, data: bytes, request_size: tuple[int, int]) -> str:
        """Validate and fit an input image and keep it beside the clips; returns what a request names it by
        (`image_path`). Retention deletes it once no job uses it (or after a grace period, when no job ever
        named it)."""
        fitted = await self.media.run(prepare_image, data, request_size)
        return await self.storage.put_bytes(new_input_name(), fitted)

    async def drop_image(self, image_path: str | None) -> None:
        """Delete an input image no job came to own (its request was refused or failed); retention's grace
        period catches one this misses."""
        name = input_name(image_path)
        if name is not None:
            with contextlib.suppress(StorageUnavailable):
                await self.storage.delete([f"{INPUTS}/{name}"])

    async def submit(
        self,
        request: JobRequest,
        *,
        user_id: int,
        target: Target,
        guild_id: int | None = None,
        channel_id: int | None = None,
        limits: Limits | None = None,
        budget_per_day: float | None = None,
        state: JobState = JobState.QUEUED,
    ) -> Job:
        """Accept a validated request: store it and its reservation (within `limits`), wake the scheduler."""
        job = await self.store.create(
            NewJob(
                request=request,
                user_id=user_id,
                estimated_cost=self.prices.estimate(request),
                target_kind=str(target["kind"]),
                target=target,
                guild_id=guild_id,
                channel_id=channel_id,
                state=state,
            ),
            limits,
            budget_per_day,
        )
        for accepted in self.on_accepted:
            accepted(job)
        self.scheduler.wake()
        return job
