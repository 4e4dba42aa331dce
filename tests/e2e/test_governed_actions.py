"""Every member action is governed (issue 11): each command, button and form the running bot offers is
classified here, and a blocked member trying each one gets a short private refusal and makes no work: no
job, no Prodia request, no file under the output folder, no public post.

A new command, button, form or view that is not classified fails `test_every_action_is_classified`: nobody
can add an action without saying which rules hold it back.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from bot.client import SoraBot
from bot.domain.models import JobState
from bot.ui.buttons import ACTIONS
from bot.ui.stories import STORY_ACTIONS
from tests.e2e.conftest import BOTH_ENGINES, World, finished, until
from tests.e2e.governed import (
    Work,
    answered,
    answers,
    command_paths,
    dynamic_items,
    modal_classes,
    privately_refused,
    settled,
    view_classes,
)
from tests.e2e.test_button_rules import png
from tests.e2e.test_story import open_story, story_clips, story_ended, tell_story
from tests.fakes.discord import EPHEMERAL, Interaction

pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)

# What holds each action back, and what a blocked member (or any member who may not) is told.
MAKES_WORK = "makes work (a job, a file, a public post): refuses a blocked member"
READ_ONLY = "read-only: answers privately, makes no work"
ADMIN = "admin (Manage Server): refused for anyone else"
OWN_JOB = "the requester's or a moderator's: refused for anyone else, makes no work"
MODERATOR = "moderators only (Manage Messages): refused for anyone else"
OWNER = "the member who asked only (turns the pages of their private reply)"
OPENER = "the member the form was shown to, under the rules of the button that opened it"

REFUSAL = {
    MAKES_WORK: "blocked from making clips",
    ADMIN: "Manage Server permission",
    OWN_JOB: "Only the person who asked for this",  # clip, or story
    MODERATOR: "Only moderators",
    OWNER: "belong to the member who asked",
    OPENER: "belongs to the member who opened it",
}

# Each command as the member types it, its class, and the options it needs (the blocked member's values).
COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "video": (MAKES_WORK, {"prompt": "a blocked member's clip"}),
    "show": (MAKES_WORK, {"job_id": 1}),
    "queue": (READ_ONLY, {}),
    "usage": (READ_ONLY, {}),
    "history": (READ_ONLY, {}),
    "sora-admin limits show": (ADMIN, {}),
    "sora-admin limits set": (ADMIN, {"jobs_per_hour": 1000}),
    "sora-admin limits clear": (ADMIN, {"user": "alice"}),
    "sora-admin budget set": (ADMIN, {"dollars_per_day": 1000.0}),
    "sora-admin channels add": (ADMIN, {"channel": "channel"}),
    "sora-admin channels remove": (ADMIN, {"channel": "channel"}),
    "sora-admin channels list": (ADMIN, {}),
    "sora-admin roles allow": (ADMIN, {"role": "mods"}),
    "sora-admin roles remove": (ADMIN, {"role": "mods"}),
    "sora-admin roles list": (ADMIN, {}),
    "sora-admin blocklist add": (ADMIN, {"pattern": "kite"}),
    "sora-admin blocklist remove": (ADMIN, {"pattern": "kite"}),
    "sora-admin blocklist list": (ADMIN, {}),
    "sora-admin approvals on": (ADMIN, {"channel": "channel"}),
    "sora-admin approvals off": (ADMIN, {}),
    "sora-admin audit channel": (ADMIN, {"channel": "channel"}),
    "sora-admin defaults": (ADMIN, {"duration": 8}),
    "sora-admin user block": (ADMIN, {"member": "alice"}),
    "sora-admin user unblock": (ADMIN, {"member": "bob"}),
    "sora-admin user reset": (ADMIN, {"member": "bob"}),
    "sora-admin user strikes": (ADMIN, {"member": "alice"}),
    "sora-admin user forget": (ADMIN, {"member": "alice"}),
    "sora-admin usage": (ADMIN, {}),
    "sora-admin export": (ADMIN, {}),
    "story": (MAKES_WORK, {}),
}
# The job buttons (bot/ui/buttons.py ACTIONS), by action.
BUTTONS: dict[str, str] = {
    "reroll": MAKES_WORK,
    "remix": MAKES_WORK,
    "flip": MAKES_WORK,
    "upgrade": MAKES_WORK,
    "continue": MAKES_WORK,
    "post": MAKES_WORK,  # a public post of the requester's private clip
    "cancel": OWN_JOB,
    "delete": OWN_JOB,
    "approve": MODERATOR,
    "reject": MODERATOR,
}
# The story buttons (bot/ui/stories.py STORY_ACTIONS): Re-roll and Extend on the blocked member's own story,
# Cancel and Delete on another member's.
STORY_BUTTONS: dict[str, str] = {
    "reroll": MAKES_WORK,
    "extend": MAKES_WORK,
    "cancel": OWN_JOB,
    "delete": OWN_JOB,
}
VIEWS = {"Pager": OWNER}  # views with buttons of their own (bot/ui/pages.py: Previous/Next)
FORMS = {"RemixModal": OPENER, "RejectModal": OPENER, "StoryModal": OPENER, "ExtendModal": OPENER}
# DynamicItems: the custom_id carries the action (BUTTONS, STORY_BUTTONS)
PERSISTENT = {"ClipButton", "ApprovalButton", "StoryButton"}


async def test_every_action_is_classified(world: World) -> None:
    async with world.bot() as bot:
        synced = command_paths(world.fake.commands[world.guild_id])
        tree = command_paths(
            [c.to_dict(bot.tree) for c in bot.tree.get_commands(guild=world.fake.guilds[world.guild_id])]
        )
        assert synced == tree
        assert synced == set(COMMANDS), f"classify in COMMANDS: {synced ^ set(COMMANDS)}"
        assert set(ACTIONS) == set(BUTTONS), f"classify in BUTTONS: {set(ACTIONS) ^ set(BUTTONS)}"
        assert set(STORY_ACTIONS) == set(STORY_BUTTONS), (
            f"classify: {set(STORY_ACTIONS) ^ set(STORY_BUTTONS)}"
        )
        assert dynamic_items(bot) == PERSISTENT
        assert view_classes() == set(VIEWS), f"classify in VIEWS: {view_classes() ^ set(VIEWS)}"
        assert modal_classes() == set(FORMS), f"classify in FORMS: {modal_classes() ^ set(FORMS)}"


def status_done(world: World, token: str) -> bool:
    return "Done" in world.answer(token)["embeds"][0]["title"]


def option_values(world: World, options: dict[str, Any]) -> list[dict[str, Any]]:
    guild = world.fake.guilds[world.guild_id]
    names = {
        "alice": world.alice,
        "bob": world.bob,
        "channel": world.channel_id,
        "mods": next(r for r, role in guild.roles.items() if role.name == "mods"),
    }
    return [{"name": k, "value": names.get(v, v) if isinstance(v, str) else v} for k, v in options.items()]


def message_holding(world: World, custom_id: str) -> dict[str, Any]:
    """The bot's message holding this button; else a new one holding just it (a forged click)."""
    for message in world.fake.messages.values():
        rows = message.get("components") or []
        if not message["deleted"] and any(
            c.get("custom_id") == custom_id for r in rows for c in r.get("components") or []
        ):
            return message
    return {"id": world.fake.snowflake(), "channel_id": world.channel_id}


