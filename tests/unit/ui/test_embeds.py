"""Every embed the bot builds stays within Discord's limits and echoes member text as inert text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain.models import Job, JobRequest, JobState
from bot.services.audit import audit_embed
from bot.services.decisions import approval_embed
from bot.store.audit_log import AuditEntry
from bot.ui.embeds import escape, fit_embed, quote, result_embed, status_embed
from tests.embed_checks import (
    DESCRIPTION,
    MANY_BLANK_LINES,
    MANY_LINKS,
    MANY_MARKDOWN_LINES,
    MANY_SHORT_LINES,
    PROMPT_MAX,
    REASON_MAX,
    live_links,
    problems,
    texts,
    unescaped,
)

FUZZ = settings(settings.get_profile("fuzz"), max_examples=200)  # the profile: tests/conftest.py

# Pieces of Discord markdown and the texts that abuse it, so drawn texts often hold them.
PIECES = [
    "[free nitro](https://example.com)",
    "[x](<https://example.com>)",
    "https://example.com/a_b*c",
    "<https://example.com>",
    "steam://run/1",
    "\n",
    "\n\n",
    "> ",
    ">>> ",
    "# ",
    "-# ",
    "- ",
    "1. ",
    "**",
    "__",
    "~~",
    "||",
    "`",
    "```",
    "\\",
    "@everyone",
    "<@123>",
    "<#456>",
    "[",
    "](",
    ")",
    ":",
    "//",
    "é",
    "🎬",
    "\u2028",
    " ",
    "a",
]


def markdown_texts(max_size: int) -> st.SearchStrategy[str]:
    pieces = st.lists(st.sampled_from(PIECES), max_size=max_size).map(lambda p: "".join(p)[:max_size])
    return st.one_of(st.text(max_size=max_size), pieces)


def a_job(prompt: str, state: JobState = JobState.AWAITING_APPROVAL, user_error: str | None = None) -> Job:
    # model_construct: any text at all, not only what /video accepts, must still make a valid embed.
    return Job(
        id=123456,
        state=state,
        request=JobRequest.model_construct(prompt=prompt),
        guild_id=1,
        channel_id=2,
        user_id=3,
        message_id=4,
        result_message_id=None,
        target={"kind": "discord"},
        prodia_job_id=None,
        endpoint=None,
        output_path=None,
        estimated_cost=0.4,
        actual_cost=None,
        error=None,
        user_error=user_error,
        attempts=0,
        created_at=1.0,
        updated_at=2.0,
        started_at=1.5,
        finished_at=None,
        lease_owner=None,
        lease_expires_at=None,
    )


def check(embed: Mapping[str, Any]) -> None:
    assert problems(embed) == [], (problems(embed), embed)
    assert [link for text in texts(embed) for link in live_links(text)] == [], embed


@FUZZ
@given(
    prompt=markdown_texts(PROMPT_MAX),
    reason=markdown_texts(REASON_MAX),
    moderator=markdown_texts(100),
    user_error=markdown_texts(PROMPT_MAX),
    state=st.sampled_from(JobState),
)
@example(MANY_BLANK_LINES, "x" * REASON_MAX, "mod", "e" * PROMPT_MAX, JobState.REJECTED)
@example(MANY_SHORT_LINES, "*" * REASON_MAX, "mod", MANY_MARKDOWN_LINES, JobState.FAILED)
@example(MANY_MARKDOWN_LINES, "[a](https://e.com)" * 16, "[m](https://e.com)", MANY_LINKS, JobState.FAILED)
@example(MANY_LINKS, "\n" * REASON_MAX, "\\", "", JobState.DELIVERED)
def test_every_job_embed_fits_and_echoes_inert_text(
    prompt: str, reason: str, moderator: str, user_error: str, state: JobState
) -> None:
    job = a_job(prompt, state, user_error)
    embeds = [
        status_embed(job, position=3, now=10.0),
        result_embed(job, note="The full clip is too large for this channel; it is kept: `/show 1`."),
        approval_embed(job),
        approval_embed(job, outcome="Rejected", by=moderator, reason=reason),
        approval_embed(job, outcome="Approved", by=moderator),
        approval_embed(job, outcome="Expired without a decision"),
    ]
    for embed in embeds:
        check(embed.to_dict())


@FUZZ
@given(
    action=st.text(max_size=300),
    prompt=st.one_of(st.none(), markdown_texts(PROMPT_MAX)),
    details=st.dictionaries(
        st.text(min_size=1, max_size=300),
        st.one_of(st.none(), st.integers(), st.floats(), markdown_texts(PROMPT_MAX)),
        max_size=40,
    ),
)
@example("job.rejection", MANY_BLANK_LINES, {"reason": "[a](https://e.com)" * 16, "error": MANY_LINKS})
@example("job.failed", MANY_LINKS, {f"key_{i}": "v" * 4096 for i in range(40)})
def test_every_audit_embed_fits_and_echoes_inert_text(
    action: str, prompt: str | None, details: dict[str, Any]
) -> None:
    details = {**details, "requester": 3}
    if prompt is not None:
        details["prompt"] = prompt
    entry = AuditEntry(id=1, guild_id=1, actor_id=5, action=action, job_id=7, details=details, created_at=1.0)
    check(audit_embed(entry).to_dict())


@FUZZ
@given(markdown_texts(PROMPT_MAX))
def test_escaped_text_reads_as_typed(text: str) -> None:
    assert unescaped(escape(text)) == text
    assert live_links(escape(text)) == []


@FUZZ
@given(markdown_texts(PROMPT_MAX), st.integers(min_value=8, max_value=DESCRIPTION))
@example(MANY_BLANK_LINES, 1500)
@example(MANY_MARKDOWN_LINES, 1500)
@example(MANY_LINKS, 300)
def test_a_quote_counts_its_prefixes_and_escapes_against_the_limit(text: str, limit: int) -> None:
    quoted = quote(text, limit)
    assert len(quoted) <= limit
    lines = quoted.split("\n")
    assert all(line.startswith("> ") for line in lines), quoted
    assert live_links(quoted) == []
    shown = "\n".join(unescaped(line[2:]) for line in lines)
    typed = "\n".join(text.splitlines())
    # Either all of it, or a beginning of it and an ellipsis.
    assert shown == typed or (shown.endswith("…") and typed.startswith(shown[:-1])), quoted


def test_a_masked_link_in_a_prompt_is_plain_text() -> None:
    quoted = quote("look: [free nitro](https://example.com) and https://example.com/x")
    assert live_links(quoted) == []
    assert unescaped(quoted) == "> look: [free nitro](https://example.com) and https://example.com/x"


def test_two_masked_links_on_one_line_are_both_plain_text() -> None:
    # discord.utils.escape_markdown escapes only the first `[` of such a line.
    quoted = quote("[a](https://a.example) [b](https://b.example)")
    assert live_links(quoted) == []


def test_many_blank_lines_fit_the_approval_request() -> None:
    embed = approval_embed(a_job(MANY_BLANK_LINES)).to_dict()
    assert problems(embed) == []
    assert embed["description"].startswith("> a\n> \n> \n")


def test_a_rejection_shows_the_whole_reason_and_who_decided() -> None:
    reason = "*_" * (REASON_MAX // 2)
    embed = approval_embed(a_job("a cat"), outcome="Rejected", by="mod_1", reason=reason).to_dict()
    assert embed["title"] == "Rejected by mod\\_1"
    [shown] = [f["value"] for f in embed["fields"] if f["name"] == "Reason"]
    assert unescaped(shown) == reason


def test_fit_embed_cuts_an_oversized_embed_to_every_limit() -> None:
    embed = discord.Embed(title="t" * 300, description="d" * 5000)
    for i in range(30):
        embed.add_field(name="n" * 300, value="v" * 2000 if i % 2 else " ")
    embed.set_footer(text="f" * 3000)
    embed.set_author(name="a" * 300)
    fitted = fit_embed(embed).to_dict()
    assert problems(fitted) == []
    assert fitted["description"].endswith("…")
