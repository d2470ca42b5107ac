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


_NO_PAGES = (
    "This PDF has no pages, so there is nothing to index. Check that you chose the right file; "
    "if it opens in a PDF viewer, print it to a new PDF and upload that."
)
_NO_READABLE_TEXT = (
    "This PDF has no text that can be read and no images, so it is not a scan and OCR would "
    "not help: its pages are blank or drawings, or its fonts lack a character map (common "
    "in some Chinese, Japanese and Korean PDFs). Export it again with fonts embedded, or "
    "print it to a new PDF, and upload that."
)

_ALL_BLANK = (
    "This PDF's pages are blank: there is no text on them, and nothing for OCR to read. "
    "Check that you chose the right file."
)

_OCR_FOUND_NOTHING = (
    "This PDF has no text layer, and OCR found no legible text on its pages (photos, "
    "drawings, or a scan too faint or too small to read). If it has text, scan it again at "
    "300 DPI and upload the new file."
)

# Below this an image page is almost surely a scan with a stray caption or page number.
_SPARSE_CHARS_PER_PAGE = 40
# A page with fewer characters in its text layer (a page number, a stamp) is read by OCR.
_SCANNED_PAGE_CHARS = 10


def _sniff(probe: Probe) -> bool:
    # Readers accept junk before the PDF header, and so does PDFium; a text file merely
    # mentioning "%PDF-" near its start is still text.
    position = probe.head.find(b"%PDF-", 0, 1024)
    return position == 0 or (position > 0 and not probe.named_as_text)


def page_count(data: bytes) -> int | None:
    """How many pages a PDF has, read from its page tree without parsing any page; None when
    `data` is no PDF or PDFium cannot open it (a locked or damaged file: the worker says why)."""
    if data.find(b"%PDF-", 0, 1024) < 0:
        return None
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return None
        try:
            return len(document)
        finally:
            document.close()


def _review(pages: Sequence[ParsedPage]) -> list[str]:
    """Pages OCR read with low confidence. The scanned-page warnings need to know which pages
    are images, which only the parser sees (`_scan_warnings`)."""
    return ocr.low_confidence_warnings(pages)


def _listed(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(number) for number in numbers[:10])
    more = f" and {len(numbers) - 10} more" if len(numbers) > 10 else ""
    return f"{'page' if len(numbers) == 1 else 'pages'} {shown}{more}"


def _scan_warnings(
    pages: Sequence[ParsedPage], image_pages: set[int], attempted: set[int], blank: set[int]
) -> list[str]:
    """Page by page: an image page with no text, or with only a caption or a page number,
    is probably a scan. OCR is suggested only for such pages that OCR did not try (it is
    off); pages without images (blank pages, drawings) get no OCR advice, since OCR would
    find nothing there. A blank page (nothing drawn on it, or OCR found it empty) is named
    as blank, not as a scan OCR could not read. Pages beyond OCR_MAX_PAGES have their own
    warning."""
    text = {page.number: page.text.strip() for page in pages}
    unread = [n for n in sorted(image_pages) if n not in attempted]
    warnings = []
    if not ocr.ocr_enabled():
        blank = [n for n in unread if not text[n]]
        sparse = [n for n in unread if 0 < len(text[n]) < _SPARSE_CHARS_PER_PAGE]
        advice = "run OCR on the file (for example with ocrmypdf) if searches miss its content"
        if blank:
            warnings.append(
                f"{len(blank)} of {len(pages)} pages are images with no text layer (scans?) "
                f"and cannot be searched ({_listed(blank)}); {advice}."
            )
        if sparse:
            warnings.append(
                f"Very little text was found on {len(sparse)} of {len(pages)} pages that are "
                f"images ({_listed(sparse)}): only a caption or a page number, so they are "
                f"probably scans; {advice}."
            )
    empty = [n for n in sorted(attempted) if not text[n] and n not in blank]
    if empty:
        warnings.append(
            f"OCR found no legible text on {len(empty)} of {len(pages)} pages "
            f"({_listed(empty)}: photos, drawings, or a scan too faint or too small to read); "
            "they cannot be searched."
        )
    warnings += ocr.blank_page_warnings([n for n in blank if not text[n]])
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
                if count == 0:
                    raise ParseError(_NO_PAGES, code=ParseErrorCode.EMPTY)
                check_page_count(count, max_pages=max_pages)
                pages, failed, image_pages, drawn = [], [], set(), set()
                has_fields = False
                for index in range(count):
                    text, has_image, has_marks, fields = _page_text(document, index)
                    has_fields = has_fields or fields
                    if text is None:
                        failed.append(index + 1)
                    if has_image:
                        image_pages.add(index + 1)
                    if has_marks:
                        drawn.add(index + 1)
                    pages.append(ParsedPage(number=index + 1, text=text or ""))
                # Widgets without a form dictionary (a page cut out of a form) are fields too.
                is_form = has_fields or document.get_formtype() != pdfium_c.FORMTYPE_NONE
            finally:
                document.close()
        pages, ocr_warnings, attempted, blank = _read_scanned_pages(path, pages, image_pages, drawn)
        if failed and len(failed) == len(pages):
            raise corrupt("the text of its pages could not be read", _REPAIR_ADVICE)
        has_text = any(page.text.strip() for page in pages)
        if is_form and not failed and not has_text:
            raise ParseError(
                "This PDF has no text outside its form fields, and form field contents are not "
                "read. Print it to a new PDF (which turns the fields into text) and upload that.",
                code=ParseErrorCode.NO_TEXT,
            )
        if not failed and not has_text and len(blank) == len(pages):
            raise ParseError(_ALL_BLANK, code=ParseErrorCode.NO_TEXT)
        if not failed and not has_text and not image_pages:
            # Nothing is an image, so OCR would find nothing: the text is there but unreadable.
            raise ParseError(_NO_READABLE_TEXT, code=ParseErrorCode.NO_TEXT)
        if ocr.ocr_enabled() and not failed and not has_text:
            raise ParseError(_OCR_FOUND_NOTHING, code=ParseErrorCode.NO_TEXT)
        warnings = [*ocr_warnings, *_scan_warnings(pages, image_pages, attempted, blank)]
        if is_form:
            warnings.append(
                "This PDF has form fields; what is typed into them is not read. Print it to a "
                "new PDF (which turns the fields into text) to make their contents searchable."
            )
        if failed:
            logger.warning("pdf %s: text of %d pages could not be read", path.name, len(failed))
            listed = ", ".join(str(number) for number in failed[:10])
            more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
            warnings.append(
                f"The text of {len(failed)} page(s) could not be read and is missing "
                f"(page {listed}{more}); the PDF may be damaged there."
            )
        return ParsedDocument(pages=pages, parser=self.name, markup=self.markup, warnings=warnings)


