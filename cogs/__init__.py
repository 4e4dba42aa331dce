"""Discord command groups, loaded by the bot's client in its setup hook."""
