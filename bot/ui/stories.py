"""What a story looks like on Discord: its status message (the plan, shot i of n, a thumbnail of each
finished shot, Cancel), its posted clip's embed, and its persistent buttons (`sora-story:<action>:<story id>`,
Re-roll also `:<shot>`), handed to the stories service like clip buttons to the clips service."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Protocol

import discord

from bot.domain.models import Job, JobState
from bot.domain.stories import SHOTS_MAX, Story, StoryState
from bot.tree import handle_error
from bot.ui.buttons import _Handlers
from bot.ui.embeds import EMBED_MAX, FIELD_VALUE_MAX, cut, escape, fit_embed, quote, settings_line

STORY_ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "cancel": ("Cancel", discord.ButtonStyle.danger),
    "reroll": ("Re-roll shot", discord.ButtonStyle.primary),
    "extend": ("Extend", discord.ButtonStyle.secondary),
    "delete": ("Delete", discord.ButtonStyle.danger),
}
THUMBNAIL_WIDTH = 320
# Every embed of one message counts towards Discord's 6,000 characters: the thumbnails' titles come first.
_THUMBNAIL_TEXT = 16
_PROMPT_SHOWN = 300
_MARKS = {
    JobState.DELIVERED: "✅",
    JobState.DELIVERING: "✅",
    JobState.FAILED: "❌",
    JobState.CANCELLED: "⏹️",
    JobState.REJECTED: "⛔",
}
_HEADLINES = {
    StoryState.DELIVERED: "Done: the story is posted",
    StoryState.FAILED: "The story failed",
    StoryState.CANCELLED: "The story was cancelled",
}
_COLOURS = {
    StoryState.RUNNING: discord.Colour.gold(),
    StoryState.STOPPING: discord.Colour.gold(),
    StoryState.DELIVERED: discord.Colour.green(),
    StoryState.FAILED: discord.Colour.red(),
    StoryState.CANCELLED: discord.Colour.dark_grey(),
}


class StoryButtonHandler(Protocol):
    """The service that carries out story buttons (bot/services/story_flow.py)."""

    async def on_story_button(
        self, interaction: discord.Interaction[Any], action: str, story_id: int, shot: int | None
    ) -> None: ...


class StoryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"sora-story:(?P<action>{'|'.join(STORY_ACTIONS)}):(?P<story_id>[0-9]{{1,19}})(?::(?P<shot>[1-5]))?",
):
    """A button on a story's status message or posted clip. `shot` (1-based) for Re-roll only."""

    handlers: ClassVar[_Handlers[Any]] = _Handlers()

    def __init__(self, action: str, story_id: int, shot: int | None = None) -> None:
        label, style = STORY_ACTIONS[action]
        custom_id = f"sora-story:{action}:{story_id}" + (f":{shot}" if shot is not None else "")
        super().__init__(
            discord.ui.Button(
                label=f"{label} {shot}" if shot is not None else label,
                style=style,
                custom_id=custom_id,
                row=0 if shot is not None else 1,
            )
        )
        self.action = action
        self.story_id = story_id
        self.shot = shot

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> StoryButton:
        shot = int(match["shot"]) if match["shot"] else None
        return cls(match["action"], int(match["story_id"]), shot)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            handler = self.handlers.of(interaction.client)
            await handler.on_story_button(interaction, self.action, self.story_id, self.shot)
        except Exception as exc:  # buttons have no command tree; their errors go through the same handler
            await handle_error(interaction, exc)


def bind_story_buttons(client: discord.Client, handler: StoryButtonHandler) -> None:
    StoryButton.handlers.bind(client, handler)
    client.add_dynamic_items(StoryButton)


def story_status_view(story: Story) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(StoryButton("cancel", story.id))
    return view


def story_result_view(story: Story, *, link: str | None = None, made: int | None = None) -> discord.ui.View:
    """Re-roll each shot made, and the shot a partial story stopped at (one row); Extend while a whole story
    has room for a shot; Delete; and a "Full quality" link when the clip posted is a re-encode."""
    made = story.shots if made is None else made
    view = discord.ui.View(timeout=None)
    for shot in range(1, min(made + 1, story.shots) + 1):
        view.add_item(StoryButton("reroll", story.id, shot))
    if made == story.shots < SHOTS_MAX:
        view.add_item(StoryButton("extend", story.id))
    view.add_item(StoryButton("delete", story.id))
    if link is not None:
        view.add_item(
            discord.ui.Button(style=discord.ButtonStyle.link, label="Full quality", url=link, row=1)
        )
    return view


def story_length(shots: Sequence[Job]) -> int:
    return sum(shot.request.duration for shot in shots)


def story_cost(shots: Sequence[Job], settled: Mapping[int, float]) -> float:
    """What the shots cost: a settled shot what the ledger says (its commit, or nothing when refunded), one
    under way what Prodia said it charged, else its estimate; and every earlier attempt of a shot tried
    again that the ledger charged (`settled` holds the story's jobs, attempts included)."""
    latest = {shot.id for shot in shots}
    current = sum(
        settled.get(shot.id, shot.actual_cost if shot.actual_cost is not None else shot.estimated_cost)
        for shot in shots
    )
    return current + sum(dollars for job_id, dollars in settled.items() if job_id not in latest)


