"""What goes to Prodia and what comes back: the request body, job JSON, and the list of a job's outputs."""

from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path
from typing import Any

from bot.domain.models import JobRequest
from bot.errors import ProdiaProtocolError
from bot.prodia.multipart import MultipartResult, boundary_of


def multipart_body(request: JobRequest) -> list[tuple[str, tuple[str, bytes, str]]]:
    body = [("job", ("job.json", json.dumps(request.prodia_job()).encode(), "application/json"))]
    if request.image_path is not None and request.input_filename is not None:
        mime = mimetypes.guess_type(request.input_filename)[0] or "application/octet-stream"
        body.append(("input", (request.input_filename, Path(request.image_path).read_bytes(), mime)))
    return body


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        raise ProdiaProtocolError(f"the {what} answer is not JSON") from None
    if not isinstance(value, dict):
        raise ProdiaProtocolError(f"the {what} answer is not a JSON object")
    return value


def error_text(job: dict[str, Any]) -> str | None:
    error = job.get("error")
    if isinstance(error, dict):
        error = error.get("message") or json.dumps(error)
    return str(error) if error else None


def job_from_body(body: bytes, content_type: str) -> dict[str, Any] | None:
    boundary = boundary_of(content_type)
    if boundary is not None:
        parts = MultipartResult(boundary, None)
        try:
            parts.feed(body)
        except ProdiaProtocolError:
            return None
        return parts.job
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def price(job: dict[str, Any]) -> float | None:
    price = job.get("price")
    if isinstance(price, dict) and isinstance(price.get("dollars"), int | float):
        return float(price["dollars"])
    return None


# Keys a file entry of an output list may name itself by (the format is not documented).
_NAME_KEYS = ("name", "filename", "file_name", "file", "path", "key", "id")
_SPLIT = re.compile(r"[\r\n,]+")


def parse_output_names(text: str) -> list[str]:
    """The file names in an answer of GET /job/async/{id}/output, however it is spelled.

    Prodia documents "a list of output files" without a format, and the job is billed by then, so this is
    lenient: a JSON array of names or of objects naming a file (name/filename/path ...), an object holding
    such an array, a JSON string, or plain text with one name a line or names separated by commas, each
    maybe quoted. A path or URL counts by its last segment (the name GET .../output/{name} takes).
    """
    text = text.strip().lstrip("\ufeff")
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = None
    # A bare number or word that parses as JSON (`0`, `true`, `null`) is a name in plain text, not a list.
    if isinstance(value, list | dict | str):
        entries = _json_entries(value)
    else:
        entries = list(_SPLIT.split(text.strip("[]")))
    names: list[str] = []
    for entry in entries:
        name = _entry_name(entry)
        if name and name not in names:
            names.append(name)
    return names


def _json_entries(value: list[Any] | dict[str, Any] | str) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in ("outputs", "output", "files", "names", "items", "data"):
            if isinstance(value.get(key), list):
                return list(value[key])
        return [value]
    return list(_SPLIT.split(value))


def _entry_name(entry: Any) -> str | None:
    if isinstance(entry, dict):
        entry = next(
            (entry[k] for k in _NAME_KEYS if isinstance(entry.get(k), str) and entry[k].strip()), None
        )
    if not isinstance(entry, str):
        return None
    name = entry.strip().strip("'\"` ").strip()
    name = name.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return name or None
