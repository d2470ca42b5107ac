"""An evaluation run through a real Celery worker process, on the test database, once with
kombu's filesystem broker (the local default) and once with Redis."""

from __future__ import annotations

import time

import pytest

from evaluation.models import EvaluationResult, EvaluationRun, RunStatus
from evaluation.runs import evaluation_run_create
from tests.documents.test_worker_e2e import worker, worker_env  # noqa: F401
from tests.evaluation.conftest import ingest_corpus, make_question_set

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_evaluation_run_through_a_real_worker(worker, broker, tmp_path):  # noqa: F811
    corpus = ingest_corpus(slug="e2e")
    run = evaluation_run_create(
        question_set=make_question_set(corpus),
        configurations=[{"label": "k6"}, {"label": "k1", "top_k": 1}],
        enqueue=False,
    )
    broker.send_task("evaluation.tasks.evaluation_run_execute", run_id=run.pk)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            break
        time.sleep(0.5)
    log = (tmp_path / "worker.log").read_text()
    assert run.status == RunStatus.DONE, run.error + log
    while f"evaluation run {run.pk} done" not in log and time.monotonic() < deadline:
        time.sleep(0.5)  # the worker logs the line just after writing the outcome
        log = (tmp_path / "worker.log").read_text()
    assert run.progress_done == run.progress_total == 6
    # That progress is written question by question is tested without a worker
    # (tests/evaluation/test_runs.py); how many of those writes a poll sees depends on speed.
    assert EvaluationResult.objects.filter(run=run).count() == 6
    assert run.summary["k6"]["hit_at_5"] == 1.0
    assert run.summary["k1"]["questions"] == 3
    assert f"evaluation run {run.pk} done" in log
    assert EvaluationRun.objects.get(pk=run.pk).attempts == 1
