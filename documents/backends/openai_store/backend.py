"""The index backend itself: removal and usage accounting here; ingestion (files.py), search
(search.py) and adoption (adoption.py) in this package's other modules."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import openai
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from documents.backends.base import IndexingError, IndexResult, ProgressCallback, SearchHit
from documents.backends.failures import provider_errors
from documents.backends.openai_store import adoption, files
from documents.backends.openai_store.files import unless_missing
from documents.backends.openai_store.search import search_store
from documents.models import Corpus, Document, DocumentStage, Page
from documents.providers import ProviderClient

if TYPE_CHECKING:
    from documents.backends.base import SearchMode
    from documents.backends.openai_store.adoption import RemoteFile, RemoteStore

logger = logging.getLogger(__name__)


class OpenAIVectorStoreBackend:
    key: str

    def __init__(
        self,
        *,
        key: str,
        processing_timeout_seconds: float = 900,
        client: openai.OpenAI | None = None,
    ) -> None:
        if processing_timeout_seconds <= 0:
            raise ImproperlyConfigured("processing_timeout_seconds must be positive.")
        self.key = key
        self.processing_timeout_seconds = float(processing_timeout_seconds)
        self._provider = ProviderClient(client=client)

    def _openai(self) -> openai.OpenAI:
        with provider_errors():
            return self._provider.get()

    # --- corpus lifecycle -------------------------------------------------------------------

    def prepare_corpus(self, *, corpus: Corpus) -> None:
        """The vector store is created with the first document: an empty corpus costs nothing
        at OpenAI, and creating a corpus works before an API key is configured."""

    def remove_corpus(self, *, corpus: Corpus) -> None:
        file_ids = list(
            corpus.documents.exclude(remote_file_id="").values_list("remote_file_id", flat=True)
        )
        if not corpus.vector_store_id and not file_ids:
            return
        client = self._openai()
        with provider_errors():
            if corpus.vector_store_id:
                with unless_missing():
                    client.vector_stores.delete(corpus.vector_store_id)
            for file_id in file_ids:
                with unless_missing():
                    client.files.delete(file_id)
        logger.info(
            "corpus %s: deleted vector store %s and %s files at OpenAI",
            corpus.pk,
            corpus.vector_store_id or "-",
            len(file_ids),
        )

    # --- documents ------------------------------------------------------------------------

    def index_document(
        self,
        *,
        document: Document,
        pages: Sequence[Page],
        markup: str,
        progress: ProgressCallback,
    ) -> IndexResult:
        corpus = document.corpus
        progress(DocumentStage.UPLOADING, 0.0)
        client = self._openai()
        with provider_errors():
            store_id = files.vector_store_id(client=client, corpus=corpus)
            file_id, reused = files.upload(client=client, document=document)
            progress(DocumentStage.UPLOADING, 1.0)
            vs_file, poll_seconds = files.attach(
                client=client, document=document, store_id=store_id, file_id=file_id, reused=reused
            )
            progress(DocumentStage.REMOTE_PROCESSING, 0.0)
            vs_file = files.wait(
                client=client,
                document=document,
                vs_file=vs_file,
                poll_seconds=poll_seconds,
                progress=progress,
                timeout_seconds=self.processing_timeout_seconds,
            )
        files.check_processed(document=document, vs_file=vs_file)
        self.refresh_usage(corpus=corpus)
        # OpenAI chunks and embeds on its side and reports neither count.
        return IndexResult(chunk_count=0, embedding_tokens=0)

    def remove_document(self, *, document: Document) -> None:
        if not document.remote_file_id:
            return
        client = self._openai()
        store_id = (
            Corpus.objects.filter(pk=document.corpus_id)
            .values_list("vector_store_id", flat=True)
            .first()
        )
        with provider_errors():
            if store_id:
                with unless_missing():
                    client.vector_stores.files.delete(
                        document.remote_file_id, vector_store_id=store_id
                    )
            with unless_missing():
                client.files.delete(document.remote_file_id)
        logger.info("document %s: deleted file %s at OpenAI", document.pk, document.remote_file_id)
        if store_id:
            self.refresh_usage(corpus=document.corpus)

    def remove_store_file(self, *, vector_store_id: str, file_id: str) -> None:
        """Detach a File from the store and delete it (reconciliation of orphans); what is
        already gone is done."""
        client = self._openai()
        with provider_errors():
            with unless_missing():
                client.vector_stores.files.delete(file_id, vector_store_id=vector_store_id)
            with unless_missing():
                client.files.delete(file_id)
        logger.info("vector store %s: removed orphan file %s", vector_store_id, file_id)

    def stray_uploads(
        self, *, documents: Sequence[Document], exclude: set[str]
    ) -> list[tuple[str, int]]:
        """Files at OpenAI that interrupted uploads of these documents left and that were
        never attached (files.stray_uploads), as (file id, document id)."""
        return files.stray_uploads(client=self._openai(), documents=documents, exclude=exclude)

    def remove_file(self, *, file_id: str) -> None:
        """Delete a File that no store holds (reconciliation); one already gone is done."""
        client = self._openai()
        with provider_errors(), unless_missing():
            client.files.delete(file_id)
        logger.info("removed orphan file %s", file_id)

    # --- usage --------------------------------------------------------------------------------

    def store_usage_bytes(self, *, corpus: Corpus) -> int | None:
        """What OpenAI bills for the corpus's vector store, in bytes; None when the corpus has
        no store (yet) or OpenAI no longer has it."""
        store_id = (
            Corpus.objects.filter(pk=corpus.pk).values_list("vector_store_id", flat=True).first()
        )
        if not store_id:
            return None
        client = self._openai()
        with provider_errors():
            try:
                store = client.vector_stores.retrieve(store_id)
            except openai.NotFoundError:
                return None
        return int(store.usage_bytes)

    def refresh_usage(self, *, corpus: Corpus) -> int | None:
        """Record the store's usage on the corpus. Accounting must never fail an ingestion or
        a deletion: problems are logged and the last recorded figure stays."""
        try:
            usage = self.store_usage_bytes(corpus=corpus)
        except IndexingError as error:
            logger.warning("corpus %s: could not read vector store usage: %s", corpus.pk, error)
            return None
        now = timezone.now()
        Corpus.objects.filter(pk=corpus.pk).update(
            remote_usage_bytes=usage, remote_usage_updated_at=now
        )
        corpus.remote_usage_bytes, corpus.remote_usage_updated_at = usage, now
        logger.info("corpus %s: vector store usage %s bytes", corpus.pk, usage)
        return usage

    # --- search ---------------------------------------------------------------------------

    def search(
        self, *, corpus: Corpus, query: str, k: int, mode: SearchMode = "hybrid"
    ) -> list[SearchHit]:
        if mode == "fulltext":
            raise IndexingError(
                "Full-text search is only available for corpora indexed locally (pgvector).",
                retryable=False,
            )
        query = query.strip()
        if not corpus.vector_store_id:
            # The store is made with the first upload: the caller's instance may predate it.
            corpus.refresh_from_db(fields=["vector_store_id"])
        if not query or not corpus.vector_store_id:
            return []
        return search_store(client=self._openai(), corpus=corpus, query=query, k=k)

    # --- adoption of an existing vector store -------------------------------------------

    def retrieve_store(self, *, vector_store_id: str) -> RemoteStore | None:
        """The vector store, or None if it does not exist (or this API key cannot see it)."""
        return adoption.retrieve_store(client=self._openai(), vector_store_id=vector_store_id)

    def list_store_files(self, *, vector_store_id: str) -> list[RemoteFile]:
        """Every file attached to the store (all pages), with its name and size from the
        Files API."""
        return adoption.list_store_files(client=self._openai(), vector_store_id=vector_store_id)

    def download(self, *, file_id: str) -> bytes | None:
        """The File's content, or None when OpenAI refuses to hand it out (it does for
        purpose "assistants") or no longer has it."""
        return adoption.download(client=self._openai(), file_id=file_id)
