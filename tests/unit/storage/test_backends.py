"""bot/storage: the output folder and an S3 bucket (a real S3 server on 127.0.0.1) keep, lend, list and
delete the bot's files alike; a bucket that can't be reached says so, with no secret in the message."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot import files
from bot.errors import StorageUnavailable
from bot.storage.base import Storage
from bot.storage.local import FileStorage
from bot.storage.s3 import S3Storage
from tests.s3 import CREDENTIALS, S3Server

IMAGE = "0123456789abcdef0123456789abcdef.jpg"


@pytest.fixture(params=["file", "s3"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "file":
        (tmp_path / "store").mkdir()
        yield FileStorage(tmp_path / "store")
        return
    server: S3Server = request.getfixturevalue("s3_server")
    mp = request.getfixturevalue("monkeypatch")
    for name, value in CREDENTIALS.items():
        mp.setenv(name, value)
    yield S3Storage(
        tmp_path / "work",
        bucket=server.new_bucket(),
        prefix="clips",
        endpoint_url=server.endpoint,
        region="us-east-1",
        retry_seconds=5,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_a_saved_clip_and_its_derived_files_come_back_whole(storage: Storage, tmp_path: Path) -> None:
    clip = files.clip_path(storage.work_dir, 7)
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(os.urandom(20 * 2**20 + 123))  # several parts of a multipart upload
    digest = _digest(clip)
    await storage.save(clip)
    await storage.discard(clip)
    async with storage.local("7.mp4") as copy:
        assert copy is not None and _digest(copy) == digest
        fitted = files.fit_path(copy, 1000)
        assert not await storage.fetch(fitted)  # not made yet
        fitted.write_bytes(b"re-encoded")
        await storage.save(fitted)
    if storage.remote:
        assert not copy.exists()  # the borrowed copy is gone with the block
    async with storage.local("7.mp4") as again:
        assert again is not None
        assert await storage.fetch(files.fit_path(again, 1000))  # kept by the earlier run
        assert files.fit_path(again, 1000).read_bytes() == b"re-encoded"
    async with storage.local("8.mp4") as missing:
        assert missing is None
    assert set(await storage.listing()) >= {"7.mp4", "7.fit-1000.mp4"}


async def test_input_images_are_stored_by_name_and_lent_to_whoever_reads_them(storage: Storage) -> None:
    reference = await storage.put_bytes(f"inputs/{IMAGE}", b"jpeg bytes")
    assert files.input_name(reference) == IMAGE
    async with storage.local_input(reference) as image:
        assert image is not None and image.read_bytes() == b"jpeg bytes"
    assert f"inputs/{IMAGE}" in await storage.listing()
    async with storage.local_input("inputs/" + "f" * 32 + ".jpg") as gone:
        assert gone is None


async def test_only_the_bots_own_names_are_deleted(storage: Storage, tmp_path: Path) -> None:
    for name in ("1.mp4", "10.mp4", "1.poster-320.jpg", f"inputs/{IMAGE}"):
        await storage.put_bytes(name, b"x")
    await storage.put_bytes("notes.txt", b"the operator's")
    listing = await storage.listing()
    doomed = [*files.names_of_jobs(listing, [1]), "notes.txt", "../bot.db", "inputs/../10.mp4"]
    assert await storage.delete(doomed) == 2
    assert set(await storage.listing()) == {"10.mp4", f"inputs/{IMAGE}", "notes.txt"}


async def test_the_store_answers_its_readiness_check(storage: Storage) -> None:
    await storage.check()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_bucket_fails_with_a_clear_error_and_keeps_the_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASECRETKEYID0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-access-key-9f8e7d")
    storage = S3Storage(
        tmp_path / "work",
        bucket="clips",
        prefix="p",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        region="us-east-1",
        retry_seconds=1,
    )
    clip = files.clip_path(storage.work_dir, 3)
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"a paid clip")
    for attempt in (storage.save(clip), storage.check(), storage.listing(), storage.put_bytes("1.mp4", b"")):
        with pytest.raises(StorageUnavailable) as caught:
            await attempt
        text = f"{caught.value.detail} {caught.value.user_message} {caught.value!r}"
        assert "s3://clips/p" in caught.value.detail
        assert "very-secret" not in text and "AKIASECRET" not in text
    assert clip.read_bytes() == b"a paid clip"
    assert "secret" not in repr(storage).lower() and "AKIA" not in repr(storage)


async def test_a_presigned_link_downloads_the_clip_until_it_expires(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    storage = S3Storage(
        tmp_path,
        bucket=s3_server.new_bucket(),
        prefix="",
        endpoint_url=s3_server.endpoint,
        region="us-east-1",
    )
    await storage.put_bytes("5.mp4", b"the whole clip")
    link = await storage.presign("5.mp4", 3600)
    assert (
        link is not None and "X-Amz-Expires=3600" in link and CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in link
    )
    async with httpx.AsyncClient() as http:
        assert (await http.get(link)).content == b"the whole clip"
        assert (await http.get(link.replace("5.mp4", "6.mp4"))).status_code != 200
    assert "X-Amz-Expires=604800" in str(await storage.presign("5.mp4", 10 * 86400))  # SigV4's 7 days at most
    assert await FileStorage(tmp_path).presign("5.mp4", 60) is None


async def test_a_crashs_local_leftovers_are_swept_and_nothing_else(
    s3_server: S3Server, tmp_path: Path
) -> None:
    storage = S3Storage(tmp_path, bucket="unused", prefix="", endpoint_url=s3_server.endpoint)
    old = [
        tmp_path / "4.mp4",
        tmp_path / ".work-0a1b" / "4.mp4",
        tmp_path / "4.mp4.part",
        tmp_path / "story-2.mp4",
    ]
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    keep = [tmp_path / "bot.db", tmp_path / "5.mp4"]
    for path in keep:
        path.write_bytes(b"x")
    for path in [*old, keep[0], tmp_path / ".work-0a1b"]:
        os.utime(path, (100, 100))
    assert await storage.sweep(before=200) == 4
    assert [p for p in old if p.exists()] == [] and all(p.exists() for p in keep)


async def test_a_bucket_that_does_not_exist_is_unavailable_not_a_missing_file(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """obstore raises the builtin FileNotFoundError for S3's NoSuchBucket: it must not read as "the local
    file is missing" (the job would fail and its paid clip be deleted) nor as "not stored"."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    storage = S3Storage(tmp_path, bucket="no-such-bucket", prefix="c", endpoint_url=s3_server.endpoint)
    clip = files.clip_path(tmp_path, 9)
    clip.write_bytes(b"a paid clip")
    with pytest.raises(StorageUnavailable):
        await storage.save(clip)
    with pytest.raises(StorageUnavailable):
        async with storage.local("9.mp4"):
            pass
    with pytest.raises(StorageUnavailable):
        await storage.delete(["9.mp4"])
    with pytest.raises(FileNotFoundError):
        await storage.save(files.clip_path(tmp_path, 10))  # this one is really missing, locally
    assert clip.read_bytes() == b"a paid clip"


async def test_links_are_signed_for_the_public_endpoint_when_one_is_set(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    storage = S3Storage(
        tmp_path,
        bucket="clips",
        prefix="p",
        endpoint_url="http://minio:9000",
        region="us-east-1",
        public_endpoint_url="https://media.example.com",
    )
    link = await storage.presign("5.mp4", 60)
    assert link is not None and link.startswith("https://media.example.com/clips/p/5.mp4?")
    assert "minio" not in link


async def test_a_404_that_is_not_s3s_no_such_key_is_the_store_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy's default page while the store restarts answers 404 too: the clip is not "missing"."""
    from aiohttp import web

    async def default_backend(_: web.Request) -> web.Response:
        return web.Response(status=404, text="default backend - 404")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", default_backend)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    try:
        storage = S3Storage(tmp_path, bucket="clips", prefix="", endpoint_url=f"http://127.0.0.1:{port}")
        with pytest.raises(StorageUnavailable):
            async with storage.local("7.mp4"):
                pass
    finally:
        await runner.cleanup()
