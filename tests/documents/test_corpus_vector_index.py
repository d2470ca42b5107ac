"""A corpus that grows large gets its own partial HNSW index, which search uses; small corpora
get none; deleting the corpus drops it."""

from __future__ import annotations

import pytest
from django.db import connection

from documents import services
from documents.backends.embeddings import get_embedder
from documents.backends.pgvector_sql import search_sql
from tests.documents.conftest import ingest, upload_text

pytestmark = pytest.mark.django_db

FLEET = """# Company cars

Company cars are leased for four years and replaced after 120,000 kilometres.
"""


def corpus_indexes(corpus_id: int) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents_chunk' "
            "AND indexname LIKE %s",
            [f"chunk\\_embedding\\_hnsw\\_%\\_c{corpus_id}"],
        )
        return dict(cursor.fetchall())


def test_a_small_corpus_has_no_index_of_its_own(corpus, settings):
    settings.SEARCH_CORPUS_HNSW_MIN_CHUNKS = 50_000
    ingest(upload_text(corpus, FLEET, filename="fleet.md"))
    assert corpus_indexes(corpus.pk) == {}


# Built CONCURRENTLY, as the worker does: outside a transaction.
@pytest.mark.django_db(transaction=True)
def test_a_large_corpus_gets_its_own_index_and_search_uses_it(corpus, ready_document, settings):
    settings.SEARCH_CORPUS_HNSW_MIN_CHUNKS = 2
    assert corpus_indexes(corpus.pk) == {}  # the handbook alone has fewer chunks
    ingest(upload_text(corpus, FLEET, filename="fleet.md"))
    indexes = corpus_indexes(corpus.pk)
    assert list(indexes) == [f"chunk_embedding_hnsw_384_c{corpus.pk}"]
    definition = indexes[f"chunk_embedding_hnsw_384_c{corpus.pk}"]
    assert "USING hnsw" in definition
    assert f"corpus_id = {corpus.pk}" in definition

    with connection.cursor() as cursor:  # enough rows for the planner to prefer an index
        cursor.execute(
            """
            INSERT INTO documents_chunk (document_id, corpus_id, ordinal, text, page_start,
                page_end, char_start, char_end, token_count, embedding, search_vector)
            SELECT %(document)s, %(corpus)s, 1000 + n, 'filler passage ' || n, 1, 1, 0, 10, 5,
                   (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE n > 0)
                       ::vector,
                   to_tsvector('english', 'filler passage ' || n)
            FROM generate_series(1, 4000) AS n
            """,
            {"document": ready_document.pk, "corpus": corpus.pk},
        )
        cursor.execute("ANALYZE documents_chunk")
    embedder = get_embedder(corpus.embedding_model)
    sql, params = search_sql(
        corpus_id=corpus.pk,
        index_version=corpus.index_version,
        dims=embedder.dimensions,
        text_search_config=corpus.text_search_config,
        query="company cars",
        vector=embedder.embed_query("company cars"),
        k=10,
        candidates=40,
        mode="vector",
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert f"Index Scan using chunk_embedding_hnsw_384_c{corpus.pk}" in plan
    hits = services.corpus_search(corpus=corpus, query="How long are company cars leased?", k=3)
    assert "four years" in hits[0].text


@pytest.mark.django_db(transaction=True)
def test_deleting_the_corpus_drops_its_index(corpus, settings):
    settings.SEARCH_CORPUS_HNSW_MIN_CHUNKS = 1
    ingest(upload_text(corpus, FLEET, filename="fleet.md"))
    corpus_id = corpus.pk
    assert corpus_indexes(corpus_id)
    services.corpus_delete(corpus=corpus)
    assert corpus_indexes(corpus_id) == {}
