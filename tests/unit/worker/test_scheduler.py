"""The scheduler with a scripted backend: lifecycle, failures, timeouts, cancellation, cap, recovery."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.models import Job, JobRequest, JobState
from bot.errors import DeliveryError, MediaCrashed, ProdiaRejected, StorageUnavailable
from bot.prodia.backend import AcceptedHook, Endpoint, Generation
from bot.storage.local import FileStorage
from bot.store.jobs import JobStore, NewJob
from bot.worker.leases import lease_is_dead
from bot.worker.scheduler import MEDIA_ATTEMPTS, Scheduler, SchedulerConfig


class ScriptedBackend:
    """Writes a small file as the clip; can be told to block, fail or be slow."""

    def __init__(self) -> None:
        self.generated: list[str] = []
        self.resumed: list[str] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None
        self.in_flight = 0
        self.max_in_flight = 0

    async def generate(
        self, request: JobRequest, out: Path, on_accepted: AcceptedHook, on_sent: object = None
    ) -> Generation:
        self.generated.append(request.prompt)
        prodia_id = f"p-{len(self.generated)}"
        await on_accepted(prodia_id, "async")
        return await self._finish(prodia_id, out)

    async def resume(
        self, request: JobRequest, prodia_job_id: str, endpoint: Endpoint, out: Path
    ) -> Generation:
        self.resumed.append(prodia_job_id)
        return await self._finish(prodia_job_id, out)

    async def _finish(self, prodia_id: str, out: Path) -> Generation:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.error is not None:
                raise self.error
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"clip:" + prodia_id.encode())
            return Generation(prodia_id, "async", out, 0.33, 0.0)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


class RecordingDeliverer:
    def __init__(self) -> None:
        self.delivered: list[tuple[int, bytes]] = []
        self.error: Exception | None = None

    async def deliver(self, job: Job, clip: Path) -> int | None:
        if self.error is not None:
            raise self.error
        self.delivered.append((job.id, clip.read_bytes()))
        return 1000 + job.id


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def deliverer() -> RecordingDeliverer:
    return RecordingDeliverer()


def make_scheduler(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path, **config: float
) -> Scheduler:
    settings = SchedulerConfig(idle_poll_seconds=0.05, **config)  # type: ignore[arg-type]
    return Scheduler(store, backend, {"test": deliverer}, settings, FileStorage(tmp_path / "clips"))


@pytest.fixture
async def scheduler(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> AsyncIterator[Scheduler]:
    sched = make_scheduler(store, backend, deliverer, tmp_path, max_concurrent_jobs=2)
    yield sched
    await sched.stop()


async def add(store: JobStore, prompt: str = "a dog runs", user_id: int = 1) -> Job:
    return await store.create(
        NewJob(
            request=JobRequest.parse(prompt=prompt),
            user_id=user_id,
            estimated_cost=0.4,
            target_kind="test",
            target={"kind": "test"},
        )
    )


async def wait_for_state(store: JobStore, job_id: int, *states: JobState, timeout: float = 5.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = await store.get(job_id)
        if job is not None and job.state in states:
            return job
        await asyncio.sleep(0.02)
    job = await store.get(job_id)
    raise AssertionError(f"job {job_id} is {job.state if job else None}, not {states}")


async def test_a_queued_job_is_generated_delivered_and_charged_once(
    store: JobStore, scheduler: Scheduler, deliverer: RecordingDeliverer
) -> None:
    job = await add(store)
    await scheduler.start()
    done = await wait_for_state(store, job.id, JobState.DELIVERED)
    assert done.prodia_job_id == "p-1" and done.endpoint == "async"
    assert done.actual_cost == 0.33
    assert deliverer.delivered == [(job.id, b"clip:p-1")]
    assert done.result_message_id == 1000 + job.id
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.33)]


async def test_a_provider_rejection_after_acceptance_fails_the_job_keeps_the_charge_and_the_reason(
    store: JobStore, scheduler: Scheduler, backend: ScriptedBackend
) -> None:
    backend.error = ProdiaRejected("content moderation: prompt rejected", "p-x")
    job = await add(store)
    await scheduler.start()
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    assert failed.user_error is not None and "content moderation" in failed.user_error
    # Prodia accepted the job before failing it: counted as charged (conservatively, at the estimate).
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.4)]


async def test_an_unexpected_error_fails_with_a_generic_message(
    store: JobStore, scheduler: Scheduler, backend: ScriptedBackend
) -> None:
    backend.error = KeyError("surprise")
    job = await add(store)
    await scheduler.start()
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    assert failed.user_error is not None and "KeyError" not in failed.user_error
    assert failed.error is not None and "KeyError" in failed.error


async def test_a_job_over_its_timeout_fails_and_keeps_the_charge(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    backend.gate = asyncio.Event()  # never set: the job would hang forever
    sched = make_scheduler(store, backend, deliverer, tmp_path, job_timeout_seconds=0.3)
    job = await add(store)
    await sched.start()
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    await sched.stop()
    assert failed.user_error is not None and "too long" in failed.user_error
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.4)]  # it was running at Prodia


async def test_a_delivery_error_fails_the_job(
    store: JobStore, scheduler: Scheduler, deliverer: RecordingDeliverer
) -> None:
    deliverer.error = DeliveryError("channel gone")
    job = await add(store)
    await scheduler.start()
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    assert failed.error == "channel gone"


async def test_a_paid_clip_that_cannot_be_delivered_is_kept_and_stays_charged(
    store: JobStore, scheduler: Scheduler, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    deliverer.error = DeliveryError("403 Missing Permissions")
    job = await add(store)
    await scheduler.start()
    await wait_for_state(store, job.id, JobState.FAILED)
    await scheduler.wait_idle()
    failed = await store.get(job.id)
    assert failed is not None and failed.output_path == str(tmp_path / "clips" / f"{job.id}.mp4")
    # Prodia was paid for it: the clip stays for /show, and its price stays in the server's spend.
    assert Path(failed.output_path).read_bytes() == b"clip:p-1"
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.33)]


class CrashingDeliverer(RecordingDeliverer):
    """A deliverer whose media process (fitting the clip to upload it) dies on its first `crashes` calls."""

    def __init__(self, crashes: int) -> None:
        super().__init__()
        self.crashes = crashes
        self.calls = 0

    async def deliver(self, job: Job, clip: Path) -> int | None:
        self.calls += 1
        if self.calls <= self.crashes:
            raise MediaCrashed("the media process running fit_clip died")
        return await super().deliver(job, clip)


async def test_a_delivery_whose_media_process_died_is_tried_again_and_delivered_once(
    store: JobStore, backend: ScriptedBackend, tmp_path: Path
) -> None:
    deliverer = CrashingDeliverer(crashes=MEDIA_ATTEMPTS - 1)
    worker = make_scheduler(store, backend, deliverer, tmp_path, lease_seconds=0.3)
    job = await add(store)
    await worker.start()
    try:
        delivered = await wait_for_state(store, job.id, JobState.DELIVERED, JobState.FAILED)
    finally:
        await worker.stop()
    assert delivered.state is JobState.DELIVERED and delivered.error is None
    assert deliverer.calls == MEDIA_ATTEMPTS and deliverer.delivered == [(job.id, b"clip:p-1")]
    assert backend.generated == ["a dog runs"] and backend.resumed == []  # the stored clip, not a new one
    assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.33)]


async def test_a_clip_that_kills_its_media_process_every_time_fails_its_job_and_is_kept(
    store: JobStore, backend: ScriptedBackend, tmp_path: Path
) -> None:
    deliverer = CrashingDeliverer(crashes=1000)
    worker = make_scheduler(store, backend, deliverer, tmp_path, lease_seconds=0.3)
    job = await add(store)
    await worker.start()
    try:
        failed = await wait_for_state(store, job.id, JobState.FAILED)
        await worker.wait_idle()
    finally:
        await worker.stop()
    assert deliverer.calls == MEDIA_ATTEMPTS  # tried again, within bounds
    assert failed.error == "media process died: the media process running fit_clip died"
    assert failed.user_error == MediaCrashed().user_message
    assert (
        failed.output_path is not None and Path(failed.output_path).read_bytes() == b"clip:p-1"
    )  # for /show


async def test_cancel_a_queued_job_and_a_running_job(
    store: JobStore, scheduler: Scheduler, backend: ScriptedBackend
) -> None:
    backend.gate = asyncio.Event()
    running = await add(store, "one", user_id=1)
    await scheduler.start()
    await wait_for_state(store, running.id, JobState.RUNNING)
    queued = await store.create(
        NewJob(
            request=JobRequest.parse(prompt="two"),
            user_id=2,
            estimated_cost=0.4,
            target_kind="elsewhere",
            target={"kind": "elsewhere"},
        )
    )
    assert (await scheduler.cancel(queued.id)) is not None
    cancelled = await scheduler.cancel(running.id)
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert await store.ledger(queued.id) == [("reserve", 0.4), ("refund", 0.4)]
    assert await store.ledger(running.id) == [("reserve", 0.4), ("commit", 0.4)]
    assert await scheduler.cancel(running.id) is None  # already over


async def test_a_job_cancelled_through_another_process_stops_running_here(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    backend.gate = asyncio.Event()
    job = await add(store, "one")
    worker = make_scheduler(store, backend, deliverer, tmp_path, lease_seconds=0.3)
    gateway = make_scheduler(store, backend, deliverer, tmp_path)  # never started: it only cancels
    await worker.start()
    try:
        await wait_for_state(store, job.id, JobState.RUNNING)
        assert backend.in_flight == 1
        cancelled = await gateway.cancel(job.id)
        assert cancelled is not None and cancelled.state is JobState.CANCELLED
        deadline = time.monotonic() + 3
        while worker.running_jobs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert worker.running_jobs == set() and backend.in_flight == 0  # stopped within a lease renewal
        backend.gate.set()
        await asyncio.sleep(0.2)
        assert deliverer.delivered == []
        assert (await store.get(job.id)).state is JobState.CANCELLED  # type: ignore[union-attr]
        assert await store.ledger(job.id) == [("reserve", 0.4), ("commit", 0.4)]  # Prodia had started it
    finally:
        await worker.stop()


async def test_the_last_announcements_of_a_finished_job_are_not_cut_off_by_the_lease_loop(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    told: list[JobState] = []

    async def slow_listener(job: Job, previous: JobState) -> None:
        if job.state is JobState.DELIVERED:
            await asyncio.sleep(0.5)  # a status edit and an audit post, slowly; leases renew every 0.1 s
            told.append(job.state)

    store.listeners.append(slow_listener)
    job = await add(store)
    worker = make_scheduler(store, backend, deliverer, tmp_path, lease_seconds=0.3)
    await worker.start()
    try:
        await wait_for_state(store, job.id, JobState.DELIVERED)
        await worker.wait_idle()
        assert told == [JobState.DELIVERED]
    finally:
        await worker.stop()


async def test_never_more_than_the_cap_in_flight_and_round_robin_order(
    store: JobStore, scheduler: Scheduler, backend: ScriptedBackend
) -> None:
    backend.gate = asyncio.Event()
    for i in range(6):
        await add(store, f"heavy {i}", user_id=1)
    await add(store, "light", user_id=2)
    await scheduler.start()
    await asyncio.sleep(0.3)
    assert backend.in_flight == 2
    assert backend.generated == ["heavy 0", "light"]
    backend.gate.set()
    for job in await store.list_jobs():
        await wait_for_state(store, job.id, JobState.DELIVERED)
    assert backend.max_in_flight == 2


async def test_recovery_resumes_by_id_fails_mid_submission_and_redelivers(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    submitting, running, delivering, queued = [await add(store, f"job {i}", user_id=i) for i in range(4)]
    for _ in range(3):
        await store.claim_next(owner="ghost:1:x", lease_seconds=0.01, max_in_flight=9, target_kinds=["test"])
    await store.transition(running.id, JobState.RUNNING, prodia_job_id="p-old", endpoint="async")
    await store.transition(delivering.id, JobState.RUNNING, prodia_job_id="p-done", endpoint="async")
    clip = tmp_path / "clips" / f"{delivering.id}.mp4"  # stored under its name before the crash
    clip.parent.mkdir()
    clip.write_bytes(b"finished before the crash")
    await store.transition(delivering.id, JobState.DELIVERING, output_path=str(clip))
    await asyncio.sleep(0.05)  # the ghost's leases run out

    sched = make_scheduler(store, backend, deliverer, tmp_path)
    await sched.start()
    failed = await wait_for_state(store, submitting.id, JobState.FAILED)
    for job in (running, delivering, queued):
        await wait_for_state(store, job.id, JobState.DELIVERED)
    await sched.stop()
    assert failed.user_error is not None and "not re-sent" in failed.user_error
    assert await store.ledger(submitting.id) == [("reserve", 0.4), ("refund", 0.4)]
    assert backend.resumed == ["p-old"]  # polled by its id, never submitted again
    assert backend.generated == ["job 3"]  # only the queued job was submitted
    assert sorted(job_id for job_id, _ in deliverer.delivered) == [running.id, delivering.id, queued.id]


async def test_a_live_workers_jobs_are_left_alone(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    job = await add(store)
    await store.claim_next(owner="otherhost:1:x", lease_seconds=60, max_in_flight=9, target_kinds=["test"])
    sched = make_scheduler(store, backend, deliverer, tmp_path)
    assert await sched.recover() == 0
    current = await store.get(job.id)
    assert current is not None and current.state is JobState.SUBMITTING


def test_a_lease_of_a_dead_process_on_this_host_is_dead_before_it_expires(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    dead_pid = int(child.stdout)
    me = f"{socket.gethostname()}:{os.getpid()}:aaaa"

    def job_held_by(owner: str) -> Job:
        return Job(
            id=1, state=JobState.RUNNING, request=JobRequest.parse(prompt="abc"), guild_id=None,
            channel_id=None, user_id=1, message_id=None, result_message_id=None,
            target={"kind": "discord"}, prodia_job_id="p",
            endpoint="async", output_path=None, estimated_cost=0, actual_cost=None, error=None,
            user_error=None,
            attempts=1, created_at=0, updated_at=0, started_at=0, finished_at=None, lease_owner=owner,
            lease_expires_at=time.time() + 60,
        )  # fmt: skip

    host = socket.gethostname()
    assert lease_is_dead(job_held_by(f"{host}:{dead_pid}:bbbb"), me, time.time())
    assert lease_is_dead(job_held_by(f"{host}:{os.getpid()}:cccc"), me, time.time())  # an earlier life of us
    assert not lease_is_dead(job_held_by(f"{host}:{os.getppid()}:dddd"), me, time.time())
    assert not lease_is_dead(job_held_by(f"elsewhere:{dead_pid}:eeee"), me, time.time())


class _UnreachableStore(FileStorage):
    """The output folder's store, except that reading a file fails as an unreachable bucket does."""

    @contextlib.asynccontextmanager
    async def local(self, name: str) -> AsyncIterator[Path | None]:
        raise StorageUnavailable("s3://clips: connection refused")
        yield None  # an async generator all the same


