"""Every reply path at its worst, end to end (issue 10): the longest prompts /video takes (2,048 one-character
lines, markdown with masked links and mentions, wide unicode), the longest texts from Prodia and moderators,
and the largest numbers an admin can set, through the real bot and the strict fake Discord.

Each test checks everything the bot sent: every message body (posts, edits, callbacks, followups) within
Discord's limits (the fake refuses the rest, and the `world` fixture fails the test on any refusal), every
embed free of live links, no pings but the requester's on a posted clip, and an answer for the member to read.

Hypothesis: one test draws adversarial 4,096-character prompts (pieces of markdown, mentions, links and wide
characters, joined by newlines or not, cut at any point) and sends them all through one running bot, the way
tests/e2e/test_fuzz_video.py does: Hypothesis runs in a worker thread and hands each example to the test's
event loop. Derandomized, ten examples, so CI runs the same ones.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.models import JobState
from bot.ui.buttons import ACTIONS
from tests.e2e.conftest import World, all_jobs, finished, until
from tests.e2e.test_embed_limits import reject, said
from tests.e2e.test_governance import approval_messages
from tests.e2e.test_reply_limits import seed_job
from tests.embed_checks import PROMPT_MAX, REASON_MAX, live_links, problems, texts, unescaped
from tests.fakes.discord import EPHEMERAL, MENTION_EVERYONE
from tests.fakes.prodia import Fault

CONTENT_MAX = 2000  # a bot's message content (Discord)
TEXT_INPUT_MAX = 4000  # a modal text input's value and max_length (Discord)
LIMITS: dict[str, Any] = {
    "default_jobs_per_hour": 1000,
    "default_concurrent_jobs": 1000,
    "default_video_seconds_per_day": 10**6,
}


def exactly(text: str, length: int = PROMPT_MAX) -> str:
    """`text` repeated and cut to exactly `length` characters that survive the bot's strip()."""
    text = (text * (length // max(len(text), 1) + 1))[:length]
    if text[0].isspace():
        text = "x" + text[1:]
    if text[-1].isspace():
        text = text[:-1] + "x"
    return text


# (a) 2,048 lines, all but one of a single character (2,048 lines of one character and their newlines make
# 4,095): markdown characters, so escaping doubles them and every line gets its "> ".
ONE_CHARACTER_LINES = "\n".join([*([*"*_~`|>#-@<[\\"] * 171)[:2047], "xy"])


def markdown_prompt(user: int, role: int) -> str:
    """(b) Masked links, bare links, autolinks, @everyone, user and role mentions, code fences, quotes."""
    return exactly(
        f"[x](https://a.b) @everyone <@{user}> <@&{role}> @here https://a.b/c <https://a.b> "
        "```\ncode [y](https://a.b)\n```\n> quoted **bold** __u__ ||spoiler|| ~~s~~\n# heading\n-# small\n"
        "1. list\n- item\n"
    )


# (c) Wide characters: emoji and ZWJ families, CJK, combining marks, zero-width and direction marks, and a
# Unicode line separator (a line break to Python's splitlines, not to Discord).
WIDE_PROMPT = exactly("👩\u200d👩\u200d👧🙂日本語e\u0301\u200b\u202e\ufeff\u2028𝔘")


def prompts(world: World) -> dict[str, str]:
    role = world.fake.guilds[world.guild_id].add_role("pingable", mentionable=True)
    found = {
        "one-character lines": ONE_CHARACTER_LINES,
        "markdown and mentions": markdown_prompt(world.bob, role),
        "wide unicode": WIDE_PROMPT,
    }
    assert all(len(p) == PROMPT_MAX and p == p.strip() for p in found.values())
    assert ONE_CHARACTER_LINES.count("\n") == 2047
    return found


def may_ping_everyone(world: World) -> None:
    """Give the bot's role the right to ping @everyone and roles: a stray mention would then really ping."""
    guild = world.fake.guilds[world.guild_id]
    guild.roles[guild.bot_role_id].permissions |= MENTION_EVERYONE


# -- what the bot sent ---------------------------------------------------------------------------------------


def bodies(world: World) -> Iterator[dict[str, Any]]:
    """Every message body the bot sent: posts, edits, interaction callbacks (their data) and followups."""
    for request in world.fake.requests:
        body = request.json
        if isinstance(body, dict) and isinstance(body.get("data"), dict):
            body = body["data"]  # an interaction callback
        if isinstance(body, dict) and ("content" in body or "embeds" in body):
            yield body


def sent_embeds(world: World) -> list[dict[str, Any]]:
    return [e for body in bodies(world) for e in body.get("embeds") or []]


def check_everything_sent(world: World, requesters: set[int]) -> None:
    """Every embed the bot ever sent fits and renders no link; every message pings nobody, except a posted
    clip its requester; every content fits."""
    embeds = sent_embeds(world)
    assert embeds
    assert [(e.get("title"), problems(e)) for e in embeds if problems(e)] == []
    shown = [text for embed in embeds for text in texts(embed)]
    assert [(text[:80], live_links(text)) for text in shown if live_links(text)] == []
    assert all(len(body.get("content") or "") <= CONTENT_MAX for body in bodies(world))
    for message in world.fake.messages.values():
        assert message["mention_roles"] == [] and not message["mention_everyone"], message["content"]
        pinged = {int(u["id"]) for u in message["mentions"]}
        if message["attachments"] and message["content"].endswith("your clip is ready."):
            assert pinged <= requesters and len(pinged) == 1, message["content"]
        else:
            assert pinged == set(), message["content"]


def answers(world: World, token: str) -> list[dict[str, Any]]:
    """The interaction's own answers: its response (unless it was a silent update of the clicked message)
    and its followups."""
    original = world.fake.original(token)
    if world.fake.interactions[token].response_type in (6, 7):
        original = None  # the clicked message itself
    return [m for m in [original, *world.fake.followups(token)] if m]


def readable(world: World, token: str) -> str:
    """What the bot answered privately to this interaction: present, private, within the limits."""
    messages = answers(world, token)
    assert messages, "no answer"
    text = []
    for message in messages:
        assert message["flags"] & EPHEMERAL, message
        assert len(message["content"]) <= CONTENT_MAX
        assert all(problems(e) == [] for e in message["embeds"])
        text.append(message["content"] + " ".join(e.get("title", "") for e in message["embeds"]))
    assert "".join(text).strip(), messages
    return " ".join(text)


async def answered(world: World, token: str, *expected: str) -> str:
    """The private answer to this interaction, once it says one of `expected`."""
    await until(
        lambda: any(
            e in " ".join(m["content"] + str(m["embeds"]) for m in answers(world, token)) for e in expected
        ),
        timeout=20,
        what=f"an answer saying {expected}",
    )
    return readable(world, token)


def embeds_titled(world: World, token: str, title: str) -> list[dict[str, Any]]:
    """The embeds of the interaction's response whose title starts with `title`."""
    return [e for e in world.answer(token).get("embeds") or [] if e["title"].startswith(title)]


def clips_of(world: World, job_id: int) -> list[dict[str, Any]]:
    return [m for m in world.clips() if m["embeds"][0]["footer"]["text"].startswith(f"Job {job_id} ")]


def clip_of(world: World, job_id: int) -> dict[str, Any]:
    [clip] = [m for m in world.clips() if m["embeds"][0]["footer"]["text"].startswith(f"Job {job_id} ")]
    return clip


def audit_posts(world: World, action: str) -> list[dict[str, Any]]:
    return [
        m for m in world.fake.channel_messages(world.audit_channel_id) if m["embeds"][0]["title"] == action
    ]


# -- /video --------------------------------------------------------------------------------------------------


async def test_the_worst_prompts_through_status_clip_and_audit_post(world: World) -> None:
    may_ping_everyone(world)
    worst = prompts(world)
    world.prodia.processing_seconds = 6.0  # long enough for a "Generating… N s" edit (one every 5 s at most)
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        tokens = {name: await world.video(prompt=prompt) for name, prompt in worst.items()}
        for job_id, (name, prompt) in enumerate(worst.items(), start=1):
            job = await finished(bot, job_id)
            assert job.state is JobState.DELIVERED, (name, job.error)
            assert job.request.prompt == prompt
            status = await until(partial(embeds_titled, world, tokens[name], "Done"), what="the status")
            assert unescaped(status[0]["description"]).startswith("> " + prompt[:10].split("\n")[0])
            clip = await until(partial(clips_of, world, job_id), what="the clip")
            assert clip[0]["content"] == f"<@{world.alice}> your clip is ready."
            assert unescaped(clip[0]["embeds"][0]["description"]).startswith(
                "> " + prompt[:10].split("\n")[0]
            )
        posts = await until(
            lambda: len(audit_posts(world, "job.delivered")) == 3 and audit_posts(world, "job.delivered"),
            what="the audit posts",
        )
        starts = sorted(unescaped(p["embeds"][0]["description"])[:4] for p in posts)
        assert starts == sorted("> " + p[:2] for p in worst.values())
        # Every status edit (queued, generating, delivering, done) went through the fake's checks.
        edits = [
            r.json for r in world.fake.requests if r.method == "PATCH" and r.path.startswith("/webhooks/")
        ]
        titles = {e["embeds"][0]["title"].split("…")[0] for e in edits if e and e.get("embeds")}
        assert {"Generating", "Done: the clip is posted"} <= titles, titles
    check_everything_sent(world, {world.alice})


# -- the buttons ---------------------------------------------------------------------------------------------


async def click(world: World, action: str, job_id: int, message: dict[str, Any], user_id: int) -> str:
    interaction = await world.fake.click(
        f"sora:{action}:{job_id}", message_id=int(message["id"]), user_id=user_id
    )
    return interaction.token


async def test_every_button_on_a_clip_of_the_worst_prompt_answers_readably(world: World) -> None:
    may_ping_everyone(world)
    prompt = prompts(world)["markdown and mentions"]
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        await world.video(prompt=prompt)
        private_token = await world.video(prompt=prompt, private=True)
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        assert (await finished(bot, 2)).state is JobState.DELIVERED
        clip = clip_of(world, 1)
        assert {c["label"] for row in clip["components"] for c in row["components"]} == {
            ACTIONS[a][0] for a in ("reroll", "remix", "flip", "upgrade", "continue", "delete")
        }

        # Post: the private clip goes to the channel, pinging its requester only.
        [private] = await until(lambda: [m for m in world.fake.followups(private_token) if m["attachments"]])
        assert private["flags"] & EPHEMERAL
        token = await click(world, "post", 2, private, world.alice)
        await answered(world, token, "Posted to the channel.")
        assert clip_of(world, 2)["content"] == f"<@{world.alice}> your clip is ready."

        # The variants wait at Prodia: their answers are what counts here.
        world.prodia.stuck = True
        variants = {}
        for action in ("reroll", "flip", "upgrade", "continue"):
            token = await click(world, action, 1, clip, world.bob)
            variants[action] = token
            await answered(world, token, "Generating", "Queued")

        # Re-roll on the private clip too (its message is ephemeral).
        token = await click(world, "reroll", 2, private, world.alice)
        await answered(world, token, "Generating", "Queued")

        # Remix: the 4,096-character prompt is offered in a text input that holds 4,000, and sent back as is.
        token = await click(world, "remix", 1, clip, world.bob)
        modal = await until(lambda: world.fake.interactions[token].modal, what="the remix form")
        [text_input] = [c for row in modal["components"] for c in row["components"]]
        assert text_input["max_length"] <= TEXT_INPUT_MAX and len(text_input["value"]) <= TEXT_INPUT_MAX
        assert text_input["value"] == prompt[:TEXT_INPUT_MAX]
        submit = await world.fake.submit_modal(
            modal["custom_id"], {"prompt": text_input["value"]}, user_id=world.bob
        )
        await answered(world, submit.token, "Generating", "Queued")
        jobs = await until(lambda: _at_least(bot, 8), what="the six variants")
        [remixed] = [j for j in jobs if j.request.prompt != prompt]
        assert remixed.request.prompt == prompt[:TEXT_INPUT_MAX].strip()

        # Cancel, on the status message of the re-roll.
        status = world.answer(variants["reroll"])
        job_id = int(status["embeds"][0]["footer"]["text"].removeprefix("Job "))
        token = await click(world, "cancel", job_id, status, world.bob)
        await answered(world, token, f"Cancelled job {job_id}.")

        # Delete, by the requester.
        token = await click(world, "delete", 1, clip, world.alice)
        await answered(world, token, "Deleted the clip of job 1.")
        assert not [m for m in world.clips() if m["id"] == clip["id"]]
    check_everything_sent(world, {world.alice})


async def _at_least(bot: Any, n: int) -> Any:
    jobs = await all_jobs(bot)
    return jobs if len(jobs) >= n else None


# -- failures and every job outcome in the audit channel -----------------------------------------------------

LONG_ERROR = exactly("[free](https://a.b) @everyone <@1> <@&2> **not bold** `x` > no\n# h ", 2000)


def refuse_with_a_long_error(world: World) -> None:
    """Prodia answers 400 with a long error, on the async endpoint and then on the sync one the bot tries."""
    for route in ("POST /job/async", "POST /job"):
        world.prodia.add_fault(Fault(route, "status", status=400, body={"error": LONG_ERROR}))


async def test_every_outcome_of_a_worst_prompt_job_with_the_longest_texts(world: World) -> None:
    may_ping_everyone(world)
    prompt = prompts(world)["one-character lines"]
    reason = exactly("[r](https://a.b) <@1> *_~`|", REASON_MAX)
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)

        # 1: delivered.
        await world.video(prompt=prompt)
        assert (await finished(bot, 1)).state is JobState.DELIVERED

        # 2: Prodia refuses it with a long error: the status message says what happened, within its field.
        refuse_with_a_long_error(world)
        token = await world.video(prompt=prompt)
        failed = await finished(bot, 2)
        assert failed.state is JobState.FAILED and failed.user_error
        embed = await until(partial(embeds_titled, world, token, "Failed"), what="the failed status")
        [happened] = [f["value"] for f in embed[0]["fields"] if f["name"] == "What happened"]
        assert unescaped(happened).startswith("Prodia rejected this request: [free](https://a.b) @everyone")

        # 3: the same, where the status message could not be shown: the requester is told privately.
        refuse_with_a_long_error(world)
        world.fake.fail_next(
            "PATCH /webhooks/{application_id}/{interaction_token}/messages/{message_id}",
            status=400,
            code=50035,
            when=lambda rec: bool(rec.json and rec.json.get("embeds")),
        )
        token = await world.video(prompt=prompt)
        assert (await finished(bot, 3)).state is JobState.FAILED
        # (The first followup after a deferral takes the place of the "thinking…" response.)
        told = await until(lambda: [m for m in answers(world, token) if "failed" in m["content"]])
        assert told[0]["flags"] & EPHEMERAL and len(told[0]["content"]) <= CONTENT_MAX
        assert unescaped(told[0]["content"]).startswith("Job 3 failed: Prodia rejected this request: [free]")
        assert live_links(told[0]["content"]) == []

        # 4: cancelled while Prodia works on it.
        world.prodia.stuck = True
        token = await world.video(prompt=prompt)
        status = await until(lambda: world.answer(token).get("embeds") and world.answer(token))
        press = await click(world, "cancel", 4, status, world.alice)
        await answered(world, press, "Cancelled job 4.")
        assert (await finished(bot, 4)).state is JobState.CANCELLED
        world.prodia.stuck = False

        # 5: rejected by a moderator with the longest reason.
        await world.admin_command("approvals", "on", channel=world.mods_channel_id)
        token = await world.video(prompt=prompt)
        request = await until(lambda: approval_messages(world), what="the approval request")
        submit = await reject(world, request[0], 5, reason, world.mod)
        assert "Rejected job 5" in said(world, submit)
        assert (await finished(bot, 5)).state is JobState.REJECTED
        rejected = await until(partial(embeds_titled, world, token, "Rejected"), what="the rejected status")
        [happened] = [f["value"] for f in rejected[0]["fields"] if f["name"] == "What happened"]
        assert unescaped(reason) in unescaped(happened) or reason[:100] in unescaped(happened)

        # One audit post per outcome, each showing the prompt; the reason and the error as plain text.
        for outcome in ("delivered", "failed", "cancelled", "rejected"):
            posts = await until(partial(audit_posts, world, f"job.{outcome}"), what=f"job.{outcome}")
            for post in posts:
                assert unescaped(post["embeds"][0]["description"]).startswith("> *\n> _\n> ~")
        [rejected_post] = audit_posts(world, "job.rejected")
        assert any(reason[:50] in unescaped(f["value"]) for f in rejected_post["embeds"][0]["fields"])
    check_everything_sent(world, {world.alice})


# -- admin and member commands with the largest numbers ------------------------------------------------------


async def test_admin_and_usage_answers_with_the_largest_numbers(world: World) -> None:
    may_ping_everyone(world)
    worst = list(prompts(world).values())
    guild = world.fake.guilds[world.guild_id]
    role = guild.add_role("x" * 100, mentionable=True)
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        for target in ({"user": world.alice}, {"role": role}, {}):
            token = await world.admin_command(
                "limits", "set", **target, jobs_per_hour=10_000, video_seconds_per_day=1_000_000,
                concurrent=100, pro=True, hd=True,
            )  # fmt: skip
            assert "jobs per hour 10000" in readable(world, token)
        token = await world.admin_command("limits", "set", user=world.alice, role=role, concurrent=100)
        assert "Choose a role or a member, not both." in readable(world, token)
        token = await world.admin_command(
            "defaults", duration=12, aspect_ratio="9:16", model="sora-2-pro", age_restricted_images=True,
            strikes_to_block=100,
        )  # fmt: skip
        assert "strikes to block 100" in readable(world, token)

        for _ in range(99):
            await bot.governance.add_strike(world.guild_id, world.alice, 100)
        token = await world.admin_command("user", "strikes", member=world.alice)
        assert f"<@{world.alice}>: 99 of 100 strikes, not blocked." in readable(world, token)

        world.prodia.stuck = True  # the 50 jobs below wait at Prodia
        for i in range(50):
            await seed_job(bot, world, user_id=world.alice, prompt=worst[i % 3])
        interaction = await world.fake.slash(
            "usage", [], guild_id=world.guild_id, channel_id=world.channel_id, user_id=world.alice
        )
        text = await answered(world, interaction.token, "Jobs this hour")
        assert "of 10,000" in text and "of 1,000,000 s" in text and "of 100" in text

        token = await world.admin_command("export")
        message = world.answer(token)
        assert readable(world, token) == "50 jobs."
        data = world.fake.attachment_path(message["attachments"][0]).read_text("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(data)))
        assert len(rows) == 50 and {r["prompt"] for r in rows} == set(worst)
        await until(lambda: audit_posts(world, "jobs.export"), what="the export's audit post")
        assert len(audit_posts(world, "limits.set")) == 3 and audit_posts(world, "defaults.set")
    check_everything_sent(world, set())


async def test_blocklist_answers_and_a_blocked_worst_prompt_render_no_link(world: World) -> None:
    may_ping_everyone(world)
    pattern = exactly(f"[free](https://a.b) see https://a.b/c <https://a.b> @everyone <@{world.bob}> ", 200)
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        token = await world.admin_command("blocklist", "add", pattern=pattern)
        added = readable(world, token)
        assert unescaped(added) == f"Blocked word: {pattern}"
        assert live_links(added) == []
        token = await world.admin_command("blocklist", "add", pattern="([" * 100, regex=True)
        assert "That regex is not valid" in readable(world, token)
        await world.admin_command("blocklist", "add", pattern="zebra")
        token = await world.admin_command("blocklist", "list")
        listed = readable(world, token)
        assert unescaped(listed).count(pattern) == 1 and live_links(listed) == []

        # A worst prompt with a blocked word: a short private refusal, a strike, nothing queued.
        answer = await world.video_answer(prompt=exactly("zebra " + markdown_prompt(world.bob, 1)))
        assert answer["flags"] & EPHEMERAL and not answer["embeds"]
        assert "This counts as a strike." in answer["content"] and len(answer["content"]) < 200
        assert await all_jobs(bot) == []
        [strike] = await until(lambda: audit_posts(world, "member.strike"), what="the strike's audit post")
        assert unescaped(strike["embeds"][0]["description"]).startswith("> zebra [x](https://a.b)")
        token = await world.admin_command("user", "strikes", member=world.alice)
        assert f"<@{world.alice}>: 1 of 3 strikes, not blocked." in readable(world, token)
    check_everything_sent(world, set())


WORST_NAME = "[x](https://a.b)@everyone**__"  # 32 characters, Discord's longest display name


async def test_approval_and_every_other_admin_command_at_their_worst(world: World) -> None:
    may_ping_everyone(world)
    prompt = prompts(world)["markdown and mentions"]
    guild = world.fake.guilds[world.guild_id]
    [mods] = [r for r in guild.roles.values() if r.name == "mods"]
    moderator = guild.add_member(name=WORST_NAME, roles=[mods.id])
    role = guild.add_role(WORST_NAME * 3, mentionable=True)
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)
        token = await world.admin_command("approvals", "on", channel=world.mods_channel_id, trusted_role=role)
        assert "Approval is on" in readable(world, token)

        # Approve, by a moderator with the worst name: the request shows who decided, as plain text.
        await world.video(prompt=prompt)
        [request] = await until(lambda: approval_messages(world), what="the approval request")
        press = await world.fake.click("sora:approve:1", message_id=int(request["id"]), user_id=moderator)
        await answered(world, press.token, "Approved job 1.")
        assert (await finished(bot, 1)).state is JobState.DELIVERED
        decided = await until(
            lambda: [m for m in approval_messages(world) if not m["components"]], what="the decision shown"
        )
        assert unescaped(decided[0]["embeds"][0]["title"]).endswith(WORST_NAME)

        answers_expected = [
            (("approvals", "off"), {}, "Approval is off."),
            (("budget", "set"), {"dollars_per_day": 1_000_000}, "Daily budget set to $1,000,000.00."),
            (("budget", "set"), {}, "Daily budget removed."),
            (("limits", "clear"), {"role": role}, "had no limits set."),
            (("limits", "clear"), {}, "Choose one role or one member."),
            (("limits", "set"), {}, "Give at least one limit to set."),
            (("defaults",), {}, "Give at least one default to set."),
            (("channels", "add"), {"channel": world.channel_id}, f"<#{world.channel_id}>"),
            (("channels", "remove"), {"channel": world.channel_id}, f"<#{world.channel_id}>"),
            (("roles", "allow"), {"role": role}, f"<@&{role}>"),
            (("roles", "remove"), {"role": role}, f"<@&{role}>"),
            (("user", "block"), {"member": moderator}, f"<@{moderator}> is blocked."),
            (("user", "unblock"), {"member": moderator}, f"<@{moderator}> is unblocked."),
            (("user", "reset"), {"member": moderator}, "strikes and usage reset."),
            (("user", "forget"), {"member": world.alice}, f"Forgot <@{world.alice}>"),
            (("audit", "channel"), {}, "Audit posts are off."),
        ]
        for path, options, expected in answers_expected:
            token = await world.admin_command(*path, **options)
            assert expected in readable(world, token), (path, readable(world, token))
        posts = world.fake.channel_messages(world.audit_channel_id)
        assert {"job.delivered", "member.forget", "budget.set"} <= {p["embeds"][0]["title"] for p in posts}
    check_everything_sent(world, {world.alice})


# -- Hypothesis: adversarial 4,096-character prompts ---------------------------------------------------------

PIECES = [
    "[x](https://a.b)", "https://a.b/c", "<https://a.b>", "@everyone", "@here", "<@{user}>", "<@&{role}>",
    "<#1>", "```", "`", "**", "__", "~~", "||", "> ", "# ", "-# ", "1. ", "- ", "\\", "*", "_", "[", "](",
    ":", "//", "<", ">", "\n", "\n\n", " ", "\t", "🙂", "👩\u200d👧", "日本", "e\u0301", "\u200b", "\u2028",
]  # fmt: skip
WORST_PROMPTS = st.lists(
    st.one_of(
        st.sampled_from(PIECES),
        st.sampled_from(PIECES),  # twice: mostly markdown, mentions and links, some random text
        st.sampled_from(["\n", "\n\n", "\n> ", "\n# "]),
        st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=6),
    ),
    min_size=1,
    max_size=12,
).flatmap(
    lambda pieces: st.integers(0, len("".join(pieces)) - 1).map(
        lambda shift: exactly(("".join(pieces) * 2)[shift:] or "x")
    )
)


