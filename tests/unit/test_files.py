"""bot/files.py: the exact names of a job's files, and deleting exactly the files of a set of jobs (through
the output folder's store, bot/storage/local.py)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import files
from bot.storage.local import FileStorage

DERIVED = ["{id}.fit-9437184.mp4", "{id}.poster-1280.jpg", "{id}.poster-320.jpg", "{id}.preview-9437184.mp4",
           "{id}.last.png", "{id}.mp4.part", ".{id}.fit-77.mp4.a1b2_c3d.part.mp4",
           ".{id}.poster-320.jpg.zljrktms.part.jpeg"]  # fmt: skip


def test_each_derived_file_has_one_exact_name() -> None:
    clip = Path("/clips/12.mp4")
    # The names bot/services/delivery.py (re-encodes, posters, previews) and clips.py (Continue) use.
    assert files.fit_path(clip, 9_437_184) == clip.with_name(f"{clip.stem}.fit-9437184.mp4")
    assert files.poster_path(clip, 640) == clip.with_name(f"{clip.stem}.poster-640.jpg")
    assert files.preview_path(clip, 7) == clip.with_name(f"{clip.stem}.preview-7.mp4")
    assert files.last_frame_path(clip) == clip.with_suffix(".last.png")
    assert files.clip_path(Path("/clips"), 12) == clip and files.clip_name(12) == "12.mp4"
    for made in (clip, files.fit_path(clip, 5), files.poster_path(clip, 320), files.last_frame_path(clip)):
        assert files.stored_name(made) == made.name and files.is_stored_name(made.name)
    image = files.new_input_name()
    assert image.startswith("inputs/") and files.input_name(image) == image.removeprefix("inputs/")
    assert files.stored_name(Path("/tmp/x") / image) == image and files.is_stored_name(image)


def test_only_the_bots_own_names_are_ever_stored_or_deleted() -> None:
    image = "0123456789abcdef0123456789abcdef.jpg"
    for foreign in ["notes.txt", "inputs/picture.jpg", f"other/{image}", "../1.mp4", "inputs/../1.mp4",
                    "1.mp4/x", "/1.mp4", f"inputs/{image}/x", "", "inputs", "inputs/"]:  # fmt: skip
        assert not files.is_stored_name(foreign), foreign
    for partial in ["1.mp4.part", ".1.fit-77.mp4.a1b2_c3d.part.mp4", "notes.txt"]:
        try:
            files.stored_name(Path("/clips") / partial)
        except ValueError:
            continue
        raise AssertionError(f"{partial} would be stored")


def test_a_name_belongs_to_one_job_by_its_whole_id_never_by_a_prefix() -> None:
    for pattern in ["{id}.mp4", *DERIVED]:
        assert files.job_of(pattern.format(id=1)) == 1
        assert files.job_of(pattern.format(id=10)) == 10
        assert files.job_of(pattern.format(id=9_223_372_036_854_775_807)) == 9_223_372_036_854_775_807
    refused = ["01.mp4", "0.mp4", "1.mp4.bak", "1.txt", "1mp4", "1.fit-.mp4", "1.fit-12.jpg", "1.poster.jpg",
               "1.last.jpg", "x1.mp4", "1.MP4", ".1.mp4.part", "1.fit-1.mp4.part.mp4", "notes", "inputs",
               f"{'9' * 20}.mp4", "1 .mp4", "1.mp4\n"]  # fmt: skip
    assert [name for name in refused if files.job_of(name) is not None] == []


def test_only_images_the_bot_named_are_inputs() -> None:
    name = "0123456789abcdef0123456789abcdef.jpg"
    assert files.input_name(f"/data/clips/inputs/{name}") == name
    assert files.input_name(f"clips/inputs/{name}") == name
    for foreign in [f"/data/clips/{name}", "/data/clips/inputs/picture.jpg", "[removed]", "", None,
                    f"/data/clips/inputs/{name[:-4]}.png", f"/inputs/{name.upper()}"]:  # fmt: skip
        assert files.input_name(foreign) is None, foreign


def _owned(root: Path, job_id: int) -> list[Path]:
    listing = asyncio.run(FileStorage(root).listing())
    return [root / name for name in files.files_by_job(listing).get(job_id, [])]


def test_owned_lists_exactly_the_existing_files_of_the_job(tmp_path: Path) -> None:
    for job_id in (1, 10, 11, 100):
        (tmp_path / f"{job_id}.mp4").write_bytes(b"clip")
    for pattern in DERIVED:
        (tmp_path / pattern.format(id=1)).write_bytes(b"derived")
    (tmp_path / "1.notes.txt").write_bytes(b"not the bot's")
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "1.mp4").write_bytes(b"elsewhere")
    expected = sorted(tmp_path / p.format(id=1) for p in ["{id}.mp4", *DERIVED])
    assert _owned(tmp_path, 1) == expected
    assert _owned(tmp_path, 10) == [tmp_path / "10.mp4"]
    assert _owned(tmp_path, 2) == []
    assert _owned(tmp_path / "missing", 1) == []


def _world(root: Path, jobs: dict[int, set[str]], images: dict[int, str | None]) -> None:
    (root / "inputs").mkdir()
    for job_id, patterns in jobs.items():
        for pattern in patterns:
            (root / pattern.format(id=job_id)).write_bytes(b"x")
    for name in {n for n in images.values() if n}:
        (root / "inputs" / name).write_bytes(b"image")
    (root / "inputs" / "README").write_bytes(b"the operator's")


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# Ids below 130 share prefixes often (1, 10, 100-129); a few images shared between jobs (Re-roll, Remix).
job_ids = st.integers(min_value=1, max_value=129)
patterns = st.sets(st.sampled_from(["{id}.mp4", *DERIVED]), min_size=1)
image_names = st.sampled_from([None, *(f"{i:032x}.jpg" for i in range(4))])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), jobs=st.dictionaries(job_ids, patterns, min_size=1, max_size=25))
def test_forgetting_or_expiring_any_subset_deletes_exactly_its_files(
    data: st.DataObject, jobs: dict[int, set[str]]
) -> None:
    images = {job_id: data.draw(image_names) for job_id in jobs}
    leaving = data.draw(st.sets(st.sampled_from(sorted(jobs))))
    staying = set(jobs) - leaving
    expected_gone = {p.format(id=job_id) for job_id in leaving for p in jobs[job_id]}
    expected_gone |= {
        f"inputs/{images[j]}" for j in leaving if images[j] and images[j] not in {images[s] for s in staying}
    }
    for how in ("forget", "expire"):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            _world(root, jobs, images)
            before = _listing(root)
            storage = FileStorage(root)
            listing = asyncio.run(storage.listing())
            removed = asyncio.run(storage.delete(files.names_of_jobs(listing, leaving)))
            if how == "forget":
                doomed = files.unused_inputs([images[j] for j in leaving], [images[j] for j in staying])
            else:
                # Images are as old as can be: only references decide, never the grace period.
                inventory = dict.fromkeys(files.input_files(listing), 0.0)
                references = [
                    (str(root / "inputs" / str(images[j])), j in staying) for j in jobs if images[j]
                ]
                doomed = set(files.inputs_to_delete(inventory, references, grace_ends=1.0))
            removed += asyncio.run(storage.delete(files.input_names(doomed)))
            assert before - _listing(root) == expected_gone, how
            assert removed == len(expected_gone)


def test_an_image_no_job_names_goes_only_after_the_grace_period(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    old, young, used = (inputs / f"{i:032x}.jpg" for i in range(3))
    for path in (old, young, used):
        path.write_bytes(b"image")
    os.utime(old, (100.0, 100.0))
    os.utime(used, (100.0, 100.0))
    os.utime(young, (300.0, 300.0))
    listing = asyncio.run(FileStorage(tmp_path).listing())
    doomed = files.inputs_to_delete(files.input_files(listing), [(str(used), True)], grace_ends=200.0)
    assert doomed == [old.name]


def test_a_storys_joined_clip_is_a_stored_name_of_no_job() -> None:
    name = files.story_name(12)
    assert name == "story-12.mp4" and files.story_of(name) == 12
    assert files.is_stored_name(name) and files.job_of(name) is None
    assert files.stored_name(Path("/work") / name) == name
    for other in ("story-012.mp4", "story-.mp4", "xstory-1.mp4", "story-1.mp4x", "story-1.fit-.mp4"):
        assert files.story_of(other) is None and not files.is_stored_name(other)


def test_a_storys_reencodes_posters_and_partial_files_are_the_storys() -> None:
    derived = ["story-7.fit-9000000.mp4", "story-7.poster-640.jpg", "story-7.preview-100.mp4"]
    for name in derived:
        assert files.story_of(name) == 7 and files.job_of(name) is None
        assert files.stored_name(Path("/w") / name) == name
    for partial in ("story-7.mp4.part", ".story-7.fit-10.mp4.abcd1234.part.mp4"):
        assert files.story_of(partial) == 7
        with pytest.raises(ValueError):
            files.stored_name(Path("/w") / partial)
    listing = ["story-7.mp4", *derived, "story-70.mp4", "7.mp4", "story-8.mp4"]
    assert files.names_of_stories(listing, [7]) == sorted(["story-7.mp4", *derived])
