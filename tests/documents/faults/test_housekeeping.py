"""Housekeeping on its own queue, and staleness decided from the lease and the queue."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from documents import tasks
from documents.models import Document
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults]

TEXT = "# Leave {n}\n\nEmployee group {n} has thirty days of paid leave per year.\n"


def test_housekeeping_tasks_are_routed_to_their_own_queue(settings):
    router = celery_app.amqp.router
    for task in (tasks.documents_requeue_stale, tasks.corpus_reindexes_requeue_stale):
        assert router.route({}, task.name)["queue"].name == settings.HOUSEKEEPING_QUEUE
    assert router.route({}, tasks.document_ingest.name)["queue"].name == "celery"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_documents_waiting_behind_a_backlog_are_not_requeued_as_stale(
    worker, publish, remote_corpus, fake_openai
):
    fake_openai.processing_polls = 3
    fake_openai.poll_after_ms = 1000
    documents = [upload(remote_corpus, f"leave-{n}.md", TEXT.format(n=n)) for n in range(5)]
    # A large drop long ago: every one has waited far longer than five leases.
    Document.objects.update(queued_at=timezone.now() - dt.timedelta(hours=1))
    for document in documents:
        publish(document.pk)
    wait_for(
        lambda: Document.objects.filter(status="processing").exists(),
        timeout=60, what="the first document to start", worker=worker,
    )  # fmt: skip

    # Behind four waiting documents on "celery", the requeue runs next, from "housekeeping".
    publish(None, task=tasks.documents_requeue_stale)
    wait_for(
        lambda: "documents.tasks.documents_requeue_stale[" in worker.log
        and "succeeded" in worker.log.split("documents.tasks.documents_requeue_stale[", 1)[1],
        timeout=60, what="the requeue task to run", worker=worker,
    )  # fmt: skip
    wait_for(lambda: settled(*documents), timeout=120, what="every document", worker=worker)

    log = worker.log
    assert "is stale" not in log
    received = [
        line for line in log.splitlines() if "document_ingest[" in line and "received" in line
    ]
    assert len(received) == 5  # no needless messages
    assert set(Document.objects.values_list("status", flat=True)) == {"ready"}