def _page_text(document: pdfium.PdfDocument, index: int) -> tuple[str | None, bool, bool, bool]:
    """The page's text layer, including invisible OCR text (None if PDFium fails on this
    page), whether the page shows an image (a scan, a photo), whether anything at all is
    drawn on it (False: a blank page, with nothing for OCR to read), and whether it has form
    fields."""
    page = textpage = None
    try:
        page = document[index]
        has_image = _has_image(page)
        has_marks = _has_marks(page)
        has_fields = _has_fields(page)
        textpage = page.get_textpage()
        text = str(textpage.get_text_range())
    except Exception:  # a damaged page must not cost the rest of the document
        logger.info("pdf page %d: text extraction failed", index + 1, exc_info=True)
        return None, False, True, False
    finally:
        if textpage is not None:
            textpage.close()
        if page is not None:
            page.close()
    # PDFium marks the hyphen of a word broken across lines as U+FFFE; join the word again.
    return _SOFT_HYPHEN.sub("", text), has_image, has_marks, has_fields


def _has_fields(page: pdfium.PdfPage) -> bool:
    """Whether the page has a form field (a widget annotation)."""
    try:
        for index in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
            annotation = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
            try:
                if pdfium_c.FPDFAnnot_GetSubtype(annotation) == pdfium_c.FPDF_ANNOT_WIDGET:
                    return True
            finally:
                pdfium_c.FPDFPage_CloseAnnot(annotation)
    except Exception:  # an unreadable annotation list: no fields to speak of
        return False
    return False


def _has_marks(page: pdfium.PdfPage) -> bool:
    """Whether the page has any content object or annotation (a form field, a stamp)."""
    try:
        if next(iter(page.get_objects(max_depth=1)), None) is not None:
            return True
        return bool(pdfium_c.FPDFPage_GetAnnotCount(page.raw))
    except Exception:  # an unreadable object list: assume something is there
        return True


def _has_image(page: pdfium.PdfPage) -> bool:
    try:
        objects = page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3)
        return next(iter(objects), None) is not None
    except Exception:  # an unreadable object list: assume a plain page
        return False


def _read_scanned_pages(
    path: Path, pages: list[ParsedPage], image_pages: set[int], drawn: set[int]
) -> tuple[list[ParsedPage], list[str], set[int], set[int]]:
    """OCR the pages whose text layer is empty or nearly so, up to OCR_MAX_PAGES of them: a
    page that shows an image is read unless its text layer has more than a caption. Also
    returns the numbers of the pages OCR tried, and of the pages found blank: nothing drawn
    on them (not sent to OCR), or OCR found nothing on a page that renders empty."""
    candidates = [
        page
        for page in pages
        if len(page.text.strip())
        < (_SPARSE_CHARS_PER_PAGE if page.number in image_pages else _SCANNED_PAGE_CHARS)
    ]
    blank = {page.number for page in candidates if page.number not in drawn}
    scanned = [page for page in candidates if page.number in drawn]
    engine = ocr.get_engine()
    if not scanned or engine.name == "none":
        return pages, [], set(), blank
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
            unread = [f"Scanned pages were not read: OCR is unavailable ({error})."]
            return pages, unread, set(), blank
        empty = ocr.looks_blank(image)
        if empty and _noise(result):
            result = ocr.OcrResult(text="", confidence=0.0)
        if empty and not page.text.strip() and not result.text.strip():
            blank.add(page.number)
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
    attempted = {page.number for page in chosen}
    return [read.get(page.number, page) for page in pages], warnings, attempted, blank


def _noise(result: ocr.OcrResult) -> bool:
    """What OCR makes of specks on an empty page: a few characters read with low confidence.
    Dropped: kept, they would earn a "low confidence" warning for a page with nothing on it."""
    low = float(ocr.ocr_setting("OCR_LOW_CONFIDENCE"))
    return len(result.text.strip()) < _SCANNED_PAGE_CHARS and result.confidence < low


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
        # PDFium refuses a document without pages but reports no error.
        return ParseError(_NO_PAGES, code=ParseErrorCode.EMPTY)
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
