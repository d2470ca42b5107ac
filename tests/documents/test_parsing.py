"""documents.parsing against real documents (tests/fixtures/docs, see its README and MANIFEST).

No database: run with `pytest tests/documents/test_parsing.py -p no:django` if you like.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from documents.parsing import (
    PARSERS,
    SUPPORTED_EXTENSIONS,
    SUPPORTED_FORMATS_TEXT,
    ParsedDocument,
    ParseError,
    ParseErrorCode,
    Parser,
    detect_format,
    parse_file,
)
from tests.conftest import FIXTURE_DOCS, SHARED_DATA

FIXTURES = FIXTURE_DOCS
SHARED_CORPUS = SHARED_DATA / "docs"


def parse(relative: str, **kwargs: int) -> ParsedDocument:
    path = FIXTURES / relative
    return parse_file(path, filename=path.name, **kwargs)


def parse_error(relative: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse(relative)
    return caught.value


def fixture_files() -> list[str]:
    return sorted(
        str(path.relative_to(FIXTURES))
        for path in FIXTURES.rglob("*")
        if path.is_file()
        and path.parent.name != "LICENSES"
        and path.name not in ("MANIFEST.tsv", "README.md")
    )


# --- what comes out -------------------------------------------------------------------------


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


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_pages_keep_their_page_numbers() -> None:
    document = parse("pdf-basic/pdflatex-4-pages.pdf")

    assert [page.number for page in document.pages] == [1, 2, 3, 4]
    assert all(page.label == "" for page in document.pages)
    assert document.warnings == []


def test_pdf_words_hyphenated_across_lines_are_joined() -> None:
    text = parse("pdf-scanned-ocr-layer/Seige_of_Vicksburg_Sample_OCR.pdf").pages[0].text

    assert "too conspicuous and dangerous for use" in text


def test_pdf_with_some_pages_without_text_parses_with_a_warning() -> None:
    document = parse("pdf-scanned-no-text/imagemagick-images.pdf")

    assert len(document.pages) == 6
    assert document.warnings == [
        "2 of 6 pages have no extractable text (scanned images?); they cannot be searched."
    ]


def test_damaged_pdf_without_usable_structure_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n" + bytes(range(256)) * 4)

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="broken.pdf")

    assert caught.value.code == ParseErrorCode.CORRUPT
    assert str(caught.value).startswith("This file is damaged and could not be read:")


def test_pdf_cut_off_before_its_end_is_corrupt_with_advice(tmp_path: Path) -> None:
    data = (FIXTURES / "pdf-basic/pdflatex-4-pages.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: len(data) * 9 // 10])

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="truncated.pdf")

    assert caught.value.code == ParseErrorCode.CORRUPT
    assert "print it to a new PDF" in str(caught.value)


# --- Word -------------------------------------------------------------------------------------


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


# --- PowerPoint -------------------------------------------------------------------------------


def test_pptx_gives_one_labelled_page_per_slide_with_title_and_notes() -> None:
    document = parse("pptx/powerpoint_sample.pptx")

    assert [page.label for page in document.pages] == ["Slide 1", "Slide 2", "Slide 3"]
    second = document.pages[1].text
    assert second.startswith("# Second slide title")
    assert "A rectangle shape with this text inside." in second
    assert second.endswith("Notes:\nSome notes on the second slide.")


def test_pptx_reads_text_inside_nested_group_shapes() -> None:
    text = parse("pptx/group-shapes-nested.pptx").pages[0].text

    assert set(text.split()) == set("ABCDEFGHIJ")


def test_pptx_slide_with_unsupported_chart_type_keeps_its_other_text() -> None:
    document = parse("pptx/pptx_chart.pptx")

    assert document.warnings == []
    assert "Chart: Wild Duck Observations by Year" in document.pages[0].text
    assert document.pages[1].text.startswith("# Quarterly revenue")


# --- spreadsheets -----------------------------------------------------------------------------


def test_xlsx_gives_one_page_per_worksheet_with_header_value_rows() -> None:
    document = parse("xlsx/stanley-cups.xlsx")

    assert [page.label for page in document.pages] == [
        "Sheet: Stanley Cups",
        "Sheet: Stanley Cups Since 67",
    ]
    assert document.pages[0].text.splitlines() == [
        "Stanley Cups",
        "Team | Location | Stanley Cups",
        "Team: Blues; Location: STL; Stanley Cups: 1",
        "Team: Flyers; Location: PHI; Stanley Cups: 2",
        "Team: Maple Leafs; Location: TOR; Stanley Cups: 13",
    ]


def test_xlsx_chartsheets_are_skipped() -> None:
    document = parse("xlsx/xlsx_03_chartsheet.xlsx")

    assert [page.label for page in document.pages] == ["Sheet: Duck Observations"]
    assert "Year: 2019; Freshwater Ducks: 120; Saltwater Ducks: 80" in document.pages[0].text


def test_xlsx_title_row_above_the_header_is_kept_as_a_line() -> None:
    lines = parse("xlsx/xlsx_05_table_with_title.xlsx").pages[0].text.splitlines()

    assert lines[:3] == [
        "Number of freshwater ducks per year",
        "Year | Freshwater Ducks",
        "Year: 2019; Freshwater Ducks: 120",
    ]


@pytest.mark.parametrize(
    ("relative", "first_row"),
    [
        ("csv/stanley-cups.csv", "Team: Blues; Location: STL; Stanley Cups: 1"),
        ("csv/stanley-cups.tsv", "Team: Blues; Location: STL; Stanley Cups: 1"),
        ("csv/stanley-cups-utf-16.csv", "Team: Blues; Location: STL; Stanley Cups: 1"),
        (
            "csv/semicolon-delimited.csv",
            "Lorem, ipsum: consectetur; dolor sit: adipiscing; amet: elit",
        ),
    ],
)
def test_csv_rows_become_header_value_lines_whatever_the_delimiter_and_encoding(
    relative: str, first_row: str
) -> None:
    document = parse(relative)

    assert first_row in document.pages[0].text.splitlines()
    assert document.pages[0].label == "Rows 1–5"  # noqa: RUF001


def test_csv_with_ragged_rows_keeps_every_row() -> None:
    lines = parse("csv/csv-too-few-columns.csv").pages[0].text.splitlines()

    assert lines == [
        "1 | 2 | 3 | 4",
        "a | 'b' | c | d",
        "a | b | c",
        "a | b | c | d",
        "a | b | c | d",
    ]


def test_csv_with_very_long_lines_parses() -> None:
    document = parse("csv/csv-with-long-lines.csv")

    assert len(document.pages[0].text) > 100_000


def test_long_csv_is_paged_by_hundred_rows_with_row_labels(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    rows = ["order,customer,total"] + [f"{n},Customer {n},{n * 3}.50" for n in range(1, 251)]
    path.write_text("\n".join(rows), encoding="utf-8")

    document = parse_file(path, filename="orders.csv")

    labels = [page.label for page in document.pages]
    assert labels == ["Rows 1–101", "Rows 102–201", "Rows 202–251"]  # noqa: RUF001
    assert document.pages[1].text.splitlines()[0] == (
        "order: 101; customer: Customer 101; total: 303.50"
    )


def test_empty_workbook_has_no_text() -> None:
    error = parse_error("xlsx/empty.xlsx")

    assert error.code == ParseErrorCode.NO_TEXT
    assert "spreadsheet has no cells with values" in str(error)


# --- HTML, Markdown, text ---------------------------------------------------------------------


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


# --- EPUB -------------------------------------------------------------------------------------


def test_epub_pages_follow_the_spine_labelled_with_chapter_headings() -> None:
    document = parse("epub/winter-sports.epub")

    assert document.markup == "markdown"
    assert [page.label for page in document.pages] == [
        "The Project Gutenberg eBook of Winter Sports in Switzerland , by E. F. Benson",
        "CHAPTER II RINKS AND SKATERS",
        "THIRD-CLASS TEST",
        "Compulsory Figures",
        "CHAPTER IV TOBOGGANING",
        "CHAPTER V ICE-HOCKEY",
        "Jumping",
        "CHAPTER VIII FOR PARENTS AND GUARDIANS",
        "THE FULL PROJECT GUTENBERG LICENSE",
    ]
    assert document.pages[-1].text.startswith("*** END OF THE PROJECT GUTENBERG EBOOK")


def test_epub_chapter_without_heading_or_title_is_labelled_by_position() -> None:
    assert parse("epub/eng_spa_mult.epub").pages[0].label == "Section 1"


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "code", "words"),
    [
        ("pdf-encrypted/r6-user-password.pdf", ParseErrorCode.ENCRYPTED, ["password"]),
        ("pdf-encrypted/r2-user-password.pdf", ParseErrorCode.ENCRYPTED, ["password"]),
        ("pdf-encrypted/password.pdf", ParseErrorCode.ENCRYPTED, ["password", "upload it again"]),
        ("xlsx/password_protected.xlsx", ParseErrorCode.ENCRYPTED, ["Excel", "password"]),
        ("pdf-scanned-no-text/ocr_test.pdf", ParseErrorCode.NO_TEXT, ["scan", "OCR", "ocrmypdf"]),
        ("pdf-basic/empty.pdf", ParseErrorCode.NO_TEXT, ["OCR"]),
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


def test_unsupported_format_message_lists_the_supported_formats() -> None:
    assert SUPPORTED_FORMATS_TEXT in str(parse_error("docx-legacy-doc/simple.doc"))


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


def test_binary_file_with_unknown_extension_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(bytes(range(256)) * 8)

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="data.bin")

    assert caught.value.code == ParseErrorCode.UNSUPPORTED


def test_deeply_nested_html_parses_without_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.html"
    path.write_text("<div>" * 5000 + "deep text" + "</div>" * 5000, encoding="utf-8")

    assert parse_file(path, filename="deep.html").pages[0].text == "deep text"


# --- format detection and the registry ---------------------------------------------------------


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


def test_every_registered_parser_follows_the_protocol_under_its_own_name() -> None:
    keys = {"pdf", "docx", "pptx", "xlsx", "csv", "html", "markdown", "text", "epub"}
    assert set(PARSERS) == keys
    for key, parser in PARSERS.items():
        assert isinstance(parser, Parser)
        assert parser.name == key


def test_supported_extensions_cover_every_format() -> None:
    expected = {".pdf", ".docx", ".pptx", ".xlsx", ".xlsm", ".csv", ".html", ".md", ".txt", ".epub"}
    assert expected <= SUPPORTED_EXTENSIONS
    assert ".doc" not in SUPPORTED_EXTENSIONS


# --- the whole shared corpus ------------------------------------------------------------------


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
