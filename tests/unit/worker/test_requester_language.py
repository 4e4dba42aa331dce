"""What a worker stores for the requester (`user_error`) is in their language, the locale on the job's target,
whatever language the worker itself speaks."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations

from bot.domain.models import Job, JobRequest, JobState, Target
from bot.errors import DeliveredByDm, JobInterrupted
from bot.i18n import messages
from bot.i18n.messages import _
from bot.store.jobs import JobStore, NewJob
from bot.worker.scheduler import GENERIC_FAILURE
from tests.unit.worker.test_scheduler import (
    RecordingDeliverer,
    ScriptedBackend,
    make_scheduler,
    wait_for_state,
)

GERMAN = {
    GENERIC_FAILURE: "Auf Seiten des Bots ging etwas schief; der Auftrag wurde gestoppt.",
    JobInterrupted.message: "Der Bot wurde beim Senden neu gestartet; bitte versuche es erneut.",
    "Sent by DM to {member}.": "Per DM an {member} geschickt.",
}


@pytest.fixture(autouse=True)
def german(monkeypatch: pytest.MonkeyPatch) -> None:
    """A German catalog with the texts above (the shipped ones may not have them yet)."""
    catalog = Catalog(locale="de")
    for english, german in GERMAN.items():
        catalog.add(english, german)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    translations = Translations(compiled)
    monkeypatch.setattr(messages, "_translations", lambda locale: translations if locale == "de" else None)


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def deliverer() -> RecordingDeliverer:
    return RecordingDeliverer()


async def add(store: JobStore, locale: str | None) -> Job:
    target: Target = {"kind": "test"}
    if locale is not None:
        target["locale"] = locale
    return await store.create(
        NewJob(
            request=JobRequest.parse(prompt="a dog runs"),
            user_id=1,
            estimated_cost=0.4,
            target_kind="test",
            target=target,
        )
    )


async def test_a_failure_is_told_in_the_requesters_language(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    backend.error = KeyError("surprise")
    german, english = await add(store, "de"), await add(store, None)
    sched = make_scheduler(store, backend, deliverer, tmp_path, max_concurrent_jobs=2)
    await sched.start()
    try:
        failed_de = await wait_for_state(store, german.id, JobState.FAILED)
        failed_en = await wait_for_state(store, english.id, JobState.FAILED)
    finally:
        await sched.stop()
    assert failed_de.user_error == GERMAN[GENERIC_FAILURE]
    assert failed_en.user_error == GENERIC_FAILURE


async def test_a_clip_sent_by_dm_says_so_in_the_requesters_language(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    # The deliverer makes the error outside any language (a worker speaks English); it is read in German.
    deliverer.error = DeliveredByDm(77, "channel refused", _("Sent by DM to {member}."), member="<@1>")
    job = await add(store, "de")
    sched = make_scheduler(store, backend, deliverer, tmp_path)
    await sched.start()
    try:
        delivered = await wait_for_state(store, job.id, JobState.DELIVERED)
    finally:
        await sched.stop()
    assert delivered.user_error == "Per DM an <@1> geschickt."


async def test_a_job_interrupted_mid_submission_is_told_in_the_requesters_language(
    store: JobStore, backend: ScriptedBackend, deliverer: RecordingDeliverer, tmp_path: Path
) -> None:
    job = await add(store, "de")
    await store.claim_next(owner="ghost:1:x", lease_seconds=0.01, max_in_flight=9, target_kinds=["test"])
    await asyncio.sleep(0.05)  # the ghost's lease runs out while the job is still being submitted
    sched = make_scheduler(store, backend, deliverer, tmp_path)
    assert await sched.recover() == 1
    failed = await wait_for_state(store, job.id, JobState.FAILED)
    assert failed.user_error == GERMAN[JobInterrupted.message]
