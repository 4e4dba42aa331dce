"""The Sora 2 job schema, as the fake checks it on its own: `validate_job`, image checks, clip size
and price."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from tests.fakes.prodia.constants import IMG2VID_TYPES, JOB_TYPES, PRICE_PER_SECOND, PRO_TYPES


class _Invalid(Exception):
    """A schema violation at a JSON pointer."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"validation failed at '{pointer}': {message}")


def _pointer(*keys: str) -> str:
    return "".join("/" + key.replace("~", "~0").replace("/", "~1") for key in keys)


def _is_int(value: object) -> bool:
    # JSON true/false arrive as bools, which are ints to Python but not to a JSON schema.
    return isinstance(value, int) and not isinstance(value, bool)


def _decoded_size(data: bytes) -> tuple[int, int] | None:
    """The image's (width, height) once fully decoded, or None if it doesn't decode."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        # verify() misses truncated pixel data; a full decode does not.
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return img.size
    except Exception:
        return None


def validate_job(
    job: Any, inputs: list[tuple[str | None, bytes]]
) -> tuple[str, dict[str, Any], bytes | None]:
    """Check a job against the Sora 2 schema; return (type, config with defaults, image bytes or None).

    Raises `_Invalid` for schema violations and `KeyError` (with the type) for an unknown job type.
    The image is only matched to its part here; whether it decodes is checked by the caller.
    """
    if not isinstance(job, dict):
        raise _Invalid("", "value must be an object")
    for key in job:
        if key not in ("type", "config"):
            raise _Invalid(_pointer(key), "additional property is not allowed")
    if "type" not in job:
        raise _Invalid("/type", "required property missing")
    job_type = job["type"]
    if not isinstance(job_type, str):
        raise _Invalid("/type", "value must be a string")
    if job_type not in JOB_TYPES:
        raise KeyError(job_type)
    if "config" not in job:
        raise _Invalid("/config", "required property missing")
    config = job["config"]
    if not isinstance(config, dict):
        raise _Invalid("/config", "value must be an object")

    pro = job_type in PRO_TYPES
    img2vid = job_type in IMG2VID_TYPES
    allowed = {"prompt", "aspect_ratio", "duration", "seed"}
    if pro:
        allowed.add("resolution")
    if img2vid:
        allowed.add("image")
    for key in config:
        if key not in allowed:
            raise _Invalid(_pointer("config", key), "additional property is not allowed")

    if "prompt" not in config:
        raise _Invalid("/config/prompt", "required property missing")
    prompt = config["prompt"]
    if not isinstance(prompt, str):
        raise _Invalid("/config/prompt", "value must be a string")
    if not 3 <= len(prompt) <= 4096:
        raise _Invalid("/config/prompt", "string length must be between 3 and 4096")

    echoed: dict[str, Any] = {"prompt": prompt}
    aspect = config.get("aspect_ratio", "16:9")
    if aspect not in ("16:9", "9:16"):
        raise _Invalid("/config/aspect_ratio", 'value must be one of "16:9", "9:16"')
    echoed["aspect_ratio"] = aspect
    duration = config.get("duration", 4)
    if not _is_int(duration) or duration not in (4, 8, 12):
        raise _Invalid("/config/duration", "value must be one of 4, 8, 12")
    echoed["duration"] = duration
    if "seed" in config:
        seed = config["seed"]
        if not _is_int(seed) or not 1 <= seed <= 2_147_483_647:
            raise _Invalid("/config/seed", "value must be an integer from 1 to 2147483647")
        echoed["seed"] = seed
    if pro:
        resolution = config.get("resolution", "720p")
        if resolution not in ("720p", "1080p"):
            raise _Invalid("/config/resolution", 'value must be one of "720p", "1080p"')
        echoed["resolution"] = resolution

    names = [name for name, _ in inputs]
    for name in names:
        if not name:
            raise _Invalid("/input", "every input part needs a filename")
        if names.count(name) > 1:
            raise _Invalid("/input", f"input filename '{name}' is used more than once")
    image: bytes | None = None
    if img2vid:
        if "image" not in config:
            raise _Invalid("/config/image", "required property missing")
        wanted = config["image"]
        if not isinstance(wanted, str):
            raise _Invalid("/config/image", "value must be a string")
        image = next((data for name, data in inputs if name == wanted), None)
        if image is None:
            raise _Invalid("/config/image", f"no uploaded input part is named '{wanted}'")
        echoed["image"] = wanted
    return job_type, echoed, image


def job_size(job_type: str, config: dict[str, Any]) -> tuple[int, int, str]:
    """(width, height, resolution label) of the clip a job produces."""
    resolution = config.get("resolution", "720p") if job_type in PRO_TYPES else "720p"
    long_side, short_side = (1920, 1080) if resolution == "1080p" else (1280, 720)
    if config.get("aspect_ratio", "16:9") == "9:16":
        return short_side, long_side, resolution
    return long_side, short_side, resolution


def job_price(job_type: str, config: dict[str, Any]) -> float:
    """Dollars for a job at the placeholder per-second prices."""
    if job_type in PRO_TYPES:
        rate = PRICE_PER_SECOND[config.get("resolution", "720p")]
    else:
        rate = PRICE_PER_SECOND["standard"]
    return round(int(config["duration"]) * rate, 4)
