"""Every write and workflow on corpora and documents.

Keyword-only functions named <entity>_<action>. Views, admin actions, API handlers, commands
and tasks call these and nothing else writes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import mimetypes
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import get_valid_filename, slugify

from documents.backends.base import IndexingError, SearchHit, SearchMode, get_backend
from documents.backends.embeddings import get_embedder
from documents.models import (
    Corpus,
    Document,
    DocumentQuerySet,
    DocumentStage,
    DocumentStatus,
    Page,
)
from documents.parsing import ParsedPage, ParseError, parse_file

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


class RetryableIngestError(Exception):
    """Ingestion hit a temporary problem; the task retries with backoff."""


# --- corpora ------------------------------------------------------------------------------------


def corpus_validate_settings(
    *,
    index_backend: str,
    embedding_model: str,
    chunk_size_tokens: int,
    chunk_overlap_tokens: int,
) -> None:
    errors: dict[str, str] = {}
    if index_backend not in settings.INDEX_BACKENDS:
        errors["index_backend"] = (
            f"Unknown index backend {index_backend!r}. "
            f"Choose one of: {', '.join(settings.INDEX_BACKENDS)}."
        )
    if embedding_model not in settings.EMBEDDING_MODELS:
        errors["embedding_model"] = (
            f"Unknown embedding model {embedding_model!r}. "
            f"Choose one of: {', '.join(settings.EMBEDDING_MODELS)}."
        )
    else:
        window = get_embedder(embedding_model).max_tokens
        if not 32 <= chunk_size_tokens <= window:
            errors["chunk_size_tokens"] = (
                f"Chunk size must be between 32 and {window} tokens: the embedding model "
                f"{embedding_model} reads at most {window} tokens of a passage."
            )
    if not 0 <= chunk_overlap_tokens <= chunk_size_tokens // 2:
        errors["chunk_overlap_tokens"] = "Overlap must be between 0 and half the chunk size."
    if errors:
        raise ValidationError(errors)


def corpus_create(
    *,
    name: str,
    slug: str | None = None,
    description: str = "",
    index_backend: str | None = None,
    embedding_model: str | None = None,
    chunk_size_tokens: int = 200,
    chunk_overlap_tokens: int = 30,
    text_search_config: str = "english",
    created_by: User | None = None,
) -> Corpus:
    index_backend = index_backend or settings.DEFAULT_INDEX_BACKEND
    embedding_model = embedding_model or settings.DEFAULT_EMBEDDING_MODEL
    slug = slugify(slug or name)[:100]
    if not name.strip() or not slug:
        raise ValidationError({"name": "A corpus needs a name."})
    if Corpus.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A corpus with the slug {slug!r} already exists."})
    corpus_validate_settings(
        index_backend=index_backend,
        embedding_model=embedding_model,
        chunk_size_tokens=chunk_size_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
    )
    corpus = Corpus.objects.create(
        name=name.strip(),
        slug=slug,
        description=description,
        index_backend=index_backend,
        embedding_model=embedding_model,
        chunk_size_tokens=chunk_size_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
        text_search_config=text_search_config,
        created_by=created_by,
    )
    get_backend(index_backend).prepare_corpus(corpus=corpus)
    logger.info("corpus %s created (backend=%s)", corpus.pk, index_backend)
    return corpus


def corpus_delete(*, corpus: Corpus) -> None:
    get_backend(corpus.index_backend).remove_corpus(corpus=corpus)
    names = [name for name in corpus.documents.values_list("file", flat=True) if name]
    with transaction.atomic():
        corpus.delete()
        transaction.on_commit(lambda: _delete_files(names))


def corpus_refresh_remote_usage(*, corpus: Corpus) -> int | None:
    """Read what the corpus's vector store takes up at OpenAI and record it on the corpus;
    None for corpora indexed locally, or when it cannot be read (logged)."""
    from documents.backends.openai_store import OpenAIVectorStoreBackend

    backend = get_backend(corpus.index_backend)
    if not isinstance(backend, OpenAIVectorStoreBackend):
        return None
    return backend.refresh_usage(corpus=corpus)


# --- documents: upload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadOutcome:
    document: Document
    created: bool  # False: the corpus already holds a file with the same content

    @property
    def duplicate(self) -> bool:
        return not self.created


def document_upload(
    *,
    corpus: Corpus,
    file: IO[bytes],
    filename: str,
    uploaded_by: User | None = None,
    content_type: str = "",
) -> UploadOutcome:
    """Store the original, refuse duplicates, queue ingestion once the row is committed."""
    filename = get_valid_filename(os.path.basename(filename)) or "upload"
    digest, size = _sha256(file)
    if size == 0:
        raise ValidationError({"file": f"{filename} is empty (0 bytes); nothing to index."})
    if size > settings.DOCUMENT_MAX_UPLOAD_BYTES:
        limit = settings.DOCUMENT_MAX_UPLOAD_BYTES // (1024 * 1024)
        raise ValidationError({"file": f"{filename} is larger than the {limit} MB limit."})
    existing = Document.objects.filter(corpus=corpus, sha256=digest).first()
    if existing is not None:
        logger.info("upload to corpus %s duplicates document %s", corpus.pk, existing.pk)
        return UploadOutcome(existing, created=False)

    document = Document(
        corpus=corpus,
        filename=filename[:255],
        content_type=content_type or mimetypes.guess_type(filename)[0] or "",
        size_bytes=size,
        sha256=digest,
        uploaded_by=uploaded_by,
    )
    file.seek(0)
    document.file.save(filename, File(file, name=filename), save=False)
    try:
        with transaction.atomic():
            document.save()
            _enqueue_ingest(document.pk)
    except IntegrityError:
        document.file.delete(save=False)
        # The same content arrived concurrently: keep the first and drop our stored copy.
        winner = Document.objects.filter(corpus=corpus, sha256=digest).first()
        if winner is None:
            raise
        return UploadOutcome(winner, created=False)
    logger.info("document %s uploaded to corpus %s (%s bytes)", document.pk, corpus.pk, size)
    return UploadOutcome(document, created=True)


def document_upload_path(
    *, corpus: Corpus, path: Path, uploaded_by: User | None = None
) -> UploadOutcome:
    with path.open("rb") as handle:
        return document_upload(
            corpus=corpus, file=handle, filename=path.name, uploaded_by=uploaded_by
        )


def _sha256(file: IO[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    while block := file.read(1024 * 1024):
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def _enqueue_ingest(document_id: int) -> None:
    from documents.tasks import document_ingest as task

    transaction.on_commit(lambda: task.apply_async(kwargs={"document_id": document_id}))


# --- documents: ingestion (runs in the worker) ----------------------------------------------------


def document_ingest(*, document_id: int) -> None:
    """Parse, index and mark the document ready or failed. Safe to run twice."""
    attempt = _document_claim(document_id)
    if attempt is None:
        return
    document = Document.objects.select_related("corpus").get(pk=document_id)
    mine = Document.objects.filter(
        pk=document_id, attempts=attempt, status=DocumentStatus.PROCESSING
    )
    if attempt > settings.INGEST_MAX_ATTEMPTS:
        _document_fail(
            mine,
            f"Processing was interrupted {attempt - 1} times (the worker stopped or ran out of "
            "memory). Retry it once the workers are healthy, or split the file.",
        )
        return

    progress = _Progress(mine)
    try:
        if document.file:
            with _local_copy(document) as path:
                parsed = parse_file(
                    path, filename=document.filename, max_pages=settings.DOCUMENT_MAX_PAGES
                )
            pages = _pages_replace(document, parsed.pages)
            markup, parser, warnings = parsed.markup, parsed.parser, parsed.warnings
        else:
            # Adopted from OpenAI without its original: keep whatever page map it has.
            pages = list(document.pages.all())
            markup, parser, warnings = "text", document.parser, [document.warning]
        backend = get_backend(document.corpus.index_backend)
        result = backend.index_document(
            document=document, pages=pages, markup=markup, progress=progress
        )
        updated = mine.update(
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
        _document_fail(mine, str(error))
    except IndexingError as error:
        if not error.retryable:
            logger.info("document %s failed to index", document_id)
            _document_fail(mine, str(error))
            return
        mine.update(
            status=DocumentStatus.QUEUED,
            stage=DocumentStage.NONE,
            error=f"Temporary problem, will retry: {error}",
            lease_expires_at=None,
            queued_at=timezone.now(),
        )
        raise RetryableIngestError(str(error)) from error
    except SoftTimeLimitExceeded:
        minutes = settings.CELERY_TASK_SOFT_TIME_LIMIT // 60
        _document_fail(
            mine,
            f"Processing took longer than the {minutes}-minute limit. Split the file into "
            "smaller parts, or ask an administrator to raise CELERY_TASK_SOFT_TIME_LIMIT.",
        )
    except Exception:
        # A bug, not a bad file: keep the worker alive and tell the user without a traceback.
        logger.exception("document %s: unexpected error during ingestion", document_id)
        _document_fail(
            mine,
            f"Unexpected error while processing this document (reference: document "
            f"{document_id}, attempt {attempt}). An administrator can find the details in the "
            "worker log and retry it.",
        )


class _Progress:
    """The backends' progress callback: records the stage on the row, renews the lease and
    times each stage."""

    def __init__(self, queryset: DocumentQuerySet) -> None:
        self._queryset = queryset
        self._stage = DocumentStage.PARSING.value
        self._since = time.perf_counter()
        self.timings: dict[str, float] = {}

    def __call__(self, stage: str, fraction: float) -> None:
        if stage != self._stage:
            self.finish()
            self._stage, self._since = stage, time.perf_counter()
        lease = dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS)
        self._queryset.update(
            stage=stage, progress=fraction, lease_expires_at=timezone.now() + lease
        )

    def finish(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._since
        self.timings[self._stage] = round(self.timings.get(self._stage, 0.0) + elapsed, 3)
        self._since = time.perf_counter()
        return self.timings


def _document_claim(document_id: int) -> int | None:
    """Take the document for this worker with a conditional UPDATE; None if someone else has
    it or it is already finished."""
    now = timezone.now()
    claimed = (
        Document.objects.filter(pk=document_id)
        .filter(
            Q(status=DocumentStatus.QUEUED)
            | Q(status=DocumentStatus.PROCESSING, lease_expires_at__lt=now)
        )
        .update(
            status=DocumentStatus.PROCESSING,
            stage=DocumentStage.PARSING,
            progress=0.0,
            attempts=F("attempts") + 1,
            lease_expires_at=now + dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS),
            started_at=now,
            finished_at=None,
        )
    )
    if not claimed:
        logger.info("document %s: not claimable (finished, deleted or taken)", document_id)
        return None
    return int(Document.objects.values_list("attempts", flat=True).get(pk=document_id))


def document_mark_failed(*, document_id: int, reason: str) -> None:
    """Used by the task's failure hook once retries are exhausted."""
    _document_fail(
        Document.objects.filter(pk=document_id).exclude(status=DocumentStatus.READY), reason
    )