async def test_an_image_job_whose_image_cant_be_read_fails_unsent_and_refunded(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    image = "inputs/0123456789abcdef0123456789abcdef.jpg"
    job = await store.create(
        NewJob(
            request=JobRequest.parse(prompt="a kite", kind="img2vid", image_path=image),
            user_id=1,
            estimated_cost=0.4,
            target_kind="test",
            target={"kind": "test"},
        )
    )
    config = SchedulerConfig(idle_poll_seconds=0.05)
    sched = Scheduler(store, backend, {"test": deliverer}, config, _UnreachableStore(tmp_path / "clips"))
    await sched.start()
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    await sched.stop()
    assert failed.user_error is not None and "not charged" in failed.user_error
    assert "storage unavailable" in str(failed.error)
    assert backend.generated == []  # nothing went to Prodia
    assert await store.ledger(job.id) == [("reserve", 0.4), ("refund", 0.4)]


class _ReadOnlyStore(FileStorage):
    """Lists and reads like a store that answers, refuses every write (a bucket with read-only keys, a full
    quota) until `healed`."""

    healed = False

    async def save(self, path: Path) -> None:
        if not self.healed:
            raise StorageUnavailable("s3://clips: 403 AccessDenied")
        await super().save(path)

    async def check_writable(self) -> None:
        if not self.healed:
            raise StorageUnavailable("s3://clips refuses writes: 403 AccessDenied")


async def test_a_store_that_refuses_writes_stops_new_claims_and_keeps_the_paid_clip(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    jobs = [await add(store, f"job {i}", user_id=i) for i in range(4)]
    storage = _ReadOnlyStore(tmp_path / "clips")
    config = SchedulerConfig(
        idle_poll_seconds=0.05, worker_slots=1, lease_seconds=0.6, job_timeout_seconds=0.5
    )
    sched = Scheduler(store, backend, {"test": deliverer}, config, storage)
    await sched.start()
    await asyncio.sleep(2.0)  # past the job's timeout, several lease rounds
    assert backend.generated == ["job 0"]  # one paid clip waits for the store; nothing more is claimed
    first = await store.get(jobs[0].id)
    assert first is not None and first.state is JobState.RUNNING
    storage.healed = True
    for job in jobs:
        await wait_for_state(store, job.id, JobState.DELIVERED, timeout=20)
    await sched.stop()
    assert sorted(backend.generated) == ["job 0", "job 1", "job 2", "job 3"]