async def run_prompt(world: World, bot: Any, prompt: str, user: int, role: int) -> None:
    prompt = exactly(prompt.replace("{user}", str(world.bob)).replace("{role}", str(role)))
    answer = await world.video_answer(user, prompt=prompt)
    [embed] = answer["embeds"]
    job_id = int(embed["footer"]["text"].removeprefix("Job "))
    assert (await finished(bot, job_id)).state is JobState.DELIVERED
    clip = await until(partial(clips_of, world, job_id), what="the clip")
    assert clip[0]["content"] == f"<@{user}> your clip is ready."
    await until(lambda: len(audit_posts(world, "job.delivered")) >= job_id, what="the audit post")


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
async def test_random_worst_case_prompts_reach_discord_within_its_limits(world: World) -> None:
    may_ping_everyone(world)
    role = world.fake.guilds[world.guild_id].add_role("pingable", mentionable=True)
    loop = asyncio.get_running_loop()
    users: list[int] = []
    async with world.bot(**LIMITS) as bot:
        await world.admin_command("audit", "channel", channel=world.audit_channel_id)

        @settings(
            derandomize=True,
            database=None,
            deadline=None,
            max_examples=10,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(prompt=WORST_PROMPTS)
        def one(prompt: str) -> None:
            users.append(world.fake.guilds[world.guild_id].add_member(name=f"member{len(users)}"))
            run = run_prompt(world, bot, prompt, users[-1], role)
            asyncio.run_coroutine_threadsafe(run, loop).result(timeout=60)

        await asyncio.to_thread(one)
        assert len(await all_jobs(bot)) >= 10
    check_everything_sent(world, set(users))
