"""The permission matrix (issue 11): for each command, button and form, who may use it (anyone, the job's
requester, a moderator with Manage Messages, an admin with Manage Server), in which context (a server channel,
a direct message with the bot, a server reached through a user install, another server naming this server's
job), driven through the real bot against the fake Discord.

Allowed: the action happened. Refused: a short private message, and nothing made or changed (no job, no
Prodia request, no file, no public post, no deletion, the target job as it was).

One test per context shares the expensive setup (clips delivered, a job running, a job awaiting approval) and
walks that context's rows; a failure lists every wrong cell.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from bot.client import SoraBot
from bot.domain.models import JobState
from tests.e2e.conftest import BOTH_ENGINES, MANAGE_GUILD, MANAGE_MESSAGES, World, all_jobs, finished, until
from tests.e2e.governed import Work, answer_text, answered, privately_refused, settled
from tests.e2e.test_commands import Forged
from tests.fakes.discord import Interaction

pytestmark = pytest.mark.parametrize("engine", BOTH_ENGINES, indirect=True)

Where = Literal["server", "dm", "user-install", "other-server"]
# requester: whoever asked for the job the action names; member: a member with no role and no job of theirs;
# mod: Manage Messages; admin: Manage Server (and Manage Messages); opener/other: who opened a form, and a
# member who did not open it but submits it.
Who = Literal["requester", "member", "mod", "admin", "opener", "other"]


@dataclass(frozen=True)
class Cell:
    action: str  # "/video", "/sora-admin budget set", "button reroll", "form remix", "button pages:next"
    who: Who
    where: Where
    allowed: bool
    unanswered: bool = False  # refused by not reaching any handler: no answer at all

    @property
    def id(self) -> str:
        outcome = "allowed" if self.allowed else "unanswered" if self.unanswered else "refused"
        return f"{self.action} | {self.who} | {self.where} -> {outcome}"


def row(actions: str | tuple[str, ...], where: Where, allowed: dict[Who, bool]) -> list[Cell]:
    """The cells of one or more actions in one context: who may (True) or may not (False)."""
    names = (actions,) if isinstance(actions, str) else actions
    return [Cell(action, who, where, ok) for action in names for who, ok in allowed.items()]


def buttons(*actions: str) -> tuple[str, ...]:
    return tuple(f"button {a}" for a in actions)


ANYONE: dict[Who, bool] = {"member": True, "mod": True}
REQUESTER_OR_MOD: dict[Who, bool] = {"requester": True, "member": False, "mod": True, "admin": True}
REQUESTER_ONLY: dict[Who, bool] = {"requester": True, "member": False, "mod": False}
MODS: dict[Who, bool] = {"requester": False, "member": False, "mod": True, "admin": True}
ADMINS: dict[Who, bool] = {"member": False, "mod": False, "admin": True}
OPENER: dict[Who, bool] = {"opener": True, "other": False}
MAKES_CLIPS = ("reroll", "flip", "upgrade", "continue")

TABLE: list[Cell] = [
    # -- a server channel, through the server's own install -------------------------------------------------
    *row("/video", "server", ANYONE),
    *row("/queue", "server", ANYONE),
    *row("/usage", "server", ANYONE),
    *row("/history", "server", ANYONE),
    *row("/show", "server", ANYONE),
    *row("/sora-admin channels list", "server", ADMINS),
    *row("/sora-admin budget set", "server", ADMINS),
    *row(buttons(*MAKES_CLIPS), "server", {"requester": True, "member": True}),
    *row("button remix", "server", {"requester": True, "member": True}),
    *row("form remix", "server", OPENER),
    *row("button cancel", "server", REQUESTER_OR_MOD),
    *row("button delete", "server", REQUESTER_OR_MOD),
    *row("button post", "server", REQUESTER_ONLY),
    *row("button approve", "server", MODS),
    *row("button reject", "server", MODS),
    *row("form reject", "server", OPENER),
    *row("button pages:next", "server", {"requester": True, "mod": False}),
    # -- the bot's direct messages: no command; the buttons it puts there, for the job's requester only ------
    *row("/video", "dm", {"member": False}),
    *row("/queue", "dm", {"member": False}),
    *row("/show", "dm", {"member": False}),
    *row("/sora-admin budget set", "dm", {"admin": False}),
    *row("button reroll", "dm", {"requester": True, "member": False}),
    *row("button remix", "dm", {"requester": True, "member": False}),
    *row("form remix", "dm", OPENER),
    *row("button post", "dm", {"requester": True, "member": False}),
    *row("button cancel", "dm", {"requester": True, "member": False, "mod": False}),
    *row(buttons("flip", "upgrade", "continue", "delete"), "dm", {"requester": False}),
    *row("button approve", "dm", {"mod": False}),
    *row("button reject", "dm", {"mod": False}),
    # -- this server, reached through a user install: nothing runs ------------------------------------------
    *row("/video", "user-install", {"member": False}),
    *row("/queue", "user-install", {"member": False}),
    *row("/show", "user-install", {"member": False}),
    *row("/sora-admin budget set", "user-install", {"admin": False}),
    *row(buttons(*MAKES_CLIPS, "remix", "post", "cancel", "delete"), "user-install", {"requester": False}),
    *row("button approve", "user-install", {"mod": False}),
    *row("button reject", "user-install", {"mod": False}),
    # -- another server naming this server's job (a forged custom_id or job id) -----------------------------
    *row("/show", "other-server", {"requester": False, "admin": False}),
    *row(
        buttons(*MAKES_CLIPS, "remix", "post", "cancel", "delete"),
        "other-server",
        {"requester": False, "admin": False},
    ),
    *row("button approve", "other-server", {"admin": False}),
    *row("button reject", "other-server", {"admin": False}),
    # The pager's view is keyed by its own message: a click anywhere else reaches no handler (Discord shows
    # "This interaction failed"), and nothing changes.
    Cell("button pages:next", "requester", "other-server", False, unanswered=True),
]  # fmt: skip


@dataclass
class Stage:
    """The shared setup: server A with alice's clips (jobs 1-4 public, 5 private), a running job of alice's,
    a job of bob's awaiting approval, an admin's paged blocklist; server B where some of them are members."""

    world: World
    bot: SoraBot
    monkeypatch: pytest.MonkeyPatch
    carol: int
    other_guild: int
    other_channel: int
    clip_messages: dict[int, int] = field(default_factory=dict)  # job id -> posted message id
    spare_clips: list[int] = field(default_factory=list)  # jobs whose clip an allowed Delete may take
    running: int = 0
    pending: int = 0
    pager: Interaction | None = None

    def user(self, who: Who, action: str) -> int:
        w = self.world
        if who == "requester":
            if action.endswith(("approve", "reject")):
                return w.bob
            return w.admin if "pages" in action else w.alice
        return {"member": self.carol, "mod": w.mod, "admin": w.admin, "opener": 0, "other": w.bob}[who]

    def message_with(self, custom_id: str) -> dict[str, Any] | None:
        for message in self.world.fake.messages.values():
            if message["deleted"]:
                continue
            for top in message.get("components") or []:
                if any(c.get("custom_id") == custom_id for c in top.get("components") or []):
                    return message
        return None

    async def state(self, job_id: int) -> JobState:
        job = await self.bot.pipeline.store.get(job_id)
        assert job is not None
        return job.state

    async def new_job(self, user_id: int, prompt: str) -> int:
        before = len(await all_jobs(self.bot))
        answer = await self.world.video_answer(user_id, prompt=prompt)
        jobs = await all_jobs(self.bot)
        assert len(jobs) > before, f"no job for {prompt!r}: {answer.get('content')!r}"
        job_id = jobs[-1].id
        await settled(self.bot)
        return job_id

    async def fresh_running(self) -> int:
        job_id = await self.new_job(self.world.alice, "a running job to cancel")
        assert await self.state(job_id) is JobState.RUNNING
        return job_id

    async def fresh_pending(self) -> int:
        job_id = await self.new_job(self.world.bob, "a request awaiting approval")
        assert await self.state(job_id) is JobState.AWAITING_APPROVAL
        return job_id

    @contextlib.contextmanager
    def context(self, where: Where, user_id: int) -> Iterator[None]:
        if where != "user-install":
            yield
            return
        with self.monkeypatch.context() as patched:
            Forged(self.world, patched, {"1": str(user_id)})
            yield

    async def command(self, path: str, user_id: int, where: Where) -> Interaction:
        name, *sub = path.lstrip("/").split()
        given: dict[str, list[dict[str, Any]]] = {
            "show": [{"name": "job_id", "value": 1}],
            "video": [{"name": "prompt", "value": "a matrix cell's clip"}],
            "budget": [{"name": "dollars_per_day", "value": 5000.0}],
        }
        options = given.get(sub[0] if sub else name, [])
        w = self.world
        if where == "dm":
            guild, channel = None, w.fake.snowflake()
        elif where == "other-server":
            guild, channel = self.other_guild, self.other_channel
        else:
            guild, channel = w.guild_id, w.channel_id
        with self.context(where, user_id):
            return await w.fake.slash(
                name, options, subcommand=sub or None, guild_id=guild, channel_id=channel, user_id=user_id
            )

    async def click(self, custom_id: str, user_id: int, where: Where) -> Interaction:
        w = self.world
        with self.context(where, user_id):
            if where == "dm":
                return await w.fake.click(
                    custom_id,
                    message_id=w.fake.snowflake(),
                    channel_id=w.fake.snowflake(),
                    guild_id=None,
                    user_id=user_id,
                )
            if where == "other-server":
                return await w.fake.click(
                    custom_id,
                    message_id=w.fake.snowflake(),
                    channel_id=self.other_channel,
                    guild_id=self.other_guild,
                    user_id=user_id,
                )
            message = self.message_with(custom_id)
            if message is None:  # a forged click: a bot message holding just that button
                return await w.fake.click(
                    custom_id,
                    message_id=w.fake.snowflake(),
                    channel_id=w.channel_id,
                    guild_id=w.guild_id,
                    user_id=user_id,
                )
            return await w.fake.click(
                custom_id,
                message_id=int(message["id"]),
                channel_id=int(message["channel_id"]),
                guild_id=w.guild_id,
                user_id=user_id,
            )


async def build_stage(world: World, bot: SoraBot, monkeypatch: pytest.MonkeyPatch, carol: int) -> Stage:
    other = world.fake.add_guild(name="elsewhere")
    other_channel = other.add_channel("general")
    other_admins = other.add_role("admins", MANAGE_GUILD | MANAGE_MESSAGES)
    for user, name in ((world.alice, "alice"), (carol, "carol"), (world.mod, "mod")):
        other.add_member(user_id=user, name=name)
    other.add_member(user_id=world.admin, name="admin", roles=[other_admins])
    stage = Stage(world, bot, monkeypatch, carol, other.id, other_channel)

    for n in range(1, 5):  # each accepted before the next is asked for: jobs 1 to 5 in this order
        await world.video_answer(prompt=f"public clip {n}", seed=n)
    await world.video_answer(prompt="a private clip", seed=5, private=True)
    for job_id in range(1, 6):
        assert (await finished(bot, job_id)).state is JobState.DELIVERED
    await until(lambda: len(world.clips()) == 4, what="the four clips posted")
    for message in world.clips():
        job_id = int(message["embeds"][0]["footer"]["text"].split()[1])
        stage.clip_messages[job_id] = int(message["id"])
    stage.spare_clips = [2, 3, 4]
    await until(lambda: stage.message_with("sora:post:5"), what="the private clip's Post button")

    trusted = next(r for r, role in world.fake.guilds[world.guild_id].roles.items() if role.name == "trusted")
    await world.admin_command("approvals", "on", channel=world.mods_channel_id, trusted_role=trusted)
    world.prodia.stuck = True
    stage.running = await stage.fresh_running()
    stage.pending = await stage.fresh_pending()

    for n in range(40):  # a blocklist of several pages: its pager's buttons belong to the admin who asked
        pattern = f"forbidden{n:03d}" + "x" * 80
        await bot.governance.add_block_rule(world.guild_id, pattern, False, world.admin)
    stage.pager = await world.fake.slash(
        "sora-admin",
        [],
        subcommand=["blocklist", "list"],
        guild_id=world.guild_id,
        channel_id=world.channel_id,
        user_id=world.admin,
    )
    await until(lambda: stage.message_with(pager_id(stage, "next")), what="the blocklist's pager")
    return stage


def pager_id(stage: Stage, direction: str) -> str:
    assert stage.pager is not None
    return f"sora:pages:{stage.pager.id}:{direction}"


async def run_cell(stage: Stage, cell: Cell) -> str | None:
    """Drive one cell; None when the outcome is the expected one, else what went wrong."""
    world, bot = stage.world, stage.bot
    kind, action = cell.action.split(" ", 1) if not cell.action.startswith("/") else ("command", cell.action)
    user = stage.user(cell.who, cell.action)
    job_id, target_message = 1, None
    if action == "cancel":
        job_id = await stage.fresh_running() if cell.allowed else stage.running
    elif action in ("approve", "reject") and kind == "button":
        job_id = await stage.fresh_pending() if cell.allowed else stage.pending
    elif action == "delete":
        job_id = stage.spare_clips.pop(0) if cell.allowed else 1
        target_message = stage.clip_messages[job_id]
    elif action == "post":
        job_id = 5

    # A form: opened by someone allowed to, in the cell's context; the cell is who submits it.
    opened: Interaction | None = None
    if kind == "form":
        if action == "remix":
            opener = world.alice if cell.where == "dm" else stage.carol
            opened = await stage.click("sora:remix:1", opener, cell.where)
        else:
            job_id = await stage.fresh_pending()
            opener = world.mod
            opened = await stage.click(f"sora:reject:{job_id}", opener, cell.where)
        await answered(world, opened)
        if opened.modal is None:
            return f"the form was not shown to its opener: {answer_text(world, opened)!r}"
        if cell.who == "opener":
            user = opener

    await settled(bot)
    before = await Work.now(world, bot)
    state_before = await stage.state(job_id)

    if kind == "command":
        inter = await stage.command(action, user, cell.where)
    elif kind == "form":
        assert opened is not None and opened.modal is not None
        values = {"prompt": "remixed in the matrix"} if action == "remix" else {"reason": "not today"}
        with stage.context(cell.where, user):
            inter = await world.fake.submit_modal(None, values, interaction=opened, user_id=user)
    elif action.startswith("pages:"):
        inter = await stage.click(pager_id(stage, action.split(":")[1]), user, cell.where)
    else:
        inter = await stage.click(f"sora:{action}:{job_id}", user, cell.where)
    if cell.unanswered:
        # Interactions are handled in order: once a later one is answered, this one was seen.
        await answered(world, await stage.command("/usage", user, "server"))
        text = answer_text(world, inter)
    else:
        text = await answered(world, inter)
    await settled(bot)
    after = await Work.now(world, bot)
    state_after = await stage.state(job_id)

    if not cell.allowed:
        if cell.unanswered:
            refusal = f"answered {inter.response_type}: {text!r}" if inter.response_type else None
        else:
            refusal = privately_refused(world, inter)
        problems = [p for p in [refusal] if p] + before.changes(after)
        if state_after is not state_before:
            problems.append(f"job {job_id} went {state_before} -> {state_after}")
        return "; ".join(problems) or None

    new_jobs = [j for j in await all_jobs(bot) if j.id > before.jobs[-1][0]]
    happened: bool
    if kind == "form" and action == "remix":
        happened = [(j.user_id, j.request.prompt) for j in new_jobs] == [(user, "remixed in the matrix")]
    elif kind == "form":
        happened = state_after is JobState.REJECTED
    elif action in ("/video", *MAKES_CLIPS):
        requester = world.alice if cell.where == "dm" else user
        happened = [j.user_id for j in new_jobs] == [requester]
    elif action in ("remix", "reject"):
        happened = inter.modal is not None
    elif action == "cancel":
        happened = state_after is JobState.CANCELLED
    elif action == "approve":
        happened = state_after in (JobState.QUEUED, JobState.SUBMITTING, JobState.RUNNING)
    elif action == "delete":
        assert target_message is not None
        happened = bool(world.fake.messages[target_message]["deleted"])
    elif action == "post":
        happened = after.posts == before.posts + 1 and "Posted" in text
    elif action == "/show":
        happened = after.posts == before.posts + 1 and "Posted job 1 again" in text
    elif action.startswith("pages:"):
        happened = "Page 2 of" in str((world.fake.original(inter.token) or {}).get("content"))
    else:
        marker = {
            "/queue": "queue",
            "/usage": "Jobs this hour",
            "/history": "Recent clips by",
            "/sora-admin channels list": "Every channel",
            "/sora-admin budget set": "Daily budget set to $5,000.00",
        }[action]
        happened = marker in text
    if not happened:
        changes = before.changes(after)
        return f"did not happen: answer {text!r}, modal {inter.modal is not None}, changes {changes}"
    return None


@pytest.mark.parametrize("where", ["server", "dm", "user-install", "other-server"])
async def test_permission_matrix(world: World, monkeypatch: pytest.MonkeyPatch, where: Where) -> None:
    guild = world.fake.guilds[world.guild_id]
    trusted = guild.add_role("trusted")
    guild.members[world.alice].roles.append(trusted)  # alice's jobs skip approval; bob's and carol's wait
    carol = guild.add_member(name="carol")
    cells = [c for c in TABLE if c.where == where]
    assert len({(c.action, c.who) for c in cells}) == len(cells), "a cell is in the table twice"
    # Room at Prodia for every job the allowed cells start (they stay running there: Prodia is held).
    async with world.bot(max_concurrent_jobs=100) as bot:
        stage = await build_stage(world, bot, monkeypatch, carol)
        wrong = []
        for cell in cells:
            problem = await run_cell(stage, cell)
            if problem is not None:
                wrong.append(f"{cell.id}: {problem}")
        world.prodia.stuck = False
    assert not wrong, f"{len(wrong)} of {len(cells)} cells wrong:\n" + "\n".join(wrong)
