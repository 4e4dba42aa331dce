# ruff: noqa: RUF002 -- the docstring shows the look-alike letters it is about
"""How the prompt blocklist reads text: look-alikes, invisible characters, marks, spacing and leetspeak.

Normalization (prompt and word rules alike, see ``to_skeleton``):

1. NFKD: compatibility forms become plain letters (fullwidth ``ＢＡＤ``, mathematical ``𝐛𝐚𝐝``,
   circled and superscript letters, ligatures) and accents split off as combining marks.
2. Drop invisible characters: every format character (Unicode category Cf: zero-width space,
   joiner and non-joiner, BOM, soft hyphen, word joiner, bidi controls, tag characters, ...) and
   the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), which render as nothing.
3. Map look-alike letters to ASCII with Unicode's own confusables table (UTS #39, as shipped by
   the ``confusable-homoglyphs`` package), before case folding so that each glyph is judged by
   the case it was written in: Cyrillic ``а е о р с х у ѕ і``, Greek ``ο α ρ ν``, Latin with a
   stroke (``ł ø đ``), Cherokee, Lisu, ... Only characters whose look-alike is a single ASCII
   letter or digit are mapped; everything else stays as written.
4. Drop combining marks (Mn, Me) that sit on Latin, Greek, Cyrillic, Arabic or Hebrew letters or
   on non-letters, so accents and "Zalgo" strike-through (``b̶a̶d̶``) vanish. Marks on other
   scripts (Devanagari vowel signs, Thai tone marks, ...) carry meaning there and are kept.
5. Case-fold, then NFKC to recompose what is left.

Word rules then see the normalized prompt as tokens (runs of letters, digits and marks; everything
else separates) in up to four "views", and a rule matches if it matches any of them:

* runs of two or more one-character tokens read as one spaced-out word, and a rule may begin and
  end at any letter inside such a run, so ``b a d``, ``b.a.d``, ``b-a-d`` and even ``a b a d
  dog`` (with the article caught up in the run) contain ``bad``;
* tokens separated only by punctuation (no whitespace) are joined, so ``bad.word`` and
  ``bad_word`` read ``badword``;
* both of the above again after ``@ $ ! |`` touching a letter or digit are read as the digits
  ``4 5 1 1`` (so ``@ss`` and ``a$$`` reach the leetspeak step below). Rules go through the
  same substitution.
"""

from __future__ import annotations

import functools
import string
import unicodedata

import regex
from confusable_homoglyphs import confusables as _confusables

_INVISIBLE = regex.compile(r"[\p{Cf}\u115f\u1160\u3164\uffa0]+")
_STRAY_MARKS = regex.compile(
    r"(?:^|(?<=[\p{Script=Latin}\p{Script=Greek}\p{Script=Cyrillic}\p{Script=Arabic}\p{Script=Hebrew}])"
    r"|(?<=[^\p{L}\p{M}]))[\p{Mn}\p{Me}]+"
)
_TOKEN = regex.compile(r"[\p{L}\p{N}\p{M}]+")
_ALNUM = regex.compile(r"[\p{L}\p{N}]")
_WHITESPACE = regex.compile(r"\s")
_LEET_SYMBOL_RUN = regex.compile(r"(?<=[\p{L}\p{N}])[@$!|]+|[@$!|]+(?=[\p{L}\p{N}])")
_LEET_SYMBOLS = str.maketrans({"@": "4", "$": "5", "!": "1", "|": "1"})
RUN = "\x1f"
"""Joins a run of spaced-out single letters in a view; a word rule may start or end at any of them."""
RUN_RE = r"\x1f"

_ASCII_ALNUM = frozenset(string.ascii_letters + string.digits)


@functools.cache
def _confusable_table() -> dict[int, str]:
    """``str.translate`` table: look-alike character -> the ASCII letter or digit it imitates."""
    data: dict[str, list[dict[str, str]]] = _confusables.confusables_data
    table: dict[int, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        targets = {_strip_all_marks(glyph["c"]) for glyph in glyphs}
        ascii_targets = sorted((t for t in targets if t in _ASCII_ALNUM), key=lambda t: (t.isdigit(), t))
        if not ascii_targets:
            continue
        target = ascii_targets[0]
        # Unicode's prototype for I-like capitals is "l"; judged as capitals they are "I".
        table[ord(char)] = "I" if target == "l" and char.isupper() else target
    table[0x2800] = " "  # braille blank renders as a space
    return table


def _strip_all_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.category(ch).startswith("M"))


def to_skeleton(text: str) -> str:
    """The normalized form that word rules compare and regex rules see first."""
    text = unicodedata.normalize("NFKD", text)
    text = _INVISIBLE.sub("", text)
    text = text.translate(_confusable_table())
    text = _STRAY_MARKS.sub("", text)
    return unicodedata.normalize("NFKC", text.casefold())


def regex_texts(prompt: str, skeleton: str) -> list[str]:
    light = unicodedata.normalize(
        "NFKC", _INVISIBLE.sub("", unicodedata.normalize("NFKC", prompt)).casefold()
    )
    return list(dict.fromkeys((skeleton, light, prompt.casefold())))


def leet_symbols(text: str) -> str:
    return _LEET_SYMBOL_RUN.sub(lambda m: m.group().translate(_LEET_SYMBOLS), text)


def split_tokens(text: str) -> list[tuple[str, bool]]:
    """Tokens of ``text``, each with whether whitespace separates it from the previous token."""
    tokens: list[tuple[str, bool]] = []
    end = 0
    for found in _TOKEN.finditer(text):
        token = found.group()
        if _ALNUM.search(token) is None:
            continue  # marks with no letter to sit on: treat as separator
        spaced = not tokens or _WHITESPACE.search(text, end, found.start()) is not None
        tokens.append((token, spaced))
        end = found.end()
    return tokens


def collapse_single_letters(tokens: list[tuple[str, bool]], joiner: str = RUN) -> list[str]:
    """Join runs of two or more one-letter tokens: ``b a d`` -> ``b\x1fa\x1fd`` (``bad`` in rules)."""
    out: list[str] = []
    run: list[str] = []
    for token, _spaced in tokens:
        if len(token) == 1 or (not token.isascii() and len(_ALNUM.findall(token)) == 1):
            run.append(token)
            continue
        out.extend([joiner.join(run)] if len(run) > 1 else run)
        run = []
        out.append(token)
    out.extend([joiner.join(run)] if len(run) > 1 else run)
    return out


def join_punctuated(tokens: list[tuple[str, bool]]) -> list[str]:
    """Join tokens separated only by punctuation: ``bad.word`` -> ``badword``."""
    out: list[str] = []
    for token, spaced in tokens:
        if spaced or not out:
            out.append(token)
        else:
            out[-1] += token
    return out


def word_views(skeleton: str) -> list[str]:
    views: dict[str, None] = {}
    for text in dict.fromkeys((skeleton, leet_symbols(skeleton))):
        tokens = split_tokens(text)
        views[" ".join(collapse_single_letters(tokens))] = None
        views[" ".join(join_punctuated(tokens))] = None
    return list(views)
