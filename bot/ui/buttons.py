"""Persistent buttons: the job id and the action live in the custom_id (`sora:<action>:<job id>`), so they
work after a restart. Each kind of button is one DynamicItem whose template names its own actions, and hands
the press to the service that owns them: clip buttons to the clips service, Approve / Reject to approvals. The
composition root binds each kind to its service per client (tests run several bots in one process)."""

from __future__ import annotations

import re
import weakref
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import discord

from bot.domain.models import Job
from bot.i18n.messages import label_
from bot.tree import handle_error

# Each action's label (English, translated where a button is made: in the language of the message it is on).
ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "cancel": (label_("Cancel"), discord.ButtonStyle.danger),
    "reroll": (label_("Re-roll"), discord.ButtonStyle.primary),
    "remix": (label_("Remix"), discord.ButtonStyle.secondary),
    "flip": (label_("Flip aspect"), discord.ButtonStyle.secondary),
    "upgrade": (label_("Upgrade to Pro 1080p"), discord.ButtonStyle.secondary),
    "continue": (label_("Continue"), discord.ButtonStyle.secondary),
    "delete": (label_("Delete"), discord.ButtonStyle.danger),
    "post": (label_("Post to channel"), discord.ButtonStyle.success),
    "approve": (label_("Approve"), discord.ButtonStyle.success),
    "reject": (label_("Reject"), discord.ButtonStyle.danger),
}
APPROVAL_ACTIONS = ("approve", "reject")
CLIP_ACTIONS = tuple(a for a in ACTIONS if a not in APPROVAL_ACTIONS)


class ButtonHandler(Protocol):
    """A service that carries out its buttons' actions."""

    async def on_button(self, interaction: discord.Interaction[Any], action: str, job_id: int) -> None: ...


H = TypeVar("H", bound=ButtonHandler)


class _Handlers(Generic[H]):
    """Which service handles a kind of button, per client."""

    def __init__(self) -> None:
        self._by_client: weakref.WeakKeyDictionary[discord.Client, H] = weakref.WeakKeyDictionary()

    def bind(self, client: discord.Client, handler: H) -> None:
        self._by_client[client] = handler

    def of(self, client: discord.Client) -> H:
        handler = self._by_client.get(client)
        if handler is None:
            raise RuntimeError("no service bound to these buttons")
        return handler


class _JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"sora:(?P<action>[a-z]+):(?P<job_id>[0-9]{1,19})",
):
    """What every job button shares: its look and custom_id by action, and errors answered like commands'."""

    handlers: ClassVar[_Handlers[Any]]

    def __init__(self, action: str, job_id: int) -> None:
        label, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(label=label_(label), style=style, custom_id=f"sora:{action}:{job_id}")
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _JobButton:
        return cls(match["action"], int(match["job_id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.handlers.of(interaction.client).on_button(interaction, self.action, self.job_id)
        except Exception as exc:  # buttons have no command tree; their errors go through the same handler
            await handle_error(interaction, exc)


class ClipButton(
    _JobButton, template=rf"sora:(?P<action>{'|'.join(CLIP_ACTIONS)}):(?P<job_id>[0-9]{{1,19}})"
):
    """A button on a status message or a clip: handled by the clips service."""

    handlers: ClassVar[_Handlers[Any]] = _Handlers()


class ApprovalButton(
    _JobButton, template=rf"sora:(?P<action>{'|'.join(APPROVAL_ACTIONS)}):(?P<job_id>[0-9]{{1,19}})"
):
    """Approve / Reject on a request in the moderators' channel: handled by the approvals service."""

    handlers: ClassVar[_Handlers[Any]] = _Handlers()


PERSISTENT_ITEMS = (ClipButton, ApprovalButton)


def bind_buttons(client: discord.Client, *, clips: ButtonHandler, approvals: ButtonHandler) -> None:
    """Hand each kind of button to its service for `client`; register them so old messages' buttons work."""
    ClipButton.handlers.bind(client, clips)
    ApprovalButton.handlers.bind(client, approvals)
    client.add_dynamic_items(*PERSISTENT_ITEMS)


def button(action: str, job_id: int) -> _JobButton:
    return (ApprovalButton if action in APPROVAL_ACTIONS else ClipButton)(action, job_id)


def view_of(job: Job, *actions: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(button(action, job.id))
    return view


def status_view(job: Job) -> discord.ui.View:
    return view_of(job, "cancel")


def approval_view(job: Job) -> discord.ui.View:
    return view_of(job, *APPROVAL_ACTIONS)


def result_view(job: Job, *, link: str | None = None) -> discord.ui.View:
    """A public clip's buttons (six at most: two rows), and a "Full quality" link to the original when the
    clip posted is a re-encode or a preview."""
    actions = ["reroll", "remix", "flip"]
    if not (job.request.model == "sora-2-pro" and job.request.effective_resolution == "1080p"):
        actions.append("upgrade")
    actions += ["continue", "delete"]
    view = view_of(job, *actions)
    if link is not None:
        view.add_item(
            discord.ui.Button(style=discord.ButtonStyle.link, label=label_("Full quality"), url=link)
        )
    return view


def private_result_view(job: Job) -> discord.ui.View:
    return view_of(job, "post", "reroll", "remix")
