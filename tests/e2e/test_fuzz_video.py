"""/video fuzzed end to end: random prompts and attachments through the real bot, fake Discord, fake Prodia.

One bot serves every example: Hypothesis runs in a worker thread and hands each example to the test's event
loop, so examples (and shrinking, should one fail) reuse the running bot. Each example comes from a new
member, so its quota and jobs are its own; the fake Prodia is stuck, so accepted jobs never render.

Every /video must end in exactly one of:
  - a private, plain error (no embed, no traceback or exception names, not the generic "went wrong" text),
    with nothing stored, reserved or written for it; or
  - a status embed for a job that is stored with the member's own request and one reservation.
The profile is derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot import files
from bot.client import SoraBot
from bot.domain.models import PROMPT_MAX, PROMPT_MIN, SEED_MAX
from bot.tree import GENERIC_ERROR
from tests.e2e.conftest import World, all_jobs, input_key, kept_files
from tests.fakes.discord import EPHEMERAL

FUZZ = settings(settings.get_profile("fuzz"), max_examples=50)  # the profile: tests/conftest.py

LIMITS: dict[str, Any] = {
    "default_jobs_per_hour": 1000,
    "default_concurrent_jobs": 1000,
    "default_video_seconds_per_day": 10**6,
}
DISCORD_OPTION_MAX = 6000  # Discord's limit on a string option's value
ECHO_MAX = 50
EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b")
IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"]

# -- prompts ---------------------------------------------------------------------------------------------

PIECES = [
    "@everyone", "@here", "<@123456789012345678>", "<@&77>", "<#1>", "**bold**", "__under__", "~~s~~",
    "`code`", "```\nblock\n```", "> quote", "||spoiler||", "# heading", "[link](https://example.com)",
    "\n", "\t", " ", "\r", "\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\u200b", "\u202e", "\u2028", "\ufeff",
    "é", "日本語", "🙂", "👩‍👩‍👧", "a cat jumps", "Traceback (most recent call last):", "ValueError",
]  # fmt: skip


@st.composite
def long_prompts(draw: st.DrawFn) -> str:
    """Around the 4,096 limit and up to Discord's 6,000, sometimes padded with whitespace."""
    length = draw(
        st.one_of(st.integers(PROMPT_MAX - 2, PROMPT_MAX + 2), st.integers(4000, DISCORD_OPTION_MAX))
    )
    fill = draw(st.one_of(st.sampled_from(["x", "é", "🙂", "@everyone ", "**b** ", "line\n"]), st.text()))
    pad = draw(st.sampled_from(["", " ", "\n", "\t \n"]))
    body = ((fill or "x") * length)[:length]
    return (pad + body + pad)[:DISCORD_OPTION_MAX]


def made_valid(text: str) -> str:
    """`text` cut to what the rules accept: most examples should get past the prompt to the image."""
    kept = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    kept = kept[:PROMPT_MAX].strip()
    return kept if len(kept) >= PROMPT_MIN else (kept + " a dog runs").strip()


ANY_PROMPTS = st.one_of(
    st.text(min_size=1, max_size=300),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=20)), min_size=1, max_size=10).map("".join),
    long_prompts(),
    st.sampled_from(["   ", "\n\n\n", "ab", " ab ", "abc", "\x00\x00\x00", "@everyone", "<@1> hi"]),
)
PROMPTS = st.one_of(ANY_PROMPTS, ANY_PROMPTS.map(made_valid)).filter(
    lambda prompt: 1 <= len(prompt) <= DISCORD_OPTION_MAX  # what Discord's client sends for a required option
)


def prompt_is_valid(prompt: str) -> bool:
    """The rules, stated independently of the bot: 3 to 4,096 characters after strip, no control characters
    but newline and tab."""
    text = prompt.strip()
    bad = any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text)
    return PROMPT_MIN <= len(text) <= PROMPT_MAX and not bad


# -- attachments -----------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (24, 16), (9, 99, 199)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


