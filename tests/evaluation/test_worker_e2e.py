"""An evaluation run through a real Celery worker process, on the test database, with kombu's
filesystem broker (the local default)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from celery import Celery

from config.env import filesystem_broker_options
from evaluation.models import EvaluationResult, EvaluationRun, RunStatus
from evaluation.runs import evaluation_run_create
from tests.documents.test_worker_e2e import worker, worker_env  # noqa: F401
from tests.evaluation.conftest import ingest_corpus, make_question_set

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def send(worker_env, monkeypatch, name, **kwargs):  # noqa: F811
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")
    monkeypatch.setenv("CELERY_BROKER_DIR", worker_env["CELERY_BROKER_DIR"])
    options = filesystem_broker_options()
    for folder in ("data_folder_in", "processed_folder", "control_folder"):
        Path(options[folder]).mkdir(parents=True, exist_ok=True)
    sender = Celery("sender", broker="filesystem://")
    sender.conf.broker_transport_options = options
    sender.conf.task_serializer = "json"
    sender.send_task(name, kwargs=kwargs)


def test_an_evaluation_run_through_a_real_worker(worker, worker_env, monkeypatch, tmp_path):  # noqa: F811
    corpus = ingest_corpus(slug="e2e")
    run = evaluation_run_create(
        question_set=make_question_set(corpus),
        configurations=[{"label": "k6"}, {"label": "k1", "top_k": 1}],
        enqueue=False,
    )
    send(worker_env, monkeypatch, "evaluation.tasks.evaluation_run_execute", run_id=run.pk)
    seen: set[int] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        run.refresh_from_db()
        seen.add(run.progress_done)
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            break
        time.sleep(0.5)
    log = (tmp_path / "worker.log").read_text()
    assert run.status == RunStatus.DONE, run.error + log
    assert run.progress_done == run.progress_total == 6
    assert len(seen) > 2, "progress is written while the run goes"
    assert EvaluationResult.objects.filter(run=run).count() == 6
    assert run.summary["k6"]["hit_at_5"] == 1.0
    assert run.summary["k1"]["questions"] == 3
    assert f"evaluation run {run.pk} done" in log
    assert EvaluationRun.objects.get(pk=run.pk).attempts == 1
