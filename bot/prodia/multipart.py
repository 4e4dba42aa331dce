"""Streaming parse of Prodia's multipart answers: the `job` JSON kept in memory, the video written to disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from bot.errors import ProdiaProtocolError

MAX_JOB_JSON = 1 << 20


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a multipart content type, or None for anything else."""
    kind, options = parse_options_header(content_type)
    if not kind.startswith(b"multipart/"):
        return None
    return options.get(b"boundary")


class MultipartResult:
    """Feeds chunks to python-multipart; `job` holds the parsed job JSON, video bytes go to `video_path`."""

    def __init__(self, boundary: bytes, video_path: Path | None) -> None:
        self._video_path = video_path
        self._video: IO[bytes] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._part: str | None = None
        self._json = bytearray()
        self.job: dict[str, Any] | None = None
        self.video_bytes = 0
        self.video_written = False
        self.ended = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            self.close()
            raise ProdiaProtocolError(f"malformed multipart answer: {exc}") from None

    def finish(self) -> None:
        """Check the body ended properly; a body cut short is a protocol error."""
        self.close()
        if not self.ended:
            raise ProdiaProtocolError("the multipart answer was cut short")
        if self._json and self.job is None:
            raise ProdiaProtocolError("the job part is not valid JSON")

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field = b""
        self._value = b""

    def _on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("latin-1")
        filename = disposition.get(b"filename", b"").decode("latin-1")
        content_type = self._headers.get(b"content-type", b"").decode("latin-1").lower()
        if name == "job":
            self._part = "job"
            self._json.clear()
        elif (
            name == "output"
            and not self.video_written
            and self._video_path is not None
            and (content_type.startswith("video/") or filename.lower().endswith(".mp4"))
        ):
            self._part = "video"
            self._video = self._video_path.open("wb")
        else:
            self._part = "skip"

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "job":
            if len(self._json) + (end - start) > MAX_JOB_JSON:
                raise ProdiaProtocolError("the job part is larger than 1 MiB")
            self._json += data[start:end]
        elif self._part == "video" and self._video is not None:
            self._video.write(data[start:end])
            self.video_bytes += end - start

    def _on_part_end(self) -> None:
        if self._part == "job":
            try:
                parsed = json.loads(bytes(self._json))
            except ValueError:
                parsed = None
            self.job = parsed if isinstance(parsed, dict) else None
        elif self._part == "video":
            self.close()
            self.video_written = True
        self._part = None

    def _on_end(self) -> None:
        self.ended = True
