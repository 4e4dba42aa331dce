# ruff: noqa: RUF002 -- the docstring shows the look-alike letters it is about
"""Per-server prompt blocklist: validate admin rules and find the first rule a prompt breaks.

Pure module: no Discord, no database. A server's rules arrive as a sequence of :class:`Rule`;
:func:`check_rule` validates what an admin typed, :func:`find_blocked` checks a prompt.

Prompts and word rules are first normalized and read as words in several views: see
:mod:`bot.moderation.normalize`.

A word rule is normalized and tokenized the same way and matches whole tokens only: ``ass``
matches ``ASS!`` and ``a s s`` but not ``class`` or ``grass``. A multi-word rule (``very bad
thing``) matches its words separated by any run of whitespace or punctuation, or by nothing
(``verybadthing``). Leetspeak digits are accepted for the letters they usually stand for
(``0 1 3 4 5 7 8 9`` for ``o i/l e a s t b g``, and the reverse for digits in a rule), but only in
prompt tokens that also contain a letter: ``b4d`` and ``a55`` match, ``455`` (horsepower) never
matches ``ass``. Rules written in scripts without spaces between words (Han, kana, Thai, Lao,
Khmer, Myanmar) match anywhere inside a token, since there is no word boundary to test.

Regex rules run case-insensitively (full Unicode case folding) with the ``regex`` module against
the normalized prompt, and also against the prompt with only NFKC, invisible-character removal and
case folding, and against the raw prompt case-folded, so patterns written in non-Latin scripts
still work. They do not see the collapsed or joined views: an admin who wants ``b a d`` writes
``b\\W*a\\W*d``.

Why ``regex`` and not RE2: admins know Python's syntax (lookarounds, backreferences, Unicode-aware
``\\b`` and ``\\w``; RE2's ``\\b`` is ASCII-only, so ``\\bсука\\b`` would silently never match),
it has a per-call ``timeout=`` that bounds backtracking, releases the GIL during matching, and has
typeshed stubs. The price is that run time is bounded by a deadline rather than by construction:
a catastrophic pattern makes :func:`find_blocked` raise :class:`PromptCheckTimeout` (the caller
refuses the prompt, failing closed) instead of answering. ``regex`` also unrolls counted repeats
when compiling, so ``((a{1000}){1000}){1000}`` would exhaust memory; patterns whose counted
repeats could unroll past a fixed budget are rejected before they are compiled.

Trade-offs, knowingly made:

* False positives: the confusables map is applied to every script, so a genuine Cyrillic or
  Greek word whose letters all look Latin is read as that Latin word (``хер`` reads ``xep``);
  inside a run of spaced-out letters any stretch counts as a word, so ``c l a s s`` contains
  ``ass`` and initials combine (``A. S. S. Smith`` contains ``ass``); joining across punctuation
  reads ``bad-ass`` as ``badass`` too; leetspeak makes ``b4`` read like ``ba``; a rule in a
  spaceless script also matches inside longer words (the Japanese rule ``バカ`` matches
  ``バカンス``).
* False negatives: letters only partly spaced out (``ba d``, ``bad w o r d`` against the rule
  ``badword``), repeated letters (``baaad``), masking characters (``f*ck``, ``b@#d``), the
  ``i``/``l`` swap (``ldiot``), look-alikes that map to two letters (``rn`` for ``m``), letters
  made of symbols or pictures (``🅱``), and Korean particles glued to a word are not caught.
  Word rules never match substrings, which is what makes ``therapist`` safe from ``rapist``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from bot.i18n.messages import _, number
from bot.moderation.normalize import (
    RUN_RE,
    collapse_single_letters,
    leet_symbols,
    regex_texts,
    split_tokens,
    to_skeleton,
    word_views,
)

MAX_RULE_LENGTH = 200
"""Longest rule (after stripping surrounding whitespace) that :func:`check_rule` accepts."""

_MAX_REPEAT = 1000
"""Largest bound of a counted repeat ``{m,n}`` in a regex rule."""

_MAX_EXPANSION = 10_000
"""Budget for the atoms a regex rule's counted repeats could unroll into when compiled."""

_REGEX_FLAGS = regex.IGNORECASE | regex.FULLCASE

_PROBLEM_MAX = 200
"""The most characters of the regex module's own explanation an invalid rule's refusal repeats."""

