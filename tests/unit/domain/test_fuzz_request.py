"""Property tests for `JobRequest.parse`: any input gives a request that keeps every rule, or one short
InvalidRequest message, and nothing else.

Prompts are drawn from all of Unicode except lone surrogates (category Cs): Discord's gateway JSON and
Python's ``json`` can carry them, but they cannot be encoded as UTF-8, so they get their own test below.
The profile is derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from bot.domain.models import DURATIONS, PROMPT_MAX, PROMPT_MIN, SEED_MAX, JobRequest, JobType
from bot.errors import InvalidRequest

FUZZ = settings(settings.get_profile("fuzz"), max_examples=300)  # the profile: tests/conftest.py

MESSAGE_MAX = 200
ECHO_MAX = 50
BASE_KEYS = {"prompt", "aspect_ratio", "duration"}
# What each job type's config may hold, and what it must hold.
ALLOWED_KEYS = {
    JobType.TXT2VID: BASE_KEYS | {"seed"},
    JobType.IMG2VID: BASE_KEYS | {"seed", "image"},
    JobType.PRO_TXT2VID: BASE_KEYS | {"seed", "resolution"},
    JobType.PRO_IMG2VID: BASE_KEYS | {"seed", "resolution", "image"},
}
REQUIRED_KEYS = {
    JobType.TXT2VID: BASE_KEYS,
    JobType.IMG2VID: BASE_KEYS | {"image"},
    JobType.PRO_TXT2VID: BASE_KEYS | {"resolution"},
    JobType.PRO_IMG2VID: BASE_KEYS | {"resolution", "image"},
}
PYDANTIC_NOISE = ("pydantic", "input_value", "input_type", "type=", "errors.pydantic.dev", "For further")


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\n\t"


def normalized(prompt: str) -> str:
    """What the rules look at: Windows line ends are newlines."""
    return prompt.replace("\r\n", "\n").strip()


# -- strategies ------------------------------------------------------------------------------------------

# Pieces people (and attackers) put in prompts: mentions, markdown, invisible and control characters.
PIECES = [
    "@everyone", "@here", "<@123456789012345678>", "<@!42>", "<@&77>", "<#1>", "</video:1>", "<t:0:R>",
    "**bold**", "*it*", "__under__", "~~strike~~", "`code`", "```py\nprint(1)\n```", "> quote", "||spoiler||",
    "# heading", "-# small", "[link](https://example.com)", "https://discord.gg/x", ":smile:", "<:e:1>",
    "\n", "\t", " ", "\r", "\r\n", "\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\x1c", "\u00a0", "\u200b",
    "\u200d", "\u202e", "\u2028", "\u2029", "\u3000", "\ufeff", "\ufffd", "\U000e0041", "\U0010ffff",
    "é", "e\u0301", "Z̶a̷l̴g̸o̵", "日本語", "ﷺ", "🙂", "👩‍👩‍👧", "🏳️‍🌈", "a", "the dog runs", "0",
]  # fmt: skip
ANY_TEXT = st.text()  # all code points except surrogates
PIECED_TEXT = st.lists(st.one_of(st.sampled_from(PIECES), ANY_TEXT), max_size=12).map("".join)


def opaque(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`strategy` as one branch of a `one_of` (which would otherwise flatten it into all its branches)."""
    return strategy.map(lambda value: value)


@st.composite
def long_prompts(draw: st.DrawFn) -> str:
    """Prompts around the length limit, padded with whitespace that `strip()` removes."""
    core = draw(st.integers(PROMPT_MAX - 3, PROMPT_MAX + 3))
    fill = draw(st.one_of(st.sampled_from(["x", "é", "🙂", "ab\n", "日本", "@everyone "]), ANY_TEXT))
    body = ((fill or "y") * core)[:core]
    pad = draw(st.sampled_from(["", " ", "\n", " \t\n\u3000", "\x1f", "\x85", "\u2028"]))
    return pad * draw(st.integers(0, 5)) + body + pad * draw(st.integers(0, 5))


