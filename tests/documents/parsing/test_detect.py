"""documents/parsing/detect.py: what a file is, from its name and bytes; what is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from documents.parsing import (
    ParseError,
    ParseErrorCode,
    detect_format,
    parse_file,
    supported_formats_text,
)
from tests.documents.parsing.conftest import FIXTURES, parse_error


@pytest.mark.parametrize(
    ("relative", "filename", "expected"),
    [
        ("pdf-basic/crazyones-pdfa.pdf", "scan.pdf", "pdf"),
        ("pdf-basic/crazyones-pdfa.pdf", "upload", "pdf"),  # no extension: the bytes decide
        ("docx/word_tables.docx", "tables.zip", "docx"),
        ("pptx/powerpoint_sample.pptx", "deck.pptx", "pptx"),
        ("xlsx/xlsx_02_sample_sales_data.xlsm", "sales.xlsm", "xlsx"),
        ("epub/eng_spa_mult.epub", "book.epub", "epub"),
        ("csv/stanley-cups.tsv", "cups.tsv", "csv"),
        ("html/example_03.html", "page.htm", "html"),
        ("html/example_03.html", "page", "html"),
        ("markdown/nested.md", "notes.markdown", "markdown"),
        ("txt/fake-text.txt", "server.log", "text"),
        ("txt/fake-text-utf-16-le.txt", "notes", "text"),
        ("xlsx/password_protected.xlsx", "secret.xlsx", None),
        ("docx-legacy-doc/simple.doc", "old.doc", None),
        ("other/simple.odt", "simple.odt", None),
        ("other/simple.zip", "bundle.zip", None),
    ],
)
def test_detect_format_uses_content_and_name(
    relative: str, filename: str, expected: str | None
) -> None:
    assert detect_format(FIXTURES / relative, filename=filename) == expected


def test_file_named_as_pdf_that_is_not_one_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    shutil.copy(FIXTURES / "txt/fake-text.txt", path)

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="report.pdf")

    assert caught.value.code == ParseErrorCode.CORRUPT


def test_unsupported_format_message_lists_the_supported_formats() -> None:
    assert supported_formats_text() in str(parse_error("docx-legacy-doc/simple.doc"))


def test_binary_file_with_unknown_extension_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 8)

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="data.bin")

    assert caught.value.code == ParseErrorCode.UNSUPPORTED
