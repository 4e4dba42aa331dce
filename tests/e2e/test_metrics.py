"""METRICS_PORT end to end: the real bot serves /metrics, /healthz and /readyz, and the numbers move as jobs
are accepted, refused, delivered and failed, and as the bot talks to Discord; unset, nothing listens."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.client import SoraBot
from bot.domain.models import JobState
from tests.e2e.conftest import World, clip_key, finished, stored_file, until
from tests.e2e.test_crash import run_env
from tests.fakes.discord import INTERACTION_CALLBACK, WEBHOOK_MESSAGE
from tests.fakes.prodia import Fault
from tests.harness import stop_processes

MIB = 1024 * 1024
SORA_BOT = str(Path(sys.executable).parent / "sora-bot")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


async def answers(port: int, path: str) -> tuple[int, str] | None:
    """The endpoint's answer, or None while nothing listens yet."""
    try:
        return await get(port, path)
    except aiohttp.ClientConnectionError:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def scrape(port: int) -> Samples:
    status, text = await get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str) -> float:
    """The sum of a metric over all its labels."""
    return sum(v for (n, _), v in samples.items() if n == name)


def listening_ports() -> set[int]:
    """TCP ports this process listens on (from /proc: the sockets among its own open files)."""
    own = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = fd.readlink().as_posix()
        except OSError:
            continue
        if target.startswith("socket:["):
            own.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in own:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def test_metrics_move_as_jobs_are_accepted_refused_delivered_and_failed(world: World) -> None:
    async with world.bot(metrics_port=0) as bot:
        port = bot.ops_port
        assert port is not None and port in listening_ports()
        assert await get(port, "/healthz") == (200, "ok")
        assert (await get(port, "/readyz"))[0] == 200

        start = await scrape(port)
        assert value(start, "sora_jobs_accepted_total") == 0
        assert value(start, "sora_job_delivery_seconds_count") == 0

        # Delivered, after one 500 from Prodia on create (retried).
        world.prodia.add_fault(Fault("POST /job/async", "status", status=500))
        await world.video(prompt="A cyclist sprints up a steep hill", seed=7)
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error
        after_one = await scrape(port)
        assert value(after_one, "sora_jobs_accepted_total") == 1
        assert (
            value(
                after_one, "sora_jobs_finished_total", state="delivered", job_type=job.request.job_type.value
            )
            == 1
        )
        assert value(after_one, "sora_job_delivery_seconds_count") == 1
        assert value(after_one, "sora_prodia_errors_total", status="500") == 1
        assert value(after_one, "sora_prodia_request_seconds_count", method="POST") >= 2
        assert value(after_one, "sora_dollars_estimated_total") == job.estimated_cost > 0
        charged = job.actual_cost if job.actual_cost is not None else job.estimated_cost
        assert value(after_one, "sora_dollars_charged_total") == charged
        assert value(after_one, "sora_jobs_queued") == 0 and value(after_one, "sora_jobs_in_flight") == 0

        # Failed at Prodia (its moderation): finished{failed}, no delivery time added.
        await world.video(prompt="something forbidden here", seed=8)
        failed = await finished(bot, 2)
        assert failed.state.value == "failed"
        after_two = await scrape(port)
        assert value(after_two, "sora_jobs_accepted_total") == 2
        assert (
            value(
                after_two, "sora_jobs_finished_total", state="failed", job_type=failed.request.job_type.value
            )
            == 1
        )
        assert value(after_two, "sora_job_delivery_seconds_count") == 1
        assert total(after_two, "sora_jobs_refused_total") == 0

        # A bad option pair is refused privately: counted by reason, nothing accepted.
        await world.video_answer(prompt="a fine prompt", resolution="1080p")
        after_refusal = await scrape(port)
        refused = {
            dict(labels)["reason"]: v
            for (n, labels), v in after_refusal.items()
            if n == "sora_jobs_refused_total"
        }
        assert refused == {"InvalidRequest": 1}
        assert value(after_refusal, "sora_jobs_accepted_total") == 2

        # A blocked prompt: another refusal.
        await world.admin_command("blocklist", "add", pattern="kite")
        await world.video_answer(prompt="a red kite over the sea")
        after_block = await scrape(port)
        assert value(after_block, "sora_jobs_refused_total", reason="PromptBlocked") == 1
        assert total(after_block, "sora_jobs_refused_total") == 2
        assert value(after_block, "sora_jobs_accepted_total") == 2

        # The scheduler stopped: not ready (this process runs jobs), with why; still alive.
        await bot.pipeline.scheduler.stop()
        status, text = await get(port, "/readyz")
        assert status == 503 and "scheduler" in text
        assert await get(port, "/healthz") == (200, "ok")

        # The database gone: not ready, with why; still alive.
        await bot.pipeline.db.close()
        status, text = await get(port, "/readyz")
        assert status == 503 and "database" in text
        assert await get(port, "/healthz") == (200, "ok")
    assert port not in listening_ports()  # stopped with the bot


async def test_nothing_listens_when_metrics_port_is_unset(world: World) -> None:
    before = listening_ports()
    async with world.bot() as bot:
        await until(bot.is_ready, what="ready")
        assert bot.settings.metrics_port is None and bot.ops_port is None
        assert listening_ports() == before


