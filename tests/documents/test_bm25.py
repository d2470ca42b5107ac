"""BM25 statistics are kept exact by database triggers, and full-text ranking uses them."""

from __future__ import annotations

import math

import pytest
from django.db import connection

from documents import services
from documents.models import Chunk, Corpus, IndexStats, LexemeStat
from tests.documents.conftest import HANDBOOK, ingest, upload_text

pytestmark = pytest.mark.django_db


def recount(corpus: Corpus) -> tuple[dict, dict]:
    """The statistics computed from scratch, to compare with the maintained ones."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT index_version, count(*), sum(token_count) FROM documents_chunk "
            "WHERE corpus_id = %s AND search_vector IS NOT NULL GROUP BY 1",
            [corpus.pk],
        )
        totals = {version: (n, tokens) for version, n, tokens in cursor.fetchall()}
        cursor.execute(
            "SELECT c.index_version, u.lexeme, count(*) FROM documents_chunk c, "
            "unnest(c.search_vector) u WHERE c.corpus_id = %s GROUP BY 1, 2",
            [corpus.pk],
        )
        lexemes = {(version, lexeme): n for version, lexeme, n in cursor.fetchall()}
    return totals, lexemes


def maintained(corpus: Corpus) -> tuple[dict, dict]:
    totals = {
        s.index_version: (s.chunks, s.tokens)
        for s in IndexStats.objects.filter(corpus=corpus)
        if s.chunks
    }
    lexemes = {
        (s.index_version, s.lexeme): s.chunks
        for s in LexemeStat.objects.filter(corpus=corpus, chunks__gt=0)
    }
    return totals, lexemes


def test_statistics_follow_ingest_reingest_and_delete(corpus):
    first = ingest(upload_text(corpus, HANDBOOK))
    second = ingest(upload_text(corpus, "# Cars\n\nCompany cars are leased.", "cars.md"))
    assert maintained(corpus) == recount(corpus)
    assert maintained(corpus)[0][1][0] == Chunk.objects.filter(corpus=corpus).count()

    services.document_reingest(document=first)
    ingest(first)
    assert maintained(corpus) == recount(corpus)

    services.document_delete(document=second)
    assert maintained(corpus) == recount(corpus)
    assert not any(lexeme == "leas" for _, lexeme in maintained(corpus)[1])


def test_deleting_a_corpus_removes_its_statistics(corpus, other_corpus):
    ingest(upload_text(corpus, HANDBOOK))
    ingest(upload_text(other_corpus, HANDBOOK))
    services.corpus_delete(corpus=corpus)
    assert not LexemeStat.objects.filter(corpus_id=corpus.pk).exists()
    assert maintained(other_corpus) == recount(other_corpus)


def test_rare_words_outweigh_common_ones(corpus):
    # "policy" is in every document, "zeppelin" in one: BM25's idf must put that one first
    # although the others repeat the common word more often.
    for n in range(6):
        ingest(upload_text(corpus, f"Policy {n}. Policy policy policy for team {n}.", f"p{n}.md"))
    ingest(upload_text(corpus, "Policy on zeppelin travel.", "zeppelin.md"))
    hits = services.corpus_search(corpus=corpus, query="zeppelin policy", k=3, mode="fulltext")
    assert hits[0].document == "zeppelin.md"


def test_longer_chunks_are_normalised(corpus):
    long_text = "Parking rules. " + " ".join(
        f"Unrelated sentence {n} about lunch." for n in range(40)
    )
    ingest(upload_text(corpus, long_text, "long.md"))
    ingest(upload_text(corpus, "Parking rules for visitors.", "short.md"))
    hits = services.corpus_search(corpus=corpus, query="parking rules", k=2, mode="fulltext")
    assert [h.document for h in hits] == ["short.md", "long.md"]


def test_fulltext_ranking_is_bm25(corpus, settings):
    """The SQL's order is exactly Okapi BM25 computed here from the same statistics."""
    texts = [
        # The same single match in a long and a short text: only length normalisation
        # separates them (the long one comes first, so a tie would keep it first).
        "Our offices abroad are listed here. " + " ".join(f"entry{n} room" for n in range(40)),
        "Offices abroad.",
        "Travel policy: trains for trips under four hours, flights for longer trips.",
        "Trips abroad need approval. Travel insurance covers every trip abroad.",
        "Parking at the office is free for visitors who register at reception.",
    ]
    for n, text in enumerate(texts):
        ingest(upload_text(corpus, text, f"t{n}.md"))
    query = "travel trips abroad visitors"
    k1, b = settings.SEARCH_BM25_K1, settings.SEARCH_BM25_B
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.token_count, u.lexeme, cardinality(u.positions) "
            "FROM documents_chunk c, unnest(c.search_vector) u WHERE c.corpus_id = %s",
            [corpus.pk],
        )
        rows = cursor.fetchall()
        cursor.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", [query])
        terms = set(cursor.fetchone()[0])
    stats = IndexStats.objects.get(corpus=corpus, index_version=corpus.index_version)
    df = {
        s.lexeme: s.chunks
        for s in LexemeStat.objects.filter(corpus=corpus, lexeme__in=terms, chunks__gt=0)
    }
    avg = stats.tokens / stats.chunks
    scores: dict[int, float] = {}
    for chunk_id, length, lexeme, tf in rows:
        if lexeme in df:
            idf = math.log(1 + (stats.chunks - df[lexeme] + 0.5) / (df[lexeme] + 0.5))
            norm = tf + k1 * (1 - b + b * length / avg)
            scores[chunk_id] = scores.get(chunk_id, 0.0) + idf * tf * (k1 + 1) / norm
    expected = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))

    hits = services.corpus_search(corpus=corpus, query=query, k=10, mode="fulltext")
    assert [hit.chunk_id for hit in hits] == expected
    assert len(expected) == len(texts)  # each text shares at least one word with the query
