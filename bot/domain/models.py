"""The job request (the seed's rules, stated once), job types, lifecycle states and the stored job row."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, NotRequired, Self, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import InvalidRequest
from bot.i18n.messages import _, number

PROMPT_MIN = 3
PROMPT_MAX = 4096
SEED_MAX = 2_147_483_647
DURATIONS = (4, 8, 12)

Model = Literal["sora-2", "sora-2-pro"]
AspectRatio = Literal["16:9", "9:16"]
Resolution = Literal["720p", "1080p"]
Kind = Literal["txt2vid", "img2vid"]

_ALLOWED_CONTROL = {"\n", "\t"}
# The most characters of a field name or of pydantic's own message a refusal repeats.
_DETAIL_MAX = 100

# The pixel size of the clip each (model, resolution, aspect ratio) makes, stated in this one place. The input
# image of image-to-video is sent at exactly this size (upstream, OpenAI requires the reference image to
# match the video's size). Believed, not documented by Prodia: 720p is 1280x720, 1080p 1920x1080 (OpenAI's
# own Pro sizes are 1792x1024); change it here if Prodia's clips say otherwise. sora-2 has only 720p.
CLIP_SIZES: dict[tuple[Model, Resolution, AspectRatio], tuple[int, int]] = {
    ("sora-2", "720p", "16:9"): (1280, 720),
    ("sora-2", "720p", "9:16"): (720, 1280),
    ("sora-2-pro", "720p", "16:9"): (1280, 720),
    ("sora-2-pro", "720p", "9:16"): (720, 1280),
    ("sora-2-pro", "1080p", "16:9"): (1920, 1080),
    ("sora-2-pro", "1080p", "9:16"): (1080, 1920),
}


class JobType(StrEnum):
    """The four Sora 2 job types on Prodia."""

    TXT2VID = "inference.sora-2.txt2vid.v1"
    IMG2VID = "inference.sora-2.img2vid.v1"
    PRO_TXT2VID = "inference.sora-2.pro.txt2vid.v1"
    PRO_IMG2VID = "inference.sora-2.pro.img2vid.v1"

    @property
    def pro(self) -> bool:
        return ".pro." in self.value

    @property
    def image_to_video(self) -> bool:
        return self.value.endswith(".img2vid.v1")


class JobRequest(BaseModel):
    """What a requester asked for, validated against the job types' rules."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    prompt: str
    duration: Literal[4, 8, 12] = 4
    aspect_ratio: AspectRatio = "16:9"
    model: Model = "sora-2"
    resolution: Resolution | None = None
    seed: int | None = Field(default=None, ge=1, le=SEED_MAX)
    kind: Kind | None = Field(default=None, description="txt2vid or img2vid; taken from `image` when omitted")
    image_path: str | None = Field(default=None, description="the stored input image, for image-to-video")

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        # Windows line ends are newlines; lone surrogates, like control characters, cannot be sent.
        value = value.replace("\r\n", "\n").strip()
        bad = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs") and ch not in _ALLOWED_CONTROL]
        if bad:
            raise ValueError(_("the prompt contains control characters; use plain text (newlines are fine)"))
        if len(value) < PROMPT_MIN:
            raise ValueError(_("the prompt must be at least {least} characters", least=number(PROMPT_MIN)))
        if len(value) > PROMPT_MAX:
            raise ValueError(
                _(
                    "the prompt must be at most {most} characters (it has {length})",
                    most=number(PROMPT_MAX),
                    length=number(len(value)),
                )
            )
        return value

    @model_validator(mode="after")
    def _rules(self) -> Self:
        if self.resolution is not None and self.model != "sora-2-pro":
            raise ValueError(_("resolution can only be chosen with the sora-2-pro model"))
        if self.kind == "img2vid" and self.image_path is None:
            raise ValueError(_("image-to-video needs an image"))
        if self.kind == "txt2vid" and self.image_path is not None:
            raise ValueError(_("an image can only be used for image-to-video"))
        return self

    @classmethod
    def parse(cls, **values: Any) -> JobRequest:
        """Validate user input, raising InvalidRequest with a short message a person can act on."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InvalidRequest(_explain(exc)) from None

    @property
    def job_type(self) -> JobType:
        image = self.image_path is not None
        if self.model == "sora-2-pro":
            return JobType.PRO_IMG2VID if image else JobType.PRO_TXT2VID
        return JobType.IMG2VID if image else JobType.TXT2VID

    @property
    def effective_resolution(self) -> Resolution:
        return self.resolution or "720p"

    @property
    def input_filename(self) -> str | None:
        """The name of the multipart `input` part, which `config.image` must repeat."""
        if self.image_path is None:
            return None
        return "input" + (Path(self.image_path).suffix.lower() or ".png")

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the clip this request produces (and of its input image), from CLIP_SIZES."""
        return CLIP_SIZES[(self.model, self.effective_resolution, self.aspect_ratio)]

    @property
    def has_audio(self) -> bool:
        return self.job_type.pro

    def prodia_job(self) -> dict[str, Any]:
        """The exact job JSON Prodia expects: no keys the type doesn't accept."""
        config: dict[str, Any] = {
            "prompt": self.prompt,
            "aspect_ratio": self.aspect_ratio,
            "duration": self.duration,
        }
        if self.seed is not None:
            config["seed"] = self.seed
        if self.job_type.pro:
            config["resolution"] = self.effective_resolution
        if self.job_type.image_to_video:
            config["image"] = self.input_filename
        return {"type": self.job_type.value, "config": config}