def _document_fail(queryset: DocumentQuerySet, reason: str) -> None:
    queryset.update(
        status=DocumentStatus.FAILED,
        stage=DocumentStage.NONE,
        error=reason,
        lease_expires_at=None,
        finished_at=timezone.now(),
    )


@contextlib.contextmanager
def _local_copy(document: Document) -> Iterator[Path]:
    """A path on local disk for the original, whatever the storage backend."""
    try:
        yield Path(document.file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(document.filename).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle, document.file.open("rb") as src:
        while block := src.read(1024 * 1024):
            handle.write(block)
        handle.flush()
        yield Path(handle.name)


def _pages_replace(document: Document, parsed_pages: Sequence[ParsedPage]) -> list[Page]:
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
            )
        )
        offset += len(parsed.text) + len(Page.PAGE_SEPARATOR)
    with transaction.atomic():
        Page.objects.filter(document=document).delete()
        Page.objects.bulk_create(pages, batch_size=500)
    return pages


# --- documents: lifecycle -----------------------------------------------------------------------


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
            _enqueue_ingest(document.pk)
    document.refresh_from_db()
    return document


def document_delete(*, document: Document) -> None:
    get_backend(document.corpus.index_backend).remove_document(document=document)
    name = document.file.name
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: _delete_files([name] if name else []))
    logger.info("document %s deleted", document.pk)


