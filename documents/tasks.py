"""Thin Celery wrappers: ids in, one service call. Retry policy and failure hooks live here.

Failure hooks are plain functions passed as `on_failure=` (Celery makes them methods of the
task class it builds, hence the `task` parameter): they run once retries are exhausted or
something escaped the service, so that no row is left hanging.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task

from documents import jobs, services
from documents.services import reindexing

logger = logging.getLogger(__name__)


def _gives_up(mark_failed: Callable[..., None], id_name: str) -> Callable[..., None]:
    """A failure hook that marks the task's row failed with the last error."""

    def on_failure(
        task: Any, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if kwargs.get(id_name) is not None:
            mark_failed(**{id_name: kwargs[id_name]}, reason=jobs.gave_up_reason(exc))

    return on_failure


_document_failed = _gives_up(services.document_mark_failed, "document_id")
_reindex_failed = _gives_up(reindexing.corpus_reindex_mark_failed, "reindex_id")


@shared_task(
    base=Task,  # the stubs take extra options such as on_failure only with a base
    on_failure=_document_failed,
    autoretry_for=(services.RetryableIngestError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def document_ingest(*, document_id: int) -> None:
    services.document_ingest(document_id=document_id)


@shared_task(ignore_result=True)
def documents_requeue_stale() -> None:
    services.documents_requeue_stale()


@shared_task(
    base=Task,  # the stubs take extra options such as on_failure only with a base
    on_failure=_reindex_failed,
    autoretry_for=(reindexing.RetryableReindexError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def corpus_reindex_run(*, reindex_id: int) -> None:
    reindexing.corpus_reindex_run(reindex_id=reindex_id)


@shared_task(ignore_result=True)
def corpus_reindexes_requeue_stale() -> None:
    reindexing.corpus_reindexes_requeue_stale()
