"""Thin Celery wrappers: ids in, one service call. Retry policy and failure hooks live here.

Failure hooks are plain functions passed as `on_failure=` (Celery makes them methods of the
task class it builds, hence the `task` parameter): they run once something escaped the
service, so that no row is left hanging.

Ingestion and re-indexing retry two kinds of trouble, each counted apart from interruptions (a
worker that died, documents/jobs.py): a temporary provider error (the service gives the row
back and counts the retry on it, up to INGEST_PROVIDER_RETRIES, with exponential backoff), and a
database that cannot be reached (with the filesystem broker a fetched message is gone, so the
task publishes itself again, every INGEST_DATABASE_RETRY_SECONDS at most, until the database
answers). Housekeeping runs on its own queue (CELERY_TASK_ROUTES), never behind a backlog.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.db import InterfaceError, OperationalError

from documents import jobs, services
from documents.services import reindexing, remote

logger = logging.getLogger(__name__)

# Raised when PostgreSQL is down, restarting or unreachable (and by a broken connection).
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)


def _gives_up(mark_failed: Callable[..., None], id_name: str) -> Callable[..., None]:
    """A failure hook that marks the task's row failed with the last error."""

    def on_failure(
        task: Any, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if kwargs.get(id_name) is None:
            return
        if isinstance(exc, DATABASE_UNREACHABLE):
            return  # nothing can be written; the row is found again once its lease runs out
        mark_failed(**{id_name: kwargs[id_name]}, reason=jobs.gave_up_reason(exc))

    return on_failure


def _document_failed(
    task: Any, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
) -> None:
    document_id = kwargs.get("document_id")
    if document_id is None or isinstance(exc, DATABASE_UNREACHABLE):
        return
    services.document_mark_failed(
        document_id=document_id,
        reason=(
            f"Unexpected error while processing this document (reference: document "
            f"{document_id}, task {task_id}). An administrator can find the details in the "
            "worker log and retry it."
        ),
    )


_reindex_failed = _gives_up(reindexing.corpus_reindex_mark_failed, "reindex_id")


def database_retry_seconds(retries: int) -> int:
    """Wait before trying again while the database is unreachable: short, so that work goes
    on within INGEST_DATABASE_RETRY_SECONDS of the database coming back."""
    return min(2**retries, settings.INGEST_DATABASE_RETRY_SECONDS)


@shared_task(
    bind=True,
    base=Task,  # the stubs take extra options such as on_failure only with a base
    on_failure=_document_failed,
    max_retries=None,  # the service counts provider retries on the row
)
def document_ingest(self: Task, *, document_id: int) -> None:
    token = jobs.claim_token(self.request.id, self.request.retries or 0)
    try:
        services.document_ingest(document_id=document_id, claim_token=token)
    except services.RetryableIngestError as error:
        raise _provider_retry(self, f"document {document_id}", error, retry=error.retry) from error
    except DATABASE_UNREACHABLE as error:
        raise _database_retry(self, f"document {document_id}", error) from error


def _provider_retry(task: Task, job: str, error: Exception, *, retry: int) -> Exception:
    """The task's retry after a temporary provider error (the service counted it on the row
    as retry number `retry`), with exponential backoff; logged with its cause."""
    countdown = get_exponential_backoff_interval(
        factor=settings.INGEST_RETRY_BACKOFF_SECONDS,
        retries=retry - 1,
        maximum=settings.INGEST_RETRY_BACKOFF_MAX_SECONDS,
        full_jitter=True,
    )
    logger.warning(
        "%s: temporary error, retry %s of %s in %ss: %s",
        job,
        retry,
        settings.INGEST_PROVIDER_RETRIES,
        countdown,
        error,
    )
    return task.retry(countdown=countdown, exc=error)


def _database_retry(task: Task, job: str, error: Exception) -> Exception:
    """The task's retry while the database cannot be reached (nothing was recorded)."""
    countdown = database_retry_seconds(task.request.retries or 0)
    logger.warning(
        "%s: the database could not be reached (%s); trying again in %ss",
        job,
        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
        countdown,
    )
    return task.retry(countdown=countdown, exc=error)


@shared_task(ignore_result=True)
def documents_requeue_stale() -> None:
    services.documents_requeue_stale(
        waiting_messages=jobs.waiting_messages(),
        waiting_large_messages=jobs.waiting_messages(settings.INGEST_LARGE_QUEUE),
    )


@shared_task(
    bind=True,
    base=Task,  # the stubs take extra options such as on_failure only with a base
    on_failure=_reindex_failed,
    max_retries=None,  # the service counts provider retries on the row
)
def corpus_reindex_run(self: Task, *, reindex_id: int) -> None:
    token = jobs.claim_token(self.request.id, self.request.retries or 0)
    try:
        reindexing.corpus_reindex_run(reindex_id=reindex_id, claim_token=token)
    except reindexing.RetryableReindexError as error:
        raise _provider_retry(self, f"re-index {reindex_id}", error, retry=error.retry) from error
    except DATABASE_UNREACHABLE as error:
        raise _database_retry(self, f"re-index {reindex_id}", error) from error


@shared_task(ignore_result=True)
def corpus_reindexes_requeue_stale() -> None:
    reindexing.corpus_reindexes_requeue_stale()


@shared_task(ignore_result=True)
def corpora_reconcile_remote() -> None:
    remote.corpora_reconcile_remote()