def _delete_files(names: list[str]) -> None:
    from django.core.files.storage import default_storage

    for name in names:
        default_storage.delete(name)


def documents_requeue_stale(*, now: dt.datetime | None = None) -> int:
    """Re-enqueue documents whose worker died or whose queue message was lost."""
    now = now or timezone.now()
    # A queued document normally starts within seconds; after this long its message is gone.
    queued_before = now - dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS * 5)
    stale = list(
        Document.objects.stale(now=now, queued_before=queued_before).values_list("pk", "status")
    )
    for document_id, status in stale:
        if status == DocumentStatus.QUEUED:
            Document.objects.filter(pk=document_id, status=status).update(queued_at=now)
        logger.warning("document %s is stale (%s); queueing it again", document_id, status)
        with transaction.atomic():
            _enqueue_ingest(document_id)
    return len(stale)


# --- search -------------------------------------------------------------------------------------


def corpus_search(
    *, corpus: Corpus, query: str, k: int = 10, mode: SearchMode = "hybrid"
) -> list[SearchHit]:
    if not 1 <= k <= 100:
        raise ValidationError({"k": "k must be between 1 and 100."})
    if mode not in ("hybrid", "vector", "fulltext"):
        raise ValidationError({"mode": "mode must be hybrid, vector or fulltext."})
    return get_backend(corpus.index_backend).search(corpus=corpus, query=query, k=k, mode=mode)


