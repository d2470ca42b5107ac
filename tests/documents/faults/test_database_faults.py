"""PostgreSQL unreachable for a real worker (the proxy in front of it cut): queued work is not
thrown away, work under way resumes, and everything goes on within a minute of its return."""

from __future__ import annotations

import time

import pytest

from documents.models import Document
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TEXT = "# Leave {n}\n\nEmployee group {n} has thirty days of paid leave per year.\n"


def test_messages_taken_while_the_database_is_down_are_not_lost(
    worker, publish, remote_corpus, fake_openai, db_proxy
):
    fake_openai.processing_polls = 0
    documents = [upload(remote_corpus, f"leave-{n}.md", TEXT.format(n=n)) for n in range(4)]
    db_proxy.down()
    for document in documents:
        publish(document.pk)
    wait_for(
        lambda: worker.log.count("the database could not be reached") >= 4,
        timeout=90,
        what="the worker to meet the outage with every message",
        worker=worker,
    )
    time.sleep(5)  # the outage lasts; the retries keep coming
    assert set(Document.objects.values_list("status", flat=True)) == {"queued"}

    db_proxy.up()
    # INGEST_DATABASE_RETRY_SECONDS (15) apart at most: well within the minute.
    wait_for(lambda: settled(*documents), timeout=60, what="every document", worker=worker)

    assert set(Document.objects.values_list("status", flat=True)) == {"ready"}
    assert set(Document.objects.values_list("attempts", flat=True)) == {1}
    assert len(fake_openai.state.files) == 4


def test_work_under_way_when_the_database_goes_resumes_when_it_returns(
    worker, publish, remote_corpus, fake_openai, db_proxy
):
    # OpenAI takes its time with the file: the worker is polling it when the database goes.
    fake_openai.processing_polls = 12
    fake_openai.poll_after_ms = 1000
    document = upload(remote_corpus, "leave.md", TEXT.format(n=1))
    publish(document.pk)
    wait_for(
        lambda: Document.objects.filter(pk=document.pk, stage="remote_processing").exists(),
        timeout=60,
        what="OpenAI to be processing the file",
        worker=worker,
    )
    db_proxy.down()
    wait_for(
        lambda: "the database could not be reached" in worker.log,
        timeout=60,
        what="the worker to notice the outage",
        worker=worker,
    )
    db_proxy.up()

    # The lease (120 s) still holds: only the task's own retry can take the document back.
    wait_for(lambda: settled(document), timeout=60, what="the document", worker=worker)
    document.refresh_from_db()
    assert document.status == "ready", document.error
    assert document.attempts == 1  # an outage is not an interruption
    assert "resuming after the previous try stopped" in worker.log
    assert len(fake_openai.state.files) == 1
