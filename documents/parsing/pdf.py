"""PDF via PDFium (pypdfium2): fast, forgiving with damaged files, and it handles encryption."""

from __future__ import annotations

import io
import logging
import re
import threading
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from documents.parsing import ocr
from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    ParseError,
    ParseErrorCode,
    Probe,
    check_page_count,
    corrupt,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from PIL import Image

logger = logging.getLogger(__name__)

# PDFium is not thread-safe; pypdfium2 asks callers to serialise all calls into it.
# https://pypdfium2.readthedocs.io/en/stable/python_api.html#thread-incompatibility
_PDFIUM_LOCK = threading.Lock()

_SOFT_HYPHEN = re.compile("\ufffe(?:[ \t]*\r?\n)?")
_REPAIR_ADVICE = (
    "If it opens in a PDF viewer, print it to a new PDF (or save a copy) and upload that."
)
_LOCKED_MESSAGE = (
    "This PDF is password-protected. Remove the password (or print it to a new PDF) "
    "and upload it again."
)


_OCR_FOUND_NOTHING = (
    "This PDF has no text layer, and OCR found no legible text on its pages (blank pages, "
    "photos, or a scan too faint or too small to read). If it has text, scan it again at "
    "300 DPI and upload the new file."
)

# Below this a "text" PDF is almost surely scanned pages with a stray caption or page numbers.
_SPARSE_CHARS_PER_PAGE = 40
# A page with fewer characters in its text layer (a page number, a stamp) is read by OCR.
_SCANNED_PAGE_CHARS = 10


def _sniff(probe: Probe) -> bool:
    # Readers accept junk before the PDF header, and so does PDFium; a text file merely
    # mentioning "%PDF-" near its start is still text.
    position = probe.head.find(b"%PDF-", 0, 1024)
    return position == 0 or (position > 0 and not probe.named_as_text)


def _review(pages: Sequence[ParsedPage]) -> list[str]:
    """Scanned pages without OCR have no text layer, or only page numbers and captions."""
    warnings = ocr.low_confidence_warnings(pages)
    blank = sum(1 for page in pages if not page.text)
    if blank:
        verb, pronoun = ("has", "it") if blank == 1 else ("have", "they")
        warnings.append(
            f"{blank} of {len(pages)} pages {verb} no extractable text (scanned images?); "
            f"{pronoun} cannot be searched."
        )
    chars = sum(len(page.text) for page in pages)
    read_by_ocr = any(page.ocr for page in pages)
    if not blank and not read_by_ocr and chars < _SPARSE_CHARS_PER_PAGE * len(pages):
        warnings.append(
            f"Very little text was found ({chars} characters on {len(pages)} pages); the pages "
            "may be images of text. Run OCR on the file if searches miss its content."
        )
    return warnings


DECLARATION = FormatDeclaration(
    name="PDF",
    extensions=(".pdf",),
    mime_types=("application/pdf",),
    container="binary",
    sniff=_sniff,
    no_text_message=(
        "This PDF has no text layer: it looks like a scan or a set of images, so there is "
        "nothing to search. Run OCR on it first (for example with the free tool ocrmypdf) and "
        "upload the result."
    ),
    review=_review,
)


class PdfParser:
    name = "pdf"
    markup: Markup = "text"
    declaration = DECLARATION

    def parse(self, path: Path, *, max_pages: int) -> ParsedDocument:
        with _PDFIUM_LOCK:
            try:
                # No password: PDFs that only restrict permissions (owner password) still open.
                document = pdfium.PdfDocument(path)
            except pdfium.PdfiumError as error:
                raise _open_error(error) from error
            try:
                count = len(document)
                check_page_count(count, max_pages=max_pages)
                pages, failed = [], []
                for index in range(count):
                    text = _page_text(document, index)
                    if text is None:
                        failed.append(index + 1)
                    pages.append(ParsedPage(number=index + 1, text=text or ""))
                is_form = document.get_formtype() != pdfium_c.FORMTYPE_NONE
            finally:
                document.close()
        pages, ocr_warnings = _read_scanned_pages(path, pages)
        if failed and len(failed) == len(pages):
            raise corrupt("the text of its pages could not be read", _REPAIR_ADVICE)
        if is_form and not failed and not any(page.text.strip() for page in pages):
            raise ParseError(
                "This PDF has no text outside its form fields, and form field contents are not "
                "read. Print it to a new PDF (which turns the fields into text) and upload that.",
                code=ParseErrorCode.NO_TEXT,
            )
        if ocr.ocr_enabled() and not failed and not any(page.text.strip() for page in pages):
            raise ParseError(_OCR_FOUND_NOTHING, code=ParseErrorCode.NO_TEXT)
        warnings = ocr_warnings
        if failed:
            logger.warning("pdf %s: text of %d pages could not be read", path.name, len(failed))
            listed = ", ".join(str(number) for number in failed[:10])
            more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
            warnings.append(
                f"The text of {len(failed)} page(s) could not be read and is missing "
                f"(page {listed}{more}); the PDF may be damaged there."
            )
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup, warnings=warnings)


