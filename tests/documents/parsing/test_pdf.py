"""documents/parsing/pdf.py: text layers, damaged PDFs, scanned-page warnings, page images."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from documents.parsing import (
    ParsedPage,
    ParseError,
    ParseErrorCode,
    parse_file,
    pdf,
)
from documents.parsing.pdf import render_page_png
from tests.documents.parsing.conftest import FIXTURES, parse


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


def test_pdf_with_very_little_text_on_every_page_parses_with_an_ocr_hint() -> None:
    pages = [ParsedPage(number=1, text="12"), ParsedPage(number=2, text="Figure 3")]

    assert pdf.DECLARATION.review(pages) == [
        "Very little text was found (10 characters on 2 pages); the pages may be images of "
        "text. Run OCR on the file if searches miss its content."
    ]
    assert pdf.DECLARATION.review([ParsedPage(number=1, text="x" * 40)]) == []


# --- page images ------------------------------------------------------------------------------


def test_pdf_page_renders_as_a_png_at_the_requested_scale() -> None:
    path = FIXTURES / "pdf-basic/pdflatex-4-pages.pdf"

    default = render_page_png(path, number=2)
    double = render_page_png(path, number=2, scale=2.0)

    assert default is not None
    assert double is not None
    with Image.open(io.BytesIO(default)) as small, Image.open(io.BytesIO(double)) as large:
        assert small.format == "PNG"
        assert large.width == pytest.approx(small.width * 4 / 3, abs=2)


@pytest.mark.parametrize("number", [0, -1, 5])
def test_pdf_page_image_of_a_page_that_does_not_exist_is_none(number: int) -> None:
    assert render_page_png(FIXTURES / "pdf-basic/pdflatex-4-pages.pdf", number=number) is None


@pytest.mark.parametrize("relative", ["txt/fake-text.txt", "pdf-encrypted/r6-user-password.pdf"])
def test_pdf_page_image_of_a_file_pdfium_cannot_open_is_none(relative: str) -> None:
    assert render_page_png(FIXTURES / relative, number=1) is None


def test_pdf_page_image_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert render_page_png(tmp_path / "gone.pdf", number=1) is None


def test_pdf_pages_render_and_parse_in_parallel_threads() -> None:
    path = FIXTURES / "pdf-basic/pdflatex-4-pages.pdf"

    with ThreadPoolExecutor(max_workers=4) as pool:
        images = [pool.submit(render_page_png, path, number=n) for n in (1, 2, 3, 4)]
        parsed = [pool.submit(parse, "pdf-basic/pdflatex-4-pages.pdf") for _ in range(4)]
        results = [future.result() for future in images]
        documents = [future.result() for future in parsed]

    assert all(png is not None and png.startswith(b"\x89PNG") for png in results)
    assert {len(document.pages) for document in documents} == {4}
