"""`sora-bot gateway` plus two `sora-bot worker` processes on one SQLite database: the gateway takes commands,
the workers run and deliver jobs through Discord's REST API; a worker killed mid-run loses nothing."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

from tests.e2e.conftest import World, until
from tests.e2e.test_crash import run_env

SORA_BOT = str(Path(sys.executable).parent / "sora-bot")
JOBS = 12


def rows(world: World, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(world.tmp / "crash.db") as conn:
        return conn.execute(sql).fetchall()


async def spawn(world: World, role: str, name: str) -> asyncio.subprocess.Process:
    # Logs go to files: an unread pipe fills up and stalls the process writing to it.
    with (world.tmp / f"{name}.log").open("wb") as log:
        return await asyncio.create_subprocess_exec(
            SORA_BOT, role, env=run_env(world), stdout=asyncio.subprocess.DEVNULL, stderr=log
        )


async def test_a_gateway_and_two_workers_deliver_every_job_once_even_when_a_worker_dies(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    gateway = await spawn(world, "gateway", "gateway")
    await world.fake.wait_for_gateway(timeout=30)
    workers = [await spawn(world, "worker", "worker0")]
    try:
        users = [world.alice, world.bob, world.mod, world.admin]
        for i in range(JOBS):
            await world.video(users[i % len(users)], prompt=f"role test clip number {i:02d}")
        # The first worker takes the first jobs; the second joins while they run.
        await until(lambda: _held_by(world, workers[0].pid), what="the first worker to hold a job")
        workers.append(await spawn(world, "worker", "worker1"))
        await asyncio.sleep(0.5)
        workers[0].send_signal(signal.SIGKILL)
        await workers[0].wait()

        def settled() -> bool:
            return all(r[0] in ("delivered", "failed") for r in rows(world, "SELECT state FROM jobs"))

        await until(settled, timeout=120, what="every job to finish")
    finally:
        for proc in (gateway, *workers):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in zip(("gateway", "worker0", "worker1"), (gateway, *workers), strict=False):
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                raise AssertionError(f"{name} did not stop on SIGTERM") from None
    states = Counter(str(r[0]) for r in rows(world, "SELECT state FROM jobs"))
    assert states == {"delivered": JOBS}, states
    posted = Counter(int(str(m["embeds"][0]["footer"]["text"]).split()[1]) for m in world.clips())
    assert sorted(posted) == list(range(1, JOBS + 1)) and set(posted.values()) == {1}
    accepted = Counter(job.config["prompt"] for job in world.prodia.jobs.values())
    assert max(accepted.values()) == 1  # the dead worker's jobs were polled by their id, not re-sent
    # Only the gateway synced commands; workers never opened a gateway connection.
    assert world.fake.identify_count == 1
    assert gateway.returncode == 0 and workers[1].returncode == 0
    log = (world.tmp / "worker1.log").read_text()
    assert (
        "taken over from" in log and f":{workers[0].pid}:" in log
    )  # the survivor finished the dead one's jobs


def _held_by(world: World, pid: int) -> int:
    held = rows(world, f"SELECT COUNT(*) FROM jobs WHERE lease_owner LIKE '%:{pid}:%' AND state = 'running'")
    return int(str(held[0][0]))
