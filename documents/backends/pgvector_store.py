"""The local index: chunks with embeddings (pgvector, HNSW) and tsvectors (GIN) in PostgreSQL.

Hybrid search runs both retrievers, vector similarity and BM25, in one statement and fuses
their rankings with reciprocal rank fusion (Cormack et al., SIGIR 2009):
score = sum(1 / (k + rank)).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from pgvector.psycopg import register_vector

from documents.backends.base import IndexingError, IndexResult, ProgressCallback, SearchHit
from documents.backends.embeddings import Embedder, get_embedder
from documents.chunking import PageText, TextChunk, chunk_pages
from documents.models import Chunk, DocumentStage

if TYPE_CHECKING:
    from documents.backends.base import SearchMode
    from documents.models import Corpus, Document, Page

logger = logging.getLogger(__name__)

# pgvector's HNSW indexes `vector` up to 2,000 dimensions and `halfvec` up to 4,000.
_VECTOR_INDEX_MAX_DIMS = 2000
_HALFVEC_INDEX_MAX_DIMS = 4000


def vector_type(dims: int) -> str:
    """The column type HNSW indexes embeddings of `dims` dimensions as (never user input)."""
    kind = "vector" if dims <= _VECTOR_INDEX_MAX_DIMS else "halfvec"
    return f"{kind}({int(dims)})"


def vector_expression(dims: int, column: str = "embedding") -> str:
    """The indexed expression; queries must repeat it exactly for the planner to use the index."""
    return f"(({column})::{vector_type(dims)})"


def hnsw_index_sql(dims: int, *, concurrently: bool = False) -> str:
    if dims > _HALFVEC_INDEX_MAX_DIMS:
        raise IndexingError(
            f"Embeddings of {dims} dimensions cannot be indexed (pgvector's limit is "
            f"{_HALFVEC_INDEX_MAX_DIMS}); choose a smaller model or fewer dimensions.",
            retryable=False,
        )
    opclass = "vector_cosine_ops" if dims <= _VECTOR_INDEX_MAX_DIMS else "halfvec_cosine_ops"
    return (
        f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}IF NOT EXISTS "
        f"chunk_embedding_hnsw_{int(dims)} ON documents_chunk "
        f"USING hnsw ({vector_expression(dims)} {opclass}) "
        f"WHERE vector_dims(embedding) = {int(dims)}"
    )


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

    def remove_corpus(self, *, corpus: Corpus) -> None:
        """Chunks go with the corpus row (ON DELETE CASCADE); nothing lives elsewhere."""

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
        page_texts = [PageText(page.number, page.text, page.char_start) for page in pages]
        chunks = chunk_pages(
            page_texts,
            tokenizer=embedder.tokenizer(),
            max_tokens=min(chunk_size_tokens, embedder.max_tokens),
            overlap_tokens=chunk_overlap_tokens,
            markdown=markup == "markdown",
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
            _copy_chunks(cursor, rows)
            cursor.execute(
                "UPDATE documents_chunk SET search_vector = to_tsvector(%s::regconfig, text) "
                "WHERE document_id = %s AND index_version = %s",
                [text_search_config, document.pk, index_version],
            )
        return IndexResult(chunk_count=len(rows), embedding_tokens=tokens)

    def _embed(
        self, embedder: Embedder, chunks: Sequence[TextChunk], progress: ProgressCallback
    ) -> tuple[np.ndarray, int]:
        batch = self._embed_batch_size or max(embedder.batch_size * 4, 64)
        parts: list[np.ndarray] = []
        tokens = 0
        for start in range(0, len(chunks), batch):
            part = chunks[start : start + batch]
            result = embedder.embed(
                [chunk.text for chunk in part], token_counts=[chunk.token_count for chunk in part]
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
        embedder = get_embedder(corpus.embedding_model)
        vector = embedder.embed_query(query) if mode != "fulltext" else None
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
            cursor.execute(sql, params)
            rows = cursor.fetchall()
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
            )
            for row in rows
        ]


_CHUNK_COLUMNS = (
    "document_id, corpus_id, index_version, ordinal, text, page_start, page_end, char_start, "
    "char_end, token_count, embedding"
)
_CHUNK_TYPES = [
    "bigint", "bigint", "integer", "integer", "text", "integer", "integer", "integer",
    "integer", "integer", "vector",
]  # fmt: skip


def _copy_chunks(cursor: Any, rows: list[tuple[Any, ...]]) -> None:
    """Write chunk rows with binary COPY: embeddings travel as binary vectors instead of being
    formatted as text, which costs more than the rest of the write."""
    psycopg_connection = cursor.cursor.connection  # under Django's wrappers
    if not getattr(psycopg_connection, "_docent_vector_registered", False):
        register_vector(psycopg_connection)
        psycopg_connection._docent_vector_registered = True
    # A new cursor: cursors copy the connection's type registry when they are created.
    with (
        psycopg_connection.cursor() as raw,
        raw.copy(
            f"COPY documents_chunk ({_CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(_CHUNK_TYPES)
        for row in rows:
            copy.write_row(row)


# Full-text retrieval is Okapi BM25 (Robertson & Zaragoza 2009) over the chunks' tsvectors:
# score = sum over the question's lexemes of idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len
# / avglen)), with idf = ln(1 + (N - df + 0.5) / (df + 0.5)). N, the lengths and df come from
# documents_indexstats and documents_lexemestat, which triggers keep exact. A question's
# lexemes are OR-ed (an AND of every word would match almost nothing); the GIN index finds the
# candidates through the rarest lexemes only, until their chunks add up to SEARCH_BM25_BUDGET:
# a chunk that holds nothing but very common words cannot rank high anyway, and scoring every
# chunk with a common word would cost more than the whole search. Quoting keeps the stemmed
# lexemes as they are.
_BM25_CTES = r"""
    terms AS (
        SELECT s.lexeme, s.chunks AS df,
               ln(1 + (st.n - s.chunks + 0.5) / (s.chunks + 0.5)) AS idf
        FROM unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(query)s))) AS q(lexeme)
        JOIN documents_lexemestat s
          ON s.corpus_id = %(corpus)s AND s.index_version = %(version)s
         AND s.lexeme = q.lexeme AND s.chunks > 0
        CROSS JOIN (
            SELECT greatest(chunks, 1)::float AS n FROM documents_indexstats
            WHERE corpus_id = %(corpus)s AND index_version = %(version)s
        ) st
    ),
    picked(terms) AS (
        SELECT coalesce(string_agg(
            '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' | '
        ), '')::tsquery
        FROM (
            SELECT lexeme, df, sum(df) OVER (ORDER BY df, lexeme) AS running FROM terms
        ) ranked
        WHERE running - df < %(bm25_budget)s
    ),
    avglen(tokens) AS (
        SELECT greatest(tokens::float / greatest(chunks, 1), 1) FROM documents_indexstats
        WHERE corpus_id = %(corpus)s AND index_version = %(version)s
    )
