"""Replies built from lists, made to fit Discord's limits: pages with Previous/Next buttons, or a cut.

Discord refuses a message whose content is over 2,000 characters (400, code 50035), and a message holds at
most 5 action rows of 5 buttons. A list a member or an admin builds up (jobs, rules, patterns) can pass
both, so every such reply goes through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

from bot.i18n.messages import _, label_, n_, number
from bot.tree import reply as send_reply

CONTENT_LIMIT = 2000  # characters of a message's content
ROW_WIDTH = 5  # buttons in one action row
ROWS = 5  # action rows in one message
ELLIPSIS = "…"
# Just under the interaction token's 15 minutes: after that the reply can no longer be edited.
PAGE_TIMEOUT = 14 * 60.0


@dataclass(frozen=True, slots=True)
class Page:
    """The lines `start` to `stop` (exclusive) of a list, joined by line breaks into `text`."""

    text: str
    start: int
    stop: int


def cut(line: str, limit: int) -> str:
    """`line`, or its first characters and an ellipsis when it is longer than `limit`."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return line if len(line) <= limit else line[: limit - 1] + ELLIPSIS


def paginate(lines: Sequence[str], *, limit: int = CONTENT_LIMIT, per_page: int | None = None) -> list[Page]:
    """Split `lines` into pages of at most `limit` characters and `per_page` lines, in order.

    A line is never split across pages; a line longer than `limit` on its own is cut to fit. No lines,
    no pages.
    """
    if per_page is not None and per_page < 1:
        raise ValueError("per_page must be at least 1")
    pages: list[Page] = []
    current: list[str] = []
    size = 0
    start = 0
    for index, raw in enumerate(lines):
        line = cut(raw, limit)
        grown = size + len(line) + (1 if current else 0)
        if current and (grown > limit or (per_page is not None and len(current) >= per_page)):
            pages.append(Page("\n".join(current), start, index))
            current, start = [], index
            grown = len(line)
        current.append(line)
        size = grown
    if current:
        pages.append(Page("\n".join(current), start, len(lines)))
    return pages


def and_more(left: int) -> str:
    """The last line of a cut list: how many lines were left out."""
    return n_("…and {count} more.", "…and {count} more.", left)


def fit(lines: Sequence[str], *, limit: int = CONTENT_LIMIT, more: Callable[[int], str] = and_more) -> str:
    """As many whole lines as fit in `limit` characters, in order, then `more(n)` saying how many (n) were
    left out.

    For replies read once (a summary), where paging is more than the reader needs. A first line too long
    on its own is cut rather than left out.
    """
    whole = "\n".join(lines)
    if len(whole) <= limit:
        return whole
    kept: list[str] = []
    size = 0
    for index, raw in enumerate(lines):
        left = len(lines) - index - 1
        note = len(more(left)) + 1 if left else 0
        line = cut(raw, max(1, limit - note)) if not kept else raw
        grown = size + (1 if kept else 0) + len(line)
        if grown + note > limit:
            break
        kept.append(line)
        size = grown
    if len(kept) == len(lines):
        return "\n".join(kept)
    # The note fits: it is the one reserved when the last kept line was added.
    return "\n".join([*kept, cut(more(len(lines) - len(kept)), limit)])


@dataclass
class PagedReply:
    """A reply of several pages: `header` on each, then the page, `footer`, and "Page 2 of 5" when there
    are more. At most `per_page` lines a page (when each line has a button of its own). Its texts are in the
    language of the moment (the member's, who alone turns its pages)."""

    header: str
    lines: Sequence[str]
    per_page: int | None = None
    empty: str | None = None  # what an empty list shows (default: "Nothing to show.")
    footer: str = ""
    pages: list[Page] = field(init=False)

    def __post_init__(self) -> None:
        # The marker's size is reserved even for one page, so the pages never depend on how many there are.
        marker = _page_marker(9999, 9999)
        reserve = len(self.header) + len(self.footer) + len(marker) + 3
        self.pages = paginate(self.lines, limit=CONTENT_LIMIT - reserve, per_page=self.per_page)

    def content(self, index: int) -> str:
        if not self.pages:
            empty = self.empty if self.empty is not None else _("Nothing to show.")
            return "\n".join(part for part in (self.header, empty, self.footer) if part)
        page = self.pages[index]
        parts = [self.header, page.text, self.footer]
        if len(self.pages) > 1:
            parts.append(_page_marker(index + 1, len(self.pages)))
        return "\n".join(part for part in parts if part)


