"""Errors a caller can act on. `user_message` is written for the person who asked, in the language of the
moment (bot/i18n/messages.py); details go to the log, in English."""

from __future__ import annotations

from typing import Any

from bot.i18n.messages import N_, _


class SoraBotError(Exception):
    """Base of every error the bot raises on purpose. `message` is its English text (a template, filled
    with `values`), translated when `user_message` is read."""

    message = _("Something went wrong.")
    values: dict[str, Any] = {}  # noqa: RUF012 (read only: instances set their own)

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.message)
        self.detail = detail or self.message

    @property
    def user_message(self) -> str:
        """What to tell the member, in the current language."""
        return _(self.message, **self.values)


class ConfigError(SoraBotError):
    """A missing or malformed setting: start-up stops with this one line."""


class DatabaseError(SoraBotError):
    """The database can't be used as it is (newer schema, unreadable file)."""


class UserFacingError(SoraBotError):
    """An error whose message is shown to the requester: an English text marked for translation (filled
    with `values` when shown), or a text already in the member's language."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message.format_map(values) if values else message)
        self.message = message
        self.values = values


class InvalidRequest(UserFacingError):
    """The request breaks a rule of the job types (prompt, duration, resolution ...)."""


class InvalidImage(UserFacingError):
    """The attached image is not a usable PNG, JPEG or WebP."""


class JobNotFound(UserFacingError):
    """No job with that id (or not one the caller may see)."""


class ProdiaError(SoraBotError):
    """Prodia failed the job; `user_message` says what the requester can do."""

    retryable = False
    # A clear refusal that certainly started no job at Prodia (401/403, 429, a 4xx with the job's error,
    # connection refused): a job failed by it while being submitted is refunded. Any other end of a job whose
    # request was sent keeps its money spent: Prodia may have billed it.
    surely_not_billed = False
    # What Prodia reported it charged, when its answer said so before it failed (a sync job part).
    price_dollars: float | None = None


class ProdiaAuthError(ProdiaError):
    """The Prodia token was refused (401/403): the operator must fix it."""

    surely_not_billed = True

    message = _("The bot's Prodia token was refused; the operator has been told. You were not charged.")


class ProdiaRejected(ProdiaError):
    """Prodia rejected the job (bad config, moderation, unusable input): re-sending it won't help."""

    message = _("Prodia rejected this request.")
    surely_not_billed = True  # a 4xx with the job's error: Prodia refused it before running it

    def __init__(self, error: str, prodia_job_id: str | None = None) -> None:
        super().__init__(
            f"rejected by Prodia: {error}" + (f" (job {prodia_job_id})" if prodia_job_id else "")
        )
        self.error = error
        self.prodia_job_id = prodia_job_id
        self.message = _("Prodia rejected this request: {error}")
        self.values = {"error": error[:300]}


class ProdiaNoCapacity(ProdiaError):
    """Prodia had no capacity (429) for longer than the retries allow."""

    surely_not_billed = True

    message = _("Prodia is at capacity right now; please try again in a few minutes. You were not charged.")
    retryable = True


class ProdiaUnavailable(ProdiaError):
    """Prodia could not be reached or answered 5xx after bounded retries."""

    message = _("Prodia is unavailable right now; please try again later. You were not charged.")
    retryable = True


class ProdiaProtocolError(ProdiaError):
    """Prodia's answer could not be understood (malformed JSON, truncated body, no video)."""

    message = _("Prodia returned something the bot could not read; please try again. You were not charged.")


class ProdiaJobLost(ProdiaError):
    """Prodia no longer knows the job (404 for its id, results expired)."""

    message = _("Prodia no longer has this job's result; please try again. You were not charged.")