def _page_text(document: pdfium.PdfDocument, index: int) -> str | None:
    """The page's text layer, including invisible OCR text; None if PDFium fails on this page."""
    page = textpage = None
    try:
        page = document[index]
        textpage = page.get_textpage()
        text = str(textpage.get_text_range())
    except Exception:  # a damaged page must not cost the rest of the document
        logger.info("pdf page %d: text extraction failed", index + 1, exc_info=True)
        return None
    finally:
        if textpage is not None:
            textpage.close()
        if page is not None:
            page.close()
    # PDFium marks the hyphen of a word broken across lines as U+FFFE; join the word again.
    return _SOFT_HYPHEN.sub("", text)


def _read_scanned_pages(path: Path, pages: list[ParsedPage]) -> tuple[list[ParsedPage], list[str]]:
    """OCR the pages whose text layer is empty or nearly so, up to OCR_MAX_PAGES of them."""
    scanned = [page for page in pages if len(page.text.strip()) < _SCANNED_PAGE_CHARS]
    engine = ocr.get_engine()
    if not scanned or engine.name == "none":
        return pages, []
    limit = int(ocr.ocr_setting("OCR_MAX_PAGES"))
    chosen, skipped = scanned[:limit], scanned[limit:]
    scale = int(ocr.ocr_setting("OCR_DPI")) / 72
    read: dict[int, ParsedPage] = {}
    for done, page in enumerate(chosen):
        ocr.report_progress(done, len(chosen))
        image = _render(path, index=page.number - 1, scale=scale)
        if image is None:
            continue
        try:
            result = engine.read(image)
        except ocr.OcrUnavailableError as error:
            logger.warning("pdf %s: OCR unavailable (%s)", path.name, error)
            return pages, [f"Scanned pages were not read: OCR is unavailable ({error})."]
        if len(result.text.strip()) > len(page.text.strip()):
            read[page.number] = ParsedPage(
                number=page.number,
                text=result.text,
                label=page.label,
                ocr=True,
                ocr_confidence=result.confidence,
            )
    ocr.report_progress(len(chosen), len(chosen))
    warnings = []
    if skipped:
        warnings.append(
            f"Only the first {limit} scanned pages were read by OCR; {len(skipped)} more "
            f"(from page {skipped[0].number} on) have no text. Split the file, or ask an "
            "administrator to raise OCR_MAX_PAGES."
        )
    return [read.get(page.number, page) for page in pages], warnings


def _render(path: Path, *, index: int, scale: float) -> Image.Image | None:
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(path)
        except pdfium.PdfiumError:
            return None
        try:
            page = document[index]
            try:
                # Grey is all OCR needs and a third of the memory of RGB at 200 DPI.
                image: Image.Image = page.render(scale=scale, grayscale=True).to_pil()
                return image
            finally:
                page.close()
        except Exception:  # a page PDFium cannot draw keeps its (empty) text layer
            logger.info("pdf page %d: rendering for OCR failed", index + 1, exc_info=True)
            return None
        finally:
            document.close()


def _open_error(error: pdfium.PdfiumError) -> ParseError:
    if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
        return ParseError(_LOCKED_MESSAGE, code=ParseErrorCode.ENCRYPTED)
    if error.err_code == pdfium_c.FPDF_ERR_SECURITY:
        return ParseError(
            "This PDF is encrypted with a protection scheme that cannot be opened here. Remove "
            "the protection (or print it to a new PDF) and upload it again.",
            code=ParseErrorCode.ENCRYPTED,
        )
    if error.err_code == pdfium_c.FPDF_ERR_SUCCESS:
        return corrupt("the PDF contains no pages", _REPAIR_ADVICE)
    reasons = {
        pdfium_c.FPDF_ERR_FORMAT: "its structure is broken (not a valid PDF)",
        pdfium_c.FPDF_ERR_FILE: "the file could not be read as a PDF",
        pdfium_c.FPDF_ERR_PAGE: "its pages could not be found",
    }
    reason = reasons.get(error.err_code, "the PDF reader reported an unknown error")
    return corrupt(reason, _REPAIR_ADVICE)


def render_page_png(path: Path, *, number: int, scale: float = 1.5) -> bytes | None:
    """Page `number` (1-based) of the PDF at `path` as a PNG image, `scale` pixels per point;
    None when the PDF has no such page or cannot be opened."""
    if number < 1:
        return None
    try:
        with _PDFIUM_LOCK:
            document = pdfium.PdfDocument(path)
            try:
                if number > len(document):
                    return None
                page = document[number - 1]
                try:
                    image = page.render(scale=scale).to_pil()
                finally:
                    page.close()
            finally:
                document.close()
    except (OSError, pdfium.PdfiumError) as error:
        logger.info("pdf page %d could not be rendered (%s)", number, type(error).__name__)
        return None
    # PNG encoding needs no PDFium, so it runs outside the lock.
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
