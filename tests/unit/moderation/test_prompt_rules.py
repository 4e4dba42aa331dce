"""The prompt blocklist sees through look-alikes, spacing and invisible characters, but only whole words."""

from __future__ import annotations

import pytest

from bot.moderation.prompt_rules import (
    MAX_RULE_LENGTH,
    InvalidRule,
    Match,
    PromptCheckTimeout,
    Rule,
    check_rule,
    find_blocked,
)

ORDINARY_PROMPT = "A cyclist sprints up a steep hill, pedals out of the saddle"


def word(pattern: str) -> Rule:
    return check_rule(pattern, is_regex=False)


def regex_rule(pattern: str) -> Rule:
    return check_rule(pattern, is_regex=True)


def blocked(prompt: str, *rules: Rule) -> Rule | None:
    match = find_blocked(prompt, rules)
    return None if match is None else match.rule


@pytest.mark.parametrize(
    "prompt",
    [
        "a bad dog",
        "a BAD dog",
        "a Bad dog",
        "a bаd dog",  # Cyrillic small a
        "a bαd dog",  # Greek alpha
        "a ＢＡＤ dog",  # fullwidth
        "a 𝐛𝐚𝐝 dog",  # mathematical bold
        "a 𝒷𝒶𝒹 dog",  # mathematical script
        "a ΒΑD dog",  # Greek capitals beta and alpha
        "a b a d dog",
        "a b.a.d dog",
        "a b-a-d dog",
        "a b\u200bad dog",  # zero-width space
        "a b\u200da\u200dd dog",  # zero-width joiner
        "a \ufeffbad dog",  # byte order mark
        "a b\u00adad dog",  # soft hyphen
        "a b\u200cad dog",  # zero-width non-joiner
        "a b\u202ead\u202c dog",  # bidi override
        "a b̶a̶d̶ dog",  # combining strike-through
        "a bád dog",
        "a b4d dog",
    ],
)
def test_disguised_spellings_of_a_word_are_blocked(prompt: str) -> None:
    rule = word("bad")
    assert find_blocked(prompt, [rule]) == Match(rule)


@pytest.mark.parametrize(
    "prompt",
    [
        "pоrn",  # Cyrillic small o
        "рorn",  # Cyrillic small er
        "ροrn",  # Greek rho and omicron
        "PORN",
        "p o r n",
    ],
)
def test_cyrillic_and_greek_look_alikes_read_as_latin(prompt: str) -> None:
    assert blocked(f"some {prompt} here", word("porn")) is not None


def test_cyrillic_e_and_s_read_as_latin() -> None:
    assert blocked("a сlеаn room", word("clean")) is not None


def test_spaced_out_and_dotted_long_words_are_blocked() -> None:
    rule = word("badword")
    assert blocked("say b a d w o r d now", rule) is rule
    assert blocked("say b.a.d.w.o.r.d now", rule) is rule
    assert blocked("say B-A-D-W-O-R-D now", rule) is rule
    assert blocked("say bad.word now", rule) is rule


def test_a_spaced_out_rule_matches_the_plain_word() -> None:
    assert blocked("so bad", word("b a d")) is not None


def test_whole_words_only() -> None:
    rule = word("ass")
    assert blocked("a class on grass", rule) is None
    assert blocked("an assassin passes the brass", rule) is None
    assert blocked("ASS!", rule) is rule
    assert blocked("what an ass.", rule) is rule
    assert blocked("a s s", rule) is rule
    assert blocked("a$$ and more", rule) is rule


def test_leetspeak_needs_a_letter_in_the_token() -> None:
    rule = word("ass")
    assert blocked("a 455 horsepower engine", rule) is None
    assert blocked("a55", rule) is rule


def test_substrings_of_longer_words_are_not_blocked() -> None:
    assert blocked("a therapist listens", word("rapist")) is None


def test_multi_word_rule_matches_across_any_separator() -> None:
    rule = word("very bad thing")
    assert blocked("this is a very bad thing indeed", rule) is rule
    assert blocked("a VERY   bad\nthing", rule) is rule
    assert blocked("very, bad... thing!", rule) is rule
    assert blocked("very-bad-thing", rule) is rule
    assert blocked("#verybadthing", rule) is rule
    assert blocked("a very good thing, not bad", rule) is None
    assert blocked("very bad things", rule) is None


def test_rule_text_is_normalized_like_the_prompt() -> None:
    rule = word("  ＢａＤ  ")
    assert rule.pattern == "ＢａＤ"
    assert blocked("so bad", rule) is rule


def test_rules_in_spaceless_scripts_match_inside_text() -> None:
    assert blocked("这是坏词吗", word("坏词")) is not None