def _explain(exc: ValidationError) -> str:
    """The first problem, in the current language: the validators' own messages are translated where they
    are raised; pydantic's (a wrong type: not from Discord's typed options) stay English."""
    error = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "literal_error":
        if field == "duration":
            return _("duration must be 4, 8 or 12")
        if field == "aspect_ratio":
            return _("aspect_ratio must be 16:9 or 9:16")
        if field == "model":
            return _("model must be sora-2 or sora-2-pro")
        if field == "resolution":
            return _("resolution must be '720p' or '1080p'")
        expected = str(error.get("ctx", {}).get("expected", ""))[:_DETAIL_MAX]
        return _("{field} must be {expected}", field=field[:_DETAIL_MAX], expected=expected)
    if field == "seed":
        return _("seed must be a whole number from 1 to {most}", most=number(SEED_MAX))
    if field and field not in {"prompt"}:
        return _("{field}: {message}", field=field[:_DETAIL_MAX], message=message[:_DETAIL_MAX])
    return message


class JobState(StrEnum):
    """A job's lifecycle; each row is in exactly one of these."""

    AWAITING_APPROVAL = "awaiting_approval"
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    WAITING = "waiting"  # a story's later shot: waits for the shot before it (its last frame), never claimed


TERMINAL = frozenset({JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED, JobState.REJECTED})
# States in which a worker holds the job under a lease; an expired lease means the worker died.
LEASED = frozenset({JobState.SUBMITTING, JobState.RUNNING, JobState.DELIVERING})
# Jobs that occupy a slot at Prodia, counted against MAX_CONCURRENT_JOBS (a `waiting` shot is neither queued
# nor in flight: only its story's progress moves it to `queued`).
IN_FLIGHT = frozenset({JobState.SUBMITTING, JobState.RUNNING})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.WAITING: frozenset({JobState.QUEUED, JobState.CANCELLED, JobState.FAILED}),
    JobState.AWAITING_APPROVAL: frozenset({JobState.QUEUED, JobState.REJECTED, JobState.CANCELLED}),
    JobState.QUEUED: frozenset({JobState.SUBMITTING, JobState.CANCELLED, JobState.FAILED}),
    JobState.SUBMITTING: frozenset({JobState.RUNNING, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.DELIVERING, JobState.FAILED, JobState.CANCELLED}),
    JobState.DELIVERING: frozenset({JobState.DELIVERED, JobState.FAILED}),
}


class Target(TypedDict):
    """Where a job's clip goes and how (stored as JSON in the job's row). `kind` names the deliverer
    ("discord", "file" for `sora-bot generate`; tests and benchmarks plug in their own)."""

    kind: str
    path: NotRequired[str]  # file: where `sora-bot generate` writes the clip
    # discord:
    channel_id: NotRequired[int]  # the channel the clip is posted in
    private: NotRequired[bool]  # an ephemeral preview for the requester (a DM after the token's life)
    interaction_token: NotRequired[str]  # the interaction's webhook, while it lasts
    token_expires_at: NotRequired[float]  # unix time; the bot stops using the token then
    filesize_limit: NotRequired[int]  # the interaction's upload limit (counts the member's Nitro)
    guild_filesize_limit: NotRequired[int | None]  # the server's, for workers without a guild cache
    repost: NotRequired[str]  # a /show's nonce suffix, so Discord doesn't hand back the earlier post
    locale: NotRequired[str]  # the requester's Discord locale: private texts sent later are in it
    guild_locale: NotRequired[str | None]  # the server's own language: posts are in it unless set otherwise
    was_private: NotRequired[bool]  # a private clip its owner posts publicly: still no full-quality link


@dataclass(frozen=True, slots=True)
class Job:
    """One stored job row."""

    id: int
    state: JobState
    request: JobRequest
    guild_id: int | None
    channel_id: int | None
    user_id: int
    message_id: int | None
    result_message_id: int | None
    target: Target
    prodia_job_id: str | None
    endpoint: str | None
    output_path: str | None
    estimated_cost: float
    actual_cost: float | None
    error: str | None
    user_error: str | None
    attempts: int
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    lease_owner: str | None
    lease_expires_at: float | None
    approved_by: int | None = None
    approval_message_id: int | None = None
    story_id: int | None = None  # a shot of this story (bot.domain.stories)
    shot_index: int | None = None  # its place in the story, from 0