# --- corpora: adopting an existing OpenAI vector store ------------------------------------------

if TYPE_CHECKING:
    from documents.backends.openai_store import OpenAIVectorStoreBackend, RemoteFile

ADOPTED_BACKEND = "openai"
NO_ORIGINAL_WARNING = (
    "The original could not be downloaded from OpenAI; citations point to the document, "
    "not the page."
)


@dataclass(frozen=True)
class AdoptionResult:
    corpus: Corpus
    imported: int
    skipped: list[tuple[str, str]]  # (filename, reason)


def corpus_adopt_vector_store(
    *,
    vector_store_id: str,
    name: str,
    slug: str | None = None,
    created_by: User | None = None,
) -> AdoptionResult:
    """Make a corpus of a vector store that already exists at OpenAI: its processed files
    become ready documents, with their original and page map when OpenAI hands them out.

    Problems, including OpenAI being unreachable, are ValidationErrors; on failure nothing is
    kept here and nothing is changed at OpenAI.
    """
    from documents.backends.openai_store import OpenAIVectorStoreBackend

    vector_store_id = vector_store_id.strip()
    if not vector_store_id:
        raise ValidationError({"vector_store_id": "Enter the id of an OpenAI vector store."})
    owner = Corpus.objects.filter(vector_store_id=vector_store_id).first()
    if owner is not None:
        message = f"The vector store {vector_store_id} is already used by the corpus “{owner}”."
        raise ValidationError({"vector_store_id": message})
    backend = get_backend(ADOPTED_BACKEND)
    if not isinstance(backend, OpenAIVectorStoreBackend):
        raise ValidationError(
            {"vector_store_id": f"The index backend {ADOPTED_BACKEND!r} is not OpenAI's."}
        )
    try:
        store = backend.retrieve_store(vector_store_id=vector_store_id)
        if store is None:
            message = (
                f"OpenAI has no vector store {vector_store_id} (or this API key cannot see it)."
            )
            raise ValidationError({"vector_store_id": message})
        remote_files = backend.list_store_files(vector_store_id=vector_store_id)
    except IndexingError as error:
        raise ValidationError({"vector_store_id": str(error)}) from error

    corpus = corpus_create(
        name=name, slug=slug, index_backend=ADOPTED_BACKEND, created_by=created_by
    )
    claimed = Corpus.objects.filter(pk=corpus.pk, vector_store_id="").update(
        vector_store_id=vector_store_id
    )
    if not claimed or Corpus.objects.filter(vector_store_id=vector_store_id).count() > 1:
        # Adopted twice at the same moment: the other adoption keeps it.
        _corpus_discard(corpus)
        raise ValidationError(
            {"vector_store_id": f"The vector store {vector_store_id} was adopted meanwhile."}
        )
    corpus.vector_store_id = vector_store_id

    imported = 0
    skipped: list[tuple[str, str]] = []
    try:
        for remote in remote_files:
            reason = _document_adopt(
                corpus=corpus, remote=remote, backend=backend, uploaded_by=created_by
            )
            if reason:
                skipped.append((remote.filename or remote.file_id, reason))
            else:
                imported += 1
    except IndexingError as error:
        _corpus_discard(corpus)
        raise ValidationError({"vector_store_id": str(error)}) from error
    backend.refresh_usage(corpus=corpus)
    logger.info(
        "corpus %s adopted vector store %s: %s documents, %s skipped",
        corpus.pk,
        vector_store_id,
        imported,
        len(skipped),
    )
    return AdoptionResult(corpus=corpus, imported=imported, skipped=skipped)


