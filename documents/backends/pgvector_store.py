"""The local index: chunks with embeddings (pgvector, HNSW) and tsvectors (GIN) in PostgreSQL.

Hybrid search runs both retrievers, vector similarity and BM25, in one statement and fuses
their rankings with reciprocal rank fusion; the SQL lives in pgvector_sql.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from documents.backends.base import IndexingError, IndexResult, ProgressCallback, SearchHit
from documents.backends.embeddings import Embedder, embed_query, get_embedder
from documents.backends.identifiers import identifiers
from documents.backends.pgvector_sql import (
    SEARCH_VECTOR_UPDATE_SQL,
    copy_chunks,
    corpus_hnsw_index_name,
    corpus_hnsw_index_sql,
    hnsw_index_sql,
    run_search,
    search_sql,
)
from documents.chunking import PageText, TextChunk, chunk_pages
from documents.models import Chunk, DocumentStage
from documents.sections import document_title

if TYPE_CHECKING:
    from documents.backends.base import SearchMode
    from documents.models import Corpus, Document, Page

logger = logging.getLogger(__name__)


class PgvectorBackend:
    key: str

    def __init__(self, *, key: str, embed_batch_size: int | None = None) -> None:
        self.key = key
        self._embed_batch_size = embed_batch_size

    # --- corpus lifecycle -------------------------------------------------------------------

    def prepare_corpus(self, *, corpus: Corpus) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_ts_config WHERE cfgname = %s", [corpus.text_search_config]
            )
            if cursor.fetchone() is None:
                raise IndexingError(
                    f"PostgreSQL has no text search configuration {corpus.text_search_config!r}.",
                    retryable=False,
                )
        self.ensure_vector_index(embedding_model=corpus.embedding_model)

    def ensure_vector_index(self, *, embedding_model: str) -> None:
        """Create the HNSW index for the model's dimension unless it exists."""
        dims = get_embedder(embedding_model).dimensions
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_class WHERE relname = %s", [f"chunk_embedding_hnsw_{dims}"]
            )
            if cursor.fetchone() is None:
                # Outside a transaction the index is built without blocking writers.
                cursor.execute(hnsw_index_sql(dims, concurrently=connection.get_autocommit()))

    def ensure_corpus_vector_index(self, *, corpus_id: int, dims: int) -> bool:
        """Give a corpus its own partial HNSW index once its current version holds
        SEARCH_CORPUS_HNSW_MIN_CHUNKS chunks; True if it has one.

        Small corpora need none: the planner reaches their chunks through the corpus_id btree
        and computes exact distances. A corpus that is a large share of the table goes through
        the global index instead, and filtering it costs recall (bench/search_scale.py at 100k
        chunks: recall@10 0.938 through the global index, 0.992 through the corpus's own).
        """
        threshold = settings.SEARCH_CORPUS_HNSW_MIN_CHUNKS
        if threshold <= 0:
            return False
        name = corpus_hnsw_index_name(dims, corpus_id)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
                "WHERE c.relname = %s",
                [name],
            )
            row = cursor.fetchone()
            if row is not None and row[0]:
                return True
            cursor.execute(
                "SELECT s.chunks FROM documents_indexstats s JOIN documents_corpus c "
                "ON c.id = s.corpus_id AND c.index_version = s.index_version "
                "WHERE s.corpus_id = %s",
                [corpus_id],
            )
            stats = cursor.fetchone()
            if stats is None or stats[0] < threshold:
                return False
            if not connection.get_autocommit():
                # Inside a transaction the chunks just written leave pending foreign-key checks,
                # which forbid CREATE INDEX; the next document indexed outside one builds it.
                return False
            # One builder at a time (two workers may finish documents of the corpus together).
            cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [name])
            if not cursor.fetchone()[0]:
                return False
            logger.info("corpus %s: building its own vector index (%s chunks)", corpus_id,
                        stats[0])  # fmt: skip
            try:
                if row is not None:  # a concurrent build that failed leaves an invalid index
                    cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"')
                # Built without blocking writers; search uses the global index meanwhile.
                cursor.execute(corpus_hnsw_index_sql(dims, corpus_id, concurrently=True))
            except DatabaseError:
                logger.warning("corpus %s: its vector index was not built", corpus_id,
                               exc_info=True)  # fmt: skip
                return False
            finally:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])
        return True

    def remove_corpus(self, *, corpus: Corpus) -> None:
        """Chunks go with the corpus row (ON DELETE CASCADE); the corpus's own vector indexes,
        if it grew large enough to get them, are dropped here."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'i' AND relname LIKE %s",
                [f"chunk\\_embedding\\_hnsw\\_%\\_c{int(corpus.pk)}"],
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP INDEX IF EXISTS "{name}"')

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
        return self.build_chunks(
            document=document,
            pages=pages,
            markup=markup,
            embedding_model=corpus.embedding_model,
            chunk_size_tokens=corpus.chunk_size_tokens,
            chunk_overlap_tokens=corpus.chunk_overlap_tokens,
            index_version=corpus.index_version,
            progress=progress,
        )

    def build_chunks(
        self,
        *,
        document: Document,
        pages: Sequence[Page],
        markup: str,
        embedding_model: str,
        chunk_size_tokens: int,
        chunk_overlap_tokens: int,
        index_version: int,
        progress: ProgressCallback,
    ) -> IndexResult:
        """Chunk and embed `pages` with these settings and store them as the document's chunks
        of `index_version`, replacing its chunks of that version and of later ones (a re-index
        in progress then builds them again from these pages).

        Refuses (retryable) when the corpus has meanwhile moved past `index_version`: the
        chunks were made with settings it no longer uses.
        """
        embedder = get_embedder(embedding_model)
        progress(DocumentStage.CHUNKING, 0.0)
        page_texts = [
            PageText(page.number, page.text, page.char_start, label=page.label) for page in pages
        ]
        chunks = chunk_pages(
            page_texts,
            tokenizer=embedder.tokenizer(),
            max_tokens=min(chunk_size_tokens, embedder.max_tokens),
            overlap_tokens=chunk_overlap_tokens,
            markdown=markup == "markdown",
            # reST reaches us as plain text; its titles are its headings.
            rst=markup == "text" and document.filename.lower().endswith((".rst", ".rest")),
            plain=markup == "text" and document.parser in PLAIN_HEADING_PARSERS,
            title=document_title(document.filename),
        )
        if not chunks:
            raise IndexingError("The document has no text to index.", retryable=False)

        progress(DocumentStage.EMBEDDING, 0.0)
        vectors, tokens = self._embed(embedder, chunks, progress)

        progress(DocumentStage.INDEXING, 0.0)
        rows = [
            (
                document.pk,
                document.corpus_id,
                index_version,
                ordinal,
                chunk.text,
                chunk.context,
                chunk.page_start,
                chunk.page_end,
                chunk.char_start,
                chunk.char_end,
                chunk.token_count,
                vector,
            )
            for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))
        ]
        # Replace the document's chunks in one transaction: readers see old or new, never half.
        with transaction.atomic(), connection.cursor() as cursor:
            # Holds off a re-index's switch to a new version until this write is committed.
            cursor.execute(
                "SELECT index_version, text_search_config FROM documents_corpus "
                "WHERE id = %s FOR SHARE",
                [document.corpus_id],
            )
            row = cursor.fetchone()
            if row is None:
                raise IndexingError("The corpus was deleted.", retryable=False)
            current_version, text_search_config = row
            if index_version < current_version:
                raise IndexingError(
                    "The corpus was re-indexed with new settings while this document was "
                    "processed; will retry with them.",
                    retryable=True,
                )
            Chunk.objects.filter(document=document, index_version__gte=index_version).delete()
            copy_chunks(cursor, rows)
            found = [identifiers(chunk.text) for chunk in chunks]
            cursor.execute(
                SEARCH_VECTOR_UPDATE_SQL,
                [
                    text_search_config,
                    list(range(len(chunks))),
                    [item.parts for item in found],
                    [item.lexemes for item in found],
                    document.pk,
                    index_version,
                ],
            )
        self.ensure_corpus_vector_index(corpus_id=document.corpus_id, dims=embedder.dimensions)
        return IndexResult(chunk_count=len(rows), embedding_tokens=tokens)

    def _embed(
        self, embedder: Embedder, chunks: Sequence[TextChunk], progress: ProgressCallback
    ) -> tuple[np.ndarray, int]:
        batch = self._embed_batch_size or max(embedder.batch_size * 4, 64)
        parts: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(chunks), batch):
            part = chunks[start : start + batch]
            # The context places the passage for the model; counted anew when there is one.
            result = embedder.embed(
                [embedding_text(chunk) for chunk in part],
                token_counts=None
                if any(chunk.context for chunk in part)
                else [chunk.token_count for chunk in part],
            )
            parts.append(result.vectors)
            tokens += result.tokens
            progress(DocumentStage.EMBEDDING, min(1.0, (start + batch) / len(chunks)))
        return np.concatenate(parts), tokens

    def remove_document(self, *, document: Document) -> None:
        """Chunks are deleted with the document row (ON DELETE CASCADE)."""

    # --- search ---------------------------------------------------------------------------

    def search(
        self, *, corpus: Corpus, query: str, k: int, mode: SearchMode = "hybrid"
    ) -> list[SearchHit]:
        query = query.strip()
        if not query:
            return []
        # A re-index may have switched the corpus to a new model and version since the caller
        # loaded it; the old version's chunks are gone then.
        corpus.refresh_from_db(fields=["embedding_model", "index_version"])
        vector = embed_query(corpus.embedding_model, query) if mode != "fulltext" else None
        return self.search_by_vector(corpus=corpus, query=query, vector=vector, k=k, mode=mode)

    def search_by_vector(
        self,
        *,
        corpus: Corpus,
        query: str,
        vector: np.ndarray | None,
        k: int,
        mode: SearchMode = "hybrid",
    ) -> list[SearchHit]:
        """The database part of search, for a query already embedded."""
        started = time.perf_counter()
        candidates = max(k, settings.SEARCH_CANDIDATES)
        embedder = get_embedder(corpus.embedding_model)
        sql, params = search_sql(
            corpus_id=corpus.pk,
            index_version=corpus.index_version,
            dims=embedder.dimensions,
            text_search_config=corpus.text_search_config,
            query=query,
            vector=vector,
            k=k,
            candidates=candidates,
            mode=mode,
        )
        with transaction.atomic(), connection.cursor() as cursor:
            ef_search = int(max(settings.SEARCH_HNSW_EF_SEARCH, candidates))
            cursor.execute(
                f"SET LOCAL hnsw.ef_search = {ef_search}; "
                "SET LOCAL hnsw.iterative_scan = relaxed_order"
            )
            rows = run_search(cursor, sql, params)
        logger.debug(
            "search corpus=%s mode=%s hits=%s ms=%.1f",
            corpus.pk,
            mode,
            len(rows),
            (time.perf_counter() - started) * 1000,
        )
        return [
            SearchHit(
                chunk_id=row[0],
                document_id=row[1],
                document=row[2],
                page_start=row[3],
                page_end=row[4],
                char_start=row[5],
                char_end=row[6],
                text=row[7],
                score=float(row[8]),
                similarity=None if row[9] is None else float(row[9]),
            )
            for row in rows
        ]


# Formats whose text has headings only as a reader sees them (spreadsheets have none: their rows
# would look like headings).
PLAIN_HEADING_PARSERS = frozenset({"pdf", "image", "text"})


def embedding_text(chunk: TextChunk) -> str:
    """What is embedded for a chunk: "heading path" then its text; citations quote the text."""
    return f"{chunk.context}\n\n{chunk.text}" if chunk.context else chunk.text
