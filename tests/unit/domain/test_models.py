"""The job request enforces the seed's rules and maps to exactly one job type and config."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.models import JobRequest, JobType
from bot.domain.pricing import Prices
from bot.errors import InvalidRequest


def test_defaults_make_a_sora2_text_to_video_job() -> None:
    request = JobRequest.parse(prompt="  A cyclist sprints up a steep hill  ")
    assert request.job_type is JobType.TXT2VID
    assert request.prodia_job() == {
        "type": "inference.sora-2.txt2vid.v1",
        "config": {"prompt": "A cyclist sprints up a steep hill", "aspect_ratio": "16:9", "duration": 4},
    }
    assert request.size == (1280, 720)
    assert not request.has_audio


@pytest.mark.parametrize(
    ("values", "job_type", "config_keys", "size"),
    [
        ({"model": "sora-2"}, JobType.TXT2VID, {"prompt", "aspect_ratio", "duration"}, (1280, 720)),
        (
            {"model": "sora-2-pro", "resolution": "1080p", "aspect_ratio": "9:16", "duration": 8},
            JobType.PRO_TXT2VID,
            {"prompt", "aspect_ratio", "duration", "resolution"},
            (1080, 1920),
        ),
        (
            {"image_path": "/tmp/a.png", "seed": 7},
            JobType.IMG2VID,
            {"prompt", "aspect_ratio", "duration", "image", "seed"},
            (1280, 720),
        ),
        (
            {"model": "sora-2-pro", "image_path": "/tmp/a.webp", "kind": "img2vid"},
            JobType.PRO_IMG2VID,
            {"prompt", "aspect_ratio", "duration", "image", "resolution"},
            (1280, 720),
        ),
    ],
)
def test_each_combination_maps_to_one_type_with_only_its_keys(
    values: dict[str, Any], job_type: JobType, config_keys: set[str], size: tuple[int, int]
) -> None:
    request = JobRequest.parse(prompt="a dog runs", **values)
    job = request.prodia_job()
    assert job["type"] == job_type.value
    assert set(job["config"]) == config_keys
    assert request.size == size
    assert request.has_audio == job_type.pro
    if job_type.image_to_video:
        assert job["config"]["image"] == request.input_filename
        assert request.input_filename is not None and request.input_filename.startswith("input.")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"prompt": "hi"}, "at least 3"),
        ({"prompt": "   ab   "}, "at least 3"),
        ({"prompt": "x" * 4097}, "at most 4,096"),
        ({"prompt": "bell\x07 here"}, "control characters"),
        ({"prompt": "null\x00 here"}, "control characters"),
        ({"prompt": "ok", "duration": 5}, None),
        ({"prompt": "a fine prompt", "duration": 5}, "4, 8 or 12"),
        ({"prompt": "a fine prompt", "duration": True}, "duration"),
        ({"prompt": "a fine prompt", "aspect_ratio": "4:3"}, "16:9 or 9:16"),
        ({"prompt": "a fine prompt", "model": "sora-3"}, "sora-2 or sora-2-pro"),
        ({"prompt": "a fine prompt", "seed": 0}, "seed must be"),
        ({"prompt": "a fine prompt", "seed": 2_147_483_648}, "seed must be"),
        ({"prompt": "a fine prompt", "resolution": "1080p"}, "only be chosen with the sora-2-pro"),
        ({"prompt": "a fine prompt", "kind": "img2vid"}, "needs an image"),
        (
            {"prompt": "a fine prompt", "kind": "txt2vid", "image_path": "/tmp/x.png"},
            "only be used for image",
        ),
        ({"prompt": "a fine prompt", "colour": "red"}, "colour"),
    ],
)
def test_invalid_requests_are_refused_with_a_readable_reason(
    values: dict[str, Any], message: str | None
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        JobRequest.parse(**values)
    if message is not None:
        assert message in caught.value.user_message


def test_prompt_keeps_newlines_and_tabs_and_any_script() -> None:
    request = JobRequest.parse(prompt="Zeile eins\n\tzweite Zeile: 日本語のテキスト 🚴")
    assert "\n\t" in request.prompt


def test_prompt_length_bounds_are_inclusive() -> None:
    assert JobRequest.parse(prompt="abc").prompt == "abc"
    assert len(JobRequest.parse(prompt="y" * 4096).prompt) == 4096


def test_seed_bounds_are_inclusive() -> None:
    assert JobRequest.parse(prompt="abc", seed=1).seed == 1
    assert JobRequest.parse(prompt="abc", seed=2_147_483_647).seed == 2_147_483_647


@pytest.mark.parametrize(
    ("values", "dollars"),
    [
        ({}, 0.40),
        ({"duration": 12}, 1.20),
        ({"model": "sora-2-pro"}, 1.20),
        ({"model": "sora-2-pro", "resolution": "720p", "duration": 8}, 2.40),
        ({"model": "sora-2-pro", "resolution": "1080p", "duration": 12}, 6.00),
    ],
)
def test_estimates_use_per_second_prices(values: dict[str, Any], dollars: float) -> None:
    assert Prices().estimate(JobRequest.parse(prompt="a dog runs", **values)) == pytest.approx(dollars)


def test_prices_come_from_settings() -> None:
    prices = Prices(sora2=0.2, sora2_pro_720p=1.0, sora2_pro_1080p=2.0)
    assert prices.estimate(JobRequest.parse(prompt="abc", duration=8)) == pytest.approx(1.6)
    assert prices.estimate(JobRequest.parse(prompt="abc", model="sora-2-pro", resolution="1080p")) == 8.0
