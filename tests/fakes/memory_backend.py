"""An index backend that keeps chunks in process memory: a third backend, for tests only.

It uses nothing but the public contract (documents/backends/base.py), the pure chunker and the
embedding registry, and is registered through settings.INDEX_BACKENDS like any other, to prove
that a new backend plugs in with no change to library code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from documents.backends.base import IndexingError, IndexResult, ProgressCallback, SearchHit
from documents.backends.embeddings import get_embedder
from documents.chunking import PageText, TextChunk, chunk_pages

KEY = "memory"


@dataclass(frozen=True)
class _Stored:
    document_id: int
    filename: str
    chunk: TextChunk
    vector: np.ndarray


class InMemoryBackend:
    """Searchable (vector search only), not re-indexable, no remote store."""

    def __init__(self, *, key: str) -> None:
        self.key = key
        self._chunks: dict[int, list[_Stored]] = {}  # corpus id -> chunks

    def prepare_corpus(self, *, corpus) -> None:
        self._chunks.setdefault(corpus.pk, [])

    def index_document(
        self, *, document, pages: Sequence, markup: str, progress: ProgressCallback
    ) -> IndexResult:
        corpus = document.corpus
        embedder = get_embedder(corpus.embedding_model)
        progress("chunking", 0.0)
        chunks = chunk_pages(
            [PageText(page.number, page.text, page.char_start) for page in pages],
            tokenizer=embedder.tokenizer(),
            max_tokens=min(corpus.chunk_size_tokens, embedder.max_tokens),
            overlap_tokens=corpus.chunk_overlap_tokens,
            markdown=markup == "markdown",
        )
        if not chunks:
            raise IndexingError("The document has no text to index.", retryable=False)
        progress("embedding", 0.0)
        embedded = embedder.embed([chunk.text for chunk in chunks])
        self.remove_document(document=document)
        self._chunks.setdefault(corpus.pk, []).extend(
            _Stored(document.pk, document.filename, chunk, vector)
            for chunk, vector in zip(chunks, embedded.vectors, strict=True)
        )
        return IndexResult(chunk_count=len(chunks), embedding_tokens=embedded.tokens)

    def remove_document(self, *, document) -> None:
        stored = self._chunks.get(document.corpus_id, [])
        stored[:] = [item for item in stored if item.document_id != document.pk]

    def remove_corpus(self, *, corpus) -> None:
        self._chunks.pop(corpus.pk, None)

    def search(self, *, corpus, query: str, k: int, mode: str = "hybrid") -> list[SearchHit]:
        if mode == "fulltext":
            raise IndexingError("The in-memory backend has no full-text index.", retryable=False)
        stored = self._chunks.get(corpus.pk, [])
        if not query.strip() or not stored:
            return []
        embedder = get_embedder(corpus.embedding_model)
        scores = np.stack([item.vector for item in stored]) @ embedder.embed_query(query)
        return [
            SearchHit(
                chunk_id=None,
                document_id=stored[index].document_id,
                document=stored[index].filename,
                page_start=stored[index].chunk.page_start,
                page_end=stored[index].chunk.page_end,
                char_start=stored[index].chunk.char_start,
                char_end=stored[index].chunk.char_end,
                text=stored[index].chunk.text,
                score=float(scores[index]),
                similarity=float(scores[index]),
            )
            for index in np.argsort(-scores)[:k]
        ]


def register(settings) -> None:
    """Add this backend to INDEX_BACKENDS (pytest's `settings` fixture undoes it)."""
    settings.INDEX_BACKENDS = {
        **settings.INDEX_BACKENDS,
        KEY: {"BACKEND": "tests.fakes.memory_backend.InMemoryBackend", "OPTIONS": {}},
    }
