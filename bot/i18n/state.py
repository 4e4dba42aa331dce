"""The language of each interaction's handlers: discord.py's connection state, speaking the member's locale
while it parses an interaction (discord.py starts the handlers' tasks then, and a task keeps the context it
was started in)."""

from __future__ import annotations

from typing import Any

from discord.state import AutoShardedConnectionState

from bot.i18n.messages import speaking


class SpeakingState(AutoShardedConnectionState):
    """discord.py's connection state, with each interaction's handlers (the tasks discord.py starts while it
    parses the interaction) speaking the member's language (`interaction.locale`): one place for every
    command, button and form. A post in a channel switches to the server's language where it is made."""

    def parse_interaction_create(self, data: Any) -> None:
        with speaking(data.get("locale")):
            super().parse_interaction_create(data)
