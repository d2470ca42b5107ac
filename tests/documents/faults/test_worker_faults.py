"""The worker's pool child killed (what the out-of-memory killer does) and a document deleted
while a real worker processes it."""

from __future__ import annotations

import os
import signal

import pytest

from documents import services
from documents.models import Document
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TEXT = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


def _processing_at_openai(document: Document) -> bool:
    return Document.objects.filter(pk=document.pk, stage="remote_processing").exists()


def test_a_redelivery_after_a_lost_pool_child_takes_the_document_at_once(
    worker, publish, remote_corpus, fake_openai
):
    fake_openai.processing_polls = 8
    fake_openai.poll_after_ms = 1000
    document = upload(remote_corpus, "leave.md", TEXT)
    publish(document.pk)
    wait_for(lambda: _processing_at_openai(document), timeout=60, what="processing", worker=worker)
    children = wait_for(worker.pool_children, timeout=10, what="the pool child", worker=worker)

    os.kill(children[0], signal.SIGKILL)

    # Its lease (120 s) still holds: the redelivered message must not wait for it.
    wait_for(lambda: settled(document), timeout=60, what="the document", worker=worker)
    document.refresh_from_db()
    assert document.status == "ready", document.error
    assert document.attempts == 2  # the lost child counts as an interruption
    assert "came back after the worker was lost" in worker.log
    assert "not claimable" not in worker.log
    assert len(fake_openai.state.files) == 1  # the upload was reused


def test_deleting_a_document_under_way_stops_its_worker_quietly(
    worker, publish, remote_corpus, fake_openai
):
    fake_openai.processing_polls = 30
    fake_openai.poll_after_ms = 1000
    document = upload(remote_corpus, "leave.md", TEXT)
    publish(document.pk)
    wait_for(lambda: _processing_at_openai(document), timeout=60, what="processing", worker=worker)

    services.document_delete(document=Document.objects.get(pk=document.pk))

    wait_for(
        lambda: f"document {document.pk} was deleted or taken over; stopping" in worker.log,
        timeout=30,
        what="the worker to stop",
        worker=worker,
    )
    log = worker.log
    assert "Traceback" not in log
    assert "ForeignKeyViolation" not in log
    assert not fake_openai.state.files  # nothing left at OpenAI
    # The worker is free again: the next document goes through.
    fake_openai.processing_polls = 0
    second = upload(remote_corpus, "second.md", TEXT + "\nAnd a second file.\n")
    publish(second.pk)
    wait_for(lambda: settled(second), timeout=60, what="the next document", worker=worker)
