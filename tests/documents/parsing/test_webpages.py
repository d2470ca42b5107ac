"""documents/parsing/webpages.py: the visible text of HTML, split at CSS page breaks."""

from __future__ import annotations

from pathlib import Path

from documents.parsing import (
    parse_file,
)
from tests.documents.parsing.conftest import parse


def test_html_script_and_style_contents_are_dropped() -> None:
    text = parse("html/example-with-scripts.html").pages[0].text

    assert "# Russian Offensive Campaign Assessment, December 13" in text
    assert "GoogleAnalyticsObject" not in text
    assert "jQuery" not in text


def test_html_in_utf16_reads_the_same_as_its_utf8_twin() -> None:
    utf16 = parse("html/example-steelJIS-datasheet-utf-16.html")
    utf8 = parse("html/example-steelJIS-datasheet.html")

    assert utf16.pages == utf8.pages
    assert "成分" in utf8.pages[0].text


def test_html_without_charset_in_cp1252_decodes_western_accents() -> None:
    text = parse("html/fake-html-cp1252.html").pages[0].text

    assert "L'été était très chaud cette année." in text
    assert "El niño comió paella" in text
    assert "15,50 €" in text


def test_html_splits_pages_at_css_page_breaks() -> None:
    document = parse("html/example-10k-1p.html")

    assert len(document.pages) == 2
    assert "Commission file number: 000-30653" in document.pages[0].text
    assert document.pages[1].text.startswith("GALAXY GAMING, INC.")
    assert "Item 1. | Business | 4" in document.pages[1].text


def test_deeply_nested_html_parses_without_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 5000 + "deep text" + "</div>" * 5000, encoding="utf-8")

    assert parse_file(path, filename="deep.html").pages[0].text == "deep text"
