"""The fake Prodia's names: job types, prices, route and fault names, timings."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal, get_args

API_PREFIX = "/v2"

TXT2VID = "inference.sora-2.txt2vid.v1"
IMG2VID = "inference.sora-2.img2vid.v1"
PRO_TXT2VID = "inference.sora-2.pro.txt2vid.v1"
PRO_IMG2VID = "inference.sora-2.pro.img2vid.v1"
JOB_TYPES = frozenset({TXT2VID, IMG2VID, PRO_TXT2VID, PRO_IMG2VID})
PRO_TYPES = frozenset({PRO_TXT2VID, PRO_IMG2VID})
IMG2VID_TYPES = frozenset({IMG2VID, PRO_IMG2VID})

# Placeholder list prices per second of video (reference page, "Cost").
PRICE_PER_SECOND = {"standard": 0.10, "720p": 0.30, "1080p": 0.50}

MODERATION_ERROR = "content moderation: prompt rejected"
# The moderation trigger: schema-valid, but the job "runs" and fails on its input.
_MODERATED = re.compile(r"\bforbidden\b", re.IGNORECASE)

# What a broken proxy in front of the API might answer with a 200: neither JSON, nor a state, nor an MP4.
DEFAULT_MALFORMED_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"

RESULT_TTL = timedelta(minutes=5)  # sync job JSON shows expires_at = created + 5 min
_POLL_STEP = 0.02  # how often waiting jobs re-read the live knobs (processing_seconds, stuck)
_CHUNK = 1 << 20

Route = Literal["POST /job", "POST /job/async", "GET state", "GET job.json", "GET output", "GET file"]
ROUTES: tuple[str, ...] = get_args(Route)
FaultKind = Literal["status", "hang", "drop", "truncate", "malformed", "not_found", "no_video", "bad_token"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
# These distort a real answer, so the real answer (and the job behind it) has to exist first.
_WORK_FIRST_KINDS = frozenset({"truncate", "malformed", "no_video"})

JobState = Literal["queued", "processing", "processed", "completed", "failed"]
OutputListStyle = Literal["json", "objects", "text", "quoted", "comma"]
OUTPUT_LIST_STYLES: tuple[str, ...] = get_args(OutputListStyle)
