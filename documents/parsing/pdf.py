"""PDF via PDFium (pypdfium2): fast, forgiving with damaged files, and it handles encryption."""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from documents.parsing.base import (
    Markup,
    ParsedDocument,
    ParsedPage,
    ParseError,
    ParseErrorCode,
    check_page_count,
)
from documents.parsing.detect import corrupt

if TYPE_CHECKING:
    from pathlib import Path

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


class PdfParser:
    name = "pdf"
    markup: Markup = "text"

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
        if failed and len(failed) == len(pages):
            raise corrupt("the text of its pages could not be read", _REPAIR_ADVICE)
        if is_form and not failed and not any(page.text.strip() for page in pages):
            raise ParseError(
                "This PDF has no text outside its form fields, and form field contents are not "
                "read. Print it to a new PDF (which turns the fields into text) and upload that.",
                code=ParseErrorCode.NO_TEXT,
            )
        warnings = []
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