FORMATS = {"PNG": ("png", "image/png"), "JPEG": ("jpg", "image/jpeg"), "WEBP": ("webp", "image/webp")}


@dataclass(frozen=True)
class Attachment:
    kind: str
    filename: str
    data: bytes
    content_type: str
    valid: bool | None  # whether the bot should take it: None where either answer is right

    def __repr__(self) -> str:  # keep Hypothesis' failure report readable
        return f"Attachment({self.kind!r}, {self.filename!r}, {len(self.data)} bytes, {self.content_type!r})"


@st.composite
def valid_images(draw: st.DrawFn) -> Attachment:
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    width, height = draw(st.integers(16, 320)), draw(st.integers(16, 320))
    colour = draw(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)))
    extension, content_type = FORMATS[fmt]
    data = encode(Image.new("RGB", (width, height), colour), fmt)
    return Attachment("valid", f"photo.{extension}", data, content_type, valid=True)


@st.composite
def bad_attachments(draw: st.DrawFn) -> Attachment:
    kind = draw(
        st.sampled_from(["random", "magic", "truncated", "huge", "text", "wrong-type", "gif", "tiny"])
    )
    content_type = draw(st.sampled_from(IMAGE_TYPES))
    name = "image." + draw(st.sampled_from(["png", "jpg", "webp", "PNG"]))
    if kind == "random":
        return Attachment(kind, name, draw(st.binary(min_size=1, max_size=2048)), content_type, valid=False)
    if kind == "magic":
        magic = draw(
            st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"RIFF\x00\x00\x00\x00WEBPVP8 "])
        )
        data = magic + draw(st.binary(max_size=1024))
        return Attachment(kind, name, data, content_type, valid=None)
    if kind == "truncated":
        whole = draw(valid_images()).data
        end = draw(st.integers(0, len(whole) - 1))
        return Attachment(kind, name, whole[:end], content_type, valid=None)
    if kind == "huge":
        width = draw(st.one_of(st.integers(4097, 65535), st.integers(1, 4096)))
        height = draw(st.integers(4097, 65535))
        width, height = draw(st.sampled_from([(width, height), (height, width)]))
        make = draw(st.sampled_from([png_claiming, jpeg_claiming]))
        return Attachment(kind, name, make(width, height), content_type, valid=False)
    if kind == "text":
        text = draw(st.text(min_size=1, max_size=500))
        return Attachment(kind, "notes.png", text.encode(), "image/png", valid=False)
    if kind == "wrong-type":
        image = draw(valid_images())
        content_type = draw(
            st.sampled_from(
                ["text/plain; charset=utf-8", "image/gif", "application/octet-stream", "video/mp4"]
            )
        )
        return Attachment(kind, "photo.txt", image.data, content_type, valid=False)
    if kind == "gif":
        data = encode(Image.new("RGB", (64, 48), (200, 0, 0)), "GIF")
        return Attachment(kind, name, data, content_type, valid=False)
    side = draw(st.integers(1, 15))
    data = encode(Image.new("RGB", (side, draw(st.integers(1, 64))), (0, 0, 0)), "PNG")
    return Attachment(kind, "tiny.png", data, "image/png", valid=False)


ATTACHMENTS = st.one_of(st.none(), valid_images(), bad_attachments(), bad_attachments(), bad_attachments())

# -- cases -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    prompt: str
    options: dict[str, Any]
    attachment: Attachment | None

    def expected(self) -> bool | None:
        """True: must be queued; False: must be refused; None: either is right."""
        resolution_without_pro = (
            self.options.get("resolution") is not None and self.options.get("model") != "sora-2-pro"
        )
        if not prompt_is_valid(self.prompt) or resolution_without_pro:
            return False
        return True if self.attachment is None else self.attachment.valid


MODELS = {
    "default": {},
    "sora-2": {"model": "sora-2"},
    "pro": {"model": "sora-2-pro"},
    "pro-720p": {"model": "sora-2-pro", "resolution": "720p"},
    "pro-1080p": {"model": "sora-2-pro", "resolution": "1080p"},
    "resolution-without-pro": {"resolution": "1080p"},
}