class ProdiaResultExpired(ProdiaError):
    """Prodia made the clip (and charged for it) but no longer has it: a 404 for a finished job's result,
    or for a job picked up again after an outage longer than Prodia keeps results.

    Not a ProdiaJobLost: this one was paid."""

    message = _(
        "The result is gone: Prodia made this clip, but deleted it before the bot could fetch it "
        "(the bot could not reach Prodia for too long). It was paid: Prodia charged for it."
    )
    charged = True

    def __init__(self, prodia_job_id: str, what: str = "its result") -> None:
        super().__init__(f"job {prodia_job_id}: Prodia answered 404 for {what}; the paid result expired")
        self.prodia_job_id = prodia_job_id


class JobTimedOut(SoraBotError):
    """The job took longer than JOB_TIMEOUT_SECONDS."""

    message = _("The job took too long and was stopped. You were not charged.")


class JobInterrupted(SoraBotError):
    """The bot stopped while the job was being submitted, so its fate at Prodia is unknown."""

    message = _(
        "The bot restarted while sending this job to Prodia, so it was not re-sent (to avoid paying twice). "
        "You were not charged; please try again."
    )


class DeliveryError(SoraBotError):
    """The clip could not be delivered where it was asked for."""

    message = _("The clip was made but could not be delivered.")


class DeliveredByDm(SoraBotError):
    """The channel refused the clip and its requester got it by direct message instead: the job is delivered
    (the member has their clip, so their quota stays used), and `user_message` says where it went."""

    def __init__(self, message_id: int, detail: str, message: str, **values: Any) -> None:
        super().__init__(detail)
        self.message_id = message_id
        self.message = message
        self.values = values


class QuotaExceeded(UserFacingError):
    """A per-user limit would be crossed; `resets_at` (unix time) says when there is room again, if known."""

    def __init__(self, limit: str, message: str, resets_at: float | None = None, **values: Any) -> None:
        super().__init__(message, **values)
        self.limit = limit
        self.resets_at = resets_at


class NotAllowed(UserFacingError):
    """The member may not do this here (channel, role, model, block)."""


class PromptBlocked(UserFacingError):
    """The prompt matched the server's blocklist."""


def is_content_rejection(error: str | None) -> bool:
    """Whether a failed job's error is Prodia refusing the content (not a malformed request)."""
    return bool(error) and str(error).startswith("rejected by Prodia") and "/config" not in str(error)


class DiskFull(SoraBotError):
    """The bot's disk has no room for the clip."""

    message = _(
        "The bot ran out of disk space while saving your clip; the operator has been told. "
        "You were not charged."
    )


class DatabaseUnavailable(UserFacingError):
    """The database can't be reached for now (a PostgreSQL restart, a network blip). Nothing was changed:
    a command is refused with this message, and a running job is left for recovery, not failed."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(N_("The bot's database can't be reached right now; please try again in a moment."))
        self.detail = f"database unavailable: {detail}" if detail else self.message


class DatabaseBusy(DatabaseUnavailable):
    """Another process holds the database's write lock for longer than the busy timeout."""

    def __init__(self) -> None:
        super().__init__()
        self.message = N_("The bot's database is busy right now; please try again in a moment.")
        self.args = (self.message,)


# A refusal of an interaction that did not come through the server's own installation (bot/services/guard.py).
FOREIGN_INSTALL = _(
    "sora-bot only works through a server that installed it, in that server. "
    "Ask the server's admins to add it, then use it there."
)


class StorageUnavailable(UserFacingError):
    """The clip store (the output folder or an S3 bucket) can't be reached or refused a write. A request is
    refused with this message before anything is spent; a running job keeps its state and is resumed, never
    failed for it: its paid clip is fetched from Prodia again if the local copy is gone."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            N_("The bot's file storage can't be reached right now; please try again in a moment.")
        )
        self.detail = f"storage unavailable: {detail}" if detail else self.message


class MediaCrashed(UserFacingError):
    """A media worker process died during a step (killed, out of memory, a crash in a codec): the step is
    tried again (a job's by the scheduler, a few times), and the bot goes on with a new worker."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(N_("The bot's video processing stopped unexpectedly; please try again in a moment."))
        self.detail = f"media process died: {detail}" if detail else self.message
