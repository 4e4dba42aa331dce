"""The sub-resources' signed links: each signs its kind, member, server, job and expiry, and nothing else."""

from __future__ import annotations

import pytest

from bot.dashboard.media_links import Kind, MediaLinks

NOW = 1_750_000_000
LINK = {"user_id": 11, "guild_id": 22, "job_id": 33}


def parts(query: str) -> tuple[str, str]:
    expires, signature = (item.split("=", 1)[1] for item in query.split("&"))
    return expires, signature


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({}, "clip"),  # a thumbnail's link opens no clip
        ({"user_id": 12}, "image"),
        ({"guild_id": 23}, "image"),
        ({"job_id": 34}, "image"),
    ],
)
def test_a_link_is_good_for_its_kind_member_server_and_job_only(change: dict[str, int], kind: Kind) -> None:
    links = MediaLinks("s" * 40)
    expires, signature = parts(links.query("image", **LINK, expires=NOW + 300))
    assert links.verify("image", **LINK, expires=expires, signature=signature, now=NOW)
    other = LINK | change
    assert not links.verify(kind, **other, expires=expires, signature=signature, now=NOW)


def test_a_link_expires_and_is_the_dashboards_own() -> None:
    links = MediaLinks("s" * 40)
    expires, signature = parts(links.query("clip", **LINK, expires=NOW + 900))
    assert links.verify("clip", **LINK, expires=expires, signature=signature, now=NOW + 900)
    assert not links.verify("clip", **LINK, expires=expires, signature=signature, now=NOW + 901)
    assert not links.verify("clip", **LINK, expires=str(NOW + 9000), signature=signature, now=NOW)
    assert not MediaLinks("t" * 40).verify("clip", **LINK, expires=expires, signature=signature, now=NOW)
    assert not links.verify("clip", **LINK, expires="1e99", signature=signature, now=NOW)
    assert not links.verify("clip", **LINK, expires=expires, signature=signature.upper(), now=NOW)
    assert repr(links) == "MediaLinks()" and "s" * 8 not in repr(links)
