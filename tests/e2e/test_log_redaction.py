"""LOG_LEVEL=DEBUG under the real bot: discord.py logs webhook URLs and gateway payloads carrying interaction
tokens (valid 15 minutes); the handler `setup_logging` installs must mask every one of them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import MASK, setup_logging
from tests.conftest import PRODIA_TOKEN
from tests.e2e.conftest import World, finished, until
from tests.harness import logging_restored


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """What the handler from `setup_logging("DEBUG", ...)` writes; the root logger is restored afterwards."""
    with logging_restored():
        yield io.StringIO()


async def test_no_interaction_token_reaches_the_debug_log(world: World, debug_log: io.StringIO) -> None:
    settings = world.settings(log_level="DEBUG")
    setup_logging(settings.log_level, settings.secrets())
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(debug_log)
    async with world.bot(log_level="DEBUG") as bot:
        tokens = [await world.video(prompt=f"a kite over the dunes, take {i}") for i in range(2)]
        for job_id in (1, 2):
            job = await finished(bot, job_id)
            assert job.state.value == "delivered", job.error
        # A followup (a private error message) goes through POST /webhooks/{app}/{token} as well.
        tokens.append(await world.video(prompt="a clip the bot refuses", model="sora-2", resolution="1080p"))
        await until(lambda: world.answer(tokens[-1]).get("content"), what="the refusal")
    text = debug_log.getvalue()
    # The run did log the routes and events that carry tokens, with the tokens masked.
    assert "/webhooks/" in text and "/interactions/" in text and "INTERACTION_CREATE" in text
    assert MASK in text
    for token in tokens:
        assert token.startswith("fake-itoken-")
        assert token not in text
        # Nor the random tail alone (a token cut at a dash still opens the webhook). The tail is all that
        # follows the interaction id: token_urlsafe may put a dash in it, and a two-letter piece of it is
        # found in any long text.
        assert token.split("-", 3)[3] not in text
    assert "fake-itoken-" not in text
    assert world.fake.bot_token not in text and PRODIA_TOKEN not in text
