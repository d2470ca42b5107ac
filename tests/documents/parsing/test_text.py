"""documents/parsing/text.py: plain text and Markdown in any encoding, paged by size or \f."""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.parsing import (
    parse_file,
)
from tests.documents.parsing.conftest import parse


def test_markdown_in_latin1_decodes_like_its_utf8_twin() -> None:
    latin1 = parse("markdown/umlauts-non-utf8.md")
    utf8 = parse("markdown/umlauts-utf8.md")

    assert latin1.pages == utf8.pages
    assert latin1.pages[0].text == "## können\n\nkönnen\n\näöüß"
    assert latin1.markup == "markdown"


def test_markdown_html_comments_are_removed() -> None:
    text = parse("markdown/nested.md").pages[0].text

    assert "Table nesting apparently not yet suported" not in text
    assert "A nested HTML list:" in text


@pytest.mark.parametrize(
    ("relative", "same_as"),
    [
        ("txt/fake-text-utf-16.txt", "txt/fake-text-utf-16-le.txt"),
        ("txt/fake-text-utf-32.txt", "txt/fake-text-utf-16-le.txt"),
        ("txt/fake-text-utf-16-be.txt", "txt/fake-text.txt"),
    ],
)
def test_text_in_utf16_and_utf32_with_or_without_bom_decodes(relative: str, same_as: str) -> None:
    text = parse(relative).pages[0].text

    assert text == parse(same_as).pages[0].text
    assert text.startswith("This is a test document to use for unit tests.")


def test_long_text_is_split_into_pages_labelled_with_their_line_numbers(tmp_path: Path) -> None:
    # Paragraphs of four numbered lines, then a blank line: 1-4, 6-9, 11-14, ...
    lines = []
    for number in range(1, 1001):
        lines.append("" if number % 5 == 0 else f"line {number} " + "x" * 70)
    path = tmp_path / "long.txt"
    path.write_text("\n".join(lines), encoding="utf-8")

    document = parse_file(path, filename="long.txt")

    assert len(document.pages) > 10
    expected_first = 1
    for page in document.pages:
        first, last = (int(n) for n in page.label.removeprefix("Lines ").split("\N{EN DASH}"))
        page_lines = page.text.splitlines()
        assert first == expected_first
        assert page_lines[0].startswith(f"line {first} ")
        assert page_lines[-1].startswith(f"line {last} ")
        assert last % 5 == 4  # pages end where a paragraph ends
        assert len(page.text) <= 4000
        expected_first = last + 2


def test_short_text_is_one_page_without_label() -> None:
    document = parse("txt/fake-text.txt")

    assert [(page.number, page.label) for page in document.pages] == [(1, "")]


def test_text_double_encoded_as_utf8_is_repaired() -> None:
    text = parse("txt/norwich-city.txt").pages[0].text

    assert "1990\N{EN DASH}1993 Huddersfield Town" in text


def test_text_with_form_feeds_gets_a_page_per_form_feed(tmp_path: Path) -> None:
    path = tmp_path / "report.log"
    path.write_text("first page\n\fsecond page\n\fthird page\n", encoding="utf-8")

    document = parse_file(path, filename="report.log")

    assert [(p.number, p.text) for p in document.pages] == [
        (1, "first page"),
        (2, "second page"),
        (3, "third page"),
    ]
