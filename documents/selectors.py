"""Reads that are more than a QuerySet method: page images of a document's original."""

from __future__ import annotations

import logging

from documents.models import Document
from documents.parsing.pdf import render_page_png
from documents.services.files import local_copy

logger = logging.getLogger(__name__)

# Page images render at 1.5 times 72 dpi, which reads well on a laptop and stays small.
PAGE_IMAGE_SCALE = 1.5


def document_page_png(*, document: Document, number: int) -> bytes | None:
    """The page of a PDF original as a PNG; None when there is no such page or no readable
    original."""
    if not document.file or not document.is_pdf or number < 1:
        return None
    try:
        with local_copy(document) as path:
            png = render_page_png(path, number=number, scale=PAGE_IMAGE_SCALE)
    except OSError:
        png = None
    if png is None:
        logger.info("document %s: page %s could not be rendered", document.pk, number)
    return png
