"""Persistent buttons: custom ids stay `sora:<action>:<job id>`, and each action is one kind's, whose service
gets the press."""

from __future__ import annotations

import dataclasses
from typing import Any

import discord
import pytest

from bot.domain.models import JobRequest
from bot.ui.buttons import ACTIONS, ApprovalButton, ClipButton, bind_buttons, button, result_view
from tests.unit.storage.test_links import a_job

KINDS = (ClipButton, ApprovalButton)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_has_one_kind_and_keeps_its_custom_id(action: str) -> None:
    custom_id = f"sora:{action}:1234567890123456789"
    owners = [k for k in KINDS if k.__discord_ui_compiled_template__.fullmatch(custom_id)]
    assert owners == [type(button(action, 1234567890123456789))]
    assert button(action, 1234567890123456789).custom_id == custom_id


def test_approve_and_reject_are_the_approval_buttons() -> None:
    assert isinstance(button("approve", 1), ApprovalButton) and isinstance(
        button("reject", 1), ApprovalButton
    )
    assert not any(k.__discord_ui_compiled_template__.fullmatch("sora:nothing:1") for k in KINDS)


class Recorder:
    def __init__(self) -> None:
        self.pressed: list[tuple[str, int]] = []

    async def on_button(self, interaction: discord.Interaction[Any], action: str, job_id: int) -> None:
        self.pressed.append((action, job_id))


async def test_a_press_goes_to_the_service_bound_for_that_client() -> None:
    first, second = (
        discord.Client(intents=discord.Intents.none()),
        discord.Client(intents=discord.Intents.none()),
    )
    clips, approvals, other = Recorder(), Recorder(), Recorder()
    bind_buttons(first, clips=clips, approvals=approvals)
    bind_buttons(second, clips=other, approvals=other)
    pressed: Any = type("Press", (), {"client": first})()
    await button("reroll", 7).callback(pressed)
    await button("approve", 8).callback(pressed)
    assert clips.pressed == [("reroll", 7)] and approvals.pressed == [("approve", 8)] and other.pressed == []


def test_a_full_quality_link_joins_the_clips_buttons_within_discords_rows() -> None:
    url = "https://bucket.example.com/" + "x" * (512 - 27)
    for request in (
        JobRequest(prompt="a lake"),
        JobRequest(prompt="a lake", model="sora-2-pro", resolution="1080p"),
    ):
        job = dataclasses.replace(a_job(7), request=request)
        plain = result_view(job).to_components()
        rows = result_view(job, link=url).to_components()
        buttons = [b for row in rows for b in row["components"]]
        assert len(rows) <= 5 and all(len(row["components"]) <= 5 for row in rows)
        assert buttons[:-1] == [b for row in plain for b in row["components"]]  # the clip's own, unchanged
        assert buttons[-1] == {"type": 2, "style": 5, "label": "Full quality", "url": url, "disabled": False}
