"""The bot's Prometheus metrics: one registry per bot (several bots in one test process never clash), its
instruments, and the methods the other parts call. Labels are bounded: states, job types, error classes and
HTTP statuses, never a user or server id."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.domain.models import IN_FLIGHT, TERMINAL, Job, JobState
from bot.store.db.base import Database
from bot.store.job_queries import count_in_states
from bot.store.ledger import settlement

# Seconds from acceptance to the posted clip: a clip takes minutes at Prodia, up to the job timeout.
DELIVERY_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600)
PRODIA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
# Seconds from an interaction's creation to the bot's answer: Discord drops an interaction unanswered in 3 s.
ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 5)


class Metrics:
    """The instruments of one bot, in their own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.accepted = Counter(
            "sora_jobs_accepted", "Jobs accepted (queued or awaiting approval)", registry=registry
        )
        self.refused = Counter(
            "sora_jobs_refused",
            "Requests refused with a message to the member",
            ["reason"],
            registry=registry,
        )
        self.finished = Counter(
            "sora_jobs_finished",
            "Jobs that ended, by final state and job type",
            ["state", "job_type"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "sora_jobs_queued", "Jobs waiting in the queue (all processes)", registry=registry
        )
        self.in_flight = Gauge(
            "sora_jobs_in_flight", "Jobs submitting or running at Prodia (all processes)", registry=registry
        )
        self.delivery_seconds = Histogram(
            "sora_job_delivery_seconds",
            "Seconds from acceptance to the posted clip",
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.prodia_seconds = Histogram(
            "sora_prodia_request_seconds",
            "Prodia HTTP request latency, by method",
            ["method"],
            buckets=PRODIA_BUCKETS,
            registry=registry,
        )
        self.prodia_errors = Counter(
            "sora_prodia_errors",
            "Prodia requests that failed, by HTTP status (or 'transport' when no answer came)",
            ["status"],
            registry=registry,
        )
        self.dollars_estimated = Counter(
            "sora_dollars_estimated", "Dollars estimated for accepted jobs", registry=registry
        )
        self.dollars_charged = Counter(
            "sora_dollars_charged",
            "Dollars spent at Prodia by ended jobs (its price, else the estimate)",
            registry=registry,
        )
        self.reencodes = Counter(
            "sora_reencodes", "Clips re-encoded to fit an upload limit", registry=registry
        )
        self.discord_errors = Counter(
            "sora_discord_errors",
            "Discord HTTP answers of 400 or more (REST, webhooks, CDN; every attempt), by status",
            ["status"],
            registry=registry,
        )
        self.upload_bytes = Counter(
            "sora_discord_upload_bytes",
            "Bytes of multipart requests (files: clips, posters, previews) sent to Discord, every attempt",
            registry=registry,
        )
        self.answer_seconds = Histogram(
            "sora_interaction_answer_seconds",
            "Seconds from an interaction's creation to the bot's first response or defer",
            buckets=ANSWER_BUCKETS,
            registry=registry,
        )

    def job_accepted(self, job: Job) -> None:
        self.accepted.inc()
        self.dollars_estimated.inc(job.estimated_cost)

    def request_refused(self, error: Exception) -> None:
        """A member's request refused with a UserFacingError: the error's class names the reason."""
        self.refused.labels(reason=type(error).__name__).inc()

    async def on_transition(self, job: Job, previous: JobState) -> None:
        """The store's transition listener: ended jobs, their money and the time to a posted clip."""
        if job.state not in TERMINAL:
            return
        self.finished.labels(state=job.state.value, job_type=job.request.job_type.value).inc()
        settled = settlement(job, previous)
        if settled.kind == "commit":
            self.dollars_charged.inc(settled.dollars)
        if job.state is JobState.DELIVERED and job.finished_at is not None:
            self.delivery_seconds.observe(max(0.0, job.finished_at - job.created_at))

    def prodia_request(self, method: str, seconds: float, status: int | None) -> None:
        """One Prodia HTTP request: its latency, and an error when it got no answer or a status >= 400."""
        self.prodia_seconds.labels(method=method).observe(seconds)
        if status is None or status >= 400:
            self.prodia_errors.labels(status=_status_label(status, _PRODIA_STATUSES)).inc()

    def reencoded(self) -> None:
        self.reencodes.inc()

    def discord_answer(self, status: int) -> None:
        """One HTTP answer from Discord: counted when it is an error."""
        if status >= 400:
            self.discord_errors.labels(status=_status_label(status, _DISCORD_STATUSES)).inc()

    def uploaded(self, size: int) -> None:
        self.upload_bytes.inc(size)

    def interaction_answered(self, seconds: float) -> None:
        self.answer_seconds.observe(max(0.0, seconds))  # a clock behind Discord's would make it negative

    async def refresh(self, db: Database) -> None:
        """Set the gauges from the database (at scrape time: the queue is shared by every process)."""
        counts = await count_in_states(db, (JobState.QUEUED, *IN_FLIGHT))
        self.queue_depth.set(counts[JobState.QUEUED])
        self.in_flight.set(sum(counts[state] for state in IN_FLIGHT))

    def exposition(self) -> bytes:
        """The registry in Prometheus's text format."""
        return generate_latest(self.registry)


# The codes each service documents; anything else (a proxy's odd code, Cloudflare's 52x) is counted by its
# class, keeping labels few.
_PRODIA_STATUSES = frozenset({400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504})
_DISCORD_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 429, 500, 502, 503, 504})


def _status_label(status: int | None, known: frozenset[int]) -> str:
    if status is None:
        return "transport"
    return str(status) if status in known else f"{status // 100}xx"
