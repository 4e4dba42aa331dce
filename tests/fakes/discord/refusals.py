"""The refusal guard: what the bot sent that Discord would turn down, and what a test declared it provokes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from tests.fakes.discord.constants import ROUTES
from tests.fakes.discord.core import DiscordCore
from tests.fakes.discord.records import ExpectedRefusal, RecordedRequest


class RefusalsMixin(DiscordCore):
    """Refusals: what the bot sent that Discord would turn down."""

    def expect_refusal(
        self,
        *,
        status: int | None = None,
        code: int | None = None,
        route: str | None = None,
        when: Callable[[RecordedRequest], bool] | None = None,
        reason: str = "",
    ) -> ExpectedRefusal:
        """Declare refusals the test provokes on purpose, from now on (fields left None match anything).

        A refusal answered while a declaration matches it is not in `unexpected_refusals`, so the
        end-to-end guard (tests/e2e/conftest.py) lets it pass. Declare as narrowly as the test allows.
        """
        if route is not None and route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; use one of ROUTES")
        expected = ExpectedRefusal(status, code, route, when, reason)
        self.expected_refusals.append(expected)
        return expected

    @contextlib.contextmanager
    def expecting(
        self,
        *,
        status: int | None = None,
        code: int | None = None,
        route: str | None = None,
        when: Callable[[RecordedRequest], bool] | None = None,
        reason: str = "",
    ) -> Iterator[ExpectedRefusal]:
        """`expect_refusal` for the requests answered inside the ``with`` block only."""
        expected = self.expect_refusal(status=status, code=code, route=route, when=when, reason=reason)
        try:
            yield expected
        finally:
            self.expected_refusals.remove(expected)

    @property
    def refusals(self) -> list[RecordedRequest]:
        """Every request the fake turned down by its own rules (`RecordedRequest.refused`)."""
        return [r for r in self.requests if r.refused]

    @property
    def unexpected_refusals(self) -> list[RecordedRequest]:
        """Refusals no `expect_refusal` declaration covered: what a test did not ask for."""
        return [r for r in self.refusals if r.expected is None]

    def refusal_report(self, refusals: Sequence[RecordedRequest] | None = None) -> str:
        """The refused requests (default: the unexpected ones), one per line, with Discord's errors."""
        chosen = self.unexpected_refusals if refusals is None else refusals
        return "\n".join(f"  {r.describe()}" for r in chosen) or "  (none)"
