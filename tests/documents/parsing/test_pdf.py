"""documents/parsing/pdf.py: text layers, damaged PDFs, scanned-page warnings, page images."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from documents.parsing import (
    ParsedDocument,
    ParsedPage,
    ParseError,
    ParseErrorCode,
    ocr,
    parse_file,
    pdf,
)
from documents.parsing.ocr import OcrResult
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
        "OCR found no legible text on 2 of 6 pages (pages 4, 5: photos, drawings, or a scan too "
        "faint or too small to read); they cannot be searched."
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


def _make_pdf(
    path: Path,
    *,
    pages: int = 1,
    image: bool = True,
    caption: str = "",
    layout: list[tuple[bool | str, str]] | None = None,
) -> Path:
    """A PDF whose pages show an image (a scan; "blank": a scan of an empty sheet) and/or a
    line of real text; `layout` gives (image, text) page by page."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    from PIL import ImageDraw

    document = pdfium.PdfDocument.new()
    for has_image, line in layout or [(image, caption)] * pages:
        page = document.new_page(612, 792)
        if has_image:
            scan = Image.new("L", (400, 500), 255)
            if has_image != "blank":  # "blank": a scanned empty sheet
                ImageDraw.Draw(scan).text((20, 20), "Scanned words", fill=0)
            picture = pdfium.PdfImage.new(document)
            picture.set_bitmap(pdfium.PdfBitmap.from_pil(scan))
            picture.set_matrix(pdfium.PdfMatrix().scale(400, 500).translate(100, 150))
            page.insert_obj(picture)
        if line:
            font = pdfium_c.FPDFText_LoadStandardFont(document, b"Helvetica")
            text = pdfium_c.FPDFPageObj_CreateTextObj(document, font, 12.0)
            buffer = ctypes.create_string_buffer((line + "\x00").encode("utf-16-le"))
            pdfium_c.FPDFText_SetText(
                text, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR))
            )
            pdfium_c.FPDFPageObj_Transform(text, 1, 0, 0, 1, 72, 72)
            pdfium_c.FPDFPage_InsertObject(page, text)
        page.gen_content()
    document.save(path)
    return path


@pytest.fixture
def no_ocr(settings):
    settings.OCR_ENGINE = "none"


def test_a_scan_with_a_stray_caption_is_flagged_page_by_page(tmp_path: Path, no_ocr) -> None:
    # One page of real text hides the scans from a whole-document average.
    text = "Every employee has thirty days of paid leave per year. " * 8
    caption = "Figure 1: the scanned contract"
    layout = [(False, text), (True, caption), (True, caption)]
    path = _make_pdf(tmp_path / "scan.pdf", layout=layout)

    document = parse_file(path, filename="scan.pdf")

    assert document.warnings == [
        "Very little text was found on 2 of 3 pages that are images (pages 2, 3): only a "
        "caption or a page number, so they are probably scans; run OCR on the file (for "
        "example with ocrmypdf) if searches miss its content."
    ]


def test_a_text_page_with_little_text_gets_no_ocr_advice(tmp_path: Path, no_ocr) -> None:
    path = _make_pdf(tmp_path / "note.pdf", image=False, caption="See the appendix.")

    assert parse_file(path, filename="note.pdf").warnings == []


class _RecordingEngine:
    """Stands in for the OCR engine: records the pages it is asked to read and reads what
    the test says (specks on an empty page come out as a few low-confidence characters)."""

    name = "recording"

    def __init__(self, result: OcrResult) -> None:
        self.result, self.calls = result, 0

    def read(self, image: Image.Image) -> OcrResult:
        self.calls += 1
        return self.result


@pytest.fixture
def engine(monkeypatch) -> _RecordingEngine:
    recording = _RecordingEngine(OcrResult(text="", confidence=0.0))
    monkeypatch.setattr(ocr, "get_engine", lambda: recording)
    return recording


def _parse_here(path: Path) -> ParsedDocument:
    """The PDF parser in this process (the test's engine does not reach a parse child)."""
    return pdf.PdfParser().parse(path, max_pages=100)


