"""Reads that are more than a QuerySet method: page images of a document's original, where a
queued document stands in its queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from documents.models import Document, DocumentStatus
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


def documents_queue_positions(*, document_ids: Iterable[int]) -> dict[int, int]:
    """Where each of these documents stands among the queued documents of every corpus on its
    queue (the ingestion queue or the large-documents one, Document.large), first = 1, in the
    order they were queued; documents not queued are left out."""
    queued = Document.objects.filter(status=DocumentStatus.QUEUED)
    ahead = (
        queued.filter(large=OuterRef("large"))
        .filter(
            Q(queued_at__lt=OuterRef("queued_at"))
            | Q(queued_at=OuterRef("queued_at"), pk__lt=OuterRef("pk"))
        )
        .order_by()
        .values("large")
        .annotate(count=Count("pk"))
        .values("count")
    )
    rows = (
        queued.filter(pk__in=list(document_ids))
        .order_by()
        .annotate(ahead=Coalesce(Subquery(ahead), 0))
        .values_list("pk", "ahead")
    )
    return {pk: ahead + 1 for pk, ahead in rows}