def _document_adopt(
    *,
    corpus: Corpus,
    remote: RemoteFile,
    backend: OpenAIVectorStoreBackend,
    uploaded_by: User | None,
) -> str:
    """Create the ready document for one file of an adopted store; the reason if skipped."""
    from django.core.files.base import ContentFile

    if not remote.filename:
        return "The file was deleted at OpenAI."
    if remote.status == "failed":
        return f"OpenAI could not process this file: {remote.error or 'no reason given'}"
    if remote.status == "cancelled":
        return "Processing of this file was cancelled at OpenAI."
    # An in_progress file is kept: OpenAI finishes it in the store whatever Docent does.
    filename = get_valid_filename(os.path.basename(remote.filename)) or "upload"
    content = backend.download(file_id=remote.file_id)
    digest = hashlib.sha256(
        content if content is not None else f"openai-file:{remote.file_id}".encode()
    ).hexdigest()
    duplicate = Document.objects.filter(corpus=corpus, sha256=digest).first()
    if duplicate is not None:
        return f"Same content as {duplicate.filename}, which is already in the corpus."
    now = timezone.now()
    document = Document(
        corpus=corpus,
        filename=filename[:255],
        content_type=mimetypes.guess_type(filename)[0] or "",
        size_bytes=len(content) if content is not None else remote.size_bytes,
        sha256=digest,
        status=DocumentStatus.READY,
        stage=DocumentStage.NONE,
        progress=1.0,
        parser="openai",
        remote_file_id=remote.file_id,
        uploaded_by=uploaded_by,
        started_at=now,
        finished_at=now,
    )
    warnings: list[str] = []
    if content is None:
        warnings.append(NO_ORIGINAL_WARNING)
    else:
        document.file.save(filename, ContentFile(content, name=filename), save=False)
    document.save()
    if content is not None:
        try:
            with _local_copy(document) as path:
                parsed = parse_file(path, filename=filename, max_pages=settings.DOCUMENT_MAX_PAGES)
        except ParseError as error:
            warnings.append(f"{error} Citations point to the document, not the page.")
        except Exception:
            # A parser bug must not abort the adoption of every other file.
            logger.exception("document %s: unexpected error while parsing", document.pk)
            warnings.append(
                "The page map could not be built; citations point to the document, not the page."
            )
        else:
            pages = _pages_replace(document, parsed.pages)
            warnings.extend(parsed.warnings)
            Document.objects.filter(pk=document.pk).update(page_count=len(pages))
    if warnings:
        Document.objects.filter(pk=document.pk).update(warning="\n".join(warnings))
    logger.info(
        "document %s adopted from file %s (original %s)",
        document.pk,
        remote.file_id,
        "kept" if content is not None else "not downloadable",
    )
    return ""


def _corpus_discard(corpus: Corpus) -> None:
    """Delete a corpus made here without touching its store at OpenAI (not ours to delete)."""
    names = [name for name in corpus.documents.values_list("file", flat=True) if name]
    with transaction.atomic():
        corpus.delete()
        transaction.on_commit(lambda: _delete_files(names))


# --- reads for the web UI -----------------------------------------------------------------------

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.models import AnonymousUser
    from django.db.models import QuerySet

# Page images render at 1.5 times 72 dpi, which reads well on a laptop and stays small.
PAGE_IMAGE_SCALE = 1.5


def corpora_with_document_counts(*, user: User | AnonymousUser) -> QuerySet[Corpus]:
    """The corpora `user` may read, each with documents_ready / _processing / _failed /
    _total counts."""
    from django.db.models import Count

    return Corpus.objects.for_user(user).annotate(
        documents_total=Count("documents"),
        documents_ready=Count("documents", filter=Q(documents__status=DocumentStatus.READY)),
        documents_processing=Count(
            "documents",
            filter=Q(documents__status__in=[DocumentStatus.QUEUED, DocumentStatus.PROCESSING]),
        ),
        documents_failed=Count("documents", filter=Q(documents__status=DocumentStatus.FAILED)),
    )


def page_labels(*, pages: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """The labels ("Slide 3", "Sheet: Revenue") of (document id, page number) pairs that have
    one."""
    wanted = set(pages)
    if not wanted:
        return {}
    condition = Q()
    for document_id in {document_id for document_id, _ in wanted}:
        numbers = [number for doc, number in wanted if doc == document_id]
        condition |= Q(document_id=document_id, number__in=numbers)
    rows = Page.objects.filter(condition).exclude(label="")
    return {
        (row.document_id, row.number): row.label for row in rows.only("document", "number", "label")
    }


def document_is_pdf(document: Document) -> bool:
    return document.parser == "pdf" or (
        document.content_type == "application/pdf" or document.filename.lower().endswith(".pdf")
    )


def document_page_png(*, document: Document, number: int) -> bytes | None:
    """The page of a PDF original as a PNG; None when there is no such page or no readable
    original."""
    import pypdfium2 as pdfium

    # PDFium is not thread-safe: share the parser's lock (see documents/parsing/pdf.py).
    from documents.parsing.pdf import _PDFIUM_LOCK

    if not document.file or not document_is_pdf(document) or number < 1:
        return None
    try:
        with _local_copy(document) as path, _PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(path)
            try:
                if number > len(pdf):
                    return None
                page = pdf[number - 1]
                try:
                    image = page.render(scale=PAGE_IMAGE_SCALE).to_pil()
                finally:
                    page.close()
            finally:
                pdf.close()
    except (OSError, pdfium.PdfiumError):
        logger.info("document %s: page %s could not be rendered", document.pk, number)
        return None
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
