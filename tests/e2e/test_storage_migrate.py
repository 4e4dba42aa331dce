"""`sora-bot storage migrate` as a real process: an output folder copied into a bucket of a real S3 server on
127.0.0.1: only the bot's files, byte for byte, resumable, idempotent, nothing deleted, failures said in one
line without a secret."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import obstore
import pytest
from aiohttp import ClientSession, web
from obstore.store import S3Store

from bot.settings import Settings
from bot.storage.migrate import FAILURES_TO_STOP, FILES_AT_ONCE
from tests.e2e.test_cli import Result, finish, measured, start
from tests.s3 import CREDENTIALS, REGION, S3Server

IMAGES = ("0123456789abcdef0123456789abcdef.jpg", "fedcba9876543210fedcba9876543210.jpg")
# Every kind of file the bot stores: clips, their re-encodes, posters, previews, last frames, input images.
BOTS = {
    "1.mp4": 3 * 2**20 + 17,
    "1.fit-8000000.mp4": 2 * 2**20 + 1,
    "1.poster-640.jpg": 40_000,
    "1.preview-8000000.mp4": 500_000,
    "1.last.png": 60_001,
    "12.mp4": 17 * 2**20 + 5,  # several parts of a multipart upload
    "300.mp4": 0,
    f"inputs/{IMAGES[0]}": 80_000,
    f"inputs/{IMAGES[1]}": 1,
}
# A crash's partial files and what is not the bot's: never copied, never touched.
OTHERS = {
    "3.mp4.part": 1000,
    ".3.fit-9.mp4.abcdef12.part.mp4": 1000,
    "notes.txt": 10,
    "01.mp4": 10,
    "bot.db": 4096,
    "inputs/cat.jpg": 10,
    f"inputs/{IMAGES[0]}.part": 10,
}
SECRET = "aws-secret-9c2f71d4e0b6"
LARGE = 256 * 2**20


def fill(folder: Path, names: dict[str, int]) -> dict[str, bytes]:
    written = {}
    for name, size in names.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        written[name] = os.urandom(size)
        path.write_bytes(written[name])
    return written


def env_for(folder: Path, s3: dict[str, str], **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name.lower() not in Settings.model_fields}
    env.update({name.upper(): value for name, value in s3.items()})
    env.update(OUTPUT_DIR=str(folder), LOG_LEVEL="WARNING", **extra)
    return env


async def migrate(env: dict[str, str], *args: str) -> Result:
    return await finish(start(["storage", "migrate", *args], env))


def bucket_of(s3: dict[str, str]) -> str:
    return s3["storage_url"].removeprefix("s3://").split("/")[0]


def bucket_client(server: S3Server, bucket: str) -> S3Store:
    """A plain client of the bucket (signed requests: its objects are private), to check and arrange it."""
    return S3Store(
        bucket,
        endpoint=server.endpoint,
        region=REGION,
        access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        client_options={"allow_http": True},
    )


def download(server: S3Server, bucket: str, key: str) -> bytes:
    return bytes(obstore.get(bucket_client(server, bucket), key).bytes())


def upload(server: S3Server, bucket: str, key: str, data: bytes) -> None:
    obstore.put(bucket_client(server, bucket), key, data)


def remove(server: S3Server, bucket: str, key: str) -> None:
    obstore.delete(bucket_client(server, bucket), key)


def folder_contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


async def test_migrate_copies_exactly_the_bots_files_and_a_second_run_copies_nothing(
    tmp_path: Path, s3_server: S3Server, s3_storage: dict[str, str]
) -> None:
    folder = tmp_path / "clips"
    written = fill(folder, BOTS)
    fill(folder, OTHERS)
    before = folder_contents(folder)
    env = env_for(folder, s3_storage)
    bucket = bucket_of(s3_storage)

    first = await migrate(env)
    assert first.code == 0, first.stderr
    assert f"copied {len(BOTS)}, skipped 0, failed 0" in first.stdout
    assert "left in place" in first.stdout and first.stderr == ""
    assert s3_server.objects(bucket) == {f"clips/{name}": size for name, size in BOTS.items()}
    for name, data in written.items():
        assert download(s3_server, bucket, f"clips/{name}") == data, name
    assert folder_contents(folder) == before  # nothing deleted, nothing added

    again = await migrate(env)
    assert again.code == 0, again.stderr
    assert f"copied 0, skipped {len(BOTS)}, failed 0" in again.stdout
    assert folder_contents(folder) == before


async def test_an_interrupted_migration_resumes_with_what_the_bucket_lacks(
    tmp_path: Path, s3_server: S3Server, s3_storage: dict[str, str]
) -> None:
    folder = tmp_path / "clips"
    written = fill(folder, BOTS)
    bucket = bucket_of(s3_storage)
    seeded = sorted(BOTS)[::2]
    # What an earlier run copied before it was stopped; one object holds other bytes (of another size).
    for name in seeded:
        upload(s3_server, bucket, f"clips/{name}", written[name])
    assert "1.mp4" in seeded
    upload(s3_server, bucket, "clips/1.mp4", b"not the clip")
    upload(s3_server, bucket, "clips/7.mp4", b"a clip already on the bucket only")
    env = env_for(folder, s3_storage)

    resumed = await migrate(env)
    copied = len(BOTS) - len(seeded) + 1  # the missing ones and the wrong 1.mp4
    assert resumed.code == 0, resumed.stderr
    assert f"copied {copied}, skipped {len(BOTS) - copied}, failed 0" in resumed.stdout
    for name, data in written.items():
        assert download(s3_server, bucket, f"clips/{name}") == data, name
    assert download(s3_server, bucket, "clips/7.mp4") == b"a clip already on the bucket only"  # left alone

    remove(s3_server, bucket, "clips/12.mp4")
    after_loss = await migrate(env)
    assert after_loss.code == 0 and f"copied 1, skipped {len(BOTS) - 1}, failed 0" in after_loss.stdout
    assert download(s3_server, bucket, "clips/12.mp4") == written["12.mp4"]


async def test_a_dry_run_says_what_it_would_copy_and_copies_nothing(
    tmp_path: Path, s3_server: S3Server, s3_storage: dict[str, str]
) -> None:
    folder = tmp_path / "clips"
    written = fill(folder, BOTS)
    fill(folder, OTHERS)
    bucket = bucket_of(s3_storage)
    upload(s3_server, bucket, "clips/1.mp4", written["1.mp4"])
    result = await migrate(env_for(folder, s3_storage), "--dry-run")
    assert result.code == 0, result.stderr
    assert f"would copy {len(BOTS) - 1} files" in result.stdout and "would skip 1 " in result.stdout
    assert f"{len(OTHERS)} other files" in result.stdout
    assert s3_server.objects(bucket) == {"clips/1.mp4": BOTS["1.mp4"]}


async def test_migrate_copies_from_another_folder_with_from(
    tmp_path: Path, s3_server: S3Server, s3_storage: dict[str, str]
) -> None:
    old = tmp_path / "old-clips"
    written = fill(old, {"5.mp4": 1000, f"inputs/{IMAGES[1]}": 10})
    result = await migrate(env_for(tmp_path / "work", s3_storage), "--from", str(old))
    assert result.code == 0 and "copied 2, skipped 0, failed 0" in result.stdout, result.stderr
    for name, data in written.items():
        assert download(s3_server, bucket_of(s3_storage), f"clips/{name}") == data


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens once the probe is closed


async def test_an_unreachable_bucket_fails_in_one_line_without_the_secret(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    fill(folder, BOTS)
    s3 = {
        "storage_url": "s3://sora-clips/clips",
        "s3_endpoint_url": f"http://127.0.0.1:{closed_port()}",
        "s3_region": "us-east-1",
        "storage_retry_seconds": "1",
    }
    env = env_for(folder, s3, AWS_ACCESS_KEY_ID="AKIAMIGRATETEST", AWS_SECRET_ACCESS_KEY=SECRET)
    result = await migrate(env)
    assert result.code == 1
    assert "storage unavailable: could not list" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "s3://sora-clips/clips" in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert len(list(folder.rglob("*"))) == len(BOTS) + 1  # the files and inputs/, untouched


@pytest.mark.parametrize("url", [None, "file://{folder}"])
async def test_migrate_refuses_a_folder_as_the_target(tmp_path: Path, url: str | None) -> None:
    folder = tmp_path / "clips"
    fill(folder, {"1.mp4": 10})
    extra = {"STORAGE_URL": url.format(folder=folder)} if url else {}
    result = await migrate(env_for(folder, {}, **extra))
    assert result.code == 2
    assert "s3://bucket" in result.stderr and "the one to copy from" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- one file the bucket refuses -------------------------------------------------------------------------


@pytest.fixture
async def refusing_proxy(s3_server: S3Server) -> AsyncIterator[tuple[str, set[str]]]:
    """An S3 endpoint on 127.0.0.1 that answers 403 to uploads of the keys in the set it yields (of any key
    with "*" in it), and passes every other request to the S3 server."""
    refused: set[str] = set()
    hop = {"host", "content-length", "transfer-encoding", "connection"}
    async with ClientSession() as upstream:

        async def forward(request: web.Request) -> web.StreamResponse:
            if request.method == "PUT" and ("*" in refused or request.path.lstrip("/") in refused):
                body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                return web.Response(status=403, body=body, content_type="application/xml")
            async with upstream.request(
                request.method,
                s3_server.endpoint + request.rel_url.raw_path_qs,
                headers={k: v for k, v in request.headers.items() if k.lower() not in hop},
                data=await request.read(),
            ) as answer:
                return web.Response(
                    status=answer.status,
                    body=await answer.read(),
                    headers={k: v for k, v in answer.headers.items() if k.lower() not in hop},
                )

        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}", refused
        finally:
            await runner.cleanup()


async def test_a_file_the_bucket_refuses_fails_the_run_and_the_next_run_copies_it(
    tmp_path: Path,
    s3_server: S3Server,
    s3_storage: dict[str, str],
    refusing_proxy: tuple[str, set[str]],
) -> None:
    folder = tmp_path / "clips"
    written = fill(folder, {"1.mp4": 1000, "2.mp4": 2000, "2.poster-640.jpg": 30})
    bucket = bucket_of(s3_storage)
    endpoint, refused = refusing_proxy
    refused.add(f"{bucket}/clips/2.mp4")
    env = env_for(folder, {**s3_storage, "s3_endpoint_url": endpoint}, AWS_SECRET_ACCESS_KEY=SECRET)

    failed = await migrate(env)
    assert failed.code == 1
    assert "copied 2, skipped 0, failed 1" in failed.stdout
    assert "could not copy 2.mp4" in failed.stderr and "1 file not copied" in failed.stderr
    assert "Traceback" not in failed.stderr and SECRET not in failed.stdout + failed.stderr
    assert set(s3_server.objects(bucket)) == {"clips/1.mp4", "clips/2.poster-640.jpg"}

    refused.clear()
    retried = await migrate(env)
    assert retried.code == 0 and "copied 1, skipped 2, failed 0" in retried.stdout, retried.stderr
    assert download(s3_server, bucket, "clips/2.mp4") == written["2.mp4"]


async def test_migrate_memory_does_not_grow_with_the_file(
    tmp_path: Path, s3_server: S3Server, s3_storage: dict[str, str]
) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    fill(small, {"1.mp4": 1000})
    large.mkdir()
    with (large / "1.mp4").open("wb") as out:
        for _ in range(LARGE // 2**20):
            out.write(os.urandom(2**20))
    runs = []
    for folder in (small, large):
        s3 = {**s3_storage, "storage_url": f"s3://{bucket_of(s3_storage)}/{folder.name}"}
        result = await measured(tmp_path, ["storage", "migrate"], env_for(folder, s3))
        assert result.code == 0 and "copied 1," in result.stdout, result.stderr
        runs.append(result.max_rss_kib)
    # A whole-file read would add the whole file; streamed, a few parts of 8 MiB at once (obstore's buffers
    # level off near 80 MiB above the small run's peak, whatever the size).
    assert (runs[1] - runs[0]) * 1024 < LARGE // 2, runs
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr


async def test_a_bucket_that_refuses_every_file_stops_the_run_early(
    tmp_path: Path,
    s3_server: S3Server,
    s3_storage: dict[str, str],
    refusing_proxy: tuple[str, set[str]],
) -> None:
    folder = tmp_path / "clips"
    count = FAILURES_TO_STOP + FILES_AT_ONCE + 5
    fill(folder, {f"{i}.mp4": 100 for i in range(1, count + 1)})
    endpoint, refused = refusing_proxy
    refused.add("*")
    result = await migrate(env_for(folder, {**s3_storage, "s3_endpoint_url": endpoint}))
    assert result.code == 1 and "copied 0, skipped 0, failed " in result.stdout
    assert f"stopped after {FAILURES_TO_STOP} failures in a row" in result.stderr
    failed = int(result.stdout.split("failed ")[1].split(":")[0])
    assert FAILURES_TO_STOP <= failed < count  # the rest was not tried
    assert s3_server.objects(bucket_of(s3_storage)) == {}
