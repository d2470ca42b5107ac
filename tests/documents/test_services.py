from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.utils import timezone

from documents import services
from documents.backends.base import IndexingError
from documents.models import Chunk, Corpus, Document, Page
from documents.services import ingestion
from tests.documents.conftest import HANDBOOK, ingest, upload_text

pytestmark = pytest.mark.django_db


# --- corpora --------------------------------------------------------------------------------------


def test_corpus_create_refuses_unknown_backend_and_oversized_chunks(db):
    with pytest.raises(ValidationError) as error:
        services.corpus_create(name="X", index_backend="nope", chunk_size_tokens=4000)
    assert set(error.value.message_dict) == {"index_backend", "chunk_size_tokens"}
    assert "254" in error.value.message_dict["chunk_size_tokens"][0]


def test_corpus_create_refuses_duplicate_slug(corpus):
    with pytest.raises(ValidationError) as error:
        services.corpus_create(name="Handbook")
    assert "already exists" in error.value.message_dict["slug"][0]


def test_corpora_with_counts_come_by_name_whatever_order_they_were_made_in(db):
    # Created in reverse order, each with documents, so a GROUP BY in id order (or a hash
    # aggregate) would not happen to return them by name.
    for name in ("Zeta", "Mu", "Alpha"):
        corpus = services.corpus_create(name=name)
        for n in range(3):
            upload_text(corpus, f"# {name} {n}\n\nText.\n", f"{name}-{n}.md")
    counted = list(Corpus.objects.with_document_counts())
    assert [c.name for c in counted] == ["Alpha", "Mu", "Zeta"]
    assert [c.documents_total for c in counted] == [3, 3, 3]


# --- upload ---------------------------------------------------------------------------------------


def test_upload_stores_original_and_queues_after_commit(corpus, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = services.document_upload(
            corpus=corpus, file=io.BytesIO(b"hello world"), filename="../../etc/hello.txt"
        )
    document = outcome.document
    assert outcome.created
    assert len(callbacks) == 1
    assert document.status == "queued"
    assert document.filename == "hello.txt"
    assert document.size_bytes == 11
    assert document.sha256 == "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    assert default_storage.open(document.file.name).read() == b"hello world"


def test_duplicate_upload_in_same_corpus_is_reported_not_ingested_twice(
    corpus, django_capture_on_commit_callbacks
):
    first = upload_text(corpus, HANDBOOK)
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = services.document_upload(
            corpus=corpus, file=io.BytesIO(HANDBOOK.encode()), filename="copy.md"
        )
    assert outcome.duplicate
    assert outcome.document.pk == first.pk
    assert callbacks == []
    assert Document.objects.filter(corpus=corpus).count() == 1


def test_same_file_in_another_corpus_is_a_separate_document(corpus, other_corpus):
    first = upload_text(corpus, HANDBOOK)
    second = upload_text(other_corpus, HANDBOOK)
    assert first.pk != second.pk


def test_empty_upload_is_refused_with_a_reason(corpus):
    with pytest.raises(ValidationError, match="empty"):
        services.document_upload(corpus=corpus, file=io.BytesIO(b""), filename="empty.txt")
    assert not Document.objects.exists()


def test_oversized_upload_is_refused(corpus, settings):
    settings.DOCUMENT_MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationError, match="larger than"):
        services.document_upload(corpus=corpus, file=io.BytesIO(b"x" * 11), filename="big.txt")


# --- ingestion ------------------------------------------------------------------------------------


def test_ingest_makes_the_document_ready_with_pages_and_chunks(corpus):
    document = ingest(upload_text(corpus, HANDBOOK))
    assert document.status == "ready"
    assert document.error == ""
    assert document.page_count == 1
    assert document.chunk_count == Chunk.objects.filter(document=document).count() >= 1
    assert document.embedding_tokens > 0
    assert document.parser == "markdown"
    assert set(document.timings) >= {"parsing", "embedding", "indexing"}
    chunk = Chunk.objects.filter(document=document).first()
    assert chunk.corpus_id == corpus.pk
    assert len(chunk.embedding) == 384
    assert chunk.search_vector is not None
    page = Page.objects.get(document=document, number=1)
    assert page.text[chunk.char_start - page.char_start :].startswith(chunk.text[:40])


def test_ingest_skips_a_document_that_is_already_ready(ready_document):
    chunk_ids = set(Chunk.objects.filter(document=ready_document).values_list("pk", flat=True))
    services.document_ingest(document_id=ready_document.pk)
    ready_document.refresh_from_db()
    assert ready_document.attempts == 1
    assert set(Chunk.objects.filter(document=ready_document).values_list("pk", flat=True)) == (
        chunk_ids
    )


