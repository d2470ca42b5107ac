"""Ingestion in the worker: parse the original, index its pages, record the outcome on the row.

Claims, leases and failure marking go through documents/jobs.py, like every background job.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from documents import jobs
from documents.backends.base import IndexingError, get_backend
from documents.models import Document, DocumentStage, DocumentStatus, Page
from documents.parsing import ParsedPage, ParseError, parse_file
from documents.services.files import delete_files, local_copy

logger = logging.getLogger(__name__)

INGEST = jobs.JobStates(
    name="document",
    queued=DocumentStatus.QUEUED,
    running=DocumentStatus.PROCESSING,
    failed=DocumentStatus.FAILED,
)


class RetryableIngestError(Exception):
    """Ingestion hit a temporary problem; the task retries with backoff."""


def enqueue_ingest(document_id: int) -> None:
    from documents.tasks import document_ingest as task

    transaction.on_commit(lambda: task.apply_async(kwargs={"document_id": document_id}))


def document_ingest(*, document_id: int) -> None:
    """Parse, index and mark the document ready or failed. Safe to run twice."""
    lease = jobs.claim(
        Document.objects.all(),
        pk=document_id,
        states=INGEST,
        stage=DocumentStage.PARSING,
        progress=0.0,
        started_at=timezone.now(),
        finished_at=None,
    )
    if lease is None:
        return
    document = Document.objects.select_related("corpus").get(pk=document_id)
    if lease.attempt > settings.INGEST_MAX_ATTEMPTS:
        _fail(
            lease,
            f"Processing was interrupted {lease.interrupted} times (the worker stopped or ran "
            "out of memory). Retry it once the workers are healthy, or split the file.",
        )
        return

    progress = IngestProgress(lease)
    try:
        if document.file:
            with local_copy(document) as path:
                parsed = parse_file(
                    path,
                    filename=document.filename,
                    max_pages=settings.DOCUMENT_MAX_PAGES,
                    progress=progress,
                )
            pages = pages_replace(document, parsed.pages)
            markup, parser, warnings = parsed.markup, parsed.parser, parsed.warnings
        else:
            # Adopted from OpenAI without its original: keep whatever page map it has.
            pages = list(document.pages.all())
            markup, parser, warnings = "text", document.parser, [document.warning]
        backend = get_backend(document.corpus.index_backend)
        result = backend.index_document(
            document=document, pages=pages, markup=markup, progress=progress
        )
        updated = lease.rows.update(
            status=DocumentStatus.READY,
            stage=DocumentStage.NONE,
            progress=1.0,
            error="",
            warning="\n".join(w for w in [*warnings, *result.warnings] if w),
            page_count=len(pages),
            chunk_count=result.chunk_count,
            embedding_tokens=result.embedding_tokens,
            parser=parser,
            lease_expires_at=None,
            finished_at=timezone.now(),
            timings=progress.finish(),
        )
        if updated:
            logger.info(
                "document %s ready: %s pages, %s chunks",
                document_id,
                len(pages),
                result.chunk_count,
            )
    except ParseError as error:
        logger.info("document %s failed to parse: %s", document_id, error.code)
        _fail(lease, str(error))
    except IndexingError as error:
        if not error.retryable:
            logger.info("document %s failed to index", document_id)
            _fail(lease, str(error))
            return
        lease.requeue(error=f"Temporary problem, will retry: {error}", stage=DocumentStage.NONE)
        raise RetryableIngestError(str(error)) from error
    except SoftTimeLimitExceeded:
        minutes = settings.CELERY_TASK_SOFT_TIME_LIMIT // 60
        _fail(
            lease,
            f"Processing took longer than the {minutes}-minute limit. Split the file into "
            "smaller parts, or ask an administrator to raise CELERY_TASK_SOFT_TIME_LIMIT.",
        )
    except Exception:
        # A bug, not a bad file: keep the worker alive and tell the user without a traceback.
        logger.exception("document %s: unexpected error during ingestion", document_id)
        _fail(
            lease,
            f"Unexpected error while processing this document (reference: document "
            f"{document_id}, attempt {lease.attempt}). An administrator can find the details "
            "in the worker log and retry it.",
        )


def _fail(lease: jobs.Lease, reason: str) -> None:
    lease.fail(reason, stage=DocumentStage.NONE)


class IngestProgress:
    """The backends' progress callback: records the stage on the row, renews the lease and
    times each stage."""

    def __init__(self, lease: jobs.Lease) -> None:
        self._lease = lease
        self._stage = DocumentStage.PARSING.value
        self._since = time.perf_counter()
        self.timings: dict[str, float] = {}

    def __call__(self, stage: str, fraction: float) -> None:
        if stage != self._stage:
            self.finish()
            self._stage, self._since = stage, time.perf_counter()
        self._lease.renew(stage=stage, progress=fraction)

    def finish(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._since
        self.timings[self._stage] = round(self.timings.get(self._stage, 0.0) + elapsed, 3)
        self._since = time.perf_counter()
        return self.timings


def document_mark_failed(*, document_id: int, reason: str) -> None:
    """Used by the task's failure hook once retries are exhausted."""
    jobs.fail(
        Document.objects.filter(pk=document_id).exclude(status=DocumentStatus.READY),
        states=INGEST,
        reason=reason,
        stage=DocumentStage.NONE,
    )


def pages_replace(document: Document, parsed_pages: Sequence[ParsedPage]) -> list[Page]:
    offset = 0
    pages = []
    for parsed in parsed_pages:
        pages.append(
            Page(
                document=document,
                number=parsed.number,
                label=parsed.label[:200],
                text=parsed.text,
                char_start=offset,
                ocr=parsed.ocr,
                ocr_confidence=parsed.ocr_confidence,
            )
        )
        offset += len(parsed.text) + len(Page.PAGE_SEPARATOR)
    with transaction.atomic():
        Page.objects.filter(document=document).delete()
        Page.objects.bulk_create(pages, batch_size=500)
    return pages


def document_reingest(*, document: Document) -> Document:
    """Queue a document again (after a failure, or to re-index it with new settings)."""
    with transaction.atomic():
        updated = (
            Document.objects.filter(pk=document.pk)
            .exclude(status=DocumentStatus.PROCESSING, lease_expires_at__gt=timezone.now())
            .update(
                status=DocumentStatus.QUEUED,
                stage=DocumentStage.NONE,
                progress=0.0,
                error="",
                attempts=0,
                queued_at=timezone.now(),
                lease_expires_at=None,
            )
        )
        if updated:
            enqueue_ingest(document.pk)
    document.refresh_from_db()
    return document


def document_delete(*, document: Document) -> None:
    """Remove the document from its index, then here. Raises IndexingError (nothing deleted)
    when the index cannot be reached."""
    get_backend(document.corpus.index_backend).remove_document(document=document)
    name = document.file.name
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: delete_files([name] if name else []))
    logger.info("document %s deleted", document.pk)


def documents_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Re-enqueue documents whose worker died or whose queue message was lost."""
    return jobs.requeue_stale(
        Document.objects.all(), states=INGEST, enqueue=enqueue_ingest, now=now
    )
