"""The one claim / lease / retry mechanism (documents/jobs.py), on both kinds of job row."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from documents import jobs
from documents.models import Corpus, CorpusReindex, Document, DocumentStatus, ReindexStatus
from documents.services.ingestion import INGEST
from documents.services.reindexing import REINDEX

pytestmark = pytest.mark.django_db


def _document(corpus, **fields) -> Document:
    return Document.objects.create(
        corpus=corpus, filename="a.txt", size_bytes=1, sha256="a" * 64, **fields
    )


def _reindex(corpus, **fields) -> CorpusReindex:
    return CorpusReindex.objects.create(
        corpus=corpus,
        target_version=2,
        embedding_model="all-MiniLM-L6-v2",
        chunk_size_tokens=100,
        chunk_overlap_tokens=10,
        **fields,
    )


@pytest.fixture(params=["document", "reindex"])
def job(request):
    corpus = Corpus.objects.create(
        name="Jobs", slug="jobs", index_backend="pgvector", embedding_model="all-MiniLM-L6-v2"
    )
    if request.param == "document":
        return Document.objects.all(), _document(corpus), INGEST
    return CorpusReindex.objects.all(), _reindex(corpus), REINDEX


def test_a_job_is_claimed_once_while_its_lease_holds(job):
    rows, row, states = job
    lease = jobs.claim(rows, pk=row.pk, states=states)
    assert lease is not None
    assert lease.attempt == 1
    assert jobs.claim(rows, pk=row.pk, states=states) is None
    row.refresh_from_db()
    assert row.status == states.running
    assert row.lease_expires_at > timezone.now()


def test_an_expired_lease_is_taken_over_and_the_old_holder_can_write_nothing(job):
    rows, row, states = job
    first = jobs.claim(rows, pk=row.pk, states=states)
    rows.filter(pk=row.pk).update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
    second = jobs.claim(rows, pk=row.pk, states=states)
    assert second is not None
    assert second.attempt == 2
    assert second.interrupted == 1
    assert first.renew() is False
    assert first.fail("too late") is False
    assert second.renew() is True
    row.refresh_from_db()
    assert row.status == states.running
    assert row.error == ""


def test_requeue_gives_the_row_back_and_fail_records_the_reason(job):
    rows, row, states = job
    lease = jobs.claim(rows, pk=row.pk, states=states)
    assert lease.requeue(error="Temporary problem, will retry: 503")
    row.refresh_from_db()
    assert (row.status, row.lease_expires_at) == (states.queued, None)
    again = jobs.claim(rows, pk=row.pk, states=states)
    assert again.fail("The file is broken.")
    row.refresh_from_db()
    assert (row.status, row.error) == (states.failed, "The file is broken.")
    assert row.finished_at is not None
    assert jobs.claim(rows, pk=row.pk, states=states) is None  # finished rows stay finished


def test_requeue_stale_enqueues_dead_and_lost_work_only(job, settings):
    rows, row, states = job
    now = timezone.now()
    lost = rows.model.objects.get(pk=row.pk)
    rows.filter(pk=lost.pk).update(queued_at=now - dt.timedelta(hours=1))
    enqueued: list[int] = []
    assert jobs.requeue_stale(rows, states=states, enqueue=enqueued.append, now=now) == 1
    assert enqueued == [row.pk]
    # The queued_at it was given back counts from now: not stale again at once.
    assert jobs.requeue_stale(rows, states=states, enqueue=enqueued.append, now=now) == 0
    lease = jobs.claim(rows, pk=row.pk, states=states)
    assert jobs.requeue_stale(rows, states=states, enqueue=enqueued.append) == 0  # lease live
    later = now + dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS + 5)
    assert jobs.requeue_stale(rows, states=states, enqueue=enqueued.append, now=later) == 1
    assert lease.attempt == 1


def test_the_statuses_are_the_models_own():
    assert (INGEST.queued, INGEST.running, INGEST.failed) == (
        DocumentStatus.QUEUED,
        DocumentStatus.PROCESSING,
        DocumentStatus.FAILED,
    )
    assert (REINDEX.queued, REINDEX.running, REINDEX.failed) == (
        ReindexStatus.QUEUED,
        ReindexStatus.RUNNING,
        ReindexStatus.FAILED,
    )


def test_the_tasks_failure_hooks_mark_their_rows_failed():
    from documents import tasks

    corpus = Corpus.objects.create(
        name="Hooks", slug="hooks", index_backend="pgvector", embedding_model="all-MiniLM-L6-v2"
    )
    document, reindex = _document(corpus), _reindex(corpus)
    error = RuntimeError("OpenAI is temporarily unavailable (503).")

    tasks.document_ingest.on_failure(error, "t1", (), {"document_id": document.pk}, None)
    tasks.corpus_reindex_run.on_failure(error, "t2", (), {"reindex_id": reindex.pk}, None)

    document.refresh_from_db()
    reindex.refresh_from_db()
    assert document.status == DocumentStatus.FAILED
    # Whatever escaped the service is a bug, not the user's file: no exception text shown.
    assert document.error.startswith("Unexpected error while processing this document")
    assert "task t1" in document.error
    assert reindex.status == ReindexStatus.FAILED
    assert reindex.error.startswith(
        "OpenAI is temporarily unavailable (503). Gave up after repeated temporary errors."
    )


def test_the_failure_hook_writes_nothing_when_the_database_is_unreachable():
    from django.db import OperationalError

    from documents import tasks

    corpus = Corpus.objects.create(
        name="Hooks", slug="hooks", index_backend="pgvector", embedding_model="all-MiniLM-L6-v2"
    )
    document = _document(corpus)
    tasks.document_ingest.on_failure(
        OperationalError("connection refused"), "t1", (), {"document_id": document.pk}, None
    )
    document.refresh_from_db()
    assert document.status == DocumentStatus.QUEUED


def test_a_retry_later_is_counted_apart_from_interruptions(job):
    rows, row, states = job
    for retry in (1, 2, 3, 4):
        lease = jobs.claim(rows, pk=row.pk, states=states, token=f"task-1#{retry - 1}")
        assert lease.attempt == 1
        assert lease.retry_later(error="503; will retry")
        row.refresh_from_db()
        assert (row.status, row.retries, row.attempts) == (states.queued, retry, 0)


def test_the_same_message_delivered_again_takes_the_job_at_once_as_an_interruption(job):
    rows, row, states = job
    first = jobs.claim(rows, pk=row.pk, states=states, token="task-1#0")
    assert jobs.claim(rows, pk=row.pk, states=states, token="task-2#0") is None  # a duplicate
    again = jobs.claim(rows, pk=row.pk, states=states, token="task-1#0")  # the pool child died
    assert again is not None
    assert again.attempt == 2
    assert first.renew() is False  # the lost run could write nothing if it came back
    assert again.renew() is True


def test_a_retry_of_the_same_task_resumes_its_claim_uncounted(job):
    rows, row, states = job
    jobs.claim(rows, pk=row.pk, states=states, token="task-1#0")
    # The database went away mid-run: the task retried with the claim still on the row.
    resumed = jobs.claim(rows, pk=row.pk, states=states, token="task-1#1")
    assert resumed is not None
    assert resumed.attempt == 1
    assert resumed.renew() is True


def test_queued_rows_behind_a_backlog_are_not_stale(job, settings):
    rows, row, states = job
    now = timezone.now()
    waited = now - dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS * 10)
    rows.filter(pk=row.pk).update(queued_at=waited)
    enqueued: list[int] = []
    found = jobs.requeue_stale(
        rows, states=states, enqueue=enqueued.append, now=now, waiting_messages=30
    )
    assert (found, enqueued) == (0, [])
    # An empty queue: a row queued for longer than a lease lost its message.
    rows.filter(pk=row.pk).update(
        queued_at=now - dt.timedelta(seconds=settings.INGEST_LEASE_SECONDS + 1)
    )
    found = jobs.requeue_stale(
        rows, states=states, enqueue=enqueued.append, now=now, waiting_messages=0
    )
    assert (found, enqueued) == (1, [row.pk])


def test_a_final_reason_drops_will_retry():
    assert jobs.final_reason("OpenAI is temporarily unavailable (500); will retry.") == (
        "OpenAI is temporarily unavailable (500)."
    )
    assert jobs.final_reason("The file is broken.") == "The file is broken."
