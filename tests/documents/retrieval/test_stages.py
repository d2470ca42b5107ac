from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from documents import services
from documents.backends.base import SearchHit
from documents.models import Chunk, Corpus, Document, Page
from documents.retrieval import Retrieval, corpus_search, get_stages, retrieve
from documents.retrieval.stages import (
    NeighbourExpansionStage,
    RerankStage,
    continues_after,
    continues_before,
)
from tests.documents.conftest import ingest, upload_text

pytestmark = pytest.mark.django_db

ONBOARDING = """# Onboarding checklist

New employees complete these steps during their first week at the company, in this order:

- Collect the laptop and the headset from the IT service desk on the ground floor.
- Sign the confidentiality agreement and return it to human resources.
- Enrol in the pension plan before the end of the first month of employment.
- Book the mandatory security training with the facilities team.
- Register a company car, if the contract includes one, with the fleet office.
- Ask the team lead for access to the shared drives and the project tracker.

# Travel

Employees book flights through the travel desk at least fourteen days before departure.
"""
# Two pages (a form feed): the sentence about costs runs from page 1 onto page 2.
REPORT = (
    "The annual report lists the revenue of every region. " * 3
    + "Revenue in the northern region grew by twelve percent while costs\f"
    + "stayed flat, which the board attributes to the new logistics centre. " * 2
)


@pytest.fixture
def small_chunks(db) -> Corpus:
    return services.corpus_create(
        name="Small chunks", slug="small-chunks", chunk_size_tokens=48, chunk_overlap_tokens=0
    )


def ingested(corpus: Corpus, text: str, filename: str) -> Document:
    document = ingest(upload_text(corpus, text, filename=filename))
    assert document.status == "ready", document.error
    return document


def document_text(document_id: int) -> str:
    pages = Page.objects.filter(document_id=document_id).order_by("number")
    end = max(page.char_end for page in pages)
    text = ["\n"] * end  # pages are joined with Page.PAGE_SEPARATOR
    for page in pages:
        text[page.char_start : page.char_end] = page.text
    return "".join(text)


def assert_citable(hit: SearchHit) -> None:
    """The passage is the document's text at its coordinates, so quotes highlight."""
    assert hit.char_start is not None
    assert hit.char_end is not None
    assert document_text(hit.document_id)[hit.char_start : hit.char_end] == hit.text
    pages = Page.objects.filter(document_id=hit.document_id)
    first = pages.filter(char_start__lte=hit.char_start).order_by("-char_start").first()
    last = pages.filter(char_start__lt=hit.char_end).order_by("-char_start").first()
    assert (hit.page_start, hit.page_end) == (first.number, last.number)


def only(hits: list[SearchHit], word: str) -> SearchHit:
    return next(hit for hit in hits if word in hit.text)


# --- neighbour expansion --------------------------------------------------------------------


def test_a_hit_inside_a_list_gets_the_items_before_and_after(small_chunks):
    document = ingested(small_chunks, ONBOARDING, "onboarding.md")
    query = "When do I enrol in the pension plan?"
    plain = only(corpus_search(corpus=small_chunks, query=query, k=1), "pension plan")
    assert plain.text.startswith("- Enrol")
    assert plain.text.endswith("fleet office.")

    retrieval = retrieve(corpus=small_chunks, query=query, k=1, stages=[NeighbourExpansionStage()])

    hit = retrieval.hits[0]
    assert hit.chunk_id == plain.chunk_id
    assert "- Sign the confidentiality agreement" in hit.text
    assert "- Ask the team lead" in hit.text
    assert plain.text in hit.text
    assert_citable(hit)
    own = Chunk.objects.get(pk=plain.chunk_id)
    (note,) = retrieval.trace["neighbours"]["expanded"]
    assert note == {
        "chunk_id": own.pk,
        "before": Chunk.objects.get(document=document, ordinal=own.ordinal - 1).pk,
        "after": Chunk.objects.get(document=document, ordinal=own.ordinal + 1).pk,
    }


def test_a_sentence_cut_at_a_page_break_is_joined_across_pages(small_chunks):
    ingested(small_chunks, REPORT, "report.txt")
    query = "northern region revenue growth"
    (plain,) = corpus_search(corpus=small_chunks, query=query, k=1)
    assert plain.text.endswith("while costs")

    (hit,) = retrieve(
        corpus=small_chunks, query=query, k=1, stages=[NeighbourExpansionStage()]
    ).hits

    assert "while costs\n\nstayed flat" in hit.text
    assert (hit.page_start, hit.page_end) == (1, 2)
    assert_citable(hit)


def test_complete_passages_and_results_are_not_joined_twice(small_chunks):
    ingested(small_chunks, ONBOARDING, "onboarding.md")
    query = "travel desk flights fourteen days"
    plain = corpus_search(corpus=small_chunks, query=query, k=4)
    hits = retrieve(corpus=small_chunks, query=query, k=4, stages=[NeighbourExpansionStage()]).hits
    # Every chunk of the document is a result already: nothing is added to any of them.
    assert len(plain) == 4
    assert list(hits) == plain


def test_expansion_stops_at_max_chars(small_chunks):
    ingested(small_chunks, ONBOARDING, "onboarding.md")
    query = "When do I enrol in the pension plan?"
    plain = corpus_search(corpus=small_chunks, query=query, k=1)
    stage = NeighbourExpansionStage(max_chars=len(plain[0].text) + 10)
    assert retrieve(corpus=small_chunks, query=query, k=1, stages=[stage]).hits == tuple(plain)


