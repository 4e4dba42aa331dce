"""The languages /sora-admin defaults offers: every one the bot speaks, named in its own language, and the
server's own; the posts' language in words."""

from __future__ import annotations

from bot.i18n.catalogs import LOCALES
from bot.i18n.messages import SOURCE
from bot.ui.languages import CHOICES, NAMES, SERVER_OWN, chosen, posts_language


def test_every_language_the_bot_speaks_is_offered_by_its_own_name_and_the_servers_own_last() -> None:
    assert set(NAMES) == {*LOCALES, SOURCE}
    assert [(c.name, c.value) for c in CHOICES[:-1]] == [(NAMES[v], v) for v in (*LOCALES, SOURCE)]
    assert (CHOICES[-1].name, CHOICES[-1].value) == ("The server's own language", SERVER_OWN)
    assert NAMES["pt-BR"] == "Português (Brasil)" and NAMES["zh-CN"] == "简体中文"
    assert len(CHOICES) <= 25 and all(1 <= len(c.name) <= 100 for c in CHOICES)  # Discord's limits


def test_the_servers_own_language_is_stored_as_unset() -> None:
    assert chosen(SERVER_OWN) is None
    assert chosen("ko") == "ko"


def test_the_posts_language_in_words() -> None:
    assert posts_language("fr", "de") == "Français"
    assert posts_language(None, "de") == "the server's own language (Deutsch)"
    assert posts_language(None, "es-419") == "the server's own language (Español)"  # the nearest it speaks
    assert posts_language(None, "it") == "the server's own language (English)"  # one it doesn't speak
    assert posts_language(None, None) == "the server's own language (English)"
