"""What a story looks like on Discord: its status message (the plan, shot i of n, a thumbnail of each
finished shot, Cancel), its posted clip's embed, and its persistent buttons (`sora-story:<action>:<story id>`,
Re-roll also `:<shot>`), handed to the stories service like clip buttons to the clips service."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Protocol

import discord

from bot.domain.models import Job, JobState
from bot.domain.stories import CANCELLED, SHOTS_MAX, Story, StoryState
from bot.i18n.messages import _, heading_, label_, money, n_, number, title_
from bot.tree import handle_error, only_its_opener
from bot.ui.buttons import _Handlers
from bot.ui.embeds import EMBED_MAX, FIELD_VALUE_MAX, cut, escape, fit_embed, quote, settings_line

# Labels marked here (English at import), translated where each button is made.
STORY_ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "cancel": (label_("Cancel"), discord.ButtonStyle.danger),
    "reroll": (label_("Re-roll shot"), discord.ButtonStyle.primary),
    "extend": (label_("Extend"), discord.ButtonStyle.secondary),
    "delete": (label_("Delete"), discord.ButtonStyle.danger),
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
_HEADLINES = {  # translated at use
    StoryState.DELIVERED: heading_("Done: the story is posted"),
    StoryState.FAILED: heading_("The story failed"),
    StoryState.CANCELLED: heading_("The story was cancelled"),
}
_TRANSITIONS = {"cut": _("cut"), "crossfade": _("crossfade")}  # how a story's shots are joined
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
                # Only Re-roll has a shot.
                label=label_("Re-roll shot {shot}", shot=shot) if shot is not None else label_(label),
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
            discord.ui.Button(style=discord.ButtonStyle.link, label=label_("Full quality"), url=link, row=1)
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


def _shot_state(shot: Job, now: float) -> tuple[str, str]:
    """The mark and the words for a shot's state, in the current language."""
    state = shot.state
    if state in (JobState.DELIVERING, JobState.DELIVERED):
        return _MARKS[state], _("made")
    if state is JobState.FAILED:
        return _MARKS[state], _("failed")
    if state is JobState.CANCELLED:
        return _MARKS[state], _("cancelled")
    if state is JobState.REJECTED:
        return _MARKS[state], _("rejected")
    if state in (JobState.SUBMITTING, JobState.RUNNING):
        return "⏳", _("generating… {seconds} s", seconds=number(now - (shot.started_at or shot.created_at)))
    if state is JobState.AWAITING_APPROVAL:
        return "⏸️", _("waiting for a moderator's approval")
    if state is JobState.QUEUED:
        return "🕒", _("queued")
    return "▫️", _("waits for the shot before it")


def _shot_line(index: int, shot: Job, now: float) -> str:
    mark, what = _shot_state(shot, now)
    return _(
        "**{shot}.** {mark} {state} · {seconds} s\n{prompt}",
        shot=index,
        mark=mark,
        state=what,
        seconds=number(shot.request.duration),
        prompt=quote(shot.request.prompt, _PROMPT_SHOWN),
    )


def _settings(shot: Job) -> str:
    """The settings every shot of a story shares (the first shot's image is not the story's)."""
    return settings_line(replace(shot, request=shot.request.model_copy(update={"image_path": None})))


def _transition(story: Story) -> str:
    return _(_TRANSITIONS.get(story.transition, story.transition))


