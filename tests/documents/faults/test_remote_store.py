"""Orphan files in a corpus's vector store are found and removed; a vector store that
vanished at OpenAI is detected, reported, and recreated from the stored originals."""

from __future__ import annotations

import openai
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from documents import services
from documents.backends.base import IndexingError, get_backend
from documents.models import Corpus, Document
from documents.services import remote
from tests.documents.faults.conftest import upload

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

LEAVE = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"
MEALS = "# Meals\n\nMeals are reimbursed up to 45 euros per day abroad.\n"


@pytest.fixture
def client(fake_openai) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_openai.base_url, api_key="test", max_retries=0)


def _ingest(document: Document) -> Document:
    services.document_ingest(document_id=document.pk)
    document.refresh_from_db()
    return document


@pytest.fixture
def ready(remote_corpus, fake_openai) -> Document:
    fake_openai.processing_polls = 0
    document = _ingest(upload(remote_corpus, "leave.md", LEAVE))
    assert document.status == "ready", document.error
    remote_corpus.refresh_from_db()
    return document


def _store_file_ids(client: openai.OpenAI, corpus: Corpus) -> set[str]:
    corpus.refresh_from_db()
    return {f.id for f in client.vector_stores.files.list(corpus.vector_store_id)}


def test_reconciliation_removes_files_no_document_references(
    ready, remote_corpus, client, fake_openai
):
    # A crash between OpenAI storing an upload and Docent recording it left this behind.
    orphan = client.files.create(file=("leave.md", LEAVE.encode()), purpose="assistants")
    client.vector_stores.files.create(remote_corpus.vector_store_id, file_id=orphan.id)

    report = remote.corpus_reconcile_remote(corpus=remote_corpus)

    assert report.removed == [orphan.id]
    assert report.checked == 2
    assert f"removed 1 that no document references: {orphan.id}" in report.summary()
    assert _store_file_ids(client, remote_corpus) == {ready.remote_file_id}
    assert orphan.id not in fake_openai.state.files
    # Nothing more to do the second time.
    assert remote.corpus_reconcile_remote(corpus=remote_corpus).removed == []


def test_reconciliation_removes_uploads_never_attached_and_nothing_else(
    ready, remote_corpus, client, fake_openai
):
    # An upload of leave.md that OpenAI stored but never answered (the server died), and the
    # document went on with another File: this one was never attached to the store.
    stray = client.files.create(file=("leave.md", LEAVE.encode()), purpose="assistants")
    # Not Docent's: another name, or another size, on the same OpenAI account.
    foreign = client.files.create(file=("notes.md", LEAVE.encode()), purpose="assistants")
    resized = client.files.create(file=("leave.md", LEAVE.encode() + b"!"), purpose="assistants")
    # A document still under way keeps its earlier upload: its next try takes that File.
    waiting = upload(remote_corpus, "meals.md", MEALS)
    Document.objects.filter(pk=waiting.pk).update(status="queued")
    kept_for_retry = client.files.create(file=("meals.md", MEALS.encode()), purpose="assistants")

    report = remote.corpus_reconcile_remote(corpus=remote_corpus)

    assert report.unattached == [stray.id]
    assert report.removed == []
    assert (
        f"removed 1 uploaded for its documents but never attached to it: {stray.id}"
        in report.summary()
    )
    assert set(fake_openai.state.files) == {
        ready.remote_file_id,
        foreign.id,
        resized.id,
        kept_for_retry.id,
    }
    assert _store_file_ids(client, remote_corpus) == {ready.remote_file_id}
    assert remote.corpus_reconcile_remote(corpus=remote_corpus).unattached == []


def test_the_admin_action_reports_the_reconciliation(admin_client, ready, remote_corpus, client):
    orphan = client.files.create(file=("x.md", b"# X\n\nStray.\n"), purpose="assistants")
    client.vector_stores.files.create(remote_corpus.vector_store_id, file_id=orphan.id)

    response = admin_client.post(
        reverse("admin:documents_corpus_changelist"),
        {"action": "reconcile_remote", "_selected_action": [remote_corpus.pk]},
    )

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(orphan.id in m and "removed 1" in m for m in shown), shown


def test_a_vanished_store_is_named_when_searching_and_ingesting(
    ready, remote_corpus, client, settings
):
    settings.OPENAI_RECREATE_MISSING_STORES = False
    client.vector_stores.delete(remote_corpus.vector_store_id)
    store_id = remote_corpus.vector_store_id

    with pytest.raises(IndexingError) as raised:
        get_backend("openai").search(corpus=remote_corpus, query="paid leave", k=3)
    assert f"vector store {store_id} no longer exists" in str(raised.value)
    assert "Recreate missing OpenAI vector stores" in str(raised.value)

    second = _ingest(upload(remote_corpus, "meals.md", MEALS))
    assert second.status == "failed"
    assert f"vector store {store_id} no longer exists" in second.error
    report = remote.corpus_reconcile_remote(corpus=remote_corpus)
    assert report.store_missing
    assert report.recreated is None


def test_the_admin_recreates_a_vanished_store_from_the_originals(
    admin_client, ready, remote_corpus, client, django_capture_on_commit_callbacks
):
    old_store = remote_corpus.vector_store_id
    client.vector_stores.delete(old_store)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = admin_client.post(
            reverse("admin:documents_corpus_changelist"),
            {"action": "recreate_missing_store", "_selected_action": [remote_corpus.pk]},
        )
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("1 documents queued" in m for m in shown), shown
    assert len(queued) == 1

    document = _ingest(Document.objects.get(pk=ready.pk))

    assert document.status == "ready", document.error
    remote_corpus.refresh_from_db()
    assert remote_corpus.vector_store_id not in ("", old_store)
    # The File OpenAI still had was attached to the new store, not uploaded again.
    assert _store_file_ids(client, remote_corpus) == {ready.remote_file_id}


def test_with_the_setting_ingestion_recreates_a_vanished_store_itself(
    ready, remote_corpus, client, settings, django_capture_on_commit_callbacks
):
    settings.OPENAI_RECREATE_MISSING_STORES = True
    old_store = remote_corpus.vector_store_id
    client.vector_stores.delete(old_store)
    meals = upload(remote_corpus, "meals.md", MEALS)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        services.document_ingest(document_id=meals.pk)
    assert len(queued) == 2  # the existing document and this one, again at once

    for document in (ready, meals):
        assert _ingest(Document.objects.get(pk=document.pk)).status == "ready"
    remote_corpus.refresh_from_db()
    assert remote_corpus.vector_store_id not in ("", old_store)
    assert len(_store_file_ids(client, remote_corpus)) == 2