async def blocked_member_tries(world: World, bot: SoraBot, what: str, act: Any, kind: str) -> list[str]:
    """Run `act()` (returns the interaction) as the blocked member; what is wrong with the outcome."""
    await settled(bot)
    before = await Work.now(world, bot)
    inter: Interaction = await act()
    text = await answered(world, inter)
    await settled(bot)
    problems = before.changes(await Work.now(world, bot))
    if kind == READ_ONLY:
        messages = answers(world, inter)
        if inter.modal is not None or not messages or not all(m["flags"] & EPHEMERAL for m in messages):
            problems.append(f"not a private answer: {text!r}")
    else:
        wrong = privately_refused(world, inter)
        if wrong:
            problems.append(wrong)
        elif REFUSAL[kind] not in text:
            problems.append(f"refused with {text!r}, not {REFUSAL[kind]!r}")
    return [f"{what} ({kind}): {p}" for p in problems]


async def test_a_blocked_member_is_refused_everything_that_makes_work(world: World) -> None:
    async with world.bot() as bot:
        # Alice's image clip (Re-roll and Continue would copy or cut an image), bob's private clip (its Post
        # button), and the admin's blocklist of several pages (its Previous/Next).
        await world.video_answer(
            prompt="the kite lifts off", image="pic", attachments={"pic": ("kite.png", png(), "image/png")}
        )
        await world.video_answer(world.bob, prompt="bob's own private clip", private=True)
        for job_id in (1, 2):
            assert (await finished(bot, job_id)).state is JobState.DELIVERED
        [posted] = await until(world.clips, what="alice's clip")
        # Bob's story (its Re-roll and Extend), a story form and an Extend form he opened before he was
        # blocked, and alice's story (its Cancel and Delete, which aren't bob's).
        statuses = [
            (await tell_story(world, ["bob's story begins", "bob's story goes on"], user_id=world.bob))[0],
            (await tell_story(world, ["alice's story begins", "alice's story goes on"]))[0],
        ]
        for story_id, token in enumerate(statuses, 1):
            await story_ended(bot, story_id)
            # Its status message's last edit (thumbnails made and kept) is done before the counting starts.
            await until(partial(status_done, world, token), what="the story's last status")
        await until(lambda: len(story_clips(world)) == 2, what="the stories")
        story_form, _ = await open_story(world, world.bob)
        extend_form = await world.fake.click(
            "sora-story:extend:1", message_id=int(message_holding(world, "sora-story:extend:1")["id"]),
            user_id=world.bob,
        )  # fmt: skip
        await until(lambda: extend_form.modal, what="bob's extend form")
        for n in range(40):
            pattern = f"forbidden{n:03d}" + "x" * 80
            await bot.governance.add_block_rule(world.guild_id, pattern, False, world.admin)
        pager = await world.fake.slash(
            "sora-admin", [], subcommand=["blocklist", "list"], guild_id=world.guild_id,
            channel_id=world.channel_id, user_id=world.admin,
        )  # fmt: skip
        await answered(world, pager)
        # A Remix form bob opened before he was blocked, and a Reject form a moderator opened.
        remix = await world.fake.click(
            "sora:remix:1", message_id=int(posted["id"]), user_id=world.bob, guild_id=world.guild_id
        )
        await until(lambda: remix.modal, what="bob's remix form")
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        await world.video(prompt="a request awaiting approval")
        await until(lambda: bot.pipeline.store.get(7), what="the request")
        approval = await until(
            lambda: [m for m in world.fake.channel_messages(world.mods_channel_id) if m["components"]],
            what="the approval request",
        )
        reject = await world.fake.click(
            "sora:reject:7", message_id=int(approval[0]["id"]), user_id=world.mod, guild_id=world.guild_id
        )
        await until(lambda: reject.modal, what="the moderator's reject form")
        await world.admin_command("user", "block", member=world.bob)

        wrong: list[str] = []
        for path, (kind, options) in COMMANDS.items():
            name, *sub = path.split()

            async def command(name: str = name, sub: list[str] = sub, options: Any = options) -> Interaction:
                return await world.fake.slash(
                    name, option_values(world, options), subcommand=sub or None,
                    guild_id=world.guild_id, channel_id=world.channel_id, user_id=world.bob,
                )  # fmt: skip

            wrong += await blocked_member_tries(world, bot, f"/{path}", command, kind)
        targets = {"post": 2, "approve": 7, "reject": 7}
        for action, kind in BUTTONS.items():
            job_id = targets.get(action, 1)
            message = message_holding(world, f"sora:{action}:{job_id}")

            async def click(
                action: str = action, job_id: int = job_id, message: Any = message
            ) -> Interaction:
                return await world.fake.click(
                    f"sora:{action}:{job_id}", message_id=int(message["id"]),
                    channel_id=int(message["channel_id"]), guild_id=world.guild_id, user_id=world.bob,
                )  # fmt: skip

            wrong += await blocked_member_tries(world, bot, f"button {action}", click, kind)

        for action, kind in STORY_BUTTONS.items():
            story_id = 1 if kind == MAKES_WORK else 2
            custom_id = f"sora-story:{action}:{story_id}" + (":1" if action == "reroll" else "")
            message = message_holding(world, custom_id)

            async def press(custom_id: str = custom_id, message: Any = message) -> Interaction:
                return await world.fake.click(
                    custom_id, message_id=int(message["id"]), channel_id=int(message["channel_id"]),
                    guild_id=world.guild_id, user_id=world.bob,
                )  # fmt: skip

            wrong += await blocked_member_tries(world, bot, f"story button {action}", press, kind)

        async def submit_story() -> Interaction:
            values = {"shot-1": "a blocked story", "shot-2": "goes on"}
            return await world.fake.submit_modal(
                None, values, interaction=world.fake.interactions[story_form]
            )

        wrong += await blocked_member_tries(world, bot, "StoryModal", submit_story, MAKES_WORK)

        async def submit_extend() -> Interaction:
            return await world.fake.submit_modal(
                None, {"prompt": "extended while blocked"}, interaction=extend_form
            )

        wrong += await blocked_member_tries(world, bot, "ExtendModal", submit_extend, MAKES_WORK)

        async def turn_page() -> Interaction:
            custom_id = f"sora:pages:{pager.id}:next"
            return await world.fake.click(
                custom_id, message_id=int(message_holding(world, custom_id)["id"]), user_id=world.bob,
                guild_id=world.guild_id,
            )  # fmt: skip

        wrong += await blocked_member_tries(world, bot, "Pager Next", turn_page, OWNER)

        async def submit_remix() -> Interaction:
            return await world.fake.submit_modal(None, {"prompt": "remixed while blocked"}, interaction=remix)

        wrong += await blocked_member_tries(world, bot, "RemixModal", submit_remix, MAKES_WORK)

        async def submit_reject() -> Interaction:
            return await world.fake.submit_modal(
                None, {"reason": "a blocked member's say"}, interaction=reject, user_id=world.bob
            )

        wrong += await blocked_member_tries(world, bot, "RejectModal (a moderator's)", submit_reject, OPENER)
        job = await bot.pipeline.store.get(7)
        assert job is not None and job.state is JobState.AWAITING_APPROVAL

        # The buttons of bob's own clip in his direct messages with the bot: the server's rules hold there.
        def in_dm(action: str) -> Any:
            async def click() -> Interaction:
                return await world.fake.click(
                    f"sora:{action}:2", message_id=world.fake.snowflake(),
                    channel_id=world.fake.snowflake(), guild_id=None, user_id=world.bob,
                )  # fmt: skip

            return click

        for action in ("post", "reroll"):
            wrong += await blocked_member_tries(world, bot, f"DM button {action}", in_dm(action), MAKES_WORK)
        # Remix shows its form in a DM at once (fetching the member first could miss Discord's 3 s); the
        # submission is where the rules refuse.
        dm_remix = await in_dm("remix")()
        await until(lambda: dm_remix.modal, what="the remix form in a DM")

        async def submit_in_dm() -> Interaction:
            return await world.fake.submit_modal(None, {"prompt": "a DM remix"}, interaction=dm_remix)

        wrong += await blocked_member_tries(world, bot, "DM RemixModal", submit_in_dm, MAKES_WORK)
    assert not wrong, "\n".join(wrong)
