"""Searching a corpus's vector store (openai_store/search.py)."""

from __future__ import annotations

import pytest

from documents import services
from documents.backends.base import IndexingError
from documents.models import Corpus, Document, DocumentStatus, Page
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.documents.openai_store.conftest import (
    topic_pages_pdf,
    upload_bytes,
)

pytestmark = pytest.mark.django_db

# --- search ---------------------------------------------------------------------------------------


@pytest.fixture
def two_corpora(server, sleeps) -> tuple[Corpus, Corpus, Document, Document]:
    manuals = services.corpus_create(name="Manuals", index_backend="openai")
    museum = services.corpus_create(name="Museum", index_backend="openai")
    ledger = ingest(upload_bytes(manuals, topic_pages_pdf(), "ledger.pdf"))
    guide = ingest(
        upload_text(museum, "The glacier museum opens at nine. Glacier tours start hourly.")
    )
    assert (ledger.status, guide.status) == ("ready", "ready"), (ledger.error, guide.error)
    assert ledger.page_count == 3
    manuals.refresh_from_db()
    museum.refresh_from_db()
    return manuals, museum, ledger, guide


def test_search_finds_passages_of_this_corpus_with_their_pages(two_corpora):
    manuals, museum, ledger, guide = two_corpora
    assert manuals.vector_store_id != museum.vector_store_id

    hits = services.corpus_search(corpus=manuals, query="glacier ledger", k=5)

    assert hits
    assert {hit.document_id for hit in hits} == {ledger.pk}
    assert all(hit.page_start is not None for hit in hits)
    assert all(hit.page_start <= 2 <= hit.page_end for hit in hits if "glacier" in hit.text)
    top = hits[0]
    assert (top.page_start, top.page_end) == (2, 2)
    assert top.chunk_id is None
    assert top.document == "ledger.pdf"
    assert top.score > 0
    page = Page.objects.get(document=ledger, number=2)
    assert page.char_start <= top.char_start < top.char_end <= page.char_end

    museum_hits = services.corpus_search(corpus=museum, query="glacier ledger", k=5)
    assert {hit.document_id for hit in museum_hits} == {guide.pk}
    assert museum_hits[0].page_start == 1


def test_search_drops_files_of_other_corpora_and_documents_not_ready(two_corpora, sdk):
    manuals, _museum, ledger, guide = two_corpora
    # Someone attached the museum's file to the manuals' store by hand.
    sdk.vector_stores.files.create(
        manuals.vector_store_id,
        file_id=guide.remote_file_id,
        attributes={"docent_document_id": str(guide.pk)},
    )
    sdk.vector_stores.files.retrieve(guide.remote_file_id, vector_store_id=manuals.vector_store_id)
    sdk.vector_stores.files.retrieve(guide.remote_file_id, vector_store_id=manuals.vector_store_id)

    hits = services.corpus_search(corpus=manuals, query="glacier museum tours", k=10)
    assert {hit.document_id for hit in hits} == {ledger.pk}

    Document.objects.filter(pk=ledger.pk).update(status=DocumentStatus.PROCESSING)
    assert services.corpus_search(corpus=manuals, query="glacier", k=10) == []


def test_search_of_a_corpus_without_documents_asks_nothing(server):
    corpus = services.corpus_create(name="Empty", index_backend="openai")

    assert services.corpus_search(corpus=corpus, query="anything") == []
    assert server.requests == []


def test_fulltext_search_is_refused_with_a_reason(server):
    corpus = services.corpus_create(name="Remote", index_backend="openai")

    with pytest.raises(IndexingError, match="only available for corpora indexed locally") as error:
        services.corpus_search(corpus=corpus, query="anything", mode="fulltext")
    assert not error.value.retryable


def test_search_errors_are_translated(server, corpus, sleeps):
    ingest(upload_text(corpus, HANDBOOK))
    corpus.refresh_from_db()
    server.fail_next("POST", r"/search$", status=502)

    with pytest.raises(IndexingError, match="temporarily unavailable") as error:
        services.corpus_search(corpus=corpus, query="laptop")
    assert error.value.retryable
