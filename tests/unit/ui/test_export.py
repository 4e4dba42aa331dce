"""The job export is CSV that round-trips and cannot run formulas in a spreadsheet."""

from __future__ import annotations

import csv
import enum
import io
from decimal import Decimal

import pytest

from bot.ui.export import jobs_csv

COLUMNS = ("id", "prompt", "dollars", "state")


class State(enum.Enum):
    DELIVERED = "delivered"


def _read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_header_then_rows_in_column_order() -> None:
    data = jobs_csv(
        [
            {"state": "delivered", "prompt": "a cat", "id": 1, "dollars": 0.4, "secret": "left out"},
            {"id": 2, "prompt": "a dog", "dollars": None},
        ],
        COLUMNS,
    )
    assert data == b"id,prompt,dollars,state\n1,a cat,0.4,delivered\n2,a dog,,\n"
    assert _read(data) == [list(COLUMNS), ["1", "a cat", "0.4", "delivered"], ["2", "a dog", "", ""]]


def test_no_rows_gives_only_the_header() -> None:
    assert jobs_csv([], COLUMNS) == b"id,prompt,dollars,state\n"
    assert jobs_csv(iter([]), ["only"]) == b"only\n"


@pytest.mark.parametrize(
    "prompt",
    [
        "a, b, and c",
        'she said "hello"',
        "line one\nline two",
        "emoji 🎬 and ünïcödé, 日本語",
        '"quoted", with\ncomma and newline',
        "",
        " leading space",
    ],
)
def test_awkward_prompts_round_trip(prompt: str) -> None:
    rows = _read(jobs_csv([{"id": 7, "prompt": prompt}], ["id", "prompt"]))
    assert rows == [["id", "prompt"], ["7", prompt]]


@pytest.mark.parametrize(
    "prompt",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "=cmd|' /C calc'!A0",
    ],
)
def test_formula_looking_cells_are_escaped(prompt: str) -> None:
    rows = _read(jobs_csv([{"id": 1, "prompt": prompt, "state": prompt}], ["id", "prompt", "state"]))
    assert rows[1] == ["1", "'" + prompt, "'" + prompt]


@pytest.mark.parametrize(("prompt", "written"), [("\t=1+1", "'\t=1+1"), ("\r=1+1", "'\n=1+1")])
def test_cells_starting_with_tab_or_carriage_return_are_escaped(prompt: str, written: str) -> None:
    rows = _read(jobs_csv([{"id": 1, "prompt": prompt}], ["id", "prompt"]))
    assert rows[1] == ["1", written]


@pytest.mark.parametrize(
    ("prompt", "written"),
    [("windows\r\nline", "windows\nline"), ("old mac\rline", "old mac\nline"), ("a\r\rb\r\n", "a\n\nb\n")],
)
def test_carriage_returns_become_newlines_so_rows_stay_whole(prompt: str, written: str) -> None:
    rows = _read(jobs_csv([{"id": 7, "prompt": prompt}, {"id": 8, "prompt": "next"}], ["id", "prompt"]))
    assert rows == [["id", "prompt"], ["7", written], ["8", "next"]]


def test_only_the_first_character_matters() -> None:
    rows = _read(jobs_csv([{"prompt": "a=b+c-d@e"}], ["prompt"]))
    assert rows[1] == ["a=b+c-d@e"]


def test_numbers_are_written_as_numbers_even_when_negative() -> None:
    rows = _read(jobs_csv([{"a": -0.5, "b": -3, "c": Decimal("-1.25"), "d": True}], ["a", "b", "c", "d"]))
    assert rows[1] == ["-0.5", "-3", "-1.25", "True"]


def test_enums_are_written_by_value_and_header_cells_are_escaped_too() -> None:
    rows = _read(jobs_csv([{"state": State.DELIVERED, "=x": "y"}], ["state", "=x"]))
    assert rows == [["state", "'=x"], ["delivered", "y"]]


def test_output_is_utf8_without_a_bom() -> None:
    data = jobs_csv([{"prompt": "café"}], ["prompt"])
    assert not data.startswith(b"\xef\xbb\xbf")
    assert "café".encode() in data
