"""sora-bot: a self-hosted Discord bot that turns prompts into Sora 2 clips through Prodia."""

__version__ = "0.1.0"
