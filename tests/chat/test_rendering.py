"""Markdown from a model becomes safe HTML; [n] markers become links to the cited passage."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from chat.rendering import ALLOWED_TAGS, citation_url, render_answer, shorten, sources

CITATION = {
    "number": 1,
    "document_id": 7,
    "document": "meals.md",
    "page": 2,
    "page_end": 2,
    "quote": "Meal expenses are reimbursed up to 45 euros per day.",
    "chunk_id": 3,
    "char_start": 120,
    "char_end": 170,
}


def render(text, citations=(CITATION,)):
    return str(render_answer(text, citations=list(citations), corpus_slug="policies"))


def test_markdown_renders_basic_formatting_lists_tables_and_code():
    html = render(
        "**Bold** and *em*\n\n- one\n- two\n\n1. first\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "`code` and\n\n```\nblock\n```\n\n> quoted"
    )
    for fragment in (
        "<strong>Bold</strong>",
        "<em>em</em>",
        "<ul>",
        "<ol>",
        "<table>",
        "<td>1</td>",
        "<code>code</code>",
        "<pre><code>block",
        "<blockquote>",
    ):
        assert fragment in html


class Elements(HTMLParser):
    """The tags and attributes a browser would actually build from some HTML."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_safe(html: str) -> None:
    for tag, attrs in Elements(html).found:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style"
            if name == "href":
                assert value.startswith(("https:", "http:", "mailto:", "/c/")), value
        if tag == "a":
            assert attrs["rel"] == "noopener noreferrer nofollow"


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD4=)",
        "![pixel](http://tracker.example/p.png)",
        '<iframe src="http://evil.example"></iframe>',
        "<svg onload=alert(1)>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        '[x](https://ok.example "title" onmouseover=alert(1))',
    ],
)
def test_model_output_cannot_inject_html_or_script(hostile):
    html = render(f"Before {hostile} after [1]")
    assert_safe(html)
    assert [tag for tag, _ in Elements(html).found if tag != "p"] in (["a"], ["a", "a"])


def test_links_keep_safe_schemes_and_get_rel():
    html = render("[site](https://example.com) [mail](mailto:a@example.com) [ftp](ftp://x.org/f)")
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>' in html
    assert 'href="mailto:a@example.com"' in html
    assert 'href="ftp' not in html
    assert_safe(html)


def test_images_show_their_alt_text_only():
    html = render("![the org chart](https://example.com/chart.png)")
    assert "<img" not in html
    assert "the org chart" in html


def test_only_known_citation_numbers_become_links():
    html = render("Forty-five euros [1], see also [2].")
    assert html.count('class="cite"') == 1
    assert (
        '<a class="cite" href="/c/policies/documents/7/?page=2&amp;start=120&amp;end=170#passage"'
        in html
    )
    assert 'aria-label="Source 1: meals.md, page 2"' in html
    assert "[2]" in html


def test_markers_in_code_and_inside_links_stay_text():
    html = render("`a[1]` and [see [1]](https://example.com)")
    assert 'class="cite"' not in html


def test_document_names_in_labels_are_escaped():
    citation = {**CITATION, "document": '"><script>alert(1)</script>.md'}
    html = render("Here [1]", [citation])
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_citation_urls_degrade_without_page_or_offsets():
    assert citation_url("p", {"document_id": 3}) == "/c/p/documents/3/"
    assert citation_url("p", {"document_id": 3, "page": 4}) == "/c/p/documents/3/?page=4#passage"
    assert citation_url("p", {"document": "x"}) == ""
    assert citation_url("p", {"document_id": "3", "page": "bad"}) == "/c/p/documents/3/"


def test_sources_use_page_labels_and_shorten_quotes():
    long_quote = "word " * 200
    result = sources(
        [{**CITATION, "quote": long_quote}, {**CITATION, "number": 2, "page": 3, "page_end": 4}],
        corpus_slug="policies",
        page_labels={(7, 2): "Slide 2"},
    )
    assert result[0].where == "Slide 2"
    assert len(result[0].quote) <= 280
    assert result[0].quote.endswith("…")
    assert result[1].where == "pages 3\u20134"


def test_shorten_keeps_short_text():
    assert shorten("  a   b ", 10) == "a b"
