"""What the interfaces say when a worker is (or is not) at work on a document."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from django.contrib.messages import get_messages

from documents import jobs, services
from documents.models import Document
from documents.services.ingestion import INGEST
from tests.conftest import client_for, share
from tests.documents.faults.conftest import ROOT, upload

pytestmark = [pytest.mark.faults]

TEXT = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


@pytest.mark.django_db
def test_retry_on_a_document_a_worker_is_processing_says_it_was_not_queued(remote_corpus, people):
    share(remote_corpus, people)
    document = upload(remote_corpus, "leave.md", TEXT)
    assert jobs.claim(Document.objects.all(), pk=document.pk, states=INGEST) is not None
    client = client_for(people.contributor)

    response = client.post(f"/c/{remote_corpus.slug}/documents/{document.pk}/retry")

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["leave.md is being processed right now; it was not queued again."]
    assert Document.objects.get(pk=document.pk).status == "processing"


@pytest.mark.django_db
def test_retry_on_a_failed_document_queues_it_again(remote_corpus, people):
    share(remote_corpus, people)
    document = upload(remote_corpus, "leave.md", TEXT)
    Document.objects.filter(pk=document.pk).update(status="failed", error="Broken.")
    client = client_for(people.contributor)

    response = client.post(f"/c/{remote_corpus.slug}/documents/{document.pk}/retry")

    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["leave.md is queued again."]
    assert Document.objects.get(pk=document.pk).status == "queued"


@pytest.mark.django_db
def test_the_deletion_log_line_names_the_document(remote_corpus, caplog):
    document = upload(remote_corpus, "leave.md", TEXT)
    document_id = document.pk
    with caplog.at_level(logging.INFO, logger="documents.services.ingestion"):
        services.document_delete(document=document)
    assert f"document {document_id} deleted" in caplog.text
    assert "document None deleted" not in caplog.text


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ingest_inline_while_a_worker_runs_keeps_the_document_to_itself(
    worker, fault_env, remote_corpus, fake_openai, tmp_path
):
    fake_openai.processing_polls = 0
    path = tmp_path / "leave.md"
    path.write_text(TEXT)

    result = subprocess.run(
        [sys.executable, "manage.py", "ingest", "--corpus", remote_corpus.slug, "--inline",
         str(path)],
        cwd=ROOT, env=fault_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{path}: ready (1 pages" in result.stdout
    assert "failed" not in result.stdout.replace("0 failed", "")
    assert Document.objects.get(filename="leave.md").status == "ready"
    assert "document_ingest[" not in worker.log  # the worker was never sent it