def test_ingest_leaves_a_document_alone_while_another_worker_holds_its_lease(corpus):
    document = upload_text(corpus, HANDBOOK)
    Document.objects.filter(pk=document.pk).update(
        status="processing", attempts=1, lease_expires_at=timezone.now() + dt.timedelta(minutes=5)
    )
    services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == "processing"
    assert document.attempts == 1


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("pdf-encrypted/r6-user-password.pdf", "password"),
        ("pdf-scanned-no-text/ocr_test.pdf", "OCR"),
    ],
)
def test_ingest_fails_bad_files_with_a_plain_reason(corpus, docs_dir, path, reason, settings):
    settings.OCR_ENGINE = "none"  # with OCR the scan is read (tests/documents/parsing/test_ocr.py)
    source = docs_dir / path
    if not source.exists():
        pytest.fail(f"fixture {path} is missing")
    outcome = services.document_upload_path(corpus=corpus, path=source)
    document = ingest(outcome.document)
    assert document.status == "failed"
    assert reason.lower() in document.error.lower()
    assert "Traceback" not in document.error
    assert not Chunk.objects.filter(document=document).exists()


def test_unexpected_error_fails_with_a_reference_not_a_traceback(corpus, monkeypatch):
    document = upload_text(corpus, HANDBOOK)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ingestion, "parse_file", broken)
    document = ingest(document)
    assert document.status == "failed"
    assert f"document {document.pk}" in document.error
    assert "boom" not in document.error


def test_temporary_indexing_error_requeues_the_document_for_retry(corpus, monkeypatch):
    document = upload_text(corpus, HANDBOOK)
    from documents.backends.pgvector_store import PgvectorBackend

    def rate_limited(self, **kwargs):
        raise IndexingError("rate limited", retryable=True)

    monkeypatch.setattr(PgvectorBackend, "index_document", rate_limited)
    with pytest.raises(services.RetryableIngestError):
        services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == "queued"
    assert "will retry" in document.error


def test_exhausted_retries_mark_the_document_failed(corpus):
    document = upload_text(corpus, HANDBOOK)
    services.document_mark_failed(document_id=document.pk, reason="Gave up: rate limited")
    document.refresh_from_db()
    assert document.status == "failed"
    assert document.error == "Gave up: rate limited"


# --- recovery -------------------------------------------------------------------------------------


def test_document_whose_worker_died_is_requeued_and_recovered(
    corpus, django_capture_on_commit_callbacks
):
    document = upload_text(corpus, HANDBOOK)
    Document.objects.filter(pk=document.pk).update(
        status="processing",
        stage="embedding",
        attempts=1,
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.documents_requeue_stale() == 1
    assert len(callbacks) == 1
    document = ingest(document)
    assert document.status == "ready"
    assert document.attempts == 2


def test_queued_document_whose_message_was_lost_is_requeued(
    corpus, django_capture_on_commit_callbacks
):
    document = upload_text(corpus, HANDBOOK)
    Document.objects.filter(pk=document.pk).update(queued_at=timezone.now() - dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.documents_requeue_stale() == 1
    assert len(callbacks) == 1
    # Requeued once, not again on the next sweep.
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.documents_requeue_stale() == 0
    assert callbacks == []


def test_document_interrupted_too_often_fails_clearly(corpus, settings):
    document = upload_text(corpus, HANDBOOK)
    Document.objects.filter(pk=document.pk).update(
        status="processing",
        attempts=settings.INGEST_MAX_ATTEMPTS,
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    document = ingest(document)
    assert document.status == "failed"
    assert "interrupted" in document.error


# --- re-ingest and delete -------------------------------------------------------------------------


def test_reingest_replaces_chunks_without_duplicates(
    ready_document, django_capture_on_commit_callbacks
):
    before = list(Chunk.objects.filter(document=ready_document).values_list("pk", "text"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.document_reingest(document=ready_document)
    assert len(callbacks) == 1
    document = ingest(ready_document)
    after = list(Chunk.objects.filter(document=document).values_list("pk", "text"))
    assert document.status == "ready"
    assert [text for _, text in after] == [text for _, text in before]
    assert {pk for pk, _ in after}.isdisjoint({pk for pk, _ in before})


def test_reingest_does_not_disturb_a_document_being_processed(
    corpus, django_capture_on_commit_callbacks
):
    document = upload_text(corpus, HANDBOOK)
    Document.objects.filter(pk=document.pk).update(
        status="processing", lease_expires_at=timezone.now() + dt.timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        services.document_reingest(document=document)
    assert callbacks == []
    document.refresh_from_db()
    assert document.status == "processing"


def test_delete_removes_pages_chunks_and_the_original(
    ready_document, django_capture_on_commit_callbacks
):
    name = ready_document.file.name
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        services.document_delete(document=ready_document)
    assert not Document.objects.filter(pk=ready_document.pk).exists()
    assert not Chunk.objects.filter(document_id=ready_document.pk).exists()
    assert not Page.objects.filter(document_id=ready_document.pk).exists()
    assert not default_storage.exists(name)


def test_corpus_delete_removes_its_documents_and_files(
    ready_document, django_capture_on_commit_callbacks
):
    name = ready_document.file.name
    with django_capture_on_commit_callbacks(execute=True):
        services.corpus_delete(corpus=ready_document.corpus)
    assert not Corpus.objects.exists()
    assert not Chunk.objects.exists()
    assert not default_storage.exists(name)
