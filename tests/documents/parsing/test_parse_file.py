"""parse_file in any format: numbered clean pages out, or a ParseError with a plain reason."""

from __future__ import annotations

import pytest

from documents.parsing import (
    ParseError,
    ParseErrorCode,
    parse_file,
)
from tests.conftest import SHARED_DATA
from tests.documents.parsing.conftest import fixture_files, parse, parse_error

SHARED_CORPUS = SHARED_DATA / "docs"


@pytest.mark.parametrize(
    ("relative", "parser", "pages", "page", "phrase"),
    [
        ("pdf-basic/pdflatex-4-pages.pdf", "pdf", 4, 1, "Hello, here is some text without a"),
        ("pdf-basic/crazyones-pdfa.pdf", "pdf", 1, 1, "The Crazy Ones"),
        ("pdf-basic/002-trivial-libre-office-writer.pdf", "pdf", 1, 1, "Lorem ipsum dolor"),
        ("pdf-scanned-ocr-layer/Seige_of_Vicksburg_Sample_OCR.pdf", "pdf", 6, 1, "VICKSBURG"),
        ("pdf-unicode/multilang.pdf", "pdf", 1, 1, "Привет, мир"),
        ("pdf-encrypted/r6-owner-password.pdf", "pdf", 1, 1, "pdf encryption test"),
        ("pdf-encrypted/r6-empty-password.pdf", "pdf", 1, 1, "pdf encryption test"),
        ("pdf-encrypted/copy-protected.pdf", "pdf", 2, 1, "LayoutParser"),
        ("pdf-malformed/helloworld-bad.pdf", "pdf", 1, 1, "Hello, world!"),
        ("pdf-malformed/xref_command_missing.pdf", "pdf", 1, 1, "Reduced test-case"),
        ("pdf-malformed/invisible_text_layer.pdf", "pdf", 1, 1, "Invisible OCR text layer"),
        ("docx/unit_test_headers.docx", "docx", 2, 1, "# Test Document"),
        ("docx/textbox.docx", "docx", 1, 1, "Suggested Reportable Symptoms"),
        ("docx/Strict.docx", "docx", 1, 1, "Some text"),
        ("pptx/fake-power-point-table.pptx", "pptx", 1, 1, "Red | Green | Blue"),
        ("pptx/fake-power-point-malformed.pptx", "pptx", 1, 1, "# Test Slide"),
        ("xlsx/xlsx_02_sample_sales_data.xlsm", "xlsx", 1, 1, "Date: 2024-01-01"),
        ("csv/csv-pipe.csv", "csv", 1, 1, ":"),
        ("html/example_03.html", "html", 1, 1, "## Data Table"),
        ("markdown/nested.md", "markdown", 1, 1, "# Nesting"),
        ("txt/fake-text.txt", "text", 1, 1, "Doylestown, PA 18901"),
        ("epub/eng_spa_mult.epub", "epub", 1, 1, "All human beings are born free"),
    ],
)
def test_parse_file_returns_numbered_pages_with_the_documents_text(
    relative: str, parser: str, pages: int, page: int, phrase: str
) -> None:
    document = parse(relative)

    assert document.parser == parser
    assert len(document.pages) == pages
    assert [p.number for p in document.pages] == sorted({p.number for p in document.pages})
    assert phrase in document.pages[page - 1].text


@pytest.mark.parametrize("relative", fixture_files())
def test_no_page_text_contains_nul_or_surrounding_whitespace(relative: str) -> None:
    try:
        document = parse(relative)
    except ParseError:
        return
    for page in document.pages:
        assert "\x00" not in page.text
        assert "\ufffe" not in page.text
        assert page.text == page.text.strip()


@pytest.mark.parametrize(
    ("relative", "code", "words"),
    [
        ("pdf-encrypted/r6-user-password.pdf", ParseErrorCode.ENCRYPTED, ["password"]),
        ("pdf-encrypted/r2-user-password.pdf", ParseErrorCode.ENCRYPTED, ["password"]),
        ("pdf-encrypted/password.pdf", ParseErrorCode.ENCRYPTED, ["password", "upload it again"]),
        ("xlsx/password_protected.xlsx", ParseErrorCode.ENCRYPTED, ["Excel", "password"]),
        ("pdf-basic/empty.pdf", ParseErrorCode.NO_TEXT, ["pages are blank"]),
        ("pdf-forms/resetform.pdf", ParseErrorCode.NO_TEXT, ["form field"]),
        ("docx-legacy-doc/simple.doc", ParseErrorCode.UNSUPPORTED, ["(.doc)", ".docx"]),
        ("other/simple.odt", ParseErrorCode.UNSUPPORTED, ["OpenDocument", ".docx"]),
        ("other/fake-doc.rtf", ParseErrorCode.UNSUPPORTED, ["Rich Text Format"]),
        ("other/simple.zip", ParseErrorCode.UNSUPPORTED, ["ZIP"]),
        ("other/simple.json", ParseErrorCode.UNSUPPORTED, ["JSON"]),
        ("txt/empty.txt", ParseErrorCode.EMPTY, ["empty"]),
        ("txt/fake-text-all-whitespace.txt", ParseErrorCode.EMPTY, ["blank"]),
    ],
)
def test_unreadable_files_raise_parse_error_with_a_plain_reason(
    relative: str, code: ParseErrorCode, words: list[str]
) -> None:
    error = parse_error(relative)

    assert error.code == code
    for word in words:
        assert word in str(error)
    assert error.retryable is False


@pytest.mark.parametrize(
    ("relative", "max_pages"),
    [("pdf-basic/pdflatex-4-pages.pdf", 3), ("pptx/powerpoint_sample.pptx", 2)],
)
def test_documents_with_more_pages_than_allowed_are_too_large(
    relative: str, max_pages: int
) -> None:
    with pytest.raises(ParseError) as caught:
        parse(relative, max_pages=max_pages)

    assert caught.value.code == ParseErrorCode.TOO_LARGE
    assert f"limit of {max_pages}" in str(caught.value)


def test_every_file_in_the_shared_corpus_parses_or_raises_parse_error() -> None:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"{SHARED_CORPUS} is not present on this machine")
    files = [
        path
        for path in sorted(SHARED_CORPUS.rglob("*"))
        if path.is_file() and "LICENSES" not in path.parts and path.name != "MANIFEST.tsv"
    ]
    outcomes: dict[str, int] = {}
    crashes = []
    for path in files:
        try:
            document = parse_file(path, filename=path.name)
        except ParseError as error:
            outcome = error.code.value
        except Exception as error:  # the very thing this test exists to catch
            crashes.append(f"{path.relative_to(SHARED_CORPUS)}: {error!r}")
            continue
        else:
            assert document.has_text, path
            outcome = "ok"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    assert crashes == []
    assert sum(outcomes.values()) == len(files) > 150
    assert outcomes["ok"] > len(files) * 3 // 4
