"""The fault suite: real Celery worker processes on the test database (through a proxy the
tests can cut, tests/documents/faults/dbproxy.py), each test once with kombu's filesystem broker
and once with Redis (tests/brokers.py), and the fake OpenAI server (its failure controls). Run
it alone with `pytest -m faults`."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from documents import services
from documents.models import Corpus, Document
from tests.brokers import Broker
from tests.documents.faults.dbproxy import DatabaseProxy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def db_proxy() -> Iterator[DatabaseProxy]:
    db = connection.settings_dict
    proxy = DatabaseProxy(host=db["HOST"], port=int(db["PORT"] or 5432)).up()
    yield proxy
    proxy.down()


@pytest.fixture
def fault_env(
    tmp_path: Path, broker: Broker, db_proxy: DatabaseProxy, fake_openai
) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@127.0.0.1:{db_proxy.port}/{db['NAME']}",
        "SECRET_KEY": "fault-suite-key",
        **broker.env,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": "test",
        "OPENAI_MAX_RETRIES": "0",  # every fault reaches Docent's own retry policy
        "OPENAI_TIMEOUT_SECONDS": "10",
        "INGEST_RETRY_BACKOFF_SECONDS": "1",
        "INGEST_RETRY_BACKOFF_MAX_SECONDS": "2",
        "INGEST_REQUEUE_INTERVAL_SECONDS": "3600",  # recovery must not come from the stale rule
    }


class Worker:
    """`celery worker` on the documents and housekeeping queues (or `queues`), its log in a
    file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, concurrency: int = 1, queues: str = "celery,housekeeping") -> Worker:
        log = self.log_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker",
             f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip",
             "--without-mingle", "-Q", queues, "-n", f"{self.log_path.stem}@%h"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def pool_children(self) -> list[int]:
        assert self.process is not None
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                children.append(int(stat.parent.name))
        return children


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Worker]]:
    """Start a worker with an env of the test's making (stopped at the end)."""
    started: list[Worker] = []

    def start(env: dict[str, str], **options: Any) -> Worker:
        process = Worker(env, tmp_path / f"worker-{len(started)}.log").start(**options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def worker(fault_env: dict[str, str], worker_factory) -> Worker:
    return worker_factory(fault_env)


@pytest.fixture
def publish(broker: Broker) -> Callable[[int], None]:
    """Send a document's ingestion message to the worker's broker (the test process's own
    Celery app publishes to memory)."""
    from documents.tasks import document_ingest

    def send(document_id: int | None, *, task: Any = document_ingest, **options: Any) -> None:
        """Publish `task` (routed as the settings say) with the document's id, if any."""
        kwargs = {} if document_id is None else {"document_id": document_id}
        with broker.connection() as conn:
            task.apply_async(kwargs=kwargs, connection=conn, **options)

    return send


@pytest.fixture
def remote_corpus(settings, fake_openai) -> Corpus:
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.OPENAI_API_KEY = "test"
    settings.OPENAI_MAX_RETRIES = 0
    return services.corpus_create(name="Faults", slug="faults", index_backend="openai")


def upload(corpus: Corpus, name: str, text: str) -> Document:
    return services.document_upload(
        corpus=corpus, file=io.BytesIO(text.encode()), filename=name
    ).document


def wait_for(
    check: Callable[[], Any], *, timeout: float, what: str, worker: Worker | None = None
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # the database may be the fault being injected
            value = None
        if value:
            return value
        time.sleep(0.25)
    log = worker.log[-6000:] if worker is not None else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n--- worker log ---\n{log}")


def settled(*documents: Document) -> bool:
    """Every document ready or failed."""
    statuses = set(
        Document.objects.filter(pk__in=[d.pk for d in documents]).values_list("status", flat=True)
    )
    return len(statuses) > 0 and statuses <= {"ready", "failed"}