def _page_marker(page: int, pages: int) -> str:
    return _("Page {page} of {pages}", page=number(page), pages=number(pages))


ItemsFor = Callable[[Page], Sequence[discord.ui.Item[Any]]]


class Pager(discord.ui.View):
    """Previous/Next buttons that turn the pages of a private reply, for the member who asked only.

    Each page may carry its own buttons (`items_for`), at most four rows of them: the fifth is the
    Previous/Next row. The view lives as long as the interaction token can still edit the reply.
    """

    def __init__(
        self, reply: PagedReply, origin: discord.Interaction[Any], *, items_for: ItemsFor | None = None
    ) -> None:
        super().__init__(timeout=PAGE_TIMEOUT)
        self.reply = reply
        self.owner_id = origin.user.id
        self.index = 0
        self._items_for = items_for
        # The interaction whose token edits the reply when the buttons time out: the latest one.
        self.last: discord.Interaction[Any] = origin
        # The command's interaction id keeps two members' pagers apart: a followup's view is stored by
        # custom_id alone, with no message id.
        key = origin.id
        self.previous: discord.ui.Button[Pager] = discord.ui.Button(
            label=label_("Previous"),
            style=discord.ButtonStyle.secondary,
            custom_id=f"sora:pages:{key}:prev",
            row=4,
        )
        self.next: discord.ui.Button[Pager] = discord.ui.Button(
            label=label_("Next"),
            style=discord.ButtonStyle.secondary,
            custom_id=f"sora:pages:{key}:next",
            row=4,
        )
        self.previous.callback = self._previous  # type: ignore[method-assign]
        self.next.callback = self._next  # type: ignore[method-assign]
        self._show()

    @property
    def needed(self) -> bool:
        """Whether the reply has any button at all (else send it without a view)."""
        return bool(self.children)

    def content(self) -> str:
        return self.reply.content(self.index)

    def _show(self) -> None:
        self.clear_items()
        if self.reply.pages and self._items_for is not None:
            items = list(self._items_for(self.reply.pages[self.index]))
            if len(items) > (ROWS - 1) * ROW_WIDTH:
                raise ValueError(f"a page holds at most {(ROWS - 1) * ROW_WIDTH} buttons, got {len(items)}")
            for number, item in enumerate(items):
                item.row = number // ROW_WIDTH
                self.add_item(item)
        if len(self.reply.pages) > 1:
            self.previous.disabled = self.index == 0
            self.next.disabled = self.index == len(self.reply.pages) - 1
            self.add_item(self.previous)
            self.add_item(self.next)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                _("These buttons belong to the member who asked."), ephemeral=True
            )
            return False
        return True

    async def _turn(self, interaction: discord.Interaction[Any], step: int) -> None:
        self.index = max(0, min(len(self.reply.pages) - 1, self.index + step))
        self._show()
        self.last = interaction
        await interaction.response.edit_message(
            content=self.content(), view=self, allowed_mentions=discord.AllowedMentions.none()
        )

    async def _previous(self, interaction: discord.Interaction[Any]) -> None:
        await self._turn(interaction, -1)

    async def _next(self, interaction: discord.Interaction[Any]) -> None:
        await self._turn(interaction, 1)

    async def on_timeout(self) -> None:
        # Buttons left on the reply would only answer "This interaction failed". The latest interaction's
        # token is younger than the timeout (it restarts on each press), so it can still edit the reply.
        with contextlib.suppress(discord.HTTPException):
            await self.last.edit_original_response(view=None)


async def send_pages(
    interaction: discord.Interaction[Any], pages: PagedReply, *, items_for: ItemsFor | None = None
) -> None:
    """Answer with the first page, and Previous/Next buttons when there are more."""
    pager = Pager(pages, interaction, items_for=items_for)
    if pager.needed:
        await send_reply(interaction, pager.content(), view=pager)
    else:
        await send_reply(interaction, pager.content())
