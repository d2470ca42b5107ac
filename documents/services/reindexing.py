"""Re-indexing a corpus with new embedding or chunking settings while its index keeps answering.

The new chunks are built beside the current ones as the next `index_version`; search reads
only the corpus's current version, so it keeps answering from the old chunks until the corpus
switches, in one transaction, to the new settings and version and drops the old chunks.

Claims, leases, provider retries and failure marking go through documents/jobs.py, like
every background job, with the same accounting as ingestion: a temporary provider error gives
the re-index back as a retry (`retries`, up to INGEST_PROVIDER_RETRIES), not as an
interruption, and the task message claims with its `claim_token`, so that a redelivery after a
lost worker takes the re-index over at once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, models, transaction
from django.db.models import Count, Exists, F, IntegerField, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from documents import jobs
from documents.backends.base import IndexingError, Reindexable, get_backend
from documents.backends.embeddings import vectors_interchangeable
from documents.models import (
    Chunk,
    Corpus,
    CorpusReindex,
    Document,
    DocumentQuerySet,
    DocumentStatus,
    ReindexStatus,
)
from documents.parsing import markup_of
from documents.services.corpora import corpus_validate_settings

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class RetryableReindexError(Exception):
    """Re-indexing hit a temporary provider problem and gave the re-index back to the queue;
    the task retries with backoff. `retry` is the number of this retry (1 for the first)."""

    def __init__(self, message: str, *, retry: int) -> None:
        super().__init__(message)
        self.retry = retry


class _ClaimLost(Exception):
    """Another worker took the re-index over (this one's lease ran out)."""


def corpus_reindex_start(
    *,
    corpus: Corpus,
    embedding_model: str,
    chunk_size_tokens: int,
    chunk_overlap_tokens: int,
    started_by: User | None,
) -> CorpusReindex:
    """Queue rebuilding the corpus's chunks with these settings; the corpus keeps its current
    settings and index until the new one is complete."""
    # The caller's instance may already carry the new values (a bound admin form sets them).
    current = Corpus.objects.get(pk=corpus.pk)
    backend = get_backend(current.index_backend)
    if not isinstance(backend, Reindexable):
        raise ValidationError(
            f"Documents of “{current}” are chunked and embedded by its index backend "
            f"({current.index_backend}); there is nothing to re-index here."
        )
    corpus_validate_settings(
        index_backend=current.index_backend,
        embedding_model=embedding_model,
        chunk_size_tokens=chunk_size_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
    )
    wanted = (embedding_model, chunk_size_tokens, chunk_overlap_tokens)
    if wanted == (current.embedding_model, current.chunk_size_tokens, current.chunk_overlap_tokens):
        raise ValidationError(f"“{current}” already uses these settings; nothing to re-index.")
    active = CorpusReindex.objects.active().filter(corpus=current).first()
    if active is not None:
        raise ValidationError(_already_active(current, active))
    try:
        backend.ensure_vector_index(embedding_model=embedding_model)
    except IndexingError as error:
        raise ValidationError({"embedding_model": str(error)}) from error
    # Never reuse the version of an earlier, failed re-index: none of its chunks may count.
    last = CorpusReindex.objects.filter(corpus=current).aggregate(last=Max("target_version"))
    target = max(last["last"] or 0, current.index_version) + 1
    try:
        with transaction.atomic():
            reindex = CorpusReindex.objects.create(
                corpus=current,
                target_version=target,
                embedding_model=embedding_model,
                chunk_size_tokens=chunk_size_tokens,
                chunk_overlap_tokens=chunk_overlap_tokens,
                created_by=started_by,
            )
            _enqueue(reindex.pk)
    except IntegrityError:
        # Started twice at the same moment: the partial unique constraint keeps one.
        active = CorpusReindex.objects.active().filter(corpus=current).first()
        if active is None:
            raise
        raise ValidationError(_already_active(current, active)) from None
    logger.info(
        "corpus %s: re-index %s queued (version %s -> %s)",
        current.pk,
        reindex.pk,
        current.index_version,
        target,
    )
    return reindex


def corpus_embedding_model_swap(*, corpus: Corpus, embedding_model: str) -> bool:
    """Switch the corpus to `embedding_model` without re-embedding when that model's vectors
    are interchangeable with its current model's (vectors_interchangeable): the stored chunks
    stay valid, so only the setting changes. False, and nothing changed, when a re-index is
    needed (or running)."""
    if embedding_model not in settings.EMBEDDING_MODELS:
        return False
    with transaction.atomic():
        current = Corpus.objects.select_for_update().get(pk=corpus.pk)
        if embedding_model == current.embedding_model or not vectors_interchangeable(
            current.embedding_model, embedding_model
        ):
            return False
        if CorpusReindex.objects.active().filter(corpus=current).exists():
            return False
        previous = current.embedding_model
        current.embedding_model = embedding_model
        current.save(update_fields=["embedding_model", "updated_at"])
    corpus.embedding_model = embedding_model
    logger.info(
        "corpus %s: embedding model %s -> %s without re-embedding (same vectors)",
        current.pk,
        previous,
        embedding_model,
    )
    return True


def _already_active(corpus: Corpus, active: CorpusReindex) -> str:
    return (
        f"“{corpus}” is already being re-indexed ({active.summary.lower()}); wait until it "
        "has finished."
    )


def _enqueue(reindex_id: int) -> None:
    from documents.tasks import corpus_reindex_run as task

    transaction.on_commit(lambda: task.apply_async(kwargs={"reindex_id": reindex_id}))


# --- running (in the worker) ----------------------------------------------------------------------


REINDEX = jobs.JobStates(
    name="re-index",
    queued=ReindexStatus.QUEUED,
    running=ReindexStatus.RUNNING,
    failed=ReindexStatus.FAILED,
)


def corpus_reindex_run(*, reindex_id: int, claim_token: str = "") -> None:
    """Build every ready document's chunks as the target version, then switch the corpus to
    it. Safe to run twice: documents that already have target chunks are skipped.

    `claim_token` names the task message (documents/jobs.py). A temporary provider error
    gives the re-index back and raises RetryableReindexError until INGEST_PROVIDER_RETRIES
    are used, then fails it with the provider's reason. A database that cannot be reached
    raises its OperationalError for the task to retry."""
    lease = jobs.claim(
        CorpusReindex.objects.all(),
        pk=reindex_id,
        states=REINDEX,
        token=claim_token,
        started_at=Coalesce("started_at", Value(timezone.now())),
        error="",
    )
    if lease is None:
        return
    reindex = CorpusReindex.objects.select_related("corpus").get(pk=reindex_id)
    if lease.attempt > settings.INGEST_MAX_ATTEMPTS:
        _reindex_fail(
            lease.rows,
            reindex,
            f"Re-indexing was interrupted {lease.interrupted} times (the worker stopped or ran "
            "out of memory). The current index still answers; start the re-index again once "
            "the workers are healthy.",
        )
        return
    try:
        backend = get_backend(reindex.corpus.index_backend)
        if not isinstance(backend, Reindexable):
            raise IndexingError("This corpus's backend cannot be re-indexed.", retryable=False)
        backend.ensure_vector_index(embedding_model=reindex.embedding_model)
        while not _reindex_switch(reindex, lease):
            # Documents uploaded (or re-ingested) meanwhile join in the next round.
            pending = list(_documents_to_build(reindex).values_list("pk", flat=True))
            if not lease.rows.update(documents_total=F("documents_done") + len(pending)):
                raise _ClaimLost
            for document_id in pending:
                tokens = _reindex_document(backend, reindex, document_id, lease)
                done = lease.renew(
                    documents_done=F("documents_done") + 1,
                    embedding_tokens=F("embedding_tokens") + tokens,
                )
                if not done:
                    raise _ClaimLost
    except _ClaimLost:
        logger.info("re-index %s: taken over by another worker; stopping", reindex_id)
    except (OperationalError, InterfaceError):
        raise  # the database is unreachable: nothing can be recorded; the task retries
    except IndexingError as error:
        if not error.retryable:
            logger.info("re-index %s failed: %s", reindex_id, error)
            _reindex_fail(lease.rows, reindex, f"{error} The current index still answers.")
            return
        _retry_later(lease, reindex, error)
    except SoftTimeLimitExceeded:
        # Everything built so far is kept: carry on in a fresh task. This was no crash, so the
        # claim it took is not counted against the attempts.
        if lease.requeue(attempts=F("attempts") - 1):
            logger.info("re-index %s: time limit reached; continuing in a new task", reindex_id)
            with transaction.atomic():
                _enqueue(reindex_id)
    except Exception:
        # A bug, not bad settings: keep the worker alive and the old index answering.
        logger.exception("re-index %s: unexpected error", reindex_id)
        _reindex_fail(
            lease.rows,
            reindex,
            f"Unexpected error while re-indexing (reference: re-index {reindex_id}, attempt "
            f"{lease.attempt}). The current index still answers; an administrator can find the "
            "details in the worker log.",
        )


def _retry_later(lease: jobs.Lease, reindex: CorpusReindex, error: IndexingError) -> None:
    """Give the re-index back for a retry, or fail it with the provider's reason once the
    retries are used up. Retries are not interruptions (documents/jobs.py)."""
    limit = settings.INGEST_PROVIDER_RETRIES
    if reindex.retries >= limit:
        logger.warning(
            "re-index %s: temporary error after %s retries; giving up: %s",
            reindex.pk,
            reindex.retries,
            error,
        )
        _reindex_fail(
            lease.rows,
            reindex,
            f"{jobs.final_reason(error)} Gave up after {reindex.retries} "
            f"retr{'y' if reindex.retries == 1 else 'ies'}. The current index still answers; "
            "start the re-index again once the problem is fixed.",
        )
        return
    retry = reindex.retries + 1
    if lease.retry_later(
        error=f"{jobs.final_reason(error)[:-1]}; will retry ({retry} of {limit})."
    ):
        raise RetryableReindexError(str(error), retry=retry) from error


def _documents_to_build(reindex: CorpusReindex) -> DocumentQuerySet:
    """Documents search would show that have no chunks of the target version yet: ready ones,
    and ones whose ingestion has written its chunks but not yet marked them ready."""
    chunks = Chunk.objects.filter(document=OuterRef("pk"))
    written = Exists(chunks.filter(index_version__lt=reindex.target_version))
    built = Exists(chunks.filter(index_version=reindex.target_version))
    return (
        Document.objects.filter(corpus_id=reindex.corpus_id)
        .filter(Q(status=DocumentStatus.READY) | Q(written, status=DocumentStatus.PROCESSING))
        .exclude(built)
        .order_by("pk")
    )


def _reindex_document(
    backend: Reindexable,
    reindex: CorpusReindex,
    document_id: int,
    lease: jobs.Lease,
) -> int:
    """Build one document's target-version chunks; the embedding tokens spent."""

    def renew(stage: str, fraction: float) -> None:
        if not lease.renew():
            raise _ClaimLost

    document = Document.objects.filter(pk=document_id).first()
    if document is None:
        return 0  # deleted meanwhile
    try:
        result = backend.build_chunks(
            document=document,
            pages=list(document.pages.all()),
            markup=markup_of(document.parser),
            embedding_model=reindex.embedding_model,
            chunk_size_tokens=reindex.chunk_size_tokens,
            chunk_overlap_tokens=reindex.chunk_overlap_tokens,
            index_version=reindex.target_version,
            progress=renew,
        )
    except IntegrityError:
        if not Document.objects.filter(pk=document_id).exists():
            return 0  # deleted while its chunks were written
        raise
    except IndexingError as error:
        if error.retryable:
            raise
        raise IndexingError(f"{document.filename}: {error}", retryable=False) from error
    return result.embedding_tokens


def _reindex_switch(reindex: CorpusReindex, lease: jobs.Lease) -> bool:
    """Switch the corpus to the target version if every document has its chunks; False when
    some still need building."""
    target = reindex.target_version
    with transaction.atomic():
        # Ingestions write chunks under a share lock on the corpus row: none is half-written.
        corpus = Corpus.objects.select_for_update().filter(pk=reindex.corpus_id).first()
        if corpus is None:
            raise IndexingError("The corpus was deleted.", retryable=False)
        if _documents_to_build(reindex).exists():
            return False
        now = timezone.now()
        if not lease.rows.update(status=ReindexStatus.DONE, finished_at=now, lease_expires_at=None):
            raise _ClaimLost
        Chunk.objects.filter(corpus=corpus).exclude(index_version=target).delete()
        Corpus.objects.filter(pk=corpus.pk).update(
            embedding_model=reindex.embedding_model,
            chunk_size_tokens=reindex.chunk_size_tokens,
            chunk_overlap_tokens=reindex.chunk_overlap_tokens,
            index_version=target,
            updated_at=now,
        )
        counts = (
            Chunk.objects.filter(document=OuterRef("pk"), index_version=target)
            .values("document")
            .annotate(n=Count("pk"))
            .values("n")
        )
        Document.objects.filter(corpus=corpus).update(
            chunk_count=Coalesce(Subquery(counts, output_field=IntegerField()), 0)
        )
    logger.info(
        "corpus %s: switched to index version %s (re-index %s)", corpus.pk, target, reindex.pk
    )
    return True


def _reindex_fail(
    rows: models.QuerySet[CorpusReindex], reindex: CorpusReindex, reason: str
) -> None:
    if jobs.fail(rows, states=REINDEX, reason=reason):
        # The corpus never switched: what was built for the target version is unused.
        Chunk.objects.filter(
            corpus_id=reindex.corpus_id, index_version=reindex.target_version
        ).delete()


def corpus_reindex_mark_failed(*, reindex_id: int, reason: str) -> None:
    """Used by the task's failure hook once retries are exhausted."""
    reindex = CorpusReindex.objects.filter(pk=reindex_id).first()
    if reindex is not None:
        _reindex_fail(
            CorpusReindex.objects.filter(pk=reindex_id, status__in=ReindexStatus.active()),
            reindex,
            f"{reason} The current index still answers.",
        )


def corpus_reindexes_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Re-enqueue re-indexes whose worker died or whose queue message was lost."""
    return jobs.requeue_stale(
        CorpusReindex.objects.all(), states=REINDEX, enqueue=_enqueue, now=now
    )
