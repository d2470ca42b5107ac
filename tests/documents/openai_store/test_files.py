"""Ingesting a document into the corpus's vector store (openai_store/files.py)."""

from __future__ import annotations

import pytest

from documents import services
from documents.backends.openai_store import OpenAIVectorStoreBackend
from documents.models import Corpus, Page
from documents.services.ingestion import IngestProgress
from tests.documents.conftest import HANDBOOK, ingest, upload_text
from tests.documents.openai_store.conftest import (
    ATTACH,
    STORE_FILE,
    UPLOADS,
)

pytestmark = pytest.mark.django_db

# --- ingestion ------------------------------------------------------------------------------------


def test_ingest_uploads_attaches_and_marks_the_document_ready(server, corpus, sleeps):
    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "ready", document.error
    corpus.refresh_from_db()
    assert corpus.vector_store_id.startswith("vs_")
    assert document.remote_file_id.startswith("file-")
    assert (document.page_count, document.chunk_count, document.embedding_tokens) == (1, 0, 0)
    assert Page.objects.get(document=document).text.startswith("# Travel policy")
    assert {"uploading", "remote_processing"} <= set(document.timings)

    store = server.state.vector_stores[corpus.vector_store_id]
    assert store.name == "Docent: Handbook"
    assert store.metadata == {"docent_corpus_id": str(corpus.pk)}
    remote = store.files[document.remote_file_id]
    assert remote.status == "completed"
    assert remote.attributes == {
        "docent_document_id": str(document.pk),
        "docent_corpus_id": str(corpus.pk),
        "filename": "handbook.md",
    }
    (upload,) = server.requests_to("POST", UPLOADS)
    assert upload.body == {"purpose": "assistants"}
    assert upload.uploads["file"].filename == "handbook.md"
    assert upload.uploads["file"].data == HANDBOOK.encode()


def test_corpus_store_is_created_once_for_several_documents(server, corpus, sleeps):
    documents = [
        ingest(upload_text(corpus, f"Note {n}: the office opens at {n} o'clock.", f"n{n}.txt"))
        for n in range(3)
    ]

    assert [d.status for d in documents] == ["ready"] * 3
    assert len(server.requests_to("POST", r"^/v1/vector_stores$")) == 1
    (store,) = server.state.vector_stores.values()
    assert set(store.files) == {d.remote_file_id for d in documents}


def test_store_created_concurrently_by_another_worker_is_used_and_ours_dropped(
    server, corpus, sdk, monkeypatch
):
    backend = OpenAIVectorStoreBackend(key="openai", client=sdk)
    theirs = sdk.vector_stores.create(name="Docent: Handbook")
    create = sdk.vector_stores.create

    def racing_create(**kwargs):
        ours = create(**kwargs)
        Corpus.objects.filter(pk=corpus.pk).update(vector_store_id=theirs.id)
        return ours

    monkeypatch.setattr(sdk.vector_stores, "create", racing_create)
    document = upload_text(corpus, HANDBOOK)

    backend.index_document(document=document, pages=[], markup="text", progress=noop)

    corpus.refresh_from_db()
    assert corpus.vector_store_id == theirs.id
    assert list(server.state.vector_stores) == [theirs.id]
    assert document.remote_file_id in server.state.vector_stores[theirs.id].files


def noop(stage: str, fraction: float) -> None:
    pass


def test_polling_follows_the_poll_after_header_and_renews_the_lease(
    server, corpus, sleeps, monkeypatch
):
    server.processing_polls = 3
    server.poll_after_ms = 250
    stages: list[str] = []
    original = IngestProgress.__call__

    def recording(self, stage, fraction):
        stages.append(stage)
        original(self, stage, fraction)

    monkeypatch.setattr(IngestProgress, "__call__", recording)

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "ready", document.error
    polls = server.requests_to("GET", STORE_FILE)
    assert len(polls) == 4  # in progress for three GETs, done on the fourth
    assert sleeps == [0.25] * 4
    assert stages.count("remote_processing") == 1 + len(polls)


