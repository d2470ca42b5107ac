"""Thin Celery wrappers: ids in, one service call. Retry policy and failure hooks live here."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from documents import reindexing, services

logger = logging.getLogger(__name__)


class IngestTask(Task):  # type: ignore[type-arg]  # generic in celery-types only
    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        # Retries are exhausted (or something escaped the service): never leave the row hanging.
        document_id = kwargs.get("document_id")
        if document_id is not None:
            services.document_mark_failed(
                document_id=document_id,
                reason=f"Gave up after repeated temporary errors: {exc}",
            )


@shared_task(
    base=IngestTask,
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


class ReindexTask(Task):  # type: ignore[type-arg]  # generic in celery-types only
    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        reindex_id = kwargs.get("reindex_id")
        if reindex_id is not None:
            reindexing.corpus_reindex_mark_failed(
                reindex_id=reindex_id,
                reason=f"Gave up after repeated temporary errors: {exc}",
            )


@shared_task(
    base=ReindexTask,
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
