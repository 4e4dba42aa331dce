"""Embeds for status messages and posted clips, and the helpers every embed of the bot goes through:
`escape` makes member text inert, `quote` shows a prompt, `fit_embed` keeps an embed within Discord's
limits."""

from __future__ import annotations

import re
import time

import discord

from bot.domain.models import Job, JobState
from bot.i18n.messages import _, heading_, money, number

COLOURS = {
    JobState.AWAITING_APPROVAL: discord.Colour.light_grey(),
    JobState.QUEUED: discord.Colour.blurple(),
    JobState.SUBMITTING: discord.Colour.blurple(),
    JobState.RUNNING: discord.Colour.gold(),
    JobState.DELIVERING: discord.Colour.gold(),
    JobState.DELIVERED: discord.Colour.green(),
    JobState.FAILED: discord.Colour.red(),
    JobState.CANCELLED: discord.Colour.dark_grey(),
    JobState.REJECTED: discord.Colour.red(),
    JobState.WAITING: discord.Colour.light_grey(),
}
PROMPT_SHOWN = 1000

# Discord's embed limits (code points, as its API counts them); over any of them the whole message is refused.
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
EMBED_MAX = 6000
ELLIPSIS = "…"
BLANK = "\u200b"  # Discord refuses empty or blank field names and values

# Markdown that works anywhere in a line: emphasis, code, spoilers, escapes, masked links ("[" is enough to
# break them; discord.utils.escape_markdown escapes only the first of a line), autolinks and mentions ("<"),
# and bare URLs (the ":" of "://": an escaped colon keeps the text but is no longer a link).
_INLINE = re.compile(r"[\\*_~|`\[<]|:(?=//)")
# Markdown that works at the start of a line: quotes, headings, subtext, lists, numbered lists.
_LINE_START = re.compile(r"^([ \t]*)(?:([>#+-])|(\d+)\.)")


def escape(text: str) -> str:
    """`text` as Discord shows it when typed: no markdown, no links (masked, bare or <...>), no mentions.

    Each special character gets a backslash (Discord shows it as nothing); unlike
    discord.utils.escape_markdown, every masked link and bare URL is broken, not only a line's first."""
    return "".join(_escape_line(line) for line in text.splitlines(keepends=True))


def _escape_line(line: str) -> str:
    line = _INLINE.sub(lambda m: "\\" + m.group(), line)
    return _LINE_START.sub(_escape_marker, line, count=1)


def _escape_marker(match: re.Match[str]) -> str:
    indent, marker, number = match.groups()
    return f"{indent}\\{marker}" if marker else f"{indent}{number}\\."


