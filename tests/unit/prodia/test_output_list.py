"""GET /job/async/{id}/output is "a list of output files" in an undocumented format: every spelling of a
list of names reads back as the same names (the job is billed by then; a spelling must not fail it)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.prodia.payloads import parse_output_names
from tests.fakes.prodia import OUTPUT_LIST_STYLES, output_listing

# File names as a file server would hand them out: no separators, quotes or brackets in them.
NAMES = st.lists(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,39}", fullmatch=True), min_size=1, max_size=6, unique=True
)


@settings(max_examples=300, deadline=None)
@given(names=NAMES, style=st.sampled_from(OUTPUT_LIST_STYLES))
def test_every_spelling_of_the_fake_reads_back_as_the_same_names(names: list[str], style: str) -> None:
    body, _ = output_listing(names, style)
    assert parse_output_names(body.decode()) == names


@settings(max_examples=200, deadline=None)
@given(
    names=NAMES,
    key=st.sampled_from(["name", "filename", "file_name", "file", "path"]),
    prefix=st.sampled_from(["", "outputs/", "/v2/job/async/abc/output/", "https://cdn.example/x/"]),
    wrapper=st.sampled_from([None, "outputs", "files"]),
)
def test_json_objects_name_their_file_by_any_usual_key(
    names: list[str], key: str, prefix: str, wrapper: str | None
) -> None:
    entries: object = [{key: prefix + n, "size": 123} for n in names]
    if wrapper is not None:
        entries = {wrapper: entries}
    assert parse_output_names(json.dumps(entries)) == names


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('["video.mp4"]', ["video.mp4"]),
        ("video.mp4", ["video.mp4"]),
        ("video.mp4\r\n", ["video.mp4"]),
        ("  'video.mp4'  \n\n thumb.png \n", ["video.mp4", "thumb.png"]),
        ('"video.mp4", "thumb.png"', ["video.mp4", "thumb.png"]),
        ("[video.mp4, thumb.png]", ["video.mp4", "thumb.png"]),
        ('"video.mp4"', ["video.mp4"]),
        ('{"name": "video.mp4"}', ["video.mp4"]),
        ("\ufeffvideo.mp4", ["video.mp4"]),
        ("", []),
        ("[]", []),
        ("null", ["null"]),  # a file named null, or nothing: either way no video
        ('[{"size": 3}, 42, null]', []),
    ],
)
def test_hand_picked_spellings(text: str, names: list[str]) -> None:
    assert parse_output_names(text) == names