@st.composite
def short_prompts(draw: st.DrawFn) -> str:
    """Prompts around the minimum length, padded with whitespace."""
    core = draw(st.text(min_size=PROMPT_MIN - 2, max_size=PROMPT_MIN + 1))
    pad = draw(st.sampled_from(["", " ", "\n\t", "\u00a0", "\u2003"]))
    return pad + core + pad


PROMPTS = st.one_of(ANY_TEXT, PIECED_TEXT, long_prompts(), short_prompts())


def made_valid(text: str) -> str:
    """`text` cut to what the rules accept (built, not filtered, so draws stay cheap)."""
    kept = "".join(ch for ch in text if not is_control(ch)).strip()[:PROMPT_MAX].strip()
    return kept if len(kept) >= PROMPT_MIN else (kept + " a dog runs").strip()


VALID_PROMPTS = PROMPTS.map(made_valid)

# Anything a caller could hand over, including values of the wrong type.
ANY_VALUE = opaque(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.sampled_from([0, -1, 1, 3, 4, 5, 8, 12, 16, SEED_MAX, SEED_MAX + 1, 2**63, 10**400]),
        st.floats(),
        st.sampled_from([4.0, 8.0, 12.0, 1.0, float("nan"), float("inf"), -0.0]),
        st.text(max_size=80),
        st.text(min_size=60, max_size=400),
        st.sampled_from(
            ["4", "8", "16:9", "9:16", "16/9", " 16:9", "SORA-2", "sora-2", "sora-2-pro", "720p"]
        ),
        st.binary(max_size=16),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    )
)


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values (so most requests get far), sometimes anything at all."""
    return st.one_of(opaque(valid), opaque(valid), opaque(valid), ANY_VALUE)


# Every option drawn from what /video offers: only the resolution-without-pro rule can refuse these.
WELL_FORMED = st.fixed_dictionaries(
    {"prompt": VALID_PROMPTS},
    optional={
        "duration": st.sampled_from(DURATIONS),
        "aspect_ratio": st.sampled_from(["16:9", "9:16"]),
        "model": st.sampled_from(["sora-2", "sora-2-pro"]),
        "resolution": st.sampled_from([None, "720p", "1080p"]),
        "seed": st.one_of(st.none(), st.integers(1, SEED_MAX)),
    },
)
REQUESTS = st.fixed_dictionaries(
    {
        "prompt": st.one_of(
            opaque(PROMPTS), opaque(PROMPTS), opaque(VALID_PROMPTS), opaque(VALID_PROMPTS), ANY_VALUE
        )
    },
    optional={
        "duration": field(st.sampled_from(DURATIONS)),
        "aspect_ratio": field(st.sampled_from(["16:9", "9:16"])),
        "model": field(st.sampled_from(["sora-2", "sora-2-pro"])),
        "resolution": field(st.sampled_from([None, "720p", "1080p"])),
        "seed": field(st.one_of(st.none(), st.integers(1, SEED_MAX))),
    },
)

# -- checks ----------------------------------------------------------------------------------------------


def prompt_is_valid(prompt: object) -> bool:
    if type(prompt) is not str:
        return False
    text = normalized(prompt)
    return PROMPT_MIN <= len(text) <= PROMPT_MAX and not any(is_control(ch) for ch in text)


def exactly(value: object, allowed: tuple[object, ...]) -> bool:
    """`value` is one of `allowed`, with the same type (so True is not 1 and 1.0 is not 1)."""
    return any(type(value) is type(option) and value == option for option in allowed)


def expected_valid(values: dict[str, Any]) -> bool | None:
    """An independent statement of the rules; None where the model's answer is left open."""
    duration = values.get("duration", 4)
    model = values.get("model", "sora-2")
    resolution = values.get("resolution")
    seed = values.get("seed")
    if not prompt_is_valid(values["prompt"]):
        return False
    if not exactly(values.get("aspect_ratio", "16:9"), ("16:9", "9:16")):
        return False
    if not exactly(model, ("sora-2", "sora-2-pro")):
        return False
    if not exactly(resolution, (None, "720p", "1080p")) or (resolution is not None and model != "sora-2-pro"):
        return False
    if not (seed is None or (type(seed) is int and 1 <= seed <= SEED_MAX)):
        return False
    if exactly(duration, DURATIONS):
        return True
    if not isinstance(duration, bool) and isinstance(duration, float) and duration in DURATIONS:
        return None  # 4.0 passes pydantic's strict Literal (it compares by value); the result is still int 4
    return False


