"""The dispatcher: claims queued jobs fairly, runs them at the backend and delivers them.

Two helpers run their own loops: leases and recovery (bot.worker.leases), retention (bot.worker.retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from bot import files
from bot.domain.models import IN_FLIGHT, TERMINAL, Job, JobState
from bot.errors import (
    DatabaseUnavailable,
    DeliveredByDm,
    DiskFull,
    JobTimedOut,
    MediaCrashed,
    ProdiaError,
    SoraBotError,
    StorageUnavailable,
)
from bot.i18n.messages import _, speaking
from bot.prodia.backend import Backend, Generation
from bot.storage import Storage
from bot.store.jobs import JobStore
from bot.store.meta import beat, forget_beat
from bot.tasks import spawn
from bot.worker.config import Deliverer, SchedulerConfig
from bot.worker.generation import generate
from bot.worker.leases import LeaseKeeper, worker_name
from bot.worker.letting_go import let_go, through_cancels
from bot.worker.retention import Retention

log = logging.getLogger(__name__)
__all__ = ["Deliverer", "Scheduler", "SchedulerConfig"]

STORAGE_RECHECK_SECONDS = 5.0  # while the store fails, how often a worker asks it again before claiming
# A step whose media process died (killed, out of memory) runs this many times in all before the job fails.
MEDIA_ATTEMPTS = 3
GENERIC_FAILURE = _("Something went wrong on the bot's side; the job was stopped. You were not charged.")


class Scheduler:
    """Runs jobs from the store: round-robin across users, at most `max_concurrent_jobs` at the backend."""

    def __init__(
        self,
        store: JobStore,
        backend: Backend,
        deliverers: Mapping[str, Deliverer],
        config: SchedulerConfig,
        storage: Storage,
        *,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.storage = storage
        self.backend = backend
        self.deliverers = dict(deliverers)
        self.config = config
        self.owner = owner or worker_name()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._user_cancelled: set[int] = set()
        self._finishing: set[int] = set()  # jobs whose task is ending them (and telling everyone)
        # Clips Prodia made, whole here, that the store has not taken yet (kept across resumes).
        self._paid: dict[int, Generation] = {}
        self._storage_failing = False
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._leases = LeaseKeeper(
            store,
            owner=self.owner,
            lease_seconds=config.lease_seconds,
            target_kinds=self.target_kinds,
            running=self._tasks,
            finishing=self._finishing,
            paid=self._paid,
            resume=self._start_task,
            let_go=self._let_go,
        )
        self._retention = Retention(
            store,
            storage,
            retention_seconds=config.retention_seconds,
            check_seconds=config.retention_check_seconds,
        )

    @property
    def target_kinds(self) -> Collection[str]:
        return self.deliverers.keys()

    @property
    def running_jobs(self) -> set[int]:
        return set(self._tasks)

    @property
    def running(self) -> bool:
        """Started and not stopped, its dispatch loop alive (the worker's readiness)."""
        return bool(self._loops) and not self._stopping and not any(task.done() for task in self._loops)

    async def start(self) -> None:
        """Recover what earlier processes left, then start the three loops: dispatch, leases, retention."""
        await beat(self.store.db, "worker", self.owner)
        await self.recover()
        self._loops = [spawn(self._dispatch_loop(), "scheduler dispatch")]
        self._leases.loop.start()
        self._retention.loop.start()

    async def stop(self) -> None:
        """Stop taking jobs; leave in-flight jobs for the next start (they are polled, not re-sent)."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await self._leases.loop.stop()
        await self._retention.loop.stop()
        await asyncio.gather(*self._loops, *tasks, return_exceptions=True)
        self._loops.clear()
        with contextlib.suppress(Exception):
            await self.store.release_leases(self.owner)
        with contextlib.suppress(Exception):
            await forget_beat(self.store.db, "worker", self.owner)

    def wake(self) -> None:
        """A job was queued or a slot freed: look for work now."""
        self._wake.set()

    async def wait_idle(self, job_ids: Collection[int] | None = None) -> None:
        """Wait until the given jobs (default: every job this scheduler runs) are finished here."""
        while True:
            pending = [t for j, t in self._tasks.items() if job_ids is None or j in job_ids]
            if not pending:
                return
            await asyncio.wait(pending)

    async def cancel(self, job_id: int) -> Job | None:
        """Cancel a queued or running job; returns the cancelled job, or None if it had already moved on."""
        job = await self.store.transition(
            job_id,
            JobState.CANCELLED,
            expect={JobState.QUEUED, JobState.AWAITING_APPROVAL, JobState.WAITING},  # a story's later shot
        )
        if job is not None:
            return job
        task = self._tasks.get(job_id)
        if task is None:
            current = await self.store.get(job_id)
            if current is not None and current.state in IN_FLIGHT:
                # Held by another process (or one that died): take it over only through the store.
                return await self.store.transition(job_id, JobState.CANCELLED, expect=IN_FLIGHT)
            return None
        self._user_cancelled.add(job_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(asyncio.wait([task]))
        current = await self.store.get(job_id)
        return current if current is not None and current.state is JobState.CANCELLED else None

    async def recover(self) -> int:
        """Take over jobs whose worker died (see LeaseKeeper.recover); returns how many."""
        return await self._leases.recover()

    async def clean_old_clips(self) -> int:
        """One retention sweep (see Retention.clean_old_clips); returns how many jobs' clips were cleaned."""
        return await self._retention.clean_old_clips()

    # -- loops -------------------------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        slots = self.config.worker_slots or self.config.max_concurrent_jobs
        while not self._stopping:
            self._wake.clear()
            if len(self._tasks) >= slots:
                # This process is full; another worker may claim. A finishing job wakes us.
                await self._wake.wait()
                continue
            if self._storage_failing and not await self._storage_answers():
                # A job claimed now would be paid for at Prodia and then wait for the store: leave the
                # queue to workers whose store answers (or to this one, once it does).
                await asyncio.sleep(STORAGE_RECHECK_SECONDS)
                continue
            try:
                job = await self.store.claim_next(
                    owner=self.owner,
                    lease_seconds=self.config.lease_seconds,
                    max_in_flight=self.config.max_concurrent_jobs,
                    target_kinds=self.target_kinds,
                )
            except Exception:
                # A locked or briefly unavailable database must not end dispatching for good.
                log.exception("claiming the next job failed; retrying")
                job = None
            if job is not None:
                self._start_task(job)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.idle_poll_seconds):
                    await self._wake.wait()

    async def _storage_answers(self) -> bool:
        try:
            await self.storage.check_writable()
        except Exception as exc:  # any failure: not yet
            log.info("not claiming jobs: the store does not answer (%s)", type(exc).__name__)
            return False
        self._storage_failing = False
        return True

    # -- one job -----------------------------------------------------------------------------------------

    def _start_task(self, job: Job) -> None:
        task = spawn(self._run(job), f"job {job.id}")
        self._tasks[job.id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job.id, None)
            self._user_cancelled.discard(job.id)
            self._finishing.discard(job.id)
            self.wake()

        task.add_done_callback(done)

    async def _run(self, job: Job) -> None:
        try:
            if job.state is not JobState.DELIVERING:
                generation = self._paid.get(job.id)
                if generation is None or not generation.path.is_file():
                    if job.output_path:
                        # It came back whole before (here, or in a process since gone) and the store
                        # failed: it is paid for, so it is fetched again by its id, without the timeout.
                        generation = await self._generate(job)
                    else:
                        deadline = (job.started_at or time.time()) + self.config.job_timeout_seconds
                        async with asyncio.timeout(max(0.0, deadline - time.time())):
                            generation = await generate(
                                job, self.store, self.backend, self.storage, self.owner
                            )
                    self._paid[job.id] = generation
                # The clip is here and paid for: storing it is outside the job's timeout, and retried
                # (this process holds the file) until the store takes it.
                job = await self._keep(job, generation)
            await self._deliver(job)
        except asyncio.CancelledError:
            if job.id in self._user_cancelled:
                self._paid.pop(job.id, None)
                self._finishing.add(job.id)
                await self.store.transition(job.id, JobState.CANCELLED, owner=self.owner, error="cancelled")
                await self._let_go(job.id)
                return
            # Stopped because this process no longer holds the job (or is stopping: then it still holds it,
            # and `_let_go` leaves everything for the next start).
            await through_cancels(self._let_go(job.id))
            raise
        except (DatabaseUnavailable, StorageUnavailable) as exc:
            # Not the job's fault: it keeps its state and lease, and the lease loop resumes it once the
            # database (or the store) answers again (a job caught mid-submission is then failed and
            # refunded, not re-sent; a paid clip not yet stored is fetched from Prodia again).
            what = "database" if isinstance(exc, DatabaseUnavailable) else "storage"
            log.warning("job %d: %s; resuming it when the %s is back", job.id, exc.detail, what)
            if isinstance(exc, StorageUnavailable):
                self._storage_failing = True  # no new job is claimed until the store answers
        except MediaCrashed as exc:
            # Not known to be the clip's fault: the job keeps its state and lease, and the lease loop runs the
            # step again (a paid clip is stored already: its delivery is tried again, never lost). A clip that
            # kills its media process every time fails the job, its clip kept for /show.
            crashes = self._leases.crashed(job.id)
            if crashes >= MEDIA_ATTEMPTS:
                await self._fail(job, exc)
                return
            log.warning(
                "job %d: %s; trying again (%d of %d)", job.id, exc.detail, crashes + 1, MEDIA_ATTEMPTS
            )
        except TimeoutError:
            await self._fail(job, JobTimedOut(f"timed out after {self.config.job_timeout_seconds:.0f}s"))
        except SoraBotError as exc:
            await self._fail(job, exc)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.exception("job %d: unexpected error", job.id)
                await self._fail(job, exc)
                return
            work_dir = self.storage.work_dir
            log.error("job %d: no space left in %s", job.id, work_dir)  # noqa: TRY400
            await self._fail(job, DiskFull(f"no space left on device writing to {work_dir}"))
        except Exception as exc:
            log.exception("job %d: unexpected error", job.id)
            await self._fail(job, exc)

    async def _let_go(self, job_id: int) -> None:
        await let_go(self.store, self.storage, job_id)

    async def _generate(self, job: Job) -> Generation:
        """Run the job at Prodia (or poll it there by its id) until its clip is here, whole."""
        return await generate(job, self.store, self.backend, self.storage, self.owner)

    async def _keep(self, job: Job, generation: Generation) -> Job:
        """Store the paid clip, then call the job delivering. A store that fails leaves the job running and
        its file here; the lease loop resumes it in this process (or, if this process dies, another worker
        fetches the clip from Prodia again by its id) until the store takes it."""
        generation.path.touch()  # fresh: the sweep of crash leftovers leaves a clip waiting here alone
        location = self.storage.location(files.clip_name(job.id))
        try:
            await self._save_whole(generation.path)
        except StorageUnavailable:
            if not job.output_path:
                await self.store.mark_received(
                    job.id, location, owner=self.owner, actual_cost=generation.price_dollars
                )
            raise
        self._storage_failing = False
        moved = await self.store.transition(
            job.id,
            JobState.DELIVERING,
            expect={JobState.RUNNING},
            owner=self.owner,
            output_path=location,
            actual_cost=generation.price_dollars,
        )
        self._paid.pop(job.id, None)
        if moved is None:
            raise asyncio.CancelledError
        return moved

    async def _save_whole(self, path: Path) -> None:
        """`storage.save`, not cut off midway when the job is lost: the cancel waits for the store's answer,
        so that what it wrote is there when `_let_go` deletes it (a bucket's upload cut short may still land
        after)."""
        await through_cancels(self.storage.save(path), stopping=lambda: self._stopping)

    async def _deliver(self, job: Job) -> None:
        deliverer = self.deliverers[job.target.get("kind", "")] if job.target.get("kind") else None
        if deliverer is None:
            raise SoraBotError(f"no deliverer for target {job.target!r}")
        assert job.output_path is not None
        fields: dict[str, Any] = {}
        try:
            async with self.storage.local(files.clip_name(job.id)) as clip:
                if clip is None:
                    raise SoraBotError(
                        f"the clip of job {job.id} is missing from {self.storage.location('')}"
                    )
                message_id = await deliverer.deliver(job, clip)
        except DeliveredByDm as exc:
            # The member has the clip all the same: delivered, quota kept; the status says where it went
            # (in the requester's language: their status message and DMs show it).
            message_id = exc.message_id
            with speaking(job.target.get("locale")):
                fields = {"error": exc.detail, "user_error": exc.user_message}
        self._finishing.add(job.id)
        await self.store.transition(
            job.id,
            JobState.DELIVERED,
            expect={JobState.DELIVERING},
            owner=self.owner,
            result_message_id=message_id,
            **fields,
        )
        await self.storage.discard(files.clip_path(self.storage.work_dir, job.id))

    async def _fail(self, job: Job, exc: Exception) -> None:
        self._paid.pop(job.id, None)
        # What the requester is told, in their language (their status message and DMs show it).
        with speaking(job.target.get("locale")):
            if isinstance(exc, SoraBotError):
                detail, message = exc.detail, exc.user_message
            else:
                detail, message = f"{type(exc).__name__}: {exc}", _(GENERIC_FAILURE)
        if isinstance(exc, ProdiaError):
            log.warning("job %d: Prodia error: %s", job.id, detail)
        current = await self.store.get(job.id)
        clip = files.clip_path(self.storage.work_dir, job.id)
        if current is None or current.output_path != self.storage.location(clip.name):
            # A half-written clip is worth nothing and may be large. A finished one (stored on the way to
            # `delivering`) was paid for at Prodia: it stays for /show, whatever failed in delivering it,
            # until the retention removes it.
            clip.unlink(missing_ok=True)
        else:
            await self.storage.discard(clip)  # a bucket's local copy; the stored clip stays
        if current is None or current.state in TERMINAL:
            return
        fields: dict[str, Any] = {}
        if isinstance(exc, ProdiaError):
            if exc.price_dollars is not None:
                fields["actual_cost"] = exc.price_dollars  # Prodia said what it charged
            if current.state is JobState.SUBMITTING and exc.surely_not_billed:
                fields["endpoint"] = None  # a clear refusal: the request sent started nothing to pay for
        self._finishing.add(job.id)
        await self.store.transition(
            job.id, JobState.FAILED, owner=self.owner, error=detail, user_error=message, **fields
        )