@st.composite
def command_options(draw: st.DrawFn) -> dict[str, Any]:
    """Only values the synced command offers: the fake refuses others, as Discord's client does."""
    options = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "duration": st.sampled_from([4, 8, 12]),
                "aspect_ratio": st.sampled_from(["16:9", "9:16"]),
                "seed": st.integers(1, SEED_MAX),
                "private": st.booleans(),
            },
        )
    )
    return options | MODELS[draw(st.sampled_from(sorted(MODELS)))]


CASES = st.builds(Case, prompt=PROMPTS, options=command_options(), attachment=ATTACHMENTS)


@dataclass
class Tally:
    accepted: int = 0
    refused: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


async def inputs(bot: SoraBot) -> set[str]:
    """The input images the bot has stored (`inputs/{uuid}.jpg`), and any other file under its working
    folder's `inputs/` (by path under the working folder)."""
    return {name for name in await kept_files(bot) if name.startswith(f"{files.INPUTS}/")}


async def run_case(world: World, bot: SoraBot, case: Case, tally: Tally) -> None:
    guild = world.fake.guilds[world.guild_id]
    user = guild.add_member(name=f"fuzzer{tally.accepted + tally.refused}")
    jobs_before = len(await all_jobs(bot))
    inputs_before = await inputs(bot)

    options: dict[str, Any] = {"prompt": case.prompt, **case.options}
    if case.attachment is not None:
        a = case.attachment
        options |= {"image": "file", "attachments": {"file": (a.filename, a.data, a.content_type)}}
    try:
        answer = await world.video_answer(user, **options)
    except ValueError as exc:
        # Discord's client checks the prompt against the synced bounds (3 to 4,096): the bot never sees it.
        assert "'prompt'" in str(exc) and not PROMPT_MIN <= len(case.prompt) <= PROMPT_MAX, exc
        assert len(await all_jobs(bot)) == jobs_before
        tally.refused += 1
        tally.count("refused by Discord's client: prompt length")
        return

    jobs = await all_jobs(bot)
    usage = await bot.pipeline.store.usage(world.guild_id, user)
    assert answer["flags"] & EPHEMERAL, "the answer to /video is private"
    expected = case.expected()
    if answer.get("embeds"):
        tally.accepted += 1
        tally.count("queued" if case.attachment is None else f"queued with a {case.attachment.kind} image")
        assert expected is not False, f"an invalid request was queued: {answer['embeds'][0]}"
        [embed] = answer["embeds"]
        assert embed["title"].startswith(("Queued", "Generating")), embed["title"]
        assert len(jobs) == jobs_before + 1
        job = jobs[-1]
        assert embed["footer"]["text"] == f"Job {job.id}"
        assert job.user_id == user and job.request.prompt == case.prompt.strip()
        assert (job.request.image_path is not None) == (case.attachment is not None)
        assert usage.jobs_last_hour == 1 and usage.video_seconds_last_day == job.request.duration
        new_inputs = await inputs(bot) - inputs_before
        assert new_inputs == ({input_key(job.request.image_path)} if job.request.image_path else set())
        return
    tally.refused += 1
    content = answer.get("content") or ""
    kind = "" if case.attachment is None else f" ({case.attachment.kind} image)"
    tally.count(f"refused{kind}: {re.sub(r'[0-9][0-9,.x]*', 'N', content)[:60]}")
    assert expected is not True, f"a valid request was refused: {content!r}"
    assert not answer.get("embeds") and not answer.get("components")
    assert content and content != GENERIC_ERROR, f"not a clear error: {content!r}"
    assert "Traceback" not in content and not EXCEPTION_NAME.search(content), content
    assert "\n" not in content and len(content) < 300, content
    assert not any(case.prompt[i : i + ECHO_MAX + 1] in content for i in range(len(case.prompt) - ECHO_MAX))
    # Nothing was stored, reserved or kept for a refused request.
    assert len(jobs) == jobs_before
    assert usage.jobs_last_hour == 0 and usage.video_seconds_last_day == 0 and usage.active_jobs == 0
    assert await inputs(bot) == inputs_before