def test_only_the_first_k_hits_are_expanded(small_chunks):
    ingested(small_chunks, ONBOARDING, "onboarding.md")
    hits = corpus_search(corpus=small_chunks, query="pension plan security training", k=4)
    retrieval = Retrieval(corpus=small_chunks, query="q", k=1, hits=tuple(hits))
    expanded = NeighbourExpansionStage().apply(retrieval)
    assert expanded.hits[1:] == tuple(hits[1:])


def test_hits_without_chunk_rows_are_left_as_they_are(corpus):
    remote = SearchHit(
        chunk_id=None,
        document_id=1,
        document="remote.pdf",
        page_start=3,
        page_end=3,
        char_start=None,
        char_end=None,
        text="A passage found by a remote store, cut mid",
        score=0.5,
    )
    retrieval = Retrieval(corpus=corpus, query="q", k=1, hits=(remote,))
    assert NeighbourExpansionStage().apply(retrieval) is retrieval


@pytest.mark.parametrize(
    ("text", "following", "expected"),
    [
        ("Intro.\n- first item", "- second item", True),
        ("| a | b |\n| 1 | 2 |", "| 3 | 4 |", True),
        ("name\tamount\nrent\t1200", "food\t300", True),
        ("The costs grew by", "ten percent.", True),
        ("Details follow.\n\n## Costs", "Rent is 1200.", True),
        ("The costs grew by ten percent.", "Next topic.", False),
        ("- last item.", "A new paragraph.", False),
    ],
)
def test_continues_after(text, following, expected):
    assert continues_after(text, following) is expected


@pytest.mark.parametrize(
    ("text", "preceding", "expected"),
    [
        ("- second item", "Intro:\n- first item", True),
        ("| 3 | 4 |", "| a | b |\n| 1 | 2 |", True),
        ("stayed flat this year.", "Costs", True),
        ("Costs stayed flat.", "Revenue grew.", False),
        ("- first item", "Intro paragraph.", False),
    ],
)
def test_continues_before(text, preceding, expected):
    assert continues_before(text, preceding) is expected


# --- reranking ----------------------------------------------------------------------------


@pytest.fixture
def reranker(fake_rerank):
    config = {
        "api": {
            "BACKEND": "documents.retrieval.rerankers.HttpRerankEndpoint",
            "OPTIONS": {"url": fake_rerank.url("cohere"), "timeout_seconds": 0.5},
        }
    }
    with override_settings(RERANKERS=config):
        yield fake_rerank


def test_rerank_stage_reorders_the_candidates_by_the_rerankers_scores(small_chunks, reranker):
    ingested(small_chunks, ONBOARDING, "onboarding.md")
    query = "book flights travel desk"
    stage = RerankStage(reranker="api", candidates=10)
    plain = corpus_search(corpus=small_chunks, query=query, k=10)

    retrieval = retrieve(corpus=small_chunks, query=query, k=2, stages=[stage])

    (sent,) = reranker.requests
    assert sent.body["documents"] == [hit.text for hit in plain]
    trace = retrieval.trace["rerank"]
    assert trace["order"] == "reranked"
    assert len(trace["scores"]) == len(plain) == 4
    assert trace["scores"] == sorted(trace["scores"], reverse=True)
    assert "travel desk" in retrieval.hits[0].text
    ranks = trace["search_ranks"]
    assert [hit.chunk_id for hit in retrieval.hits] == [plain[r - 1].chunk_id for r in ranks[:2]]


def test_rerank_stage_asks_search_for_its_candidates():
    stage = RerankStage(reranker="api", candidates=30)
    assert stage.candidates(6) == 30
    assert stage.candidates(50) == 50


@pytest.mark.parametrize("failure", ["500", "bad json", "timeout", "unknown alias"])
def test_a_failing_reranker_keeps_the_search_order(
    corpus, ready_document, reranker, failure, caplog
):
    query = "receipts uploaded thirty days"
    alias = "api"
    if failure == "500":
        reranker.fail_next(500)
    elif failure == "bad json":
        reranker.bad_json_next()
    elif failure == "timeout":
        reranker.latency = 1.0
    else:
        alias = "missing"
    plain = corpus_search(corpus=corpus, query=query, k=3)

    with caplog.at_level(logging.WARNING, logger="documents.retrieval.stages"):
        retrieval = retrieve(
            corpus=corpus, query=query, k=3, stages=[RerankStage(reranker=alias, candidates=3)]
        )

    assert list(retrieval.hits) == plain
    assert retrieval.trace["rerank"]["order"] == "search"
    assert retrieval.trace["rerank"]["error"]
    assert "keeping the search order" in caplog.text
    assert query not in caplog.text


def test_stages_are_built_from_settings(reranker):
    stages = [
        {
            "BACKEND": "documents.retrieval.stages.RerankStage",
            "OPTIONS": {"reranker": "api", "candidates": 20},
        },
        {"BACKEND": "documents.retrieval.stages.NeighbourExpansionStage"},
    ]
    with override_settings(RETRIEVAL_STAGES=stages):
        built = get_stages()
    assert [stage.key for stage in built] == ["rerank", "neighbours"]
    assert built[0].candidates(5) == 20
