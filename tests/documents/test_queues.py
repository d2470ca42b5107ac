"""Large documents go to their own queue (decided at upload), and a queued document knows its
place in its queue. The worker-level proof is tests/documents/faults/test_large_documents.py."""

from __future__ import annotations

import datetime as dt
import io
from unittest import mock

import pytest
from django.utils import timezone

from documents import jobs, selectors, services
from documents.models import Document
from documents.tasks import document_ingest

pytestmark = pytest.mark.django_db

SMALL = b"# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


@pytest.fixture
def published():
    """The queue of every ingestion message published ("" for the default queue)."""
    sent: list[tuple[int, str]] = []

    def record(*, kwargs, **options):
        sent.append((kwargs["document_id"], options.get("queue", "")))

    with mock.patch.object(document_ingest, "apply_async", side_effect=record):
        yield sent


@pytest.fixture
def corpus(db):
    return services.corpus_create(name="Queues", slug="queues")


def _upload(corpus, name: str, data: bytes) -> Document:
    return services.document_upload(corpus=corpus, file=io.BytesIO(data), filename=name).document


def test_a_pdf_with_many_pages_goes_to_the_large_queue(
    corpus, settings, fixture_docs, published, django_capture_on_commit_callbacks
):
    settings.INGEST_LARGE_PAGES = 4
    settings.INGEST_LARGE_QUEUE = "big-files"
    four_pages = (fixture_docs / "pdf-basic" / "pdflatex-4-pages.pdf").read_bytes()
    one_page = (fixture_docs / "pdf-malformed" / "helloworld-bad.pdf").read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        large = _upload(corpus, "report.pdf", four_pages)
        small = _upload(corpus, "letter.pdf", one_page)
        text = _upload(corpus, "leave.md", SMALL)
    assert (large.large, small.large, text.large) == (True, False, False)
    assert published == [(large.pk, "big-files"), (small.pk, ""), (text.pk, "")]


def test_a_file_of_the_large_size_goes_to_the_large_queue_whatever_its_format(
    corpus, settings, published, django_capture_on_commit_callbacks
):
    settings.INGEST_LARGE_BYTES = len(SMALL)
    with django_capture_on_commit_callbacks(execute=True):
        document = _upload(corpus, "leave.md", SMALL)
    assert document.large
    assert published == [(document.pk, settings.INGEST_LARGE_QUEUE)]


def test_a_pdf_that_cannot_be_opened_is_not_taken_for_large(corpus, settings, fixture_docs):
    settings.INGEST_LARGE_PAGES = 1
    locked = (fixture_docs / "pdf-encrypted" / "r6-user-password.pdf").read_bytes()
    assert not _upload(corpus, "locked.pdf", locked).large


def test_retry_and_stale_requeue_keep_a_large_document_on_its_queue(
    corpus, settings, published, django_capture_on_commit_callbacks
):
    settings.INGEST_LARGE_BYTES = len(SMALL)
    document = _upload(corpus, "leave.md", SMALL)
    small = _upload(corpus, "small.md", b"# Cars\n\nCompany cars are leased for four years.\n")
    Document.objects.filter(pk=document.pk).update(status="failed", error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        services.document_reingest(document=document)
    assert published == [(document.pk, settings.INGEST_LARGE_QUEUE)]

    published.clear()
    Document.objects.update(queued_at=timezone.now() - dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        # Messages wait on the documents' queue, none on the large one: only the large
        # document's message is taken for lost.
        services.documents_requeue_stale(waiting_messages=3, waiting_large_messages=0)
    assert published == [(document.pk, settings.INGEST_LARGE_QUEUE)]
    assert small.pk not in dict(published)


def test_queue_positions_count_the_queued_documents_of_every_corpus_on_the_same_queue(corpus):
    other = services.corpus_create(name="Other", slug="other")
    start = timezone.now() - dt.timedelta(minutes=10)
    documents = [
        _upload(target, f"{n}.md", f"# Note {n}\n\nText number {n}.\n".encode())
        for n, target in enumerate([corpus, other, corpus, corpus, other])
    ]
    for minute, document in enumerate(documents):
        Document.objects.filter(pk=document.pk).update(
            queued_at=start + dt.timedelta(minutes=minute)
        )
    first, second, third, fourth, fifth = documents
    Document.objects.filter(pk=third.pk).update(large=True)
    Document.objects.filter(pk=second.pk).update(status="processing")

    positions = selectors.documents_queue_positions(document_ids=[d.pk for d in documents])

    # "celery": first, fourth, fifth (second is being processed); "large": third.
    assert positions == {first.pk: 1, fourth.pk: 2, fifth.pk: 3, third.pk: 1}
    assert selectors.documents_queue_positions(document_ids=[]) == {}


def test_the_stale_rule_counts_the_messages_waiting_on_each_queue(broker, monkeypatch):
    from config.celery import app

    # The broker's own key prefix (Redis) must not hide the messages from the count.
    monkeypatch.setitem(app.conf, "broker_url", broker.url)
    monkeypatch.setitem(app.conf, "broker_transport_options", broker.transport_options)
    for document_id in (1, 2, 3):
        broker.send_task(document_ingest.name, queue="large", document_id=document_id)
    broker.send_task(document_ingest.name, document_id=4)

    assert jobs.waiting_messages("large") == 3
    assert jobs.waiting_messages() == 1
    assert jobs.waiting_messages("nothing-here") == 0