async def test_a_gateway_and_a_worker_process_each_serve_their_own_metrics(world: World) -> None:
    ports = {"gateway": free_port(), "worker": free_port()}
    procs: dict[str, asyncio.subprocess.Process] = {}
    for role, port in ports.items():
        with (world.tmp / f"{role}.log").open("wb") as log:
            procs[role] = await asyncio.create_subprocess_exec(
                SORA_BOT,
                role,
                env={**run_env(world), "METRICS_PORT": str(port)},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
    try:
        for role, port in ports.items():

            async def ready(port: int = port) -> bool:
                answer = await answers(port, "/readyz")
                return answer is not None and answer[0] == 200

            await until(ready, timeout=60, what=f"the {role} to be ready")
            assert await get(port, "/healthz") == (200, "ok")

        interaction = await world.fake.slash(
            "video",
            [{"name": "prompt", "value": "a lighthouse in a storm"}],
            guild_id=world.guild_id,
            channel_id=world.channel_id,
            user_id=world.alice,
        )
        assert interaction.token
        await until(world.clips, timeout=60, what="the clip")

        async def delivered_by_worker() -> float:
            return value(await scrape(ports["worker"]), "sora_job_delivery_seconds_count")

        await until(delivered_by_worker, timeout=30, what="the worker to count the delivery")
        gateway, worker = await scrape(ports["gateway"]), await scrape(ports["worker"])
        # Accepted where the command arrived; finished where the job ran.
        assert value(gateway, "sora_jobs_accepted_total") == 1
        assert value(worker, "sora_jobs_accepted_total") == 0
        assert total(worker, "sora_jobs_finished_total") == 1
        assert total(gateway, "sora_jobs_finished_total") == 0
        assert total(worker, "sora_prodia_request_seconds_count") >= 1
    finally:
        stuck = await stop_processes(procs)
        assert not stuck, f"{stuck} did not stop on SIGTERM"
    for port in ports.values():
        assert await answers(port, "/healthz") is None  # closed with its process


async def test_a_reencode_to_fit_the_upload_limit_is_counted(world: World) -> None:
    world.prodia.clip_bytes_extra = 11 * MIB  # over an unboosted server's 10 MiB: re-encoded to fit
    async with world.bot(metrics_port=0) as bot:
        assert bot.ops_port is not None
        assert value(await scrape(bot.ops_port), "sora_reencodes_total") == 0
        await world.video(prompt="a long pan across a valley")
        job = await finished(bot, 1)
        assert job.state.value == "delivered", job.error
        [posted] = world.clips()
        assert "Re-encoded" in str(posted["embeds"][0]["fields"])
        assert value(await scrape(bot.ops_port), "sora_reencodes_total") == 1


async def _running(bot: SoraBot) -> bool:
    job = await bot.pipeline.store.get(1)
    return job is not None and job.state is JobState.RUNNING


@pytest.mark.fake_refusal(
    status=401,
    code=50027,
    route="PATCH " + WEBHOOK_MESSAGE,
    reason="the test expires the interaction's token mid-job: the status message's edits are refused",
)
async def test_discord_errors_uploads_and_answer_times_are_counted(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    async with world.bot(metrics_port=0) as bot:
        port = bot.ops_port
        assert port is not None
        start = await scrape(port)
        assert total(start, "sora_discord_errors_total") == 0
        assert value(start, "sora_discord_upload_bytes_total") == 0
        assert value(start, "sora_interaction_answer_seconds_count") == 0

        # A 429 on the defer, which discord.py waits out and retries by itself: no exception reaches the
        # bot's code, yet the answer is counted; the interaction is answered (and timed) once.
        world.fake.fail_next(INTERACTION_CALLBACK, status=429)
        token = await world.video(prompt="a clip that outlives its interaction")
        await until(lambda: _running(bot), what="the job at Prodia")
        world.fake.expire_interaction(token)  # its status edits are refused (401) from now on
        job = await finished(bot, 1)
        assert job.state is JobState.DELIVERED, job.error
        [posted] = await until(world.clips, what="the clip")

        def answered_errors() -> Counter[str]:
            return Counter(str(r.status) for r in world.fake.requests if r.status >= 400)

        async def counted() -> Samples | None:
            """The scrape once it counts every error the fake answered (the last one may be in flight)."""
            samples = await scrape(port)
            errors = {
                dict(labels)["status"]: v
                for (name, labels), v in samples.items()
                if name == "sora_discord_errors_total"
            }
            return samples if errors == answered_errors() else None

        samples = await until(counted, what="every error answer counted")
        assert answered_errors()["429"] == 1 and answered_errors()["401"] >= 1
        assert value(samples, "sora_discord_errors_total", status="429") == 1
        assert value(samples, "sora_interaction_answer_seconds_count") == 1
        assert value(samples, "sora_interaction_answer_seconds_sum") >= 0

        # Every file the fake received was counted, the clip among them.
        async with stored_file(bot, clip_key(bot, job)) as clip:
            clip_size = clip.stat().st_size
        assert clip_size in [a["size"] for a in posted["attachments"]]
        received = sum(len(data) for r in world.fake.requests for _, _, data in r.files)
        assert value(samples, "sora_discord_upload_bytes_total") >= received >= clip_size

        # A command answered at once: one more answer timed, no upload.
        uploaded = value(samples, "sora_discord_upload_bytes_total")
        await world.command("queue", world.alice)

        async def timed_twice() -> Samples | None:
            samples = await scrape(port)
            return samples if value(samples, "sora_interaction_answer_seconds_count") == 2 else None

        after_queue = await until(timed_twice, what="the second answer timed")
        assert value(after_queue, "sora_discord_upload_bytes_total") == uploaded