def check_request(request: JobRequest, values: dict[str, Any]) -> None:
    prompt = request.prompt
    assert type(prompt) is str
    assert prompt == normalized(values["prompt"]), "the prompt is only stripped (CRLF -> LF), never rewritten"
    assert PROMPT_MIN <= len(prompt) <= PROMPT_MAX
    assert not any(is_control(ch) for ch in prompt), ascii(prompt[:80])
    assert type(request.duration) is int and request.duration in DURATIONS
    assert request.seed is None or (type(request.seed) is int and 1 <= request.seed <= SEED_MAX)
    assert request.aspect_ratio in ("16:9", "9:16")
    assert request.model in ("sora-2", "sora-2-pro")
    assert request.resolution in (None, "720p", "1080p")
    if request.resolution is not None:
        assert request.model == "sora-2-pro"
    check_prodia_job(request)
    # The store keeps the request as JSON and reads it back.
    assert JobRequest.model_validate_json(request.model_dump_json()) == request


def check_prodia_job(request: JobRequest) -> None:
    job = request.prodia_job()
    assert set(job) == {"type", "config"}
    job_type = JobType(job["type"])
    config = job["config"]
    assert REQUIRED_KEYS[job_type] <= set(config) <= ALLOWED_KEYS[job_type], (job_type, sorted(config))
    assert config["prompt"] == request.prompt
    assert type(config["duration"]) is int and config["duration"] in DURATIONS
    assert config["aspect_ratio"] in ("16:9", "9:16")
    if "seed" in config:
        assert type(config["seed"]) is int and 1 <= config["seed"] <= SEED_MAX
    if "resolution" in config:
        assert config["resolution"] in ("720p", "1080p")
    assert job_type.pro == (request.model == "sora-2-pro")
    assert job_type.image_to_video == (request.image_path is not None)
    # Strict JSON (no NaN), and UTF-8 on the wire, round-tripping to the same job.
    body = json.dumps(job, ensure_ascii=False, allow_nan=False).encode("utf-8")
    assert json.loads(body) == job


def check_refusal(error: InvalidRequest, values: dict[str, Any]) -> None:
    message = error.user_message
    assert isinstance(message, str) and message.strip() == message and message
    assert len(message) < MESSAGE_MAX, message
    assert "\n" not in message and "\r" not in message, ascii(message)
    assert not any(noise in message for noise in PYDANTIC_NOISE), message
    for value in values.values():
        text = value if isinstance(value, str) else repr(value)
        for start in range(len(text) - ECHO_MAX):
            chunk = text[start : start + ECHO_MAX + 1]
            assert chunk not in message, f"the message echoes the input: {message!r}"


def parse_and_check(values: dict[str, Any]) -> JobRequest | InvalidRequest:
    """Parse; then check whichever outcome came against the invariants and the independent rules."""
    expected = expected_valid(values)
    try:
        request = JobRequest.parse(**values)
    except InvalidRequest as error:
        event(f"refused: {error.user_message.split(' (it has')[0]}")
        check_refusal(error, values)
        assert expected is not True, f"a valid request was refused: {error.user_message!r}"
        return error
    event(f"accepted: {request.job_type.value}")
    assert expected is not False, "an invalid request was accepted"
    check_request(request, values)
    return request


# -- properties ------------------------------------------------------------------------------------------