def test_polling_without_a_header_waits_a_second_like_the_sdk(server, corpus, sleeps):
    server.poll_after_ms = None

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "ready", document.error
    assert sleeps == [1.0, 1.0]


def test_processing_that_outlasts_the_timeout_is_retried_later(server, corpus, settings):
    settings.INDEX_BACKENDS = {
        **settings.INDEX_BACKENDS,
        "openai": {
            **settings.INDEX_BACKENDS["openai"],
            "OPTIONS": {"processing_timeout_seconds": 0.01},
        },
    }
    server.processing_polls = 1000
    server.poll_after_ms = 20
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == "queued"
    assert "has not finished processing" in document.error


def test_retry_reuses_the_uploaded_file_instead_of_uploading_again(server, corpus, sleeps):
    server.fail_next("POST", ATTACH, status=500)
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == "queued"
    assert "will retry" in document.error
    file_id = document.remote_file_id
    assert file_id

    document = ingest(document)

    assert document.status == "ready", document.error
    assert document.remote_file_id == file_id
    assert len(server.requests_to("POST", UPLOADS)) == 1
    assert len(server.requests_to("POST", ATTACH)) == 2  # the failed one and the retry
    corpus.refresh_from_db()
    assert list(server.state.vector_stores[corpus.vector_store_id].files) == [file_id]
    assert set(server.state.files) == {file_id}


def test_retry_after_a_server_error_at_openai_attaches_the_file_afresh(server, corpus, sleeps):
    server.fail_file_processing("handbook.md", code="server_error")
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert "An internal error occurred" in document.error

    server.file_failures.clear()
    document = ingest(document)

    assert document.status == "ready", document.error
    assert len(server.requests_to("POST", UPLOADS)) == 1
    corpus.refresh_from_db()
    assert server.state.vector_stores[corpus.vector_store_id].files[
        document.remote_file_id
    ].status == ("completed")


def test_rate_limit_is_retryable(server, corpus, sleeps):
    server.fail_next("POST", UPLOADS, status=429)
    document = upload_text(corpus, HANDBOOK)

    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)

    document.refresh_from_db()
    assert document.status == "queued"
    assert "rate-limiting" in document.error
    assert ingest(document).status == "ready"


def test_exhausted_quota_is_not_retried(server, corpus, sleeps):
    body = {
        "error": {
            "message": "You exceeded your current quota, please check your plan.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    server.fail_next("POST", UPLOADS, status=429, body=body)

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert "quota" in document.error


def test_file_type_openai_cannot_search_fails_with_openais_reason(
    server, corpus, sleeps, fixture_docs
):
    outcome = services.document_upload_path(
        corpus=corpus, path=fixture_docs / "csv" / "stanley-cups.csv"
    )

    document = ingest(outcome.document)

    assert document.status == "failed"
    assert document.error == "OpenAI could not process this file: The file type is not supported."
    assert Page.objects.filter(document=document).exists()  # parsed locally before uploading


def test_file_openai_refuses_at_upload_fails_with_its_message(server, corpus, sleeps):
    body = {
        "error": {
            "message": "File is too large (maximum 512 MB).",
            "type": "invalid_request_error",
            "param": "file",
            "code": None,
        }
    }
    server.fail_next("POST", UPLOADS, status=413, body=body)

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert document.error == "OpenAI refused this file: File is too large (maximum 512 MB)."


def test_invalid_api_key_fails_with_a_clear_message(server, corpus, settings, sleeps):
    server.require_api_key = "sk-the-right-key"
    settings.OPENAI_API_KEY = "sk-a-wrong-key-1234"

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert document.error.startswith("OpenAI rejected the API key: Incorrect API key provided")
    assert "sk-a-wrong-key-1234" not in document.error


def test_missing_api_key_fails_with_a_clear_message(corpus, settings):
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""

    document = ingest(upload_text(corpus, HANDBOOK))

    assert document.status == "failed"
    assert "No OpenAI API key is configured" in document.error