async def test_fuzzed_video_commands_are_queued_or_refused_cleanly(world: World) -> None:
    world.prodia.stuck = True  # accepted jobs wait at Prodia: nothing renders
    loop = asyncio.get_running_loop()
    tally = Tally()
    async with world.bot(**LIMITS) as bot:

        @FUZZ
        @given(case=CASES)
        @example(case=Case("@everyone <@123> **bold** __under__ ||spoiler||", {}, None))
        @example(case=Case("x" * PROMPT_MAX, {"model": "sora-2-pro", "resolution": "1080p"}, None))
        @example(case=Case(" " + "x" * PROMPT_MAX + "\n", {}, None))
        @example(case=Case("x" * (PROMPT_MAX + 1), {}, None))
        @example(case=Case("y" * DISCORD_OPTION_MAX, {}, None))
        @example(case=Case("bad\x00prompt here", {}, None))
        @example(case=Case("a fine prompt", {"resolution": "720p"}, None))
        @example(
            case=Case(
                "animate it",
                {},
                Attachment("text", "notes.png", b"just text, renamed", "image/png", valid=False),
            )
        )
        @example(
            case=Case(
                "animate it",
                {"aspect_ratio": "9:16"},
                Attachment("huge", "bomb.png", png_claiming(2**31 - 1, 2**31 - 1), "image/png", valid=False),
            )
        )
        def one(case: Case) -> None:
            asyncio.run_coroutine_threadsafe(run_case(world, bot, case, tally), loop).result(timeout=60)

        await asyncio.to_thread(one)
        # Every queued job was answered with its status embed, and no refused request left one behind.
        assert len(await all_jobs(bot)) == tally.accepted
    summary = "".join(f"\n  {n:3} {outcome}" for outcome, n in sorted(tally.outcomes.items()))
    print(f"\n/video fuzz: {tally.accepted} queued, {tally.refused} refused:{summary}")
    assert tally.accepted >= 5 and tally.refused >= 5, tally


# -- bad inputs that once got the generic error (lone surrogates, broken EXIF, multi-picture JPEGs) ---------


def png_with_exif(exif: bytes) -> bytes:
    return encode(Image.new("RGB", (64, 40), (255, 0, 0)), "PNG", exif=exif)


def multi_picture_jpeg() -> bytes:
    picture = Image.new("RGB", (640, 480), (255, 0, 0))
    return encode(picture, "MPO", save_all=True, append_images=[Image.new("RGB", (160, 120))])


@pytest.mark.parametrize(
    ("prompt", "attachment"),
    [
        pytest.param(
            "a cat \ud800 jumps",
            None,
            id="lone-surrogate-prompt",
        ),
        pytest.param(
            "animate it",
            ("x.png", png_with_exif(b"MM\x00*\x00\x00"), "image/png"),
            id="malformed-exif",
        ),
        pytest.param(
            "animate it",
            ("phone.jpg", multi_picture_jpeg(), "image/jpeg"),
            id="multi-picture-jpeg",
        ),
    ],
)
async def test_known_bad_inputs_get_a_clear_answer(
    world: World, prompt: str, attachment: tuple[str, bytes, str] | None
) -> None:
    world.prodia.stuck = True
    options: dict[str, Any] = {"prompt": prompt}
    if attachment is not None:
        options |= {"image": "file", "attachments": {"file": attachment}}
    async with world.bot(**LIMITS):
        answer = await world.video_answer(**options)
    assert answer.get("content") != GENERIC_ERROR, answer.get("content")
    if attachment is not None and attachment[0] == "phone.jpg":
        assert answer.get("embeds"), answer.get("content")  # a JPEG from a phone camera is a JPEG
