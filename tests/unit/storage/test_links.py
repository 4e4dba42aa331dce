"""bot/storage/links.py: which "Full quality" link a clip gets, and the signed links of the bot's own clip
server (signed with a key derived from the Discord token, which no link ever shows)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from bot.domain.models import Job, JobRequest, JobState
from bot.errors import StorageUnavailable
from bot.settings import Settings
from bot.storage.links import MAX_BUTTON_URL, ClipLinks, LinkSigner
from bot.storage.local import FileStorage

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.discord-test-token.secret-part-9f2c"
HOUR = 3600


def a_job(job_id: int = 42, *, private: bool = False) -> Job:
    return Job(
        id=job_id,
        state=JobState.DELIVERING,
        request=JobRequest(prompt="a fine prompt"),
        guild_id=1,
        channel_id=2,
        user_id=3,
        message_id=None,
        result_message_id=None,
        target={"kind": "discord", "channel_id": 2, "private": private},
        prodia_job_id="p1",
        endpoint="async",
        output_path=None,
        estimated_cost=0.4,
        actual_cost=None,
        error=None,
        user_error=None,
        attempts=1,
        created_at=100.0,
        updated_at=100.0,
        started_at=101.0,
        finished_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )


def settings_of(**values: Any) -> Settings:
    return Settings(_env_file=None, discord_token=SecretStr(TOKEN), **values)  # type: ignore[call-arg]


class BucketStub(FileStorage):
    """A store that signs its own links as a bucket does (the real S3 one is tested end to end)."""

    remote = True

    def __init__(self, work_dir: Path, answer: str | Exception) -> None:
        super().__init__(work_dir)
        self.answer = answer
        self.asked: list[tuple[str, float]] = []

    async def presign(self, name: str, seconds: float) -> str | None:
        self.asked.append((name, seconds))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def signed_parts(url: str) -> tuple[str, str, str, str]:
    """(base, name, expires, signature) of a signed clip link."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, strict_parsing=True)
    base, _, name = f"{parts.scheme}://{parts.netloc}{parts.path}".rpartition("/clips/")
    return base, name, query["expires"][0], query["signature"][0]


# -- signing --------------------------------------------------------------------------------------------


def test_a_signed_link_verifies_until_it_expires_and_not_a_second_after() -> None:
    signer, expires = LinkSigner(TOKEN), 2_000_000_000
    signature = signer.signature("42.mp4", expires)
    assert signer.verify("42.mp4", str(expires), signature, now=expires)
    assert not signer.verify("42.mp4", str(expires), signature, now=expires + 1)


@pytest.mark.parametrize(
    ("name", "expires", "signature"),
    [
        ("43.mp4", "2000000000", None),  # another clip
        ("42.mp4", "2000000001", None),  # a later expiry
        ("42.mp4", "2000000000", "0" * 64),  # a made-up signature
        ("42.mp4", "2000000000", "upper"),  # the right one in capitals
        ("42.mp4", "2000000000", "short"),  # cut short
        ("42.mp4", "2000000000", "é" * 64),  # not ASCII: refused, never an exception
        ("42.mp4", "-1", None),
        ("42.mp4", "", None),
        ("42.mp4", "2e9", None),
        ("42.mp4", "2000000000" * 2, None),
    ],
)
def test_a_tampered_link_is_refused(name: str, expires: str, signature: str | None) -> None:
    signer = LinkSigner(TOKEN)
    genuine = signer.signature("42.mp4", 2_000_000_000)
    if signature is None:
        signature = genuine
    elif signature == "upper":
        signature = genuine.upper()
    elif signature == "short":
        signature = genuine[:-1]
    assert not signer.verify(name, expires, signature, now=1_000_000_000)


def test_another_bots_signature_is_refused_and_every_process_of_one_bot_agrees() -> None:
    expires = 2_000_000_000
    signature = LinkSigner(TOKEN).signature("42.mp4", expires)
    assert LinkSigner(TOKEN).verify("42.mp4", str(expires), signature, now=0)  # another process, same token
    assert not LinkSigner(TOKEN + "x").verify("42.mp4", str(expires), signature, now=0)


def test_the_token_is_in_no_link_and_no_repr(tmp_path: Path) -> None:
    signer = LinkSigner(TOKEN)
    text = repr(signer) + signer.query("42.mp4", 2_000_000_000) + repr(vars(signer))
    for secret in (TOKEN, *TOKEN.split(".")):
        assert secret not in text


