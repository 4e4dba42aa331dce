"""Leases and recovery: keep this worker's leases alive, stop what it lost, take over dead workers' jobs."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import Any

from bot.domain.models import Job, JobState
from bot.errors import JobInterrupted
from bot.i18n.messages import speaking
from bot.store.jobs import JobStore
from bot.store.meta import beat
from bot.tasks import Loop

log = logging.getLogger(__name__)


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


class LeaseKeeper:
    """One loop, every third of a lease: renew this worker's leases, stop the jobs it no longer holds, beat,
    and take over the jobs of workers that died."""

    def __init__(
        self,
        store: JobStore,
        *,
        owner: str,
        lease_seconds: float,
        target_kinds: Collection[str],
        running: Mapping[int, asyncio.Task[None]],
        finishing: Collection[int],
        resume: Callable[[Job], None],
        paid: MutableMapping[int, Any] | None = None,
        let_go: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.target_kinds = target_kinds
        # The scheduler's own views: the jobs it runs here, the ones ending, and how to run one more.
        self._running = running
        self._finishing = finishing
        self._resume = resume
        self._paid = paid if paid is not None else {}  # clips waiting for the store, of jobs held here
        self._let_go = let_go  # what a job no longer held here leaves behind: removed if it was cancelled
        self._crashes: dict[int, int] = {}  # jobs held here whose step's media process died: how often
        # Every third of a lease, so a lease is renewed twice before it can run out.
        self.loop = Loop("scheduler leases", self.tick, lease_seconds / 3, wait_first=True)

    async def tick(self) -> None:
        """One round: renew, stop the lost, beat, recover."""
        running = list(self._running.items())  # before the renewal: these were claimed before it
        held = await self.store.renew_leases(self.owner, self.lease_seconds)
        self._stop_lost(running, held)
        for job_id in [job_id for job_id in self._paid if job_id not in held]:
            del self._paid[job_id]  # cancelled or taken over meanwhile: its clip is not ours to store
            if self._let_go is not None and job_id not in self._running:  # (a running task lets go itself)
                await self._let_go(job_id)
        for job_id in [job_id for job_id in self._crashes if job_id not in held]:
            del self._crashes[job_id]  # ended (delivered, failed), cancelled or taken over
        await beat(self.store.db, "worker", self.owner)
        await self.recover()

    def crashed(self, job_id: int) -> int:
        """A step of a job held here lost its media process: how often that has happened to the job."""
        self._crashes[job_id] = self._crashes.get(job_id, 0) + 1
        return self._crashes[job_id]

    async def recover(self) -> int:
        """Take over jobs whose worker died: fail the ones caught mid-submission, resume the rest."""
        now = time.time()
        taken = 0
        for job in await self.store.leased_jobs(self.target_kinds):
            if job.id in self._running:
                continue
            if job.lease_owner == self.owner:
                mine: Job | None = job  # ours, but its task ended early (the database was unreachable)
            elif lease_is_dead(job, self.owner, now):
                mine = await self.store.take_over(job, owner=self.owner, lease_seconds=self.lease_seconds)
            else:
                continue
            if mine is None:
                continue
            taken += 1
            if mine.state is JobState.SUBMITTING:
                # The backend may or may not have started it; re-sending could bill twice.
                error = JobInterrupted("interrupted between submission and storing Prodia's job id")
                with speaking(mine.target.get("locale")):  # the requester's language: their status shows it
                    user_error = error.user_message
                await self.store.transition(
                    mine.id, JobState.FAILED, owner=self.owner, error=error.detail, user_error=user_error
                )
                continue
            self._resume(mine)
        return taken

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
