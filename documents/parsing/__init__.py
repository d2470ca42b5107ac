"""File -> pages of text. `parse_file` is the one entry point; it raises only ParseError.

Each format family lives in its own module behind the `Parser` protocol; `PARSERS` maps the format
key that `detect_format` returns to the parser for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from documents.parsing.base import (
    Markup,
    ParsedDocument,
    ParsedPage,
    ParseError,
    ParseErrorCode,
    Parser,
    check_page_count,
    clean_text,
)
from documents.parsing.detect import (
    SUPPORTED_EXTENSIONS,
    SUPPORTED_FORMATS_TEXT,
    detect_format,
    identify_format,
)
from documents.parsing.ebooks import EpubParser
from documents.parsing.pdf import PdfParser
from documents.parsing.slides import PptxParser
from documents.parsing.spreadsheets import CsvParser, XlsxParser
from documents.parsing.text import MarkdownParser, TextParser
from documents.parsing.webpages import HtmlParser
from documents.parsing.word import DocxParser

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "PARSERS",
    "SUPPORTED_EXTENSIONS",
    "SUPPORTED_FORMATS_TEXT",
    "ParseError",
    "ParseErrorCode",
    "ParsedDocument",
    "ParsedPage",
    "Parser",
    "detect_format",
    "markup_of",
    "parse_file",
]

logger = logging.getLogger(__name__)

PARSERS: dict[str, Parser] = {
    "pdf": PdfParser(),
    "docx": DocxParser(),
    "pptx": PptxParser(),
    "xlsx": XlsxParser(),
    "csv": CsvParser(),
    "html": HtmlParser(),
    "markdown": MarkdownParser(),
    "text": TextParser(),
    "epub": EpubParser(),
}


def markup_of(parser: str) -> Markup:
    """The markup of the pages the parser named `parser` produced ("text" for documents that
    no local parser read, e.g. adopted from OpenAI without their original)."""
    found = PARSERS.get(parser)
    return found.markup if found is not None else "text"


_NO_TEXT_MESSAGES = {
    "pdf": (
        "This PDF has no text layer: it looks like a scan or a set of images, so there is "
        "nothing to search. Run OCR on it first (for example with the free tool ocrmypdf) and "
        "upload the result."
    ),
    "xlsx": "This spreadsheet has no cells with values. Check that you chose the right file.",
    "csv": "This CSV file has no values in it. Check that you chose the right file.",
}
_NO_TEXT_DEFAULT = (
    "No text could be found in this file. Check that you chose the right file; if its text is "
    "in images, run OCR on it first and upload the result."
)


# Below this a "text" PDF is almost surely scanned pages with a stray caption or page numbers.
_SPARSE_PDF_CHARS_PER_PAGE = 40


def parse_file(path: Path, *, filename: str, max_pages: int = 5000) -> ParsedDocument:
    """Read `path` (named `filename` by the user) into cleaned pages of text.

    Raises ParseError, whose message is written for the person who uploaded the file.
    """
    if path.stat().st_size == 0:
        raise ParseError(
            "This file is empty (0 bytes). Check that you chose the right file and upload it "
            "again.",
            code=ParseErrorCode.EMPTY,
        )
    key = identify_format(path, filename=filename)
    parsed = PARSERS[key].parse(path, max_pages=max_pages)
    pages = [
        ParsedPage(number=page.number, text=clean_text(page.text), label=page.label)
        for page in parsed.pages
    ]
    check_page_count(len(pages), max_pages=max_pages)
    if not any(page.text for page in pages):
        raise ParseError(_NO_TEXT_MESSAGES.get(key, _NO_TEXT_DEFAULT), code=ParseErrorCode.NO_TEXT)
    warnings = list(parsed.warnings)
    blank = sum(1 for page in pages if not page.text)
    if key == "pdf" and blank:
        verb, pronoun = ("has", "it") if blank == 1 else ("have", "they")
        warnings.append(
            f"{blank} of {len(pages)} pages {verb} no extractable text (scanned images?); "
            f"{pronoun} cannot be searched."
        )
    chars = sum(len(page.text) for page in pages)
    if key == "pdf" and not blank and chars < _SPARSE_PDF_CHARS_PER_PAGE * len(pages):
        warnings.append(
            f"Very little text was found ({chars} characters on {len(pages)} pages); the pages "
            "may be images of text. Run OCR on the file if searches miss its content."
        )
    logger.debug("parsed %s as %s: %d pages", filename, key, len(pages))
    return ParsedDocument(
        pages=pages, parser=parsed.parser, markup=parsed.markup, warnings=warnings
    )