def cut(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, ending with "…" when cut."""
    if len(text) <= limit:
        return text
    return _ending(text[: max(limit - 1, 0)])


def _ending(head: str) -> str:
    # Half an escape would escape the ellipsis and give back the character it was for.
    if (len(head) - len(head.rstrip("\\"))) % 2:
        head = head[:-1]
    return head + ELLIPSIS


def settings_line(job: Job) -> str:
    request = job.request
    parts = [request.model, _("{seconds} s", seconds=number(request.duration)), request.aspect_ratio]
    if request.model == "sora-2-pro":
        parts.append(request.effective_resolution)
    if request.image_path:
        parts.append(_("from an image"))
    return " · ".join(parts)


# A job's state as a word in a sentence ("Job 5 is already {state}."): in English its stored value.
STATE_NAMES = {
    JobState.AWAITING_APPROVAL: _("awaiting_approval"),
    JobState.QUEUED: _("queued"),
    JobState.SUBMITTING: _("submitting"),
    JobState.RUNNING: _("running"),
    JobState.DELIVERING: _("delivering"),
    JobState.DELIVERED: _("delivered"),
    JobState.FAILED: _("failed"),
    JobState.CANCELLED: _("cancelled"),
    JobState.REJECTED: _("rejected"),
    JobState.WAITING: _("waiting"),
}


def state_name(state: JobState) -> str:
    """`state` as a word in the current language (English: its stored value)."""
    return _(STATE_NAMES[state])


def quote(prompt: str, limit: int = PROMPT_SHOWN) -> str:
    """The prompt, escaped, as a block quote of at most `limit` characters, "> " prefixes and escapes included
    (a prompt of blank lines is mostly prefixes)."""
    quoted = "\n".join(f"> {line}" for line in escape(prompt).splitlines() or [""])
    if len(quoted) <= limit:
        return quoted
    head = quoted[: limit - 1]
    line_start = head.rfind("\n")
    if line_start > 0 and len(head) - line_start <= 3:
        head = head[:line_start]  # the cut left only (part of) a "> ": end the line before instead
    return _ending(head)


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Cut `embed` in place so Discord takes it: every text within its limit, at most 25 fields, no blank
    field, and 6,000 characters in all, taken first from the description, then from the last fields."""
    if embed.title:
        embed.title = cut(embed.title, TITLE_MAX)
    if embed.description:
        embed.description = cut(embed.description, DESCRIPTION_MAX)
    fields = [(f.name or "", f.value or "", bool(f.inline)) for f in embed.fields[:FIELDS_MAX]]
    embed.clear_fields()
    for name, value, inline in fields:
        embed.add_field(
            name=_filled(cut(name, FIELD_NAME_MAX)), value=_filled(cut(value, FIELD_VALUE_MAX)), inline=inline
        )
    if embed.footer.text:
        embed.set_footer(text=cut(embed.footer.text, FOOTER_MAX), icon_url=embed.footer.icon_url)
    if embed.author.name:
        embed.set_author(
            name=cut(embed.author.name, AUTHOR_MAX), url=embed.author.url, icon_url=embed.author.icon_url
        )
    if len(embed) > EMBED_MAX and embed.description:
        embed.description = cut(embed.description, max(len(embed.description) - (len(embed) - EMBED_MAX), 1))
    for part in ("value", "name"):
        for index in reversed(range(len(embed.fields))):
            if len(embed) <= EMBED_MAX:
                break
            field = embed.fields[index]
            name, value = field.name or "", field.value or ""
            over = len(embed) - EMBED_MAX
            if part == "value":
                value = cut(value, max(len(value) - over, 1))
            else:
                name = cut(name, max(len(name) - over, 1))
            embed.set_field_at(index, name=name, value=value, inline=bool(field.inline))
    if len(embed) > EMBED_MAX and embed.footer.text:
        embed.set_footer(
            text=cut(embed.footer.text, max(len(embed.footer.text) - (len(embed) - EMBED_MAX), 1))
        )
    return embed


def _filled(text: str) -> str:
    return text if text.strip() else BLANK


def status_embed(job: Job, *, position: int | None = None, now: float | None = None) -> discord.Embed:
    """What the requester sees while the job moves (in the language of the moment: the requester's)."""
    now = now or time.time()
    state = job.state
    if state is JobState.QUEUED:
        headline = (
            heading_("Queued, position {position}", position=number(position))
            if position
            else heading_("Queued")
        )
    elif state in (JobState.SUBMITTING, JobState.RUNNING):
        elapsed = now - (job.started_at or job.created_at)
        headline = heading_("Generating… {seconds} s", seconds=number(elapsed))
    elif state is JobState.DELIVERING:
        headline = heading_("Delivering…")
    elif state is JobState.DELIVERED:
        headline = heading_("Done: the clip is posted")
    elif state is JobState.AWAITING_APPROVAL:
        headline = heading_("Waiting for a moderator's approval")
    elif state is JobState.WAITING:
        headline = heading_("Waiting for the story's shot before it")
    elif state is JobState.FAILED:
        headline = heading_("Failed")
    elif state is JobState.CANCELLED:
        headline = heading_("Cancelled")
    else:
        headline = heading_("Rejected")
    embed = discord.Embed(title=headline, description=quote(job.request.prompt, 300), colour=COLOURS[state])
    embed.add_field(name=heading_("Settings"), value=settings_line(job), inline=False)
    cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
    label = heading_("Cost") if job.actual_cost is not None else heading_("Estimated cost")
    embed.add_field(name=label, value=money(cost))
    if job.user_error and state in (JobState.FAILED, JobState.REJECTED):
        # It can hold a moderator's reason or Prodia's words: shown as typed, never as markdown.
        embed.add_field(
            name=heading_("What happened"), value=cut(escape(job.user_error), FIELD_VALUE_MAX), inline=False
        )
    embed.set_footer(text=_("Job {job}", job=job.id))
    return fit_embed(embed)


def result_footer(job: Job) -> str:
    """The footer of a finished clip's embed, in the language of the moment: it names the job (an earlier
    post of the clip is recognised by it)."""
    return _("Job {job} · requested by user {user}", job=job.id, user=job.user_id)


def result_embed(job: Job, *, note: str | None = None) -> discord.Embed:
    """The embed posted with a finished clip (in the language of the moment: the post's)."""
    request = job.request
    embed = discord.Embed(
        title=heading_("Sora 2 clip"), description=quote(request.prompt), colour=COLOURS[JobState.DELIVERED]
    )
    embed.add_field(name=heading_("Settings"), value=settings_line(job), inline=False)
    embed.add_field(
        name=heading_("Seed"), value=str(request.seed) if request.seed is not None else _("random")
    )
    if job.started_at:
        elapsed = (job.updated_at or time.time()) - job.started_at
        embed.add_field(name=heading_("Generation time"), value=_("{seconds} s", seconds=number(elapsed)))
    cost = job.actual_cost if job.actual_cost is not None else job.estimated_cost
    embed.add_field(name=heading_("Cost"), value=money(cost))
    if note:
        embed.add_field(name=heading_("Note"), value=note, inline=False)
    embed.set_footer(text=result_footer(job))
    return fit_embed(embed)