def test_a_pdf_of_blank_pages_says_so_and_is_not_sent_to_ocr(tmp_path: Path, engine) -> None:
    path = _make_pdf(tmp_path / "blank.pdf", pages=2, image=False)

    with pytest.raises(ParseError) as caught:
        _parse_here(path)

    assert caught.value.code == ParseErrorCode.NO_TEXT
    assert str(caught.value).startswith("This PDF's pages are blank")
    assert "character map" not in str(caught.value)
    assert engine.calls == 0


def test_a_pdf_of_drawings_without_text_says_ocr_would_not_help(tmp_path: Path) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    document = pdfium.PdfDocument.new()
    page = document.new_page(612, 792)
    shape = pdfium_c.FPDFPageObj_CreateNewRect(100, 100, 400, 500)
    pdfium_c.FPDFPageObj_SetFillColor(shape, 0, 0, 0, 255)
    pdfium_c.FPDFPath_SetDrawMode(shape, pdfium_c.FPDF_FILLMODE_WINDING, False)
    pdfium_c.FPDFPage_InsertObject(page, shape)
    page.gen_content()
    path = tmp_path / "drawing.pdf"
    document.save(path)

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="drawing.pdf")

    assert caught.value.code == ParseErrorCode.NO_TEXT
    assert "OCR would not help" in str(caught.value)
    assert "character map" in str(caught.value)


@pytest.mark.parametrize("specks", [False, True])
def test_a_blank_page_in_a_scan_is_named_blank_without_ocr_advice(
    tmp_path: Path, engine, specks: bool
) -> None:
    if specks:  # what OCR makes of dust on an empty sheet
        engine.result = OcrResult(text="'.", confidence=0.31)
    text = "Every employee has thirty days of paid leave per year. " * 8
    layout = [(False, text), ("blank", ""), (False, ""), (False, text)]
    path = _make_pdf(tmp_path / "scan.pdf", layout=layout)

    document = _parse_here(path)

    assert document.warnings == [
        "Page 2 is blank; it has no text to search.",
        "Page 3 is blank; it has no text to search.",
    ]
    assert document.pages[1].text == ""
    assert engine.calls == 1  # page 3 has nothing drawn on it: not rendered for OCR


def test_a_scanned_page_ocr_cannot_read_is_not_called_blank(tmp_path: Path, engine) -> None:
    text = "Every employee has thirty days of paid leave per year. " * 8
    path = _make_pdf(tmp_path / "scan.pdf", layout=[(False, text), (True, "")])

    document = _parse_here(path)

    assert document.warnings == [
        "OCR found no legible text on 1 of 2 pages (page 2: photos, drawings, or a scan too "
        "faint or too small to read); they cannot be searched."
    ]


def test_many_blank_pages_are_named_ten_by_ten() -> None:
    warnings = ocr.blank_page_warnings(list(range(1, 26)))

    assert warnings[:2] == [
        "Page 1 is blank; it has no text to search.",
        "Page 2 is blank; it has no text to search.",
    ]
    assert warnings[10:] == [
        "15 more pages are blank (pages 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 and 5 more)."
    ]


def test_a_pdf_with_no_pages_says_so(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    path = tmp_path / "empty.pdf"
    pdfium.PdfDocument.new().save(path)

    with pytest.raises(ParseError) as caught:
        parse_file(path, filename="empty.pdf")

    assert caught.value.code == ParseErrorCode.EMPTY
    assert str(caught.value).startswith("This PDF has no pages")
    assert "OCR" not in str(caught.value)


def test_form_fields_without_a_form_dictionary_are_still_named(tmp_path: Path) -> None:
    # A page cut out of a form (SF424_page2.pdf) keeps its field widgets but loses the form
    # dictionary: hiding the dictionary of a real form makes the same file.
    data = (FIXTURES / "pdf-forms/resetform.pdf").read_bytes()
    path = tmp_path / "form-page.pdf"
    path.write_bytes(data.replace(b"/AcroForm", b"/XcroForm"))

    with pytest.raises(ParseError) as caught:
        _parse_here(path)

    assert "form field contents are not read" in str(caught.value)


def test_the_review_keeps_only_ocr_confidence_warnings() -> None:
    pages = [ParsedPage(number=1, text="12"), ParsedPage(number=2, text="Figure 3")]

    assert pdf.DECLARATION.review(pages) == []


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
