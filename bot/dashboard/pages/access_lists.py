"""The dashboard's access_lists page (to be built)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.dashboard.site import Site


def routes(site: Site) -> list[BaseRoute]:
    return []
