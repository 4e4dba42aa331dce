"""A job's input image, read from the store for the request that sends it to Prodia."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.domain.models import Job, JobRequest
from bot.errors import StorageUnavailable, UserFacingError
from bot.i18n.messages import N_
from bot.storage import Storage


@contextlib.asynccontextmanager
async def with_local_image(storage: Storage, job: Job) -> AsyncIterator[JobRequest]:
    """The job's request with its input image (if any) as a local file, for the block. Nothing has been sent
    to Prodia yet: an image that can't be read fails the job, and it costs nothing."""
    try:
        async with storage.local_input(job.request.image_path) as image:
            if job.request.image_path is not None and image is None:
                raise UserFacingError(N_("The job's image is no longer stored; you were not charged."))
            yield job.request.model_copy(update={"image_path": str(image) if image else None})
    except StorageUnavailable as exc:
        error = UserFacingError(
            N_(
                "The job's image couldn't be read (the bot's file storage is unreachable); the job was "
                "stopped and you were not charged."
            )
        )
        error.detail = f"input image: {exc.detail}"
        raise error from exc
