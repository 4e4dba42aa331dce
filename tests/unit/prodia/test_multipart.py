"""The streaming multipart reader: job JSON in memory, video straight to disk, cut-short bodies caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.errors import ProdiaProtocolError
from bot.prodia.multipart import MultipartResult, boundary_of

BOUNDARY = "xYzZY-boundary"


def body(parts: list[tuple[str, str, str, bytes]], *, end: bool = True) -> bytes:
    out = b""
    for name, filename, content_type, data in parts:
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + (f"--{BOUNDARY}--\r\n".encode() if end else b"")


JOB = json.dumps({"id": "job-1", "price": {"dollars": 0.4}}).encode()
VIDEO = bytes(range(256)) * 4000


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 1 << 20])
def test_job_and_video_are_split_whatever_the_chunking(tmp_path: Path, chunk_size: int) -> None:
    data = body([("job", "job.json", "application/json", JOB), ("output", "video.mp4", "video/mp4", VIDEO)])
    result = MultipartResult(BOUNDARY.encode(), tmp_path / "v.mp4")
    for i in range(0, len(data), chunk_size):
        result.feed(data[i : i + chunk_size])
    result.finish()
    assert result.job == {"id": "job-1", "price": {"dollars": 0.4}}
    assert (tmp_path / "v.mp4").read_bytes() == VIDEO
    assert result.video_written and result.video_bytes == len(VIDEO)


def test_part_order_is_free_and_other_outputs_are_skipped(tmp_path: Path) -> None:
    data = body(
        [
            ("output", "preview.png", "image/png", b"png bytes"),
            ("output", "video.mp4", "video/mp4", VIDEO),
            ("job", "job.json", "application/json", JOB),
        ]
    )
    result = MultipartResult(BOUNDARY.encode(), tmp_path / "v.mp4")
    result.feed(data)
    result.finish()
    assert result.job is not None and result.job["id"] == "job-1"
    assert (tmp_path / "v.mp4").read_bytes() == VIDEO


def test_a_body_cut_short_is_a_protocol_error(tmp_path: Path) -> None:
    data = body([("job", "job.json", "application/json", JOB), ("output", "video.mp4", "video/mp4", VIDEO)])
    result = MultipartResult(BOUNDARY.encode(), tmp_path / "v.mp4")
    result.feed(data[: len(data) // 2])
    with pytest.raises(ProdiaProtocolError, match="cut short"):
        result.finish()


def test_a_job_part_that_is_not_json_is_a_protocol_error(tmp_path: Path) -> None:
    result = MultipartResult(BOUNDARY.encode(), None)
    result.feed(body([("job", "job.json", "application/json", b"{not json")]))
    with pytest.raises(ProdiaProtocolError, match="not valid JSON"):
        result.finish()


def test_garbage_is_a_protocol_error(tmp_path: Path) -> None:
    result = MultipartResult(BOUNDARY.encode(), tmp_path / "v.mp4")
    with pytest.raises(ProdiaProtocolError):
        result.feed(b"this is not multipart at all\r\n" * 10)
        result.finish()


def test_boundary_is_read_from_the_content_type() -> None:
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"
    assert boundary_of("multipart/form-data; boundary=abc") == b"abc"
    assert boundary_of("video/mp4") is None
