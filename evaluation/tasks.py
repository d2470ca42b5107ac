"""Thin Celery wrappers: ids in, one service call."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from documents import jobs
from evaluation import provenance, runs


def _run_failed(
    task: Any, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
) -> None:
    if kwargs.get("run_id") is not None:
        runs.evaluation_run_mark_failed(
            run_id=kwargs["run_id"],
            reason=f"The run stopped on an unexpected error (reference: run {kwargs['run_id']}, "
            f"task {task_id}; the worker log has the details). The results stored so far are "
            "kept; start a new run to try again.",
        )


@shared_task(
    bind=True,
    base=Task,  # the stubs take extra options such as on_failure only with a base
    on_failure=_run_failed,
    ignore_result=True,
)
def evaluation_run_execute(self: Any, *, run_id: int) -> None:
    runs.evaluation_run_execute(
        run_id=run_id, token=jobs.claim_token(self.request.id, self.request.retries)
    )


@shared_task(ignore_result=True)
def evaluation_runs_requeue_stale() -> None:
    runs.evaluation_runs_requeue_stale(waiting_messages=jobs.waiting_messages())


@shared_task(ignore_result=True)
def provenance_purge() -> None:
    provenance.provenance_purge()