@FUZZ
@given(values=REQUESTS)
@example(values={"prompt": "@everyone <@123> **bold** __under__ `code` ||spoiler||"})
@example(values={"prompt": "y" * PROMPT_MAX})
@example(values={"prompt": " \n" + "y" * PROMPT_MAX + "\t "})
@example(values={"prompt": "y" * (PROMPT_MAX + 1)})
@example(values={"prompt": "\x00" * 5000})
@example(values={"prompt": "line one\r\nline two"})
@example(values={"prompt": "a fine prompt", "seed": 10**400})
@example(values={"prompt": "a fine prompt", "seed": True})
@example(values={"prompt": "a fine prompt", "duration": 8.0})
@example(values={"prompt": "a fine prompt", "aspect_ratio": "x" * 5000})
@example(values={"prompt": "a fine prompt", "model": "sora-2-pro", "resolution": "1080p", "seed": SEED_MAX})
@example(values={"prompt": "a fine prompt", "resolution": "720p"})
@example(values={"prompt": None})
def test_parse_returns_a_valid_request_or_one_short_invalid_request(values: dict[str, Any]) -> None:
    parse_and_check(values)


@FUZZ
@given(values=WELL_FORMED)
def test_well_formed_requests_map_to_one_job_type(values: dict[str, Any]) -> None:
    outcome = parse_and_check(values)
    resolution_without_pro = values.get("resolution") is not None and values.get("model") != "sora-2-pro"
    assert isinstance(outcome, InvalidRequest) == resolution_without_pro
    if isinstance(outcome, JobRequest):
        assert outcome.duration == values.get("duration", 4)
        assert outcome.seed == values.get("seed")
        sizes = {"720p": (1280, 720), "1080p": (1920, 1080)}
        long, short = sizes[outcome.effective_resolution]
        assert outcome.size == ((long, short) if outcome.aspect_ratio == "16:9" else (short, long))


@FUZZ
@given(values=REQUESTS)
def test_parse_without_a_prompt_is_refused_briefly(values: dict[str, Any]) -> None:
    del values["prompt"]
    with pytest.raises(InvalidRequest) as caught:
        JobRequest.parse(**values)
    check_refusal(caught.value, values)


@FUZZ
@given(prompt=PIECED_TEXT.map(made_valid))
def test_mentions_and_markdown_are_kept_verbatim(prompt: str) -> None:
    assert prompt_is_valid(prompt)
    request = JobRequest.parse(prompt=prompt)
    assert request.prompt == prompt.strip()
    check_request(request, {"prompt": prompt})


@FUZZ
@given(
    prompt=VALID_PROMPTS,
    model=st.sampled_from(["sora-2", "sora-2-pro"]),
    image=st.sampled_from(["/data/in/a.png", "/data/in/B.JPG", "/data/in/c.webp", "/data/in/noext"]),
    kind=st.sampled_from([None, "img2vid"]),
)
def test_image_requests_name_their_input_in_the_config(
    prompt: str, model: str, image: str, kind: str | None
) -> None:
    request = JobRequest.parse(prompt=prompt, model=model, image_path=image, kind=kind)
    check_request(request, {"prompt": prompt})
    config = request.prodia_job()["config"]
    assert config["image"] == request.input_filename
    assert request.input_filename is not None and request.input_filename.startswith("input.")
    assert request.input_filename == request.input_filename.lower()


# -- lone surrogates -------------------------------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)


@FUZZ
@given(
    before=st.text(min_size=3, max_size=20).map(made_valid),
    surrogate=SURROGATE,
    after=st.text(max_size=20),
)
@example(before="a cat", surrogate="\ud800", after=" jumps")
def test_lone_surrogates_are_refused_or_survive_the_store(before: str, surrogate: str, after: str) -> None:
    values = {"prompt": before + surrogate + after}
    try:
        request = JobRequest.parse(**values)
    except InvalidRequest as error:
        check_refusal(error, values)
        return
    request.model_dump_json().encode("utf-8")
    json.dumps(request.prodia_job(), ensure_ascii=False).encode("utf-8")
