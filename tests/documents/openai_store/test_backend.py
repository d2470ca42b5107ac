"""The backend's lifecycle: construction, registration and removal at OpenAI."""

from __future__ import annotations

import pytest

from documents import services
from documents.backends.base import IndexingError, get_backend
from documents.backends.openai_store import OpenAIVectorStoreBackend
from documents.models import Corpus, Document
from tests.documents.conftest import HANDBOOK, ingest, upload_text

pytestmark = pytest.mark.django_db


def test_constructing_the_backend_needs_no_credentials(settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    backend = OpenAIVectorStoreBackend(key="openai")

    assert backend.key == "openai"
    corpus = services.corpus_create(name="Later", index_backend="openai")
    assert corpus.vector_store_id == ""


def test_backend_is_the_registered_openai_backend(server):
    assert isinstance(get_backend("openai"), OpenAIVectorStoreBackend)


# --- removal --------------------------------------------------------------------------------------


def test_deleting_a_document_detaches_and_deletes_its_file(server, corpus, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))
    corpus.refresh_from_db()
    file_id = document.remote_file_id

    services.document_delete(document=document)

    assert file_id not in server.state.vector_stores[corpus.vector_store_id].files
    assert file_id not in server.state.files
    assert server.requests_to("DELETE", rf"^/v1/vector_stores/[^/]+/files/{file_id}$")
    assert not Document.objects.filter(pk=document.pk).exists()


def test_deleting_a_document_already_gone_at_openai_still_works(server, corpus, sdk, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))
    sdk.files.delete(document.remote_file_id)
    corpus.refresh_from_db()
    sdk.vector_stores.delete(corpus.vector_store_id)

    services.document_delete(document=document)

    assert not Document.objects.filter(pk=document.pk).exists()


def test_failure_to_delete_at_openai_keeps_the_document(server, corpus, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))
    server.fail_next("DELETE", r"^/v1/files/", status=503)

    with pytest.raises(IndexingError) as error:
        services.document_delete(document=document)

    assert error.value.retryable
    assert Document.objects.filter(pk=document.pk).exists()


def test_document_never_uploaded_is_deleted_without_calling_openai(server, corpus):
    document = upload_text(corpus, HANDBOOK)

    services.document_delete(document=document)

    assert server.requests == []


def test_deleting_the_corpus_deletes_its_store_and_files(server, corpus, sleeps):
    documents = [
        ingest(upload_text(corpus, f"Memo {n} about parking.", f"m{n}.txt")) for n in (1, 2)
    ]
    corpus.refresh_from_db()
    store_id = corpus.vector_store_id

    services.corpus_delete(corpus=corpus)

    assert store_id not in server.state.vector_stores
    assert not {d.remote_file_id for d in documents} & set(server.state.files)
    assert not Corpus.objects.filter(pk=corpus.pk).exists()