def test_no_false_positive_on_an_ordinary_prompt() -> None:
    rules = [
        word(w) for w in ("ass", "sex", "nude", "kill", "gore", "cum", "tit", "hell", "bad word", "porn")
    ]
    rules.append(regex_rule(r"\bn[i1]gg"))
    assert find_blocked(ORDINARY_PROMPT, rules) is None


def test_the_first_matching_rule_wins_and_word_rules_come_first() -> None:
    regex = regex_rule("bad")
    first = word("bad")
    second = word("dog")
    assert find_blocked("a bad dog", [regex, first, second]) == Match(first)


def test_empty_rule_list_blocks_nothing() -> None:
    assert find_blocked("anything at all", []) is None


def test_regex_rule_matches_case_insensitively() -> None:
    rule = regex_rule(r"\bBAD\s*WORD\b")
    assert rule == Rule(r"\bBAD\s*WORD\b", is_regex=True)
    assert blocked("a badword", rule) is rule
    assert blocked("a Bad Word", rule) is rule
    assert blocked("a bad-word", rule) is None


def test_regex_rule_sees_the_normalized_prompt() -> None:
    rule = regex_rule(r"bad\s+word")
    assert blocked("a bаd wоrd", rule) is rule  # Cyrillic small a and o
    assert blocked("a b\u200bad word", rule) is rule


def test_regex_rule_in_a_non_latin_script_still_works() -> None:
    rule = regex_rule(r"\bСУКА\b")
    assert blocked("ты сука", rule) is rule
    assert blocked("Ты СУКА!", rule) is rule


@pytest.mark.parametrize("pattern", ["(", "a{2,1}", "[z-a]", r"\p{NotAProperty}", "(?P<x>a", "*bad"])
def test_invalid_regex_is_rejected_with_a_readable_message(pattern: str) -> None:
    with pytest.raises(InvalidRule, match="That regex is not valid: "):
        regex_rule(pattern)


@pytest.mark.parametrize("pattern", ["((a{1000}){1000}){1000}", "a{65535}", "(?:(?:a{100}){100}){10}"])
def test_regex_that_would_unroll_into_a_huge_program_is_rejected(pattern: str) -> None:
    with pytest.raises(InvalidRule, match="regex"):
        regex_rule(pattern)


@pytest.mark.parametrize("pattern", ["a*", "x|", "^", "(?:)"])
def test_regex_matching_the_empty_prompt_is_rejected(pattern: str) -> None:
    with pytest.raises(InvalidRule, match="every prompt"):
        regex_rule(pattern)


@pytest.mark.timeout(10)
def test_catastrophic_regex_does_not_stall() -> None:
    rule = regex_rule(r"(a+)+$")
    for prompt in ("a" * 38 + "!", "a" * 4000 + "!"):
        try:
            assert find_blocked(prompt, [rule], timeout=0.05) is None
        except PromptCheckTimeout as exc:
            assert exc.rule is rule


@pytest.mark.timeout(10)
def test_many_catastrophic_regexes_share_one_budget() -> None:
    rules = [regex_rule(r"(x+x+)+y")] * 50
    with pytest.raises(PromptCheckTimeout):
        find_blocked("x" * 4000, rules, timeout=0.05)


@pytest.mark.timeout(10)
def test_a_word_match_is_reported_even_when_a_regex_would_time_out() -> None:
    slow = regex_rule(r"(x+x+)+y")
    plain = word("xx")
    assert find_blocked("x" * 4000 + " xx", [slow, plain], timeout=0.05) == Match(plain)


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        find_blocked("hello", [], timeout=0)


@pytest.mark.parametrize("pattern", ["", "   ", "\t\n"])
@pytest.mark.parametrize("is_regex", [False, True])
def test_empty_rule_is_rejected(pattern: str, is_regex: bool) -> None:
    with pytest.raises(InvalidRule, match="empty"):
        check_rule(pattern, is_regex)


@pytest.mark.parametrize("is_regex", [False, True])
def test_long_rule_is_rejected(is_regex: bool) -> None:
    check_rule("a" * MAX_RULE_LENGTH, is_regex)
    with pytest.raises(InvalidRule, match="too long"):
        check_rule("a" * (MAX_RULE_LENGTH + 1), is_regex)


@pytest.mark.parametrize("pattern", ["!!!", "...", "\u200b\u200b", "🙂"])
def test_word_rule_without_letters_or_digits_is_rejected(pattern: str) -> None:
    with pytest.raises(InvalidRule, match="letter or digit"):
        word(pattern)


def test_invalid_rule_is_a_value_error() -> None:
    assert issubclass(InvalidRule, ValueError)
