"""A small document does not wait behind a large one: with one worker on the documents queue
and one on the large-documents queue, a small file is ingested while a large PDF is still
being processed (held "in progress" at the fake OpenAI until the test lets it go)."""

from __future__ import annotations

import io
from unittest import mock

import pytest

from documents import services
from documents.models import Document
from documents.tasks import document_ingest
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TEXT = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


def test_a_small_document_is_ready_while_a_large_one_is_being_processed(
    settings, fault_env, worker_factory, publish, remote_corpus, fake_openai, fixture_docs
):
    settings.INGEST_LARGE_PAGES = 3  # decided at upload, in this process
    fake_openai.processing_polls = 10**6  # until released below
    fake_openai.poll_after_ms = 200
    documents_worker = worker_factory(fault_env, queues="celery,housekeeping")
    large_worker = worker_factory(fault_env, queues=settings.INGEST_LARGE_QUEUE)
    local = services.corpus_create(name="Local", slug="local")
    pdf = (fixture_docs / "pdf-basic" / "pdflatex-4-pages.pdf").read_bytes()

    # What the web process publishes, sent to the workers' broker in the same order: the
    # large PDF first, so that on one shared queue the small file would wait behind it.
    with mock.patch.object(document_ingest, "apply_async") as published:
        large = services.document_upload(
            corpus=remote_corpus, file=io.BytesIO(pdf), filename="report.pdf"
        ).document
        small = upload(local, "leave.md", TEXT)
    for call in published.call_args_list:
        options = {k: v for k, v in call.kwargs.items() if k != "kwargs"}
        publish(call.kwargs["kwargs"]["document_id"], **options)

    wait_for(
        lambda: Document.objects.filter(pk=large.pk, stage="remote_processing").exists(),
        timeout=180, what="the large PDF to be processing", worker=large_worker,
    )  # fmt: skip
    wait_for(lambda: settled(small), timeout=300, what="the small one", worker=documents_worker)
    assert Document.objects.get(pk=small.pk).status == "ready"
    assert Document.objects.get(pk=large.pk).status == "processing"

    fake_openai.processing_polls = 0
    wait_for(lambda: settled(large), timeout=120, what="the large PDF", worker=large_worker)
    large.refresh_from_db()
    assert large.status == "ready", large.error
    assert large.large