def test_without_a_discord_token_there_is_no_signer() -> None:
    assert LinkSigner.of(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    assert LinkSigner.of(settings_of()) is not None


# -- which link ------------------------------------------------------------------------------------------


async def test_the_folder_with_http_port_gives_a_signed_link_to_the_bot_that_lasts_clip_link_hours(
    tmp_path: Path,
) -> None:
    links = ClipLinks(FileStorage(tmp_path), settings_of(http_port=8080, clip_link_hours=2))
    before = time.time()
    url = await links.full_quality(a_job(42), "channel")
    assert url is not None
    base, name, expires, signature = signed_parts(url)
    assert (base, name) == ("http://127.0.0.1:8080", "42.mp4")
    assert before + 2 * HOUR - 1 <= int(expires) <= time.time() + 2 * HOUR
    assert LinkSigner(TOKEN).verify(name, expires, signature, now=time.time())
    assert TOKEN not in url


async def test_the_bots_own_server_behind_a_public_address_signs_links_there(tmp_path: Path) -> None:
    settings = settings_of(http_port=8080, public_clip_base_url="https://clips.example.com/sora/")
    url = await ClipLinks(FileStorage(tmp_path), settings).full_quality(a_job(42), "followup")
    assert url is not None and url.startswith("https://clips.example.com/sora/clips/42.mp4?expires=")


async def test_a_server_on_port_0_links_to_the_port_it_bound(tmp_path: Path) -> None:
    links = ClipLinks(FileStorage(tmp_path), settings_of(http_port=0, http_host="::1"))
    assert await links.full_quality(a_job(), "channel") is None  # not bound yet
    links.served_on(43121)
    url = await links.full_quality(a_job(), "channel")
    assert url is not None and url.startswith("http://[::1]:43121/clips/42.mp4?")


async def test_a_wildcard_http_host_names_no_address_so_no_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    links = ClipLinks(FileStorage(tmp_path), settings_of(http_port=8080, http_host="0.0.0.0"))
    with caplog.at_level(logging.WARNING):
        assert await links.full_quality(a_job(), "channel") is None
        assert await links.full_quality(a_job(), "channel") is None
    assert len([r for r in caplog.records if "PUBLIC_CLIP_BASE_URL" in r.getMessage()]) == 1


async def test_the_folder_without_http_port_or_a_public_base_gives_no_link(tmp_path: Path) -> None:
    assert await ClipLinks(FileStorage(tmp_path), settings_of()).full_quality(a_job(), "channel") is None


async def test_a_public_base_url_gives_base_slash_name_over_a_presigned_link(tmp_path: Path) -> None:
    bucket = BucketStub(tmp_path, "https://bucket.example.com/signed")
    settings = settings_of(public_clip_base_url="https://cdn.example.com/clips", http_port=8080)
    url = await ClipLinks(bucket, settings).full_quality(a_job(42), "channel")
    assert url == "https://cdn.example.com/clips/42.mp4"
    assert bucket.asked == []
    folder = ClipLinks(FileStorage(tmp_path), settings_of(public_clip_base_url="http://cdn.example.com"))
    assert await folder.full_quality(a_job(7), "channel") == "http://cdn.example.com/7.mp4"


async def test_a_bucket_presigns_the_clip_for_clip_link_hours(tmp_path: Path) -> None:
    bucket = BucketStub(tmp_path, "https://bucket.example.com/clips/42.mp4?X-Amz-Signature=abc")
    links = ClipLinks(bucket, settings_of(clip_link_hours=168, http_port=8080))  # HTTP_PORT: folder only
    assert await links.full_quality(a_job(42), "channel") == bucket.answer
    assert bucket.asked == [("42.mp4", 168 * HOUR)]


@pytest.mark.parametrize("route", ["dm", "ephemeral"])
async def test_a_private_job_or_route_never_gets_a_link(tmp_path: Path, route: str) -> None:
    bucket = BucketStub(tmp_path, "https://bucket.example.com/signed")
    links = ClipLinks(bucket, settings_of(public_clip_base_url="https://cdn.example.com"))
    assert await links.full_quality(a_job(private=True), "channel") is None
    assert await links.full_quality(a_job(private=True), "followup") is None
    assert await links.full_quality(a_job(), route) is None
    signed = ClipLinks(FileStorage(tmp_path), settings_of(http_port=8080))
    assert await signed.full_quality(a_job(private=True), "channel") is None
    assert bucket.asked == []


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://b.example.com/" + "x" * (MAX_BUTTON_URL - 22), True),  # 512 exactly
        ("https://b.example.com/" + "x" * (MAX_BUTTON_URL - 21), False),  # 513: as with a session token
        ("ftp://b.example.com/42.mp4", False),
    ],
)
async def test_a_link_discord_would_refuse_on_a_button_is_left_off_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, url: str, kept: bool
) -> None:
    if url.startswith("https"):
        assert len(url) == (MAX_BUTTON_URL if kept else MAX_BUTTON_URL + 1)
    links = ClipLinks(BucketStub(tmp_path, url), settings_of())
    with caplog.at_level(logging.INFO, logger="bot.storage.links"):
        got = await links.full_quality(a_job(), "channel")
    assert got == (url if kept else None)
    refused = [r for r in caplog.records if "no full-quality link" in r.getMessage()]
    assert len(refused) == (0 if kept else 1)
    assert all(r.levelno == logging.INFO and url not in r.getMessage() for r in refused)


async def test_a_store_that_fails_to_sign_gives_no_link_and_no_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bucket = BucketStub(tmp_path, StorageUnavailable("could not sign a link to s3://b/clips/42.mp4"))
    with caplog.at_level(logging.WARNING, logger="bot.storage.links"):
        assert await ClipLinks(bucket, settings_of()).full_quality(a_job(42), "channel") is None
    assert any("job 42: no full-quality link" in r.getMessage() for r in caplog.records)
