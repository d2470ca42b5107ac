from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from documents import services
from documents.backends.embeddings import get_embedder
from documents.backends.identifiers import identifiers
from documents.backends.pgvector_sql import search_sql
from documents.models import Chunk, Document
from tests.documents.conftest import ingest, upload_text

pytestmark = pytest.mark.django_db

FLEET = """# Company cars

Company cars are leased for four years and replaced after 120,000 kilometres.
Fuel cards work at every station in the partner network.
"""


@pytest.fixture
def indexed(corpus, ready_document):
    ingest(upload_text(corpus, FLEET, filename="fleet.md"))
    return corpus


@pytest.mark.parametrize("mode", ["hybrid", "vector", "fulltext"])
def test_search_finds_the_passage_that_answers(indexed, mode):
    hits = services.corpus_search(
        corpus=indexed, query="How much can I spend on meals abroad?", k=3, mode=mode
    )
    assert hits, mode
    assert "45 euros" in hits[0].text
    assert hits[0].document == "handbook.md"
    assert hits[0].page_start == 1
    assert hits[0].score > 0


def test_fulltext_matches_any_word_of_the_question(indexed):
    # "zeppelin" is in no document; AND semantics would find nothing.
    hits = services.corpus_search(corpus=indexed, query="zeppelin fuel cards", k=3, mode="fulltext")
    assert hits
    assert hits[0].document == "fleet.md"


def test_hybrid_ranks_a_passage_found_by_both_retrievers_first(indexed):
    hits = services.corpus_search(corpus=indexed, query="leased company cars kilometres", k=5)
    assert hits[0].document == "fleet.md"
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_search_is_restricted_to_the_corpus(indexed, other_corpus):
    ingest(upload_text(other_corpus, "Meal expenses abroad are reimbursed up to 99 dollars."))
    for mode in ("hybrid", "vector", "fulltext"):
        hits = services.corpus_search(corpus=indexed, query="meal expenses abroad", k=10, mode=mode)
        assert all("99 dollars" not in hit.text for hit in hits)
        other = services.corpus_search(
            corpus=other_corpus, query="meal expenses abroad", k=10, mode=mode
        )
        assert {hit.document_id for hit in other} == set(
            Document.objects.filter(corpus=other_corpus).values_list("pk", flat=True)
        )


def test_search_ignores_documents_that_are_not_ready(indexed, ready_document):
    Document.objects.filter(pk=ready_document.pk).update(status="processing")
    hits = services.corpus_search(corpus=indexed, query="meal expenses abroad", k=10)
    assert all(hit.document_id != ready_document.pk for hit in hits)


def test_search_returns_json_ready_hits(indexed):
    hit = services.corpus_search(corpus=indexed, query="laptop headset", k=1)[0].as_dict()
    assert {"document", "document_id", "page", "score", "text"} <= set(hit)


def test_blank_query_returns_nothing(indexed):
    assert services.corpus_search(corpus=indexed, query="   ", k=5) == []


@pytest.mark.parametrize(("k", "mode"), [(0, "hybrid"), (101, "hybrid"), (5, "magic")])
def test_invalid_search_parameters_are_refused(corpus, k, mode):
    with pytest.raises(ValidationError):
        services.corpus_search(corpus=corpus, query="x", k=k, mode=mode)


@pytest.mark.parametrize("mode", ["hybrid", "fulltext"])
def test_the_full_text_terms_reach_the_search_statement_as_a_value(indexed, mode):
    """Read beforehand, the question's picked terms are a constant of the statement that the
    planner can estimate (bench/search_scale.py: a small corpus beside large ones went through
    every chunk of the table sharing its words while they were an InitPlan's result); the hits
    are those of the statement computing the terms itself."""
    question = "How much can I spend on meals abroad?"
    with CaptureQueriesContext(connection) as queries:
        hits = services.corpus_search(corpus=indexed, query=question, k=5, mode=mode)
    statement = next(q["sql"] for q in queries if "fused AS" in q["sql"])
    assert re.search(r"coalesce\('[^;]*''meal''[^;]*'::tsquery", statement), statement
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"search_vector @@ '[^)]*''meal''", plan), plan

    embedder = get_embedder(indexed.embedding_model)
    sql, params = search_sql(
        corpus_id=indexed.pk, index_version=indexed.index_version, dims=embedder.dimensions,
        text_search_config=indexed.text_search_config, query=question,
        vector=embedder.embed_query(question), k=5, candidates=40, mode=mode,
    )  # fmt: skip
    assert params["picked"] is None  # computed inside the statement
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        assert [row[0] for row in cursor.fetchall()] == [hit.chunk_id for hit in hits]


