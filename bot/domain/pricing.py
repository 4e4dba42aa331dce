"""Cost estimates from per-second prices; Prodia's reported price replaces them after a job."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import JobRequest


@dataclass(frozen=True, slots=True)
class Prices:
    """Dollars per second of video for each variant."""

    sora2: float = 0.10
    sora2_pro_720p: float = 0.30
    sora2_pro_1080p: float = 0.50

    def per_second(self, request: JobRequest) -> float:
        if request.model != "sora-2-pro":
            return self.sora2
        return self.sora2_pro_1080p if request.effective_resolution == "1080p" else self.sora2_pro_720p

    def estimate(self, request: JobRequest) -> float:
        """Estimated dollars for the request, rounded to the cent."""
        return round(self.per_second(request) * request.duration, 2)
