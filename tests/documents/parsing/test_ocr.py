"""documents/parsing/ocr.py, images.py and the OCR of scanned PDF pages, with the real engine."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from django.core.exceptions import ImproperlyConfigured
from PIL import Image, ImageDraw, ImageFont

from documents.parsing import ParseError, ParseErrorCode, ocr, parse_file
from documents.parsing.detect import detect_format
from documents.parsing.ocr import OcrResult, get_engine
from documents.parsing.pdf import render_page_png
from tests.documents.parsing.conftest import FIXTURES, parse

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_django.fixtures import SettingsWrapper


def text_image(lines: list[str], *, size: int = 36) -> Image.Image:
    font = ImageFont.load_default(size=size)
    image = Image.new("L", (1000, 80 + len(lines) * size * 2), color=255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((40, 40 + index * size * 2), line, fill=0, font=font)
    return image


def write_image(tmp_path: Path, image: Image.Image, name: str, **options: object) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


LINES = ["Quarterly revenue grew strongly", "Invoices are paid within thirty days"]


def test_the_default_engine_reads_rendered_text_with_high_confidence() -> None:
    result = get_engine().read(text_image(LINES))

    assert get_engine().name == "rapidocr"
    assert "revenue" in result.text
    assert "thirty days" in result.text
    assert result.confidence > 0.9


def test_an_image_without_text_reads_as_nothing() -> None:
    assert get_engine().read(Image.new("L", (400, 300), color=255)) == OcrResult("", 0.0)


@pytest.mark.parametrize(("name", "options"), [("note.png", {}), ("note.jpg", {"quality": 90})])
def test_png_and_jpeg_images_are_parsed_by_ocr(tmp_path: Path, name: str, options: dict) -> None:
    path = write_image(tmp_path, text_image(LINES), name, **options)

    document = parse_file(path, filename=name)

    assert document.parser == "image"
    [page] = document.pages
    assert page.ocr is True
    assert "Invoices are paid" in page.text
    assert page.ocr_confidence is not None
    assert page.ocr_confidence > 0.9
    assert document.warnings == []


def test_a_multi_page_tiff_is_one_page_per_frame(tmp_path: Path) -> None:
    first, second = text_image(["First frame says hello"]), text_image(["Second frame says bye"])
    path = tmp_path / "fax.tiff"
    first.save(path, save_all=True, append_images=[second])

    pages = parse_file(path, filename="fax.tiff").pages

    assert [page.number for page in pages] == [1, 2]
    assert "hello" in pages[0].text
    assert "bye" in pages[1].text


def test_images_are_recognised_by_their_bytes_whatever_their_name(tmp_path: Path) -> None:
    path = write_image(tmp_path, text_image(["x"]), "scan.png")
    renamed = tmp_path / "scan.dat"
    renamed.write_bytes(path.read_bytes())

    assert detect_format(renamed, filename="scan.dat") == "image"
    assert detect_format(path, filename="scan.png") == "image"


def test_a_page_of_a_scanned_fixture_pdf_as_png_is_read(tmp_path: Path) -> None:
    png = render_page_png(FIXTURES / "pdf-scanned-no-text/ocr_test.pdf", number=1, scale=2.0)
    assert png is not None
    path = tmp_path / "page.png"
    path.write_bytes(png)

    assert (
        "Docling bundles PDF document conversion"
        in parse_file(path, filename="p.png").pages[0].text
    )


def test_scanned_pdf_pages_get_their_text_from_ocr() -> None:
    document = parse("pdf-scanned-no-text/ocr_test.pdf")

    [page] = document.pages
    assert page.ocr is True
    assert "Docling bundles PDF document conversion to" in page.text
    assert "JSON and Markdown" in page.text
    assert document.warnings == []


def test_pdf_pages_with_a_text_layer_are_not_ocred() -> None:
    document = parse("pdf-basic/pdflatex-4-pages.pdf")

    assert not any(page.ocr for page in document.pages)


def test_low_confidence_pages_are_warned_about_one_by_one(settings: SettingsWrapper) -> None:
    settings.OCR_LOW_CONFIDENCE = 1.01  # every real page is below it

    document = parse("pdf-scanned-no-text/ocr_test.pdf")

    confidence = round(document.pages[0].ocr_confidence * 100)
    assert document.warnings == [
        f"Page 1: text read by OCR with low confidence ({confidence}%); it may contain errors."
    ]


def test_the_page_cap_leaves_later_scanned_pages_without_text(settings: SettingsWrapper) -> None:
    settings.OCR_MAX_PAGES = 0

    error = _parse_error("pdf-scanned-no-text/ocr_test.pdf")

    assert error.code == ParseErrorCode.NO_TEXT


def test_ocr_reports_progress_through_the_callback(tmp_path: Path) -> None:
    heard: list[tuple[str, float]] = []
    path = write_image(tmp_path, text_image(LINES), "note.png")

    parse_file(path, filename="note.png", progress=lambda stage, done: heard.append((stage, done)))

    assert heard == [("ocr", 0.0)]


def test_with_ocr_off_a_scanned_pdf_still_asks_for_ocr(settings: SettingsWrapper) -> None:
    settings.OCR_ENGINE = "none"

    error = _parse_error("pdf-scanned-no-text/ocr_test.pdf")

    assert error.code == ParseErrorCode.NO_TEXT
    for word in ("scan", "OCR", "ocrmypdf"):
        assert word in str(error)


def test_with_ocr_off_an_image_is_refused_with_advice(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.OCR_ENGINE = "none"
    path = write_image(tmp_path, text_image(LINES), "note.png")

    error = _parse_error_at(path)

    assert error.code == ParseErrorCode.OCR_UNAVAILABLE
    assert not error.code.permanent  # turning OCR on makes the same file readable
    assert "ocrmypdf" in str(error)


def test_a_blank_image_fails_saying_it_is_blank(tmp_path: Path) -> None:
    path = write_image(tmp_path, Image.new("RGB", (300, 200), "white"), "blank.png")

    error = _parse_error_at(path)

    assert error.code == ParseErrorCode.NO_TEXT
    assert str(error).startswith("This image is blank:")
    assert "scan it again" not in str(error)


def test_an_image_of_a_drawing_without_text_says_ocr_found_none(tmp_path: Path) -> None:
    drawing = Image.new("L", (400, 300), color=255)
    ImageDraw.Draw(drawing).ellipse((50, 50, 350, 250), fill=0)
    path = write_image(tmp_path, drawing, "drawing.png")

    assert "OCR found no legible text" in str(_parse_error_at(path))


def test_a_blank_frame_of_a_tiff_is_named_blank(tmp_path: Path) -> None:
    path = tmp_path / "fax.tiff"
    text_image(["First frame says hello"]).save(
        path, save_all=True, append_images=[Image.new("L", (1000, 200), color=255)]
    )

    document = parse_file(path, filename="fax.tiff")

    assert document.warnings == ["Page 2 is blank; it has no text to search."]


def test_a_blank_page_is_recognised_and_a_page_of_print_is_not() -> None:
    sheet = Image.new("L", (1700, 2200), color=250)
    draw = ImageDraw.Draw(sheet)
    draw.line((0, 5, 1700, 5), fill=0, width=3)  # a border line
    draw.point([(400 + 37 * n, 900 + 11 * n) for n in range(30)], fill=90)  # specks
    assert ocr.looks_blank(sheet)
    draw.text((800, 1100), "Page left blank", fill=0, font=ImageFont.load_default(size=20))
    assert not ocr.looks_blank(sheet)
    assert not ocr.looks_blank(text_image(LINES))


def test_a_truncated_image_is_corrupt(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    text_image(LINES).save(buffer, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buffer.getvalue()[:200])

    assert _parse_error_at(path).code == ParseErrorCode.CORRUPT


def test_an_unknown_engine_is_a_configuration_error(settings: SettingsWrapper) -> None:
    settings.OCR_ENGINE = "tesserract"

    with pytest.raises(ImproperlyConfigured, match="tesserract"):
        ocr.get_engine()


def test_tesseract_tsv_becomes_lines_and_a_mean_confidence() -> None:
    tsv = (
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight"
        "\tconf\ttext\n"
        "1\t1\t0\t0\t0\t0\t0\t0\t10\t10\t-1\t\n"
        "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t90\tHello\n"
        "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t70\tworld\n"
        "5\t1\t1\t1\t2\t1\t0\t0\t10\t10\t80\tAgain\n"
    )

    result = ocr._parse_tsv(tsv)

    assert result.text == "Hello world\nAgain"
    assert result.confidence == pytest.approx(0.8)


def _parse_error(relative: str) -> ParseError:
    return _parse_error_at(FIXTURES / relative)


def _parse_error_at(path: Path) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_file(path, filename=path.name)
    return caught.value