def test_planner_uses_the_hnsw_and_gin_indexes_on_a_large_corpus(indexed, ready_document):
    """On a handful of rows plain scans win; with 4,000 chunks (random embeddings, filler
    text) the planner must choose the HNSW and GIN indexes for the real search statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO documents_chunk (document_id, corpus_id, ordinal, text, page_start,
                page_end, char_start, char_end, token_count, embedding, search_vector)
            SELECT %(document)s, %(corpus)s, 1000 + n, 'filler passage ' || n,
                   1, 1, 0, 10, 5,
                   (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE n > 0)
                       ::vector,
                   to_tsvector('english', 'filler passage ' || n)
            FROM generate_series(1, 4000) AS n
            """,
            {"document": ready_document.pk, "corpus": indexed.pk},
        )
        cursor.execute("ANALYZE documents_chunk")
    embedder = get_embedder(indexed.embedding_model)
    sql, params = search_sql(
        corpus_id=indexed.pk,
        index_version=indexed.index_version,
        dims=embedder.dimensions,
        text_search_config=indexed.text_search_config,
        query="meal expenses",
        vector=embedder.embed_query("meal expenses"),
        k=10,
        candidates=40,
        mode="hybrid",
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Scan using chunk_embedding_hnsw_384" in plan
    assert "Bitmap Index Scan on chunk_corpus_search_gin" in plan
    hits = services.corpus_search(corpus=indexed, query="meal expenses abroad", k=3)
    assert "45 euros" in hits[0].text


CELERY = """Worker settings

Set task_acks_late to True so that a task is acknowledged after it ran. Late workers are
slow to start a task.

Paths

Build file names with os.path.join() rather than string concatenation.

Headers

Every response declares its Content-Type header.
"""

DISTRACTOR = """A late task is a task that a worker started late; acks are sent for each task."""


@pytest.fixture
def code_corpus(corpus):
    ingest(upload_text(corpus, DISTRACTOR, filename="distractor.txt"))
    ingest(upload_text(corpus, CELERY, filename="celery.txt"))
    return corpus


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("task_acks_late", "task_acks_late"),
        ("os.path.join()", "os.path.join"),
        ("how do I join paths", "os.path.join"),
        ("Content-Type", "Content-Type"),
    ],
)
def test_fulltext_finds_identifiers_whole_and_by_their_parts(code_corpus, query, needle):
    hits = services.corpus_search(corpus=code_corpus, query=query, k=3, mode="fulltext")
    assert hits
    assert needle in hits[0].text


def test_an_identifier_ranks_the_passage_that_names_it_above_its_words(code_corpus):
    hits = services.corpus_search(corpus=code_corpus, query="task_acks_late", k=3, mode="fulltext")
    assert hits[0].document == "celery.txt"


def test_identifier_lexemes_are_the_whole_identifiers_lowercased():
    found = identifiers("Set Task_Acks_Late and std::vector, not Content-Type or 1.5")
    assert found.lexemes == "'std::vector':1 'task_acks_late':1"
    assert found.parts.split() == ["Task", "Acks", "Late", "std", "vector"]


MANUAL = """Intro.

# Deployment

## Rollback

Run the previous release again and restore the database snapshot taken before it.
"""


def test_a_chunk_is_found_by_its_section_path_and_quotes_only_its_own_text(corpus):
    ingest(upload_text(corpus, MANUAL, filename="manual.md"))
    (chunk,) = Chunk.objects.filter(document__filename="manual.md")
    assert chunk.context == "manual"  # the file's name: the chunk starts before any heading

    hits = services.corpus_search(corpus=corpus, query="deployment", k=3, mode="fulltext")
    assert hits[0].document == "manual.md"
    assert hits[0].text == chunk.text
