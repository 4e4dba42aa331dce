"""The options /video and /story share, as Discord shows them: their choices and descriptions."""

from __future__ import annotations

from discord.app_commands import Choice

from bot.domain.models import SEED_MAX

DURATIONS = [
    Choice(name="4 seconds", value=4),
    Choice(name="8 seconds", value=8),
    Choice(name="12 seconds", value=12),
]
ASPECT_RATIOS = [Choice(name="16:9 landscape", value="16:9"), Choice(name="9:16 portrait", value="9:16")]
MODELS = [Choice(name="Sora 2", value="sora-2"), Choice(name="Sora 2 Pro (with audio)", value="sora-2-pro")]
RESOLUTIONS = [Choice(name="720p", value="720p"), Choice(name="1080p (Pro only)", value="1080p")]
DESCRIBED = {
    "aspect_ratio": "Landscape or portrait",
    "model": "sora-2 is faster and cheaper; sora-2-pro adds synchronized audio and 1080p",
    "resolution": "720p or 1080p (sora-2-pro only)",
}
IMAGE_LIMITS = "PNG, JPEG or WebP, up to 20 MB and 4096 px a side"
SEEDS = f"A number from 1 to {SEED_MAX:,}"
