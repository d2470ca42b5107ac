"""documents/parsing/word.py: Word .docx pages, headings, lists and tables."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from documents.parsing import (
    ParseError,
    ParseErrorCode,
    parse_file,
)
from tests.documents.parsing.conftest import FIXTURES, parse


def test_docx_splits_pages_at_word_page_breaks_and_keeps_blank_odd_page() -> None:
    document = parse("docx/page-breaks.docx")
    texts = [page.text for page in document.pages]

    assert document.markup == "markdown"
    assert len(texts) == 6
    assert texts[0].endswith("and hard page-break here>>")
    assert texts[1].startswith("<<Text on second page.")
    assert texts[2].startswith("<<but break falls inside link")
    assert "Continuous section break here>>" in texts[2]  # a continuous section stays on page
    assert texts[3] == ""  # the odd-page section break skips page 4, as Word prints it
    assert texts[4].startswith("<<producing two page-breaks to get from page-3 to page-5.")
    assert texts[5] == "<<and then more text proceeds."


def test_docx_headings_become_markdown_and_list_items_dashes() -> None:
    text = parse("docx/docx_lists.docx").pages[0].text

    assert text.startswith("# Test Document")
    assert "### Test 1:" in text
    assert "- List item 1\n- List item 2\n- List item 3" in text
    assert "  - List item 1.1" in text


def test_docx_tables_render_rows_with_cell_separators_in_document_order() -> None:
    text = parse("docx/word_tables.docx").pages[0].text

    assert "Header 0.0 | Header 0.1 | Header 0.2\nCell 1.0 | Cell 1.1 | Cell 1.2" in text
    assert text.index("A uniform table") < text.index("Header 0.0")


def test_docx_vertically_merged_cells_repeat_their_value_in_each_row() -> None:
    text = parse("docx/docx-tables.docx").pages[0].text

    assert "a | b\na | c | d" in text


def test_docx_headers_and_footers_are_left_out() -> None:
    text = parse("docx/docx-hdrftr.docx").pages[0].text

    assert "Main document" in text
    assert "First header" not in text


def test_docx_that_is_not_a_complete_zip_is_corrupt(tmp_path: Path) -> None:
    data = (FIXTURES / "docx/word_tables.docx").read_bytes()
    path = tmp_path / "cut.docx"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="cut.docx")

    assert caught.value.code == ParseErrorCode.CORRUPT


def test_docx_missing_its_document_part_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "hollow.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document><w:body>")

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="hollow.docx")

    assert caught.value.code == ParseErrorCode.CORRUPT
