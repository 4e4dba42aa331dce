"""The story status updater's memory stays bounded: a process remembers little of stories that end elsewhere
(a gateway sees a story start; a worker ends it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.media.pool import MediaPool
from bot.services.story_status import MIN_INTERVAL, THUMBNAILS_KEPT, StoryStatus, _trim
from bot.storage.local import FileStorage
from bot.store.jobs import JobStore

NO_CLIENT: Any = None  # nothing is edited: no story is dirty


async def test_edit_times_are_forgotten_once_they_no_longer_throttle(store: JobStore, tmp_path: Path) -> None:
    status = StoryStatus(NO_CLIENT, store, FileStorage(tmp_path), MediaPool(0))
    status.edited(1)  # accepted here, ended in another process: never `ended()` here
    status._last_edit[2] = time.monotonic() - MIN_INTERVAL - 1
    await status._tick()
    assert set(status._last_edit) == {1}  # still throttling the next edit
    status._last_edit[1] -= MIN_INTERVAL + 1
    await status._tick()
    assert status._last_edit == {}


def test_bounded_caches_keep_the_latest_entries() -> None:
    kept = dict.fromkeys(range(THUMBNAILS_KEPT + 10), b"jpeg")
    _trim(kept, THUMBNAILS_KEPT)
    assert list(kept) == list(range(10, THUMBNAILS_KEPT + 10))
