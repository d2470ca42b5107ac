"""End to end through a real Celery worker process and the `ingest` command, on the test
database, once with kombu's filesystem broker (the local default) and once with Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from documents.models import Chunk, Document
from tests.brokers import Broker

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker_env(tmp_path: Path, broker: Broker) -> dict[str, str]:
    db = connection.settings_dict
    host = quote(db["HOST"], safe="") if db["HOST"] else "localhost"
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        "SECRET_KEY": "end-to-end-test-key",
        **broker.env,
        "MEDIA_ROOT": str(tmp_path / "media"),
        "INGEST_REQUEUE_INTERVAL_SECONDS": "3600",
    }


@pytest.fixture
def worker(worker_env: dict[str, str], tmp_path: Path):
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency=1",
         "--loglevel=INFO", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_ingest_command_waits_for_a_real_worker(worker, worker_env, fixture_docs, tmp_path):
    good = tmp_path / "policy.md"
    good.write_text("# Leave\n\nEvery employee has thirty days of paid leave per year.\n")
    encrypted = fixture_docs / "pdf-encrypted" / "r6-user-password.pdf"
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest", "--corpus", "e2e", "--create", "--wait",
         str(good), str(encrypted)],
        cwd=ROOT, env=worker_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = (tmp_path / "worker.log").read_text()
    assert result.returncode == 1, result.stdout + result.stderr + log
    assert f"{good}: ready (1 pages, 1 chunks)" in result.stdout
    assert "password" in result.stdout.lower()
    document = Document.objects.get(filename="policy.md")
    assert document.status == "ready"
    assert Chunk.objects.filter(document=document).count() == 1
    assert Document.objects.get(filename=encrypted.name).status == "failed"
    assert "document_ingest" in log
