from __future__ import annotations
import io, logging
import pytest
from PIL import Image
from tests.e2e.conftest import World, all_jobs

async def test_probe(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.prodia.stuck = True
    im = Image.new("RGB", (64, 40), (255, 0, 0))
    o = io.BytesIO(); im.save(o, format="PNG", exif=b"MM\x00*\x00\x00")
    async with world.bot() as bot:
        a = await world.video_answer(prompt="ab\ud800cdef")
        print(a.get("content"), a.get("embeds"))
        print(await all_jobs(bot), await bot.pipeline.store.usage(world.guild_id, world.alice))
        a = await world.video_answer(prompt="animate it", image="a", attachments={"a": ("x.png", o.getvalue(), "image/png")})
        print(a.get("content"), a.get("embeds"))
    print([r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR])
