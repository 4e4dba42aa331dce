"""`sora-bot gateway` plus two `sora-bot worker` processes on one SQLite database: the gateway takes commands,
the workers run and deliver jobs through Discord's REST API; a worker killed mid-run loses nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import World, until
from tests.e2e.test_crash import run_env
from tests.harness import stop_processes

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

        await until(lambda: _settled(world), timeout=120, what="every job to finish")
    finally:
        stuck = await stop_processes(
            dict(zip(("gateway", "worker0", "worker1"), (gateway, *workers), strict=False))
        )
        assert not stuck, f"{stuck} did not stop on SIGTERM"
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


def _settled(world: World) -> bool:
    return all(r[0] in ("delivered", "failed") for r in rows(world, "SELECT state FROM jobs"))


def _held_by(world: World, pid: int) -> int:
    held = rows(world, f"SELECT COUNT(*) FROM jobs WHERE lease_owner LIKE '%:{pid}:%' AND state = 'running'")
    return int(str(held[0][0]))


async def spawn_elsewhere(world: World, name: str, host: str) -> asyncio.subprocess.Process:
    """`sora-bot worker` under another host name (its own UTS namespace): to the other workers it is a
    process on another machine, whose death they can only learn from its lease running out."""
    with (world.tmp / f"{name}.log").open("wb") as log:
        return await asyncio.create_subprocess_exec(
            "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$1" worker', host, SORA_BOT,
            env=run_env(world), stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare --uts (root)")
async def test_a_worker_on_another_host_is_taken_over_when_its_lease_runs_out(world: World) -> None:
    world.prodia.processing_seconds = 1.0
    gateway = await spawn(world, "gateway", "gateway")
    await world.fake.wait_for_gateway(timeout=30)
    remote = await spawn_elsewhere(world, "remote", "worker-host-b")
    workers = [remote]
    try:
        for i in range(4):
            await world.video([world.alice, world.bob][i % 2], prompt=f"remote clip number {i}")
        await until(lambda: _held_by(world, remote.pid), what="the remote worker to hold a running job")
        held = rows(world, "SELECT lease_owner FROM jobs WHERE state = 'running'")
        assert all(str(owner).startswith("worker-host-b:") for (owner,) in held), held
        workers.append(await spawn(world, "worker", "local"))
        await asyncio.sleep(0.5)  # the local worker is up and sees the remote one's live leases
        remote.send_signal(signal.SIGKILL)
        await remote.wait()
        killed_at = time.monotonic()

        def remote_holds() -> bool:
            owners = rows(world, "SELECT lease_owner FROM jobs WHERE lease_owner IS NOT NULL")
            return any(str(owner).startswith("worker-host-b:") for (owner,) in owners)

        await until(lambda: not remote_holds(), timeout=30, what="the remote worker's jobs to be taken over")
        taken_after = time.monotonic() - killed_at

        await until(lambda: _settled(world), timeout=120, what="every job to finish")
    finally:
        await stop_processes(dict(zip(("gateway", "remote", "local"), (gateway, *workers), strict=False)))
    assert Counter(str(r[0]) for r in rows(world, "SELECT state FROM jobs")) == {"delivered": 4}
    accepted = Counter(job.config["prompt"] for job in world.prodia.jobs.values())
    assert max(accepted.values()) == 1  # resumed by Prodia id, never sent twice
    posted = Counter(int(str(m["embeds"][0]["footer"]["text"]).split()[1]) for m in world.clips())
    assert sorted(posted) == [1, 2, 3, 4] and set(posted.values()) == {1}
    log = (world.tmp / "local.log").read_text()
    assert "taken over from worker-host-b:" in log
    # No pid check across hosts: the take-over waited for the lease to run out. LEASE_SECONDS=2, renewed
    # every 2/3 s: it ran out 1.3 to 2 s after the kill (on the same host: within one renewal, <= 0.7 s).
    assert 1.2 < taken_after < 10, taken_after
