"""A corpus's remote vector store kept honest: orphan files removed (reconciliation), a store
that vanished at the provider detected and recreated from the stored originals.

Orphans are of two kinds: files attached to the store that no document references (a crash
between attaching and recording, a deletion cut short), and uploads that never reached the
store (the server or the worker died mid-upload, and the document ended without using the
File). The second kind is found by the name and size an upload gives a File."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from documents.backends.base import RemoteStoreBackend, get_backend
from documents.models import Corpus, Document, DocumentStatus

logger = logging.getLogger(__name__)


@runtime_checkable
class ReconcilableStore(RemoteStoreBackend, Protocol):
    """A remote store whose stray files can be removed one by one."""

    def remove_store_file(self, *, vector_store_id: str, file_id: str) -> None: ...

    def stray_uploads(
        self, *, documents: Sequence[Document], exclude: set[str]
    ) -> list[tuple[str, int]]: ...

    def remove_file(self, *, file_id: str) -> None: ...


@dataclass(frozen=True)
class ReconcileReport:
    corpus_id: int
    store_id: str
    store_missing: bool = False
    checked: int = 0  # files attached to the store
    removed: list[str] = field(default_factory=list)  # ids of orphans removed from the store
    # ids of uploads that never reached the store, removed
    unattached: list[str] = field(default_factory=list)
    recreated: int | None = None  # documents queued again when the store was recreated

    def summary(self) -> str:
        if not self.store_id:
            return "no OpenAI vector store yet; nothing to check."
        if self.store_missing:
            text = f"vector store {self.store_id} no longer exists at OpenAI"
            if self.recreated is not None:
                return f"{text}; recreating it: {self.recreated} documents queued again."
            return f'{text}; run "Recreate missing OpenAI vector stores" to rebuild it.'
        text = f"{self.checked} files in vector store {self.store_id}"
        if not self.removed and not self.unattached:
            return f"{text}, none orphaned."
        done = []
        if self.removed:
            done.append(
                f"removed {len(self.removed)} that no document references: "
                f"{', '.join(self.removed)}"
            )
        if self.unattached:
            done.append(
                f"removed {len(self.unattached)} uploaded for its documents but never "
                f"attached to it: {', '.join(self.unattached)}"
            )
        return f"{text}; {'; '.join(done)}."


def _remote_backend(corpus: Corpus) -> ReconcilableStore:
    backend = get_backend(corpus.index_backend)
    if not isinstance(backend, ReconcilableStore):
        raise ValidationError(f"{corpus}: its documents are indexed here, not in a remote store.")
    return backend


def corpus_reconcile_remote(
    *, corpus: Corpus, recreate_missing: bool | None = None
) -> ReconcileReport:
    """Remove the files in the corpus's vector store that no document of the corpus
    references (left by a crash between upload and record, or by a deletion cut short), and
    the uploads for its documents that never reached the store and that no document uses.

    A store that no longer exists is reported, and recreated when `recreate_missing` (default:
    settings.OPENAI_RECREATE_MISSING_STORES). Raises IndexingError when OpenAI cannot be
    reached (nothing removed then)."""
    backend = _remote_backend(corpus)
    corpus.refresh_from_db(fields=["vector_store_id"])
    store_id = corpus.vector_store_id
    if not store_id:
        return ReconcileReport(corpus_id=corpus.pk, store_id="")
    if backend.retrieve_store(vector_store_id=store_id) is None:
        if recreate_missing is None:
            recreate_missing = settings.OPENAI_RECREATE_MISSING_STORES
        recreated = corpus_recreate_remote_store(corpus=corpus) if recreate_missing else None
        logger.warning("corpus %s: vector store %s is missing", corpus.pk, store_id)
        return ReconcileReport(
            corpus_id=corpus.pk, store_id=store_id, store_missing=True, recreated=recreated
        )
    remote = backend.list_store_files(vector_store_id=store_id)
    # Read after the listing: a file attached meanwhile was recorded before it was attached.
    referenced = set(
        corpus.documents.exclude(remote_file_id="").values_list("remote_file_id", flat=True)
    )
    removed = []
    for remote_file in remote:
        if remote_file.file_id in referenced:
            continue
        backend.remove_store_file(vector_store_id=store_id, file_id=remote_file.file_id)
        removed.append(remote_file.file_id)
    if removed:
        logger.warning(
            "corpus %s: removed %s orphan files from vector store %s: %s",
            corpus.pk,
            len(removed),
            store_id,
            ", ".join(removed),
        )
    unattached = _remove_stray_uploads(backend, corpus=corpus, attached={f.file_id for f in remote})
    return ReconcileReport(
        corpus_id=corpus.pk,
        store_id=store_id,
        checked=len(remote),
        removed=removed,
        unattached=unattached,
    )


_SETTLED = (DocumentStatus.READY, DocumentStatus.FAILED)


def _remove_stray_uploads(
    backend: ReconcilableStore, *, corpus: Corpus, attached: set[str]
) -> list[str]:
    """Delete the Files interrupted uploads of the corpus's documents left at OpenAI that no
    document uses. Only settled (ready or failed) documents are looked at: the next try of a
    queued or running one takes its earlier upload instead of sending the file again."""
    settled = list(corpus.documents.filter(status__in=_SETTLED).order_by("pk"))
    removed = []
    for file_id, document_id in backend.stray_uploads(documents=settled, exclude=attached):
        # A retry may have started, or taken this File, since the listing.
        still_stray = (
            Document.objects.filter(pk=document_id, status__in=_SETTLED).exists()
            and not Document.objects.filter(remote_file_id=file_id).exists()
        )
        if not still_stray:
            continue
        backend.remove_file(file_id=file_id)
        removed.append(file_id)
    if removed:
        logger.warning(
            "corpus %s: removed %s uploads never attached to vector store %s: %s",
            corpus.pk,
            len(removed),
            corpus.vector_store_id,
            ", ".join(removed),
        )
    return removed


def corpora_reconcile_remote() -> list[ReconcileReport]:
    """Reconcile every corpus that has a remote store (the periodic housekeeping task); a
    corpus whose provider cannot be reached is logged and skipped."""
    from documents.backends.base import IndexingError

    reports = []
    for corpus in Corpus.objects.exclude(vector_store_id="").order_by("pk"):
        try:
            report = corpus_reconcile_remote(corpus=corpus)
        except (IndexingError, ValidationError) as error:
            logger.warning("corpus %s: reconciliation skipped: %s", corpus.pk, error)
            continue
        logger.info("corpus %s: %s", corpus.pk, report.summary())
        reports.append(report)
    return reports


def corpus_remote_store_missing(*, corpus: Corpus) -> bool:
    """Whether the corpus has a vector store id that OpenAI no longer knows."""
    backend = _remote_backend(corpus)
    corpus.refresh_from_db(fields=["vector_store_id"])
    if not corpus.vector_store_id:
        return False
    return backend.retrieve_store(vector_store_id=corpus.vector_store_id) is None


def corpus_recreate_remote_store(*, corpus: Corpus, store_id: str | None = None) -> int:
    """Forget the corpus's vanished vector store and queue every document again: the first
    one to run creates a new store, each re-uploads from its stored original (or reuses its
    File if OpenAI still has it). Documents a worker holds requeue themselves. Returns how
    many were queued. `store_id`: forget only if the corpus still names that store."""
    from documents.services.ingestion import document_reingest

    with transaction.atomic():
        locked = Corpus.objects.select_for_update().get(pk=corpus.pk)
        if store_id is not None and locked.vector_store_id not in (store_id, ""):
            return 0  # someone recreated it already
        forgotten = locked.vector_store_id
        Corpus.objects.filter(pk=corpus.pk).update(vector_store_id="", remote_usage_bytes=None)
        corpus.vector_store_id = ""
        queued = 0
        for document in corpus.documents.order_by("pk"):
            if document_reingest(document=document).status == DocumentStatus.QUEUED:
                queued += 1
    logger.warning(
        "corpus %s: vector store %s forgotten; %s documents queued to rebuild a new one",
        corpus.pk,
        forgotten or "-",
        queued,
    )
    return queued
