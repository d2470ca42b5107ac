"""File -> pages of text. `parse_file` is the one entry point; it raises only ParseError.

Each format family lives in its own module behind the `Parser` protocol and declares what it
reads (`FormatDeclaration`); the registry (`parsers()`, from `settings.DOCUMENT_PARSERS`) maps
the format key that `detect_format` returns to the parser for it.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from documents.parsing import limits
from documents.parsing.base import (
    FormatDeclaration,
    Markup,
    ParsedDocument,
    ParsedPage,
    ParseError,
    ParseErrorCode,
    Parser,
    Probe,
    check_page_count,
    clean_text,
)
from documents.parsing.detect import detect_format, identify_format
from documents.parsing.registry import (
    parsers,
    supported_extensions,
    supported_formats_text,
    upload_accept,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "FormatDeclaration",
    "ParseError",
    "ParseErrorCode",
    "ParsedDocument",
    "ParsedPage",
    "Parser",
    "Probe",
    "detect_format",
    "identify_format",
    "markup_of",
    "parse_file",
    "parsers",
    "supported_extensions",
    "supported_formats_text",
    "upload_accept",
]

logger = logging.getLogger(__name__)


def markup_of(parser: str) -> Markup:
    """The markup of the pages the parser named `parser` produced ("text" for documents that
    no local parser read, e.g. adopted from OpenAI without their original)."""
    found = parsers().get(parser)
    return found.markup if found is not None else "text"


def parse_file(
    path: Path,
    *,
    filename: str,
    max_pages: int = 5000,
    progress: Callable[[str, float], None] | None = None,
) -> ParsedDocument:
    """Read `path` (named `filename` by the user) into cleaned pages of text.

    `progress(stage, fraction)` hears of slow steps (OCR of scanned pages). Raises ParseError,
    whose message is written for the person who uploaded the file.
    """
    if path.stat().st_size == 0:
        raise ParseError(
            "This file is empty (0 bytes). Check that you chose the right file and upload it "
            "again.",
            code=ParseErrorCode.EMPTY,
        )
    key = identify_format(path, filename=filename)
    parser = parsers()[key]
    # In a child process bounded in memory and time (documents/parsing/limits.py).
    parsed = limits.run_bounded(key, path, max_pages=max_pages, progress=progress)
    pages = [dataclasses.replace(page, text=clean_text(page.text)) for page in parsed.pages]
    check_page_count(len(pages), max_pages=max_pages)
    declaration = parser.declaration
    if not any(page.text for page in pages):
        raise ParseError(declaration.no_text_message, code=ParseErrorCode.NO_TEXT)
    warnings = [*parsed.warnings, *declaration.review(pages)]
    logger.debug("parsed %s as %s: %d pages", filename, key, len(pages))
    return ParsedDocument(
        pages=pages, parser=parsed.parser, markup=parsed.markup, warnings=warnings
    )
