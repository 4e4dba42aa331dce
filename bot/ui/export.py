"""Job exports as CSV files that are safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def jobs_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str]) -> bytes:
    """UTF-8 CSV with a header row of `columns`, then one line per row in that column order.

    None and missing keys become empty cells, keys not in `columns` are left out. Text that a spreadsheet
    would run as a formula gets a leading `'`; numbers are written as they are, so a refund of -0.5 stays
    a number. Line breaks inside text (`\r\n`, `\r`) are written as `\n`.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([_cell(name) for name in columns])
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    return buffer.getvalue().encode("utf-8")


def _cell(value: object) -> str | int | float | Decimal:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    # With lineterminator "\n" the csv module does not quote a cell holding a lone "\r", which then splits the
    # row for readers; as "\n" the line break is quoted and survives.
    return text.replace("\r\n", "\n").replace("\r", "\n")


EXPORT_COLUMNS = [
    "id", "state", "user_id", "channel_id", "job_type", "prompt", "duration", "aspect_ratio", "seed",
    "estimated_cost", "actual_cost", "approved_by", "outcome", "created_at", "finished_at", "prodia_job_id",
]  # fmt: skip


def jobs_export(rows: Iterable[Mapping[str, object]]) -> bytes:
    """The CSV that /sora-admin export sends: every exported column, in a fixed order."""
    return jobs_csv(rows, EXPORT_COLUMNS)
