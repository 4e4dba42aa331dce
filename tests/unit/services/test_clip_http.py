"""bot/services/clip_http.py: the bot's own clip server on 127.0.0.1 answers a signed, unexpired link with
the file (ranges too), anything else with 403 or 404, and never serves a name that is not a job's file."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.i18n import messages
from bot.services.clip_http import ClipServer, browser_language, servable
from bot.storage.links import LinkSigner

TOKEN = "discord-test-token.for-clip-links"
CLIP = os.urandom(300_000)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    (tmp_path / "42.mp4").write_bytes(CLIP)
    (tmp_path / "42.mp4.part").write_bytes(b"partial")
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / ("a" * 32 + ".jpg")).write_bytes(b"someone's photo")
    clip_server = ClipServer(tmp_path, LinkSigner(TOKEN), host="127.0.0.1", port=0)
    await clip_server.start()
    try:
        yield f"http://127.0.0.1:{clip_server.port}"
    finally:
        await clip_server.stop()


def link(base: str, name: str, *, expires: int | None = None, signer: LinkSigner | None = None) -> str:
    expires = int(time.time()) + 3600 if expires is None else expires
    return f"{base}/clips/{name}?{(signer or LinkSigner(TOKEN)).query(name, expires)}"


async def test_a_signed_link_downloads_the_whole_clip_and_any_range_of_it(server: str) -> None:
    async with httpx.AsyncClient() as http:
        whole = await http.get(link(server, "42.mp4"))
        assert whole.status_code == 200 and whole.content == CLIP
        assert whole.headers["content-type"] == "video/mp4"
        part = await http.get(link(server, "42.mp4"), headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == CLIP[1000:2000]


async def test_an_expired_a_tampered_or_a_foreign_link_is_refused_with_403(server: str) -> None:
    good = link(server, "42.mp4")
    refused = [
        link(server, "42.mp4", expires=int(time.time()) - 1),
        good.replace("signature=", "signature=0"),
        good[:-1] + ("0" if good[-1] != "0" else "1"),
        good.replace("expires=", "expires=1"),
        good.split("?")[0],
        link(server, "42.mp4", signer=LinkSigner(TOKEN + "-another-bot")),
    ]
    async with httpx.AsyncClient() as http:
        for url in refused:
            answer = await http.get(url)
            assert answer.status_code == 403, url
            assert CLIP[:100] not in answer.content


async def test_a_missing_clip_is_404_and_so_is_any_name_not_a_jobs_file(server: str) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(link(server, "43.mp4"))).status_code == 404  # signed, but not kept
        for name in ("42.mp4.part", "bot.db", "..%2F42.mp4", f"inputs%2F{'a' * 32}.jpg"):
            assert (await http.get(link(server, name))).status_code == 404, name
        image = await http.get(link(server, f"inputs/{'a' * 32}.jpg"))
        assert image.status_code == 404 and b"photo" not in image.content


@pytest.mark.parametrize(
    ("name", "served"),
    [
        ("42.mp4", True),
        ("42.fit-9000000.mp4", True),
        ("42.poster-640.jpg", True),
        ("42.mp4.part", False),
        (".42.mp4.abcdefgh.part.mp4", False),
        ("inputs/" + "a" * 32 + ".jpg", False),
        ("042.mp4", False),
        ("../42.mp4", False),
    ],
)
def test_only_a_jobs_finished_files_are_servable(name: str, served: bool) -> None:
    assert servable(name) is served


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "en-US"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("en-GB,en;q=0.9,de;q=0.8", "en-US"),  # English first: not the German after it
        ("fr;q=0.5, ja", "ja"),  # by weight, not by order
        ("pt, es-MX;q=0.9", "pt-BR"),
        ("es-MX", "es-ES"),
        ("zh-CN", "zh-CN"),
        ("zh-TW, ko;q=0.1", "ko"),  # no Traditional Chinese: the next the bot speaks
        ("nl-NL, *;q=0.5", "en-US"),
        ("de;q=0, fr;q=abc, pl", "pl"),  # weight 0 (or unreadable): not wanted
    ],
)
def test_a_browser_gets_the_first_of_its_languages_the_bot_speaks(header: str, language: str) -> None:
    assert browser_language(header) == language


async def test_a_refusal_is_in_the_browsers_language(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class Tagged:
        def __init__(self, locale: str) -> None:
            self.locale = locale

        def gettext(self, text: str) -> str:
            return f"({self.locale}) {text}"

    monkeypatch.setattr(messages, "_translations", Tagged)
    async with httpx.AsyncClient() as http:
        answer = await http.get(link(server, "43.mp4"), headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        assert answer.status_code == 404 and answer.text.startswith("(fr) ")
        assert (await http.get(link(server, "43.mp4"))).text == "this clip is no longer kept"
