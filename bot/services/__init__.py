"""Services: what the bot does, each built with what it uses (see bot/client.py, the composition root)."""
