"""The fair scheduler and its workers: claims queued jobs, runs them at the backend, delivers, recovers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot import files
from bot.domain.models import IN_FLIGHT, TERMINAL, Job, JobState
from bot.errors import (
    DatabaseUnavailable,
    DeliveredByDm,
    DiskFull,
    JobInterrupted,
    JobTimedOut,
    ProdiaError,
    SoraBotError,
)
from bot.prodia.backend import Backend, Endpoint, Generation
from bot.store.jobs import JobStore
from bot.store.meta import beat, forget_beat

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on the bot's side; the job was stopped. You were not charged."


class Deliverer(Protocol):
    """Puts a finished clip where the job asked for it. Must be safe to call again for the same job."""

    async def deliver(self, job: Job, clip: Path) -> int | None:
        """Deliver; returns the id of the message that carries the clip, when there is one."""
        ...


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    """How the scheduler runs jobs."""

    output_dir: Path
    max_concurrent_jobs: int = 4
    worker_slots: int | None = None  # jobs this process runs at once; None: up to max_concurrent_jobs
    job_timeout_seconds: float = 1800.0
    lease_seconds: float = 30.0
    idle_poll_seconds: float = 1.0
    retention_seconds: float = 30 * 86400.0
    retention_check_seconds: float = 3600.0


def worker_name() -> str:
    """host:pid:nonce, so a restarted process on the same host can tell its predecessor's leases are dead."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_is_dead(job: Job, me: str, now: float) -> bool:
    """A lease is dead when it expired, or its holder was a process on this host that no longer runs."""
    if job.lease_owner is None or job.lease_expires_at is None or job.lease_expires_at <= now:
        return True
    host, _, rest = job.lease_owner.partition(":")
    pid_text, _, _ = rest.partition(":")
    my_host, _, my_rest = me.partition(":")
    if host != my_host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == int(my_rest.partition(":")[0]):
        return (
            True  # our own pid with another nonce: an earlier life of this very process (a container restart)
        )
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Scheduler:
    """Runs jobs from the store: round-robin across users, at most `max_concurrent_jobs` at the backend."""

    def __init__(
        self,
        store: JobStore,
        backend: Backend,
        deliverers: Mapping[str, Deliverer],
        config: SchedulerConfig,
        *,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.deliverers = dict(deliverers)
        self.config = config
        self.owner = owner or worker_name()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._user_cancelled: set[int] = set()
        self._finishing: set[int] = set()  # jobs whose task is ending them (and telling everyone)
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False
        self._recovered = asyncio.Event()

    @property
    def target_kinds(self) -> Collection[str]:
        return self.deliverers.keys()

    @property
    def running_jobs(self) -> set[int]:
        return set(self._tasks)

    async def start(self) -> None:
        """Recover what earlier processes left, then start dispatching and renewing leases."""
        await beat(self.store.db, "worker", self.owner)
        await self.recover()
        self._loops = [
            _spawn(self._dispatch_loop(), "scheduler dispatch"),
            _spawn(self._lease_loop(), "scheduler leases"),
        ]

    async def stop(self) -> None:
        """Stop taking jobs; leave in-flight jobs for the next start (they are polled, not re-sent)."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
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
            job_id, JobState.CANCELLED, expect={JobState.QUEUED, JobState.AWAITING_APPROVAL}
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

    # -- recovery ----------------------------------------------------------------------------------------

    async def recover(self) -> int:
        """Take over jobs whose worker died: fail the ones caught mid-submission, resume the rest."""
        now = time.time()
        taken = 0
        for job in await self.store.leased_jobs(self.target_kinds):
            if job.id in self._tasks:
                continue
            if job.lease_owner == self.owner:
                mine: Job | None = job  # ours, but its task ended early (the database was unreachable)
            elif lease_is_dead(job, self.owner, now):
                mine = await self.store.take_over(
                    job, owner=self.owner, lease_seconds=self.config.lease_seconds
                )
            else:
                continue
            if mine is None:
                continue
            taken += 1
            if mine.state is JobState.SUBMITTING:
                # The backend may or may not have started it; re-sending could bill twice.
                error = JobInterrupted("interrupted between submission and storing Prodia's job id")
                await self.store.transition(
                    mine.id,
                    JobState.FAILED,
                    owner=self.owner,
                    error=error.detail,
                    user_error=error.user_message,
                )
                continue
            self._start_task(mine)
        self._recovered.set()
        return taken

    # -- loops -------------------------------------------------------------------------------------------

    async def _dispatch_loop(self) -> None:
        slots = self.config.worker_slots or self.config.max_concurrent_jobs
        while not self._stopping:
            self._wake.clear()
            if len(self._tasks) >= slots:
                # This process is full; another worker may claim. A finishing job wakes us.
                await self._wake.wait()
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

    async def clean_old_clips(self) -> int:
        """Retention, over every file the bot writes: the files of jobs finished longer ago than the
        retention (clip, re-encodes, posters, preview, last frame); input images once no job uses them (a
        delivered job uses its image until its retention ends, one that failed or was cancelled or rejected
        no longer); and, after a grace period, files no job owns (an image stored for a refused request).
        Returns how many jobs' clips were cleaned."""
        now = time.time()
        finished_before = now - self.config.retention_seconds
        grace_ends = now - files.ORPHAN_GRACE_SECONDS
        output_dir = self.config.output_dir
        # The disk is read before the database: a file seen here was written for a job (or a request) the
        # queries below already see, so nothing written meanwhile is mistaken for an orphan.
        on_disk = await asyncio.to_thread(files.files_by_job, output_dir)
        inputs = await asyncio.to_thread(files.input_files, output_dir)
        unkept = set(on_disk) - await self.store.jobs_keeping_files(finished_before)
        expired = await self.store.existing_jobs(unkept)
        orphans = [p for job_id in unkept - expired for p in on_disk[job_id]]
        removed = await asyncio.to_thread(files.delete_job_files, output_dir, expired)
        removed += await asyncio.to_thread(files.delete_if_older, orphans, grace_ends)
        if inputs:
            # An image is stored before any job that names it is created; the grace absorbs clock skew.
            since = min(mtime for _, mtime in inputs.values()) - files.ORPHAN_GRACE_SECONDS
            references = await self.store.image_references(since, finished_before)
            doomed = files.inputs_to_delete(inputs, references, grace_ends)
            removed += await asyncio.to_thread(files.delete_inputs, output_dir, doomed)
        cleaned = set(expired)
        for job_id, _ in await self.store.old_outputs(finished_before):
            await self.store.clear_output(job_id)
            cleaned.add(job_id)
        if removed:
            log.info("retention removed %d file(s), the clips of %d job(s)", removed, len(cleaned))
        return len(cleaned)

    async def _lease_loop(self) -> None:
        interval = self.config.lease_seconds / 3
        next_cleanup = time.monotonic()
        while not self._stopping:
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + self.config.retention_check_seconds
                try:
                    await self.clean_old_clips()
                except Exception:
                    log.exception("cleaning old clips failed")
            await asyncio.sleep(interval)
            try:
                running = list(self._tasks.items())  # before the renewal: these were claimed before it
                held = await self.store.renew_leases(self.owner, self.config.lease_seconds)
                self._stop_lost(running, held)
                await beat(self.store.db, "worker", self.owner)
                await self.recover()
            except Exception:
                log.exception("renewing leases failed; retrying")

    def _stop_lost(self, running: list[tuple[int, asyncio.Task[None]]], held: set[int]) -> None:
        """Stop running what this process no longer holds: cancelled through another process (a gateway's
        Cancel button), or taken over after this one stalled past its lease. Nothing is written: the job's
        state is already someone else's to change."""
        for job_id, task in running:
            # A job this task is ending has left the leased states already; its last status edit and audit
            # post are still being sent, and must not be cut off.
            if job_id not in held and job_id not in self._finishing and not task.done():
                log.info(
                    "job %d: no longer held by this worker (cancelled or taken over); stopping it", job_id
                )
                task.cancel()

    # -- one job -----------------------------------------------------------------------------------------

    def _start_task(self, job: Job) -> None:
        task = _spawn(self._run(job), f"job {job.id}")
        self._tasks[job.id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._tasks.pop(job.id, None)
            self._user_cancelled.discard(job.id)
            self._finishing.discard(job.id)
            self.wake()

        task.add_done_callback(done)

    async def _run(self, job: Job) -> None:
        try:
            deadline = (job.started_at or time.time()) + self.config.job_timeout_seconds
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                if job.state is not JobState.DELIVERING:
                    job = await self._generate(job)
            await self._deliver(job)
        except asyncio.CancelledError:
            if job.id in self._user_cancelled:
                self._finishing.add(job.id)
                await self.store.transition(job.id, JobState.CANCELLED, owner=self.owner, error="cancelled")
                return
            raise
        except DatabaseUnavailable as exc:
            # Not the job's fault: it keeps its state and lease, and the lease loop resumes it once the
            # database answers again (a job caught mid-submission is then failed and refunded, not re-sent).
            log.warning("job %d: %s; resuming it when the database is back", job.id, exc.detail)
        except TimeoutError:
            await self._fail(job, JobTimedOut(f"timed out after {self.config.job_timeout_seconds:.0f}s"))
        except SoraBotError as exc:
            await self._fail(job, exc)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                log.exception("job %d: unexpected error", job.id)
                await self._fail(job, exc)
                return
            log.error("job %d: no space left in %s", job.id, self.config.output_dir)  # noqa: TRY400
            await self._fail(job, DiskFull(f"no space left on device writing to {self.config.output_dir}"))
        except Exception as exc:
            log.exception("job %d: unexpected error", job.id)
            await self._fail(job, exc)

    async def _generate(self, job: Job) -> Job:
        out = files.clip_path(self.config.output_dir, job.id)
        generation: Generation
        if job.state is JobState.SUBMITTING:

            async def accepted(prodia_job_id: str, endpoint: Endpoint) -> None:
                moved = await self.store.transition(
                    job.id,
                    JobState.RUNNING,
                    expect={JobState.SUBMITTING},
                    owner=self.owner,
                    prodia_job_id=prodia_job_id,
                    endpoint=endpoint,
                )
                if moved is None:
                    raise asyncio.CancelledError  # cancelled or taken over while submitting

            async def sent(endpoint: Endpoint) -> None:
                # Stored before the request goes: a job that ends, or a process that dies, from here on
                # counts as possibly paid (README "Refunds").
                if not await self.store.mark_sent(job.id, endpoint, owner=self.owner):
                    raise asyncio.CancelledError  # cancelled or taken over before anything was sent

            generation = await self.backend.generate(job.request, out, accepted, sent)
        else:
            assert job.prodia_job_id is not None and job.endpoint is not None
            endpoint: Endpoint = job.endpoint  # type: ignore[assignment]
            generation = await self.backend.resume(job.request, job.prodia_job_id, endpoint, out)
        moved = await self.store.transition(
            job.id,
            JobState.DELIVERING,
            expect={JobState.RUNNING},
            owner=self.owner,
            output_path=str(generation.path),
            actual_cost=generation.price_dollars,
        )
        if moved is None:
            raise asyncio.CancelledError
        return moved

    async def _deliver(self, job: Job) -> None:
        deliverer = self.deliverers[job.target.get("kind", "")] if job.target.get("kind") else None
        if deliverer is None:
            raise SoraBotError(f"no deliverer for target {job.target!r}")
        assert job.output_path is not None
        fields: dict[str, Any] = {}
        try:
            message_id = await deliverer.deliver(job, Path(job.output_path))
        except DeliveredByDm as exc:
            # The member has the clip all the same: delivered, quota kept; the status says where it went.
            message_id = exc.message_id
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

    async def _fail(self, job: Job, exc: Exception) -> None:
        if isinstance(exc, SoraBotError):
            detail, message = exc.detail, exc.user_message
        else:
            detail, message = f"{type(exc).__name__}: {exc}", GENERIC_FAILURE
        if isinstance(exc, ProdiaError):
            log.warning("job %d: Prodia error: %s", job.id, detail)
        current = await self.store.get(job.id)
        clip = files.clip_path(self.config.output_dir, job.id)
        if current is None or current.output_path != str(clip):
            # A half-written clip is worth nothing and may be large. A finished one (stored on the way to
            # `delivering`) was paid for at Prodia: it stays for /show, whatever failed in delivering it,
            # until the retention removes it.
            clip.unlink(missing_ok=True)
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


def _spawn(coro: object, name: str) -> asyncio.Task[None]:
    """create_task with a name and a done-callback that logs a failure instead of losing it."""
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]

    def report(t: asyncio.Task[None]) -> None:
        if not t.cancelled() and t.exception() is not None:
            log.error("task %s failed", name, exc_info=t.exception())

    task.add_done_callback(report)
    return task
