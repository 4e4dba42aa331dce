"""`FakeProdia`: the fake Prodia server, composed of its parts (see the package docstring)."""

from __future__ import annotations

from tests.fakes.prodia.routes import RoutesMixin


class FakeProdia(RoutesMixin):
    """The fake server. Knobs are plain attributes and may be changed while it runs."""