def _length(shots: Sequence[Job], count: int) -> str:
    return n_(
        "{seconds} s in {count} shot",
        "{seconds} s in {count} shots",
        count,
        seconds=number(story_length(shots)),
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
        at, of = _current(shots), story.shots
        if any(s.state is JobState.AWAITING_APPROVAL for s in shots):
            headline = heading_(
                "Story: shot {shot} of {shots}, waiting for a moderator's approval", shot=at, shots=of
            )
        elif position:
            headline = heading_(
                "Story: shot {shot} of {shots}, queued at position {position}",
                shot=at,
                shots=of,
                position=number(position),
            )
        else:
            headline = heading_("Story: shot {shot} of {shots}", shot=at, shots=of)
    elif story.state is StoryState.STOPPING:
        headline = heading_("Story: joining the shots made…")
    else:
        headline = heading_(_HEADLINES[story.state])
    lines = [_shot_line(index, shot, now) for index, shot in enumerate(shots, 1)]
    embed = discord.Embed(title=headline, description="\n".join(lines), colour=_COLOURS[story.state])
    if shots:
        embed.add_field(name=heading_("Settings"), value=_settings(shots[-1]))
    embed.add_field(name=heading_("Length"), value=_length(shots, story.shots))
    embed.add_field(name=heading_("Between shots"), value=_transition(story))
    ended = story.state not in (StoryState.RUNNING, StoryState.STOPPING)
    label = heading_("Cost") if ended else heading_("Estimated cost")
    own = [shot for shot in shots if shot.story_id == story.id]  # a Re-roll's reused shots were paid before
    embed.add_field(name=label, value=money(story_cost(own, settled)))
    if story.user_error and ended:
        embed.add_field(
            name=heading_("What happened"), value=cut(escape(story.user_error), FIELD_VALUE_MAX), inline=False
        )
    embed.set_footer(text=_("Story {story}", story=story.id))
    return _within(embed, SHOTS_MAX * _THUMBNAIL_TEXT)


def thumbnail_name(shot: int) -> str:
    """The attachment name of shot `shot`'s (1-based) thumbnail on the status message."""
    return f"shot-{shot}.jpg"


def thumbnail_embeds(made: Sequence[int]) -> list[discord.Embed]:
    """One small embed per finished shot (1-based numbers), showing its attached thumbnail."""
    embeds = []
    for shot in made:
        embed = discord.Embed(title=heading_("Shot {shot}", shot=shot)[:_THUMBNAIL_TEXT])
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
        title=heading_("Sora 2 story"), description="\n".join(lines), colour=_COLOURS[StoryState.DELIVERED]
    )
    if shots:
        embed.add_field(name=heading_("Settings"), value=_settings(shots[-1]))
        seed = shots[0].request.seed
        embed.add_field(name=heading_("Seed"), value=str(seed) if seed is not None else _("random"))
    embed.add_field(name=heading_("Length"), value=_length(shots, len(shots)))
    embed.add_field(name=heading_("Between shots"), value=_transition(story))
    embed.add_field(name=heading_("Cost"), value=money(story_cost(shots, settled)))
    if note:
        embed.add_field(name=heading_("Note"), value=cut(escape(note), FIELD_VALUE_MAX), inline=False)
    embed.set_footer(text=_("Story {story} · requested by user {user}", story=story.id, user=story.user_id))
    return fit_embed(embed)


def _within(embed: discord.Embed, room: int) -> discord.Embed:
    """`fit_embed`, leaving `room` characters of the message's 6,000 to other embeds."""
    fit_embed(embed)
    over = len(embed) - (EMBED_MAX - room)
    if over > 0 and embed.description:
        embed.description = cut(embed.description, max(len(embed.description) - over, 1))
    return embed


class Extends(Protocol):
    """What carries out a submitted Extend form (the stories service)."""

    async def extend(self, interaction: discord.Interaction[Any], story_id: int, prompt: str) -> None: ...


class ExtendModal(discord.ui.Modal):
    """The prompt of the shot added at the end."""

    def __init__(self, flow: Extends, story: Story, opener_id: int, *, timeout: float) -> None:
        # discord.py's random custom_id keeps each opening apart.
        super().__init__(title=title_("Extend this story"), timeout=timeout)
        self.flow = flow
        self.story = story
        self.opener_id = opener_id
        self.prompt: discord.ui.TextInput[ExtendModal] = discord.ui.TextInput(
            label=title_("Shot {shot}", shot=story.shots + 1),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            # A placeholder holds 100 characters (label_'s 80 is the nearest limit checked).
            placeholder=label_("What happens next: lead with the action"),
            min_length=3,
            max_length=4000,
        )
        self.add_item(self.prompt)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await only_its_opener(interaction, self.opener_id)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.flow.extend(interaction, self.story.id, self.prompt.value)

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:  # type: ignore[override]
        await handle_error(interaction, error)


def already_ended(story: Story) -> str:
    """Why a story that no longer runs can't be cancelled, in the current language."""
    if story.state is StoryState.STOPPING:
        return _("Story {story} is already stopping.", story=story.id)
    if story.state is StoryState.DELIVERED:
        return _("Story {story} is already delivered.", story=story.id)
    if story.state is StoryState.FAILED:
        return _("Story {story} is already failed.", story=story.id)
    return _("Story {story} is already cancelled.", story=story.id)


def told_error(user_error: str | None) -> str | None:
    """A story's `user_error` as its member reads it: the Cancel marker in the current language, any other
    (written in the requester's language) as it is."""
    return _("cancelled") if user_error == CANCELLED else user_error


def stopped_reason(shot: int | None, cause: Job) -> str:
    """Why a story stopped when its shot that ended early said nothing, in the current language."""
    if cause.state is JobState.FAILED:
        return _("shot {shot} failed", shot=shot)
    if cause.state is JobState.REJECTED:
        return _("shot {shot} rejected", shot=shot)
    return _("shot {shot} cancelled", shot=shot)