def _shot_line(index: int, shot: Job, now: float) -> str:
    state = shot.state
    if state in _MARKS:
        what = {JobState.DELIVERING: "made", JobState.DELIVERED: "made"}.get(state, state.value)
        mark = _MARKS[state]
    elif state in (JobState.SUBMITTING, JobState.RUNNING):
        mark, what = "⏳", f"generating… {now - (shot.started_at or shot.created_at):.0f} s"
    elif state is JobState.AWAITING_APPROVAL:
        mark, what = "⏸️", "waiting for a moderator's approval"
    elif state is JobState.QUEUED:
        mark, what = "🕒", "queued"
    else:
        mark, what = "▫️", "waits for the shot before it"
    return (
        f"**{index}.** {mark} {what} · {shot.request.duration} s\n{quote(shot.request.prompt, _PROMPT_SHOWN)}"
    )


def _current(shots: Sequence[Job]) -> int:
    """The shot the story is at (1-based): the first not made yet, else the last."""
    for index, shot in enumerate(shots, 1):
        if shot.state not in (JobState.DELIVERING, JobState.DELIVERED):
            return index
    return len(shots)


def story_status_embed(
    story: Story,
    shots: Sequence[Job],
    *,
    position: int | None = None,
    now: float | None = None,
    settled: Mapping[int, float],
) -> discord.Embed:
    """The plan and progress: shot i of n, each shot's state and prompt, total length and cost."""
    now = now or time.time()
    if story.state is StoryState.RUNNING:
        headline = f"Story: shot {_current(shots)} of {story.shots}"
        if any(s.state is JobState.AWAITING_APPROVAL for s in shots):
            headline += ", waiting for a moderator's approval"
        elif position:
            headline += f", queued at position {position}"
    elif story.state is StoryState.STOPPING:
        headline = "Story: joining the shots made…"
    else:
        headline = _HEADLINES[story.state]
    lines = [_shot_line(index, shot, now) for index, shot in enumerate(shots, 1)]
    embed = discord.Embed(title=headline, description="\n".join(lines), colour=_COLOURS[story.state])
    if shots:
        embed.add_field(name="Settings", value=settings_line(shots[-1]).replace(" · from an image", ""))
    embed.add_field(name="Length", value=f"{story_length(shots)} s in {story.shots} shots")
    embed.add_field(name="Between shots", value=story.transition)
    ended = story.state not in (StoryState.RUNNING, StoryState.STOPPING)
    label = "Cost" if ended else "Estimated cost"
    own = [shot for shot in shots if shot.story_id == story.id]  # a Re-roll's reused shots were paid before
    embed.add_field(name=label, value=f"${story_cost(own, settled):.2f}")
    if story.user_error and ended:
        embed.add_field(
            name="What happened", value=cut(escape(story.user_error), FIELD_VALUE_MAX), inline=False
        )
    embed.set_footer(text=f"Story {story.id}")
    return _within(embed, SHOTS_MAX * _THUMBNAIL_TEXT)


def thumbnail_name(shot: int) -> str:
    """The attachment name of shot `shot`'s (1-based) thumbnail on the status message."""
    return f"shot-{shot}.jpg"


def thumbnail_embeds(made: Sequence[int]) -> list[discord.Embed]:
    """One small embed per finished shot (1-based numbers), showing its attached thumbnail."""
    embeds = []
    for shot in made:
        embed = discord.Embed(title=f"Shot {shot}"[:_THUMBNAIL_TEXT])
        embed.set_thumbnail(url=f"attachment://{thumbnail_name(shot)}")
        embeds.append(embed)
    return embeds


def story_result_embed(
    story: Story, shots: Sequence[Job], *, settled: Mapping[int, float], note: str | None = None
) -> discord.Embed:
    """The embed posted with a story's clip."""
    lines = [
        f"**{index}.** {quote(shot.request.prompt, _PROMPT_SHOWN)}" for index, shot in enumerate(shots, 1)
    ]
    embed = discord.Embed(
        title="Sora 2 story", description="\n".join(lines), colour=_COLOURS[StoryState.DELIVERED]
    )
    if shots:
        embed.add_field(name="Settings", value=settings_line(shots[-1]).replace(" · from an image", ""))
        seed = shots[0].request.seed
        embed.add_field(name="Seed", value=str(seed) if seed is not None else "random")
    embed.add_field(name="Length", value=f"{story_length(shots)} s in {len(shots)} shots")
    embed.add_field(name="Between shots", value=story.transition)
    embed.add_field(name="Cost", value=f"${story_cost(shots, settled):.2f}")
    if note:
        embed.add_field(name="Note", value=cut(escape(note), FIELD_VALUE_MAX), inline=False)
    embed.set_footer(text=f"Story {story.id} · requested by user {story.user_id}")
    return fit_embed(embed)


def _within(embed: discord.Embed, room: int) -> discord.Embed:
    """`fit_embed`, leaving `room` characters of the message's 6,000 to other embeds."""
    fit_embed(embed)
    over = len(embed) - (EMBED_MAX - room)
    if over > 0 and embed.description:
        embed.description = cut(embed.description, max(len(embed.description) - over, 1))
    return embed
