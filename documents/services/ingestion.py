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
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from documents import jobs
from documents.backends.base import IndexingError, get_backend
from documents.backends.failures import RemoteStoreMissing
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
    """Ingestion hit a temporary provider problem and gave the document back to the queue;
    the task retries with backoff. `retry` is the number of this retry (1 for the first)."""

    def __init__(self, message: str, *, retry: int) -> None:
        super().__init__(message)
        self.retry = retry


class IngestCancelled(BaseException):
    """The claim is gone (the document was deleted or taken over): stop at once and write
    nothing. A BaseException, so that parsers' "one bad page" handlers let it through."""


def enqueue_ingest(document_id: int, *, large: bool | None = None) -> None:
    """Publish the document's ingestion once the transaction commits, on the large-documents
    queue if it was found large at upload (`large`, read from the row when not given)."""
    from documents.tasks import document_ingest as task

    if large is None:
        large = Document.objects.filter(pk=document_id, large=True).exists()
    options = {"queue": settings.INGEST_LARGE_QUEUE} if large else {}
    transaction.on_commit(lambda: task.apply_async(kwargs={"document_id": document_id}, **options))


def document_ingest(*, document_id: int, claim_token: str = "") -> None:
    """Parse, index and mark the document ready or failed. Safe to run twice.

    `claim_token` names the task message (documents/jobs.py); a temporary provider error
    gives the document back and raises RetryableIngestError until INGEST_PROVIDER_RETRIES
    are used, then fails it with the provider's reason. A database that cannot be reached
    raises its OperationalError for the task to retry.
    """
    lease = jobs.claim(
        Document.objects.all(),
        pk=document_id,
        states=INGEST,
        token=claim_token,
        stage=DocumentStage.PARSING,
        progress=0.0,
        started_at=timezone.now(),
        finished_at=None,
    )
    if lease is None:
        return
    document = Document.objects.select_related("corpus").filter(pk=document_id).first()
    if document is None:
        logger.info("document %s was deleted as it was claimed; stopping", document_id)
        return
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
            progress.check()
            pages = pages_replace(document, parsed.pages)
            markup, parser, warnings = parsed.markup, parsed.parser, parsed.warnings
        else:
            # Adopted from OpenAI without its original: keep whatever page map it has.
            pages = list(document.pages.all())
            markup, parser, warnings = "text", document.parser, [document.warning]
        document.parser = parser  # the backend chunks by format (stored with the result)
        backend = get_backend(document.corpus.index_backend)
        result = backend.index_document(
            document=document, pages=pages, markup=markup, progress=progress
        )
        updated = lease.rows.update(
            status=DocumentStatus.READY,
            stage=DocumentStage.NONE,
            progress=1.0,
            error="",
            failure_code="",
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
    except IngestCancelled:
        logger.info("document %s was deleted or taken over; stopping", document_id)
    except (OperationalError, InterfaceError):
        raise  # the database is unreachable: nothing can be recorded; the task retries
    except IntegrityError:
        if lease.held():
            raise
        logger.info("document %s was deleted while its pages were written; stopping", document_id)
    except ParseError as error:
        logger.info("document %s failed to parse: %s", document_id, error.code)
        _fail(lease, str(error), code=error.code)
    except RemoteStoreMissing as error:
        _store_missing(lease, document, error)
    except IndexingError as error:
        if not lease.held():
            # Deleting the document removed its file at OpenAI under the worker's feet.
            logger.info("document %s was deleted or taken over; stopping", document_id)
            return
        if not error.retryable:
            logger.info("document %s failed to index", document_id)
            _fail(lease, str(error))
            return
        _retry_later(lease, document, error)
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


def _fail(lease: jobs.Lease, reason: str, *, code: str = "") -> None:
    lease.fail(reason, stage=DocumentStage.NONE, failure_code=code)


def _store_missing(lease: jobs.Lease, document: Document, error: RemoteStoreMissing) -> None:
    """The corpus's vector store vanished: recreate it (OPENAI_RECREATE_MISSING_STORES) and
    run this document again at once, or fail it with what the administrator can do."""
    logger.warning(
        "document %s: vector store %s of corpus %s is missing",
        document.pk,
        error.store_id,
        document.corpus_id,
    )
    if not settings.OPENAI_RECREATE_MISSING_STORES:
        _fail(lease, str(error))
        return
    from documents.services.remote import corpus_recreate_remote_store

    corpus_recreate_remote_store(corpus=document.corpus, store_id=error.store_id)
    with transaction.atomic():
        if lease.requeue(attempts=F("attempts") - 1, stage=DocumentStage.NONE):
            enqueue_ingest(document.pk)


def _retry_later(lease: jobs.Lease, document: Document, error: IndexingError) -> None:
    """Give the document back for a retry, or fail it with the provider's reason once the
    retries are used up. Retries are not interruptions (documents/jobs.py)."""
    limit = settings.INGEST_PROVIDER_RETRIES
    if document.retries >= limit:
        logger.warning(
            "document %s: temporary error after %s retries; giving up: %s",
            document.pk,
            document.retries,
            error,
        )
        _fail(
            lease,
            f"{jobs.final_reason(error)} Gave up after {document.retries} "
            f"retr{'y' if document.retries == 1 else 'ies'}; retry it once the problem is fixed.",
        )
        return
    retry = document.retries + 1
    if lease.retry_later(
        error=f"{jobs.final_reason(error)[:-1]}; will retry ({retry} of {limit}).",
        stage=DocumentStage.NONE,
    ):
        raise RetryableIngestError(str(error), retry=retry) from error


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
        if not self._lease.renew(stage=stage, progress=fraction):
            raise IngestCancelled

    def check(self) -> None:
        """Between stages: stop if the document was deleted (or taken over) meanwhile."""
        if not self._lease.renew():
            raise IngestCancelled

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
    """Queue a document again (after a failure, or to re-index it with new settings). A
    document a worker is processing (under a live lease) is left alone: the caller tells
    by its status, which stays "processing"."""
    with transaction.atomic():
        updated = (
            Document.objects.filter(pk=document.pk)
            .exclude(status=DocumentStatus.PROCESSING, lease_expires_at__gt=timezone.now())
            .update(
                status=DocumentStatus.QUEUED,
                stage=DocumentStage.NONE,
                progress=0.0,
                error="",
                failure_code="",
                attempts=0,
                retries=0,
                claim_token="",
                queued_at=timezone.now(),
                lease_expires_at=None,
            )
        )
        if updated:
            enqueue_ingest(document.pk)
    document.refresh_from_db()
    return document


def document_retry(*, document: Document) -> Document:
    """Queue a failed document again at a contributor's request; refused (ValidationError)
    when the failure cannot change (Document.retry_helps): only another file can help."""
    if not document.retry_helps:
        raise ValidationError(
            f"Trying {document.filename} again would fail the same way: {document.error} "
            "Upload a corrected file instead."
        )
    return document_reingest(document=document)


def document_delete(*, document: Document) -> None:
    """Remove the document from its index, then here. Raises IndexingError (nothing deleted)
    when the index cannot be reached."""
    document_id = document.pk
    get_backend(document.corpus.index_backend).remove_document(document=document)
    name = document.file.name
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: delete_files([name] if name else []))
    # A worker processing it notices at its next stage or batch (IngestCancelled) and stops.
    logger.info("document %s deleted", document_id)


def documents_requeue_stale(
    *,
    now: dt.datetime | None = None,
    waiting_messages: int | None = None,
    waiting_large_messages: int | None = None,
) -> int:
    """Re-enqueue documents whose worker died or whose queue message was lost.

    `waiting_messages` and `waiting_large_messages` are the lengths of the ingestion queue and
    of the large-documents queue (None: unknown): rows queued behind a backlog on their own
    queue are not stale (documents/jobs.py)."""
    return sum(
        jobs.requeue_stale(
            Document.objects.filter(large=large),
            states=INGEST,
            enqueue=lambda pk, large=large: enqueue_ingest(pk, large=large),
            now=now,
            waiting_messages=waiting,
        )
        for large, waiting in ((False, waiting_messages), (True, waiting_large_messages))
    )
