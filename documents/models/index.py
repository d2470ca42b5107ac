from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models.query import RawQuerySet
from pgvector.django import VectorField

from documents.models.corpora import Corpus
from documents.models.documents import Document


class ChunkQuerySet(models.QuerySet["Chunk"]):
    def neighbours(self, *, chunk_ids: Iterable[int]) -> RawQuerySet[Chunk]:
        """These chunks and the ones right before and after each, in the same document and
        index version (what neighbour expansion stitches together), without embeddings."""
        # A self-join probing the (document, index_version, ordinal) unique index from each
        # chunk: a few index lookups however large the corpus (a correlated EXISTS, which is
        # what the ORM can say, lets PostgreSQL scan every chunk instead).
        return self.model.objects.raw(
            "SELECT c.id, c.document_id, c.corpus_id, c.index_version, c.ordinal, c.text, "
            "c.page_start, c.page_end, c.char_start, c.char_end, c.token_count "
            "FROM documents_chunk h JOIN documents_chunk c ON c.document_id = h.document_id "
            "AND c.index_version = h.index_version "
            "AND c.ordinal BETWEEN h.ordinal - 1 AND h.ordinal + 1 "
            "WHERE h.id = ANY(%s::bigint[])",
            [list(chunk_ids)],
        )


class Chunk(models.Model):
    """A passage of a document, embedded and full-text indexed for the local backend."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Denormalised from the document so that retrieval filters on the chunk row alone.
    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    # Corpus.index_version this chunk belongs to; search reads the corpus's current version.
    # The database default keeps rows written outside Django (benchmarks, tests) searchable.
    index_version = models.PositiveIntegerField(default=1, db_default=1)
    ordinal = models.PositiveIntegerField()
    text = models.TextField()  # what citations quote
    # Where the passage sits ("Guide > Install"): embedded and indexed with the text, not quoted.
    context = models.TextField(blank=True, default="", db_default="")
    page_start = models.PositiveIntegerField()
    page_end = models.PositiveIntegerField()
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    # No fixed dimension: corpora may use different models. HNSW indexes are partial
    # expression indexes per dimension (see migrations and backends/pgvector_store.py).
    embedding = VectorField(null=True)
    search_vector = SearchVectorField(null=True)

    objects = ChunkQuerySet.as_manager()

    class Meta:
        ordering = ["document", "ordinal"]
        constraints = [
            models.UniqueConstraint(
                fields=["document", "index_version", "ordinal"], name="chunk_unique_ordinal"
            ),
        ]
        indexes = [
            # btree_gin lets one GIN index answer "this corpus, this version AND these words".
            GinIndex(
                fields=["corpus", "index_version", "search_vector"],
                name="chunk_corpus_search_gin",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal} (v{self.index_version})"


class IndexStats(models.Model):
    """Size of one version of a corpus's full-text index, for BM25's N and average length.

    Kept exact by database triggers on documents_chunk (migration 0007): every insert, update
    of search_vector and delete, including cascades, adjusts it in the same transaction.
    """

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    index_version = models.PositiveIntegerField()
    chunks = models.BigIntegerField(default=0)  # chunks with a tsvector
    tokens = models.BigIntegerField(default=0)  # their summed token_count

    class Meta:
        verbose_name_plural = "index stats"
        constraints = [
            models.UniqueConstraint(
                fields=["corpus", "index_version"], name="indexstats_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"corpus {self.corpus_id} v{self.index_version}: {self.chunks} chunks"


class LexemeStat(models.Model):
    """In how many chunks of a corpus's index version a lexeme occurs (BM25's document
    frequency). Maintained by the same triggers as IndexStats."""

    corpus = models.ForeignKey(Corpus, on_delete=models.CASCADE, related_name="+")
    index_version = models.PositiveIntegerField()
    lexeme = models.TextField()
    chunks = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["corpus", "index_version", "lexeme"], name="lexemestat_unique_lexeme"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.chunks}"