_LETTER = regex.compile(r"\p{L}")
_UNSPACED_SCRIPT = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
_COUNTED_REPEAT = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
# Which characters a rule's letter (or digit) also accepts in the prompt.
_LEET_CLASSES: dict[str, str] = {
    "a": "a4",
    "b": "b8",
    "e": "e3",
    "g": "g9",
    "i": "i1",
    "l": "l1",
    "o": "o0",
    "s": "s5",
    "t": "t7",
    "0": "0o",
    "1": "1il",
    "3": "3e",
    "4": "4a",
    "5": "5s",
    "7": "7t",
    "8": "8b",
    "9": "9g",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One blocklist entry: a word (or phrase) rule, or a regex rule."""

    pattern: str
    is_regex: bool


@dataclass(frozen=True, slots=True)
class Match:
    """The rule that blocked a prompt."""

    rule: Rule


class InvalidRule(ValueError):
    """An admin's rule was rejected; the message is meant to be shown to them (in the language of the
    moment: the admin's, during their command)."""


class PromptCheckTimeout(Exception):
    """A regex rule took too long on this prompt; refuse the prompt as "could not be checked"."""

    def __init__(self, rule: Rule) -> None:
        super().__init__(f"the regex rule {rule.pattern!r} took too long on this prompt")
        self.rule = rule


def check_rule(pattern: str, is_regex: bool) -> Rule:
    """Validate what an admin typed and return the rule to store (surrounding whitespace removed).

    Raises :class:`InvalidRule` with a message fit for the admin.
    """
    text = pattern.strip()
    if not text:
        raise InvalidRule(_("The rule is empty."))
    if len(text) > MAX_RULE_LENGTH:
        raise InvalidRule(
            _(
                "That rule is too long ({length} characters; the limit is {most}).",
                length=number(len(text)),
                most=number(MAX_RULE_LENGTH),
            )
        )
    compiled = _compiled(text, is_regex)
    if is_regex and compiled.search("", timeout=1.0) is not None:
        raise InvalidRule(_("That regex matches an empty prompt, so it would block every prompt."))
    return Rule(text, is_regex)


def find_blocked(prompt: str, rules: Sequence[Rule], *, timeout: float = 0.05) -> Match | None:
    """Return the first rule ``prompt`` breaks, or ``None``.

    Word rules are checked first, in order, then regex rules, in order. ``timeout`` (seconds) is
    the budget for all regex rules together; when a regex runs past it, :class:`PromptCheckTimeout`
    is raised. A stored rule that no longer compiles raises :class:`InvalidRule` (so the prompt is
    not let through unchecked).
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    skeleton = to_skeleton(prompt)
    word_rules = [rule for rule in rules if not rule.is_regex]
    if word_rules:
        views = word_views(skeleton)
        for rule in word_rules:
            compiled = _compiled(rule.pattern, False)
            if any(compiled.search(view) is not None for view in views):
                return Match(rule)
    regex_rules = [rule for rule in rules if rule.is_regex]
    if regex_rules:
        texts = regex_texts(prompt, skeleton)
        deadline = time.perf_counter() + timeout
        for rule in regex_rules:
            compiled = _compiled(rule.pattern, True)
            for text in texts:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise PromptCheckTimeout(rule)
                try:
                    found = compiled.search(text, timeout=remaining, concurrent=True)
                except TimeoutError as exc:
                    raise PromptCheckTimeout(rule) from exc
                if found is not None:
                    return Match(rule)
    return None


# --- compiling rules -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str, is_regex: bool) -> regex.Pattern[str]:
    """Compile a rule once; raises :class:`InvalidRule` (not cached) when it can't be."""
    return _compile_regex(pattern) if is_regex else _compile_word(pattern)


def _compile_word(pattern: str) -> regex.Pattern[str]:
    words = collapse_single_letters(split_tokens(leet_symbols(to_skeleton(pattern))), joiner="")
    if not words:
        raise InvalidRule(_("A word rule needs at least one letter or digit."))
    parts: list[str] = []
    for word in words:
        body = f"{RUN_RE}?".join(_char_pattern(ch) for ch in word)
        if _LETTER.search(word) is not None:
            body = f"(?![0-9{RUN_RE}]+(?: |$))" + body  # a prompt token of digits alone is never leetspeak
        parts.append(body)
    left = "" if _UNSPACED_SCRIPT.match(words[0][0]) else f"(?<![^ {RUN_RE}])"
    right = "" if _UNSPACED_SCRIPT.match(words[-1][-1]) else f"(?![^ {RUN_RE}])"
    return regex.compile(left + f"[ {RUN_RE}]?".join(parts) + right)


def _char_pattern(ch: str) -> str:
    similar = _LEET_CLASSES.get(ch)
    return f"[{similar}]" if similar else regex.escape(ch)


def _compile_regex(pattern: str) -> regex.Pattern[str]:
    _check_expansion(pattern)
    try:
        return regex.compile(pattern, _REGEX_FLAGS)
    except (regex.error, ValueError, OverflowError, MemoryError, RecursionError) as exc:
        # The regex module's own explanation (English, like the syntax it is about), cut to a bounded length.
        raise InvalidRule(_("That regex is not valid: {problem}", problem=str(exc)[:_PROBLEM_MAX])) from exc


def _check_expansion(pattern: str) -> None:
    """Reject counted repeats that ``regex`` would unroll into a huge program when compiling.

    A rough, conservative parse: each atom counts 1, a group counts the sum of its contents, and
    ``{m,n}`` multiplies what it follows by ``max(m, n)``.
    """
    stack: list[list[int]] = [[]]
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            stack[-1].append(1)
            i += 2
        elif ch == "[":
            stack[-1].append(1)
            i = _class_end(pattern, i)
        elif ch == "(":
            stack.append([])
            i += 1
        elif ch == ")":
            if len(stack) > 1:
                inner = stack.pop()
                stack[-1].append(sum(inner) + 1)
            i += 1
        elif ch == "{" and (repeat := _COUNTED_REPEAT.match(pattern, i)) and any(repeat.groups()):
            bound = max(int(repeat.group(1) or 0), int(repeat.group(2) or 0))
            if bound > _MAX_REPEAT:
                raise InvalidRule(
                    _(
                        "That regex repeats something {times} times; the limit is {most}.",
                        times=number(bound),
                        most=number(_MAX_REPEAT),
                    )
                )
            if stack[-1]:
                stack[-1][-1] *= max(bound, 1)
            i = repeat.end()
        else:
            stack[-1].append(1)
            i += 1
    while len(stack) > 1:
        inner = stack.pop()
        stack[-1].append(sum(inner) + 1)
    if sum(stack[0]) > _MAX_EXPANSION:
        # `{counts}` is regex syntax (a counted repeat), kept out of the translation as a value.
        raise InvalidRule(
            _("That regex has too many nested repeats; make the {counts} smaller.", counts="{counts}")
        )


def _class_end(pattern: str, start: int) -> int:
    """Index just past the ``]`` closing the character class that opens at ``start``."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return i