"""


def search_sql(
    *,
    corpus_id: int,
    index_version: int,
    dims: int,
    text_search_config: str,
    query: str,
    vector: np.ndarray | None,
    k: int,
    candidates: int,
    mode: SearchMode,
) -> tuple[str, dict[str, Any]]:
    """One statement: the retrievers as CTEs, fused with reciprocal rank fusion, over the
    chunks of the corpus's current `index_version`."""
    params: dict[str, Any] = {
        "corpus": corpus_id,
        "version": index_version,
        "config": text_search_config,
        "query": query,
        "k": k,
        "candidates": candidates,
        "rrf_k": settings.SEARCH_RRF_K,
    }
    ctes: list[str] = []
    if mode in ("hybrid", "vector"):
        assert vector is not None
        params["vector"] = "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"
        expr = vector_expression(dims, "c.embedding")
        cast = vector_type(dims)
        # Only integer dimensions are formatted into the SQL; every value is a bound parameter.
        ctes.append(
            f"""vec AS (
                SELECT id, row_number() OVER (ORDER BY distance) AS rank FROM (
                    SELECT c.id, {expr} <=> %(vector)s::{cast} AS distance
                    FROM documents_chunk c
                    JOIN documents_document d ON d.id = c.document_id AND d.status = 'ready'
                    WHERE c.corpus_id = %(corpus)s AND c.index_version = %(version)s
                      AND vector_dims(c.embedding) = {int(dims)}
                    ORDER BY distance
                    LIMIT %(candidates)s
                ) v
            )"""  # noqa: S608
        )
    if mode in ("hybrid", "fulltext"):
        params.update(
            bm25_budget=settings.SEARCH_BM25_BUDGET,
            k1=settings.SEARCH_BM25_K1,
            b=settings.SEARCH_BM25_B,
        )
        ctes.append(_BM25_CTES)
        ctes.append(
            """fts AS (
                SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM (
                    SELECT c.id, (
                        SELECT sum(t.idf * cardinality(u.positions) * (%(k1)s + 1) / (
                            cardinality(u.positions) + %(k1)s * (1 - %(b)s
                            + %(b)s * c.token_count / (SELECT tokens FROM avglen))))
                        -- Only the query's lexemes: ts_delete twice keeps them (C code),
                        -- so the join unnests a few entries instead of the whole vector.
                        FROM unnest(ts_delete(c.search_vector, tsvector_to_array(ts_delete(
                            c.search_vector, (SELECT array_agg(lexeme) FROM terms))))) AS u
                        JOIN terms t ON t.lexeme = u.lexeme
                    ) AS score
                    FROM documents_chunk c
                    JOIN documents_document d ON d.id = c.document_id AND d.status = 'ready'
                    WHERE c.corpus_id = %(corpus)s AND c.index_version = %(version)s
                      AND c.search_vector @@ (SELECT terms FROM picked)
                    ORDER BY score DESC
                    LIMIT %(candidates)s
                ) f
            )"""
        )
    ranked = {
        "hybrid": "SELECT id, rank FROM vec UNION ALL SELECT id, rank FROM fts",
        "vector": "SELECT id, rank FROM vec",
        "fulltext": "SELECT id, rank FROM fts",
    }[mode]
    sql = f"""
        WITH {", ".join(ctes)},
        fused AS (
            SELECT id, sum(1.0 / (%(rrf_k)s + rank)) AS score
            FROM ({ranked}) ranked
            GROUP BY id
            ORDER BY score DESC, id
            LIMIT %(k)s
        )
        SELECT c.id, c.document_id, d.filename, c.page_start, c.page_end, c.char_start,
               c.char_end, c.text, fused.score
        FROM fused
        JOIN documents_chunk c ON c.id = fused.id
        JOIN documents_document d ON d.id = c.document_id
        ORDER BY fused.score DESC, c.id
    """  # noqa: S608
    return sql, params
