"""The documents page while files wait and are processed: a queued file's place in line, and
a measured stage's percentage from its very start."""

from __future__ import annotations

import io

import pytest

from documents import services as document_services
from documents.models import Corpus, Document, DocumentStage, DocumentStatus
from tests.conftest import make_corpus

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


@pytest.fixture
def corpus(people) -> Corpus:
    return make_corpus(people)


def upload(corpus: Corpus, text: str, filename: str) -> Document:
    return document_services.document_upload(
        corpus=corpus, file=io.BytesIO(text.encode()), filename=filename
    ).document


def test_queued_documents_say_where_they_stand_in_line(as_reader, corpus):
    first = upload(corpus, "First text.", "first.txt")
    second = upload(corpus, "Second text.", "second.txt")
    third = upload(corpus, "Third text.", "third.txt")
    html = as_reader.get("/c/policies/documents/").content.decode()
    assert "Waiting for a worker: next" in html
    assert "Waiting for a worker: 2 ahead" in html

    Document.objects.filter(pk=first.pk).update(status=DocumentStatus.PROCESSING)
    status = as_reader.get(f"/c/policies/documents/{third.pk}/status", headers=JSON).json()
    assert status["summary"] == "Waiting for a worker: 1 ahead"
    status = as_reader.get(f"/c/policies/documents/{second.pk}/status", headers=JSON).json()
    assert status["summary"] == "Waiting for a worker: next"


def test_embedding_shows_its_percentage_from_the_start(as_reader, corpus):
    document = upload(corpus, "Some text.", "notes.txt")
    Document.objects.filter(pk=document.pk).update(
        status=DocumentStatus.PROCESSING, stage=DocumentStage.EMBEDDING, progress=0.0
    )
    status = as_reader.get(f"/c/policies/documents/{document.pk}/status", headers=JSON).json()
    assert status["summary"] == "Computing embeddings 0%"
    Document.objects.filter(pk=document.pk).update(stage=DocumentStage.PARSING)
    status = as_reader.get(f"/c/policies/documents/{document.pk}/status", headers=JSON).json()
    assert status["summary"] == "Extracting text"
