"""Pages and cuts that keep list replies within Discord's 2,000 characters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.ui.pages import CONTENT_LIMIT, ELLIPSIS, PagedReply, cut, fit, paginate

# Lines of every length around the limits, with line breaks and markdown inside.
LINES = st.lists(
    st.one_of(
        st.text(max_size=60),
        st.text(alphabet="*_`~|>@#<\n x", min_size=100, max_size=2500),
        st.integers(0, 2100).map(lambda n: "x" * n),
    ),
    max_size=60,
)


@given(LINES, st.integers(1, CONTENT_LIMIT), st.one_of(st.none(), st.integers(1, 25)))
def test_every_page_fits_and_every_line_appears_once_in_order(
    lines: list[str], limit: int, per_page: int | None
) -> None:
    pages = paginate(lines, limit=limit, per_page=per_page)
    assert all(len(page.text) <= limit for page in pages)
    assert all(page.stop > page.start for page in pages)
    if per_page is not None:
        assert all(page.stop - page.start <= per_page for page in pages)
    # The pages cover the lines one after the other, none left out, none twice.
    assert [i for page in pages for i in range(page.start, page.stop)] == list(range(len(lines)))
    for page in pages:
        assert page.text == "\n".join(cut(line, limit) for line in lines[page.start : page.stop])


def test_a_line_is_never_split_and_a_too_long_one_is_cut() -> None:
    pages = paginate(["a" * 1500, "b" * 600, "c" * 3000], limit=2000)
    assert [(p.start, p.stop) for p in pages] == [(0, 1), (1, 2), (2, 3)]
    assert pages[2].text == "c" * 1999 + ELLIPSIS


def test_lines_fill_a_page_up_to_the_limit_exactly() -> None:
    pages = paginate(["a" * 999, "b" * 1000, "c"], limit=2000)
    assert [(p.start, p.stop) for p in pages] == [(0, 2), (2, 3)]
    assert len(pages[0].text) == 2000


def test_no_lines_no_pages() -> None:
    assert paginate([]) == []


@given(LINES, st.integers(30, CONTENT_LIMIT))
def test_a_cut_list_fits_keeps_a_prefix_in_order_and_says_how_many_are_left(
    lines: list[str], limit: int
) -> None:
    text = fit(lines, limit=limit)
    assert len(text) <= limit
    if text == "\n".join(lines):
        return  # everything shown
    rest = "\n".join(lines[1:])
    head = text[: len(text) - len(rest) - 1] if len(lines) > 1 and text.endswith("\n" + rest) else text
    whole_rest = len(lines) == 1 or text.endswith("\n" + rest)
    if whole_rest and head.endswith(ELLIPSIS) and lines[0].startswith(head[: -len(ELLIPSIS)]):
        return  # everything shown, only a first line too long on its own cut
    left_out = text.rsplit("\n", 1)[-1] if "\n" in text else text
    assert left_out.startswith("…and ") and left_out.endswith(" more.")
    n = int(left_out.removeprefix("…and ").removesuffix(" more."))
    assert 1 <= n <= len(lines)
    kept = len(lines) - n
    if kept:
        shown = text[: -len(left_out) - 1]
        rest = "\n".join(lines[1:kept])
        if shown != "\n".join(lines[:kept]):  # only a first line too long on its own may be cut
            head = shown[: len(shown) - len(rest) - (1 if kept > 1 else 0)]
            assert head.endswith(ELLIPSIS) and lines[0].startswith(head[: -len(ELLIPSIS)])
            assert shown.endswith(rest)


def test_fit_says_how_many_did_not_fit() -> None:
    lines = [f"<@{10**17 + i}>: 3 job(s), $1.20" for i in range(200)]
    text = fit(lines)
    assert len(text) <= 2000
    shown = text.splitlines()
    assert shown[:-1] == lines[: len(shown) - 1]
    assert shown[-1] == f"…and {200 - (len(shown) - 1)} more."


def test_a_paged_reply_has_header_footer_and_page_marker_within_the_limit() -> None:
    lines = [f"line {i} " + "x" * 300 for i in range(40)]
    reply = PagedReply("Header:", lines, footer="Footer.")
    assert len(reply.pages) > 1
    for index in range(len(reply.pages)):
        content = reply.content(index)
        assert len(content) <= CONTENT_LIMIT
        assert content.startswith("Header:\n") and "Footer." in content
        assert content.endswith(f"Page {index + 1} of {len(reply.pages)}")
    assert PagedReply("Header:", [], empty="Nothing here.").content(0) == "Header:\nNothing here."
