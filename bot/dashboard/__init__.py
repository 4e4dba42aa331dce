"""The web dashboard (`sora-bot dashboard`): Starlette, Jinja2 and uvicorn, on the bot's database."""
