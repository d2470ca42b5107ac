"""OpenAI failing while a real worker ingests: temporary errors are retried apart from
interruptions, and a document that still cannot be indexed fails with OpenAI's reason."""

from __future__ import annotations

import pytest

from documents.models import Document
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TEXT = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


def test_server_errors_are_retried_and_the_document_becomes_ready(
    worker, publish, remote_corpus, fake_openai
):
    # More failures than INGEST_MAX_ATTEMPTS (3): before, the fourth try said "interrupted".
    fake_openai.fail_next("POST", r"^/v1/files$", status=500, times=4)
    document = upload(remote_corpus, "leave.md", TEXT)
    publish(document.pk)

    wait_for(lambda: settled(document), timeout=120, what="the document to settle", worker=worker)

    document.refresh_from_db()
    assert document.status == "ready", document.error
    assert (document.attempts, document.retries) == (1, 4)
    log = worker.log
    for retry in (1, 2, 3, 4):
        assert f"temporary error, retry {retry} of 5" in log
    assert "temporarily unavailable (500)" in log
    assert "interrupted" not in log
    # One upload reached OpenAI: the four refused ones left nothing behind.
    assert len(fake_openai.state.files) == 1


def test_errors_past_the_retries_fail_with_the_providers_last_reason(
    fault_env, worker_factory, publish, remote_corpus, fake_openai
):
    fault_env["INGEST_PROVIDER_RETRIES"] = "2"
    worker = worker_factory(fault_env)
    fake_openai.fail_next("POST", r"^/v1/files$", status=503, times=20)
    document = upload(remote_corpus, "leave.md", TEXT)
    publish(document.pk)

    wait_for(lambda: settled(document), timeout=120, what="the document to settle", worker=worker)

    document = Document.objects.get(pk=document.pk)
    assert document.status == "failed"
    assert document.error == (
        "OpenAI is temporarily unavailable (503). Gave up after 2 retries; retry it once the "
        "problem is fixed."
    )
    assert (document.attempts, document.retries) == (1, 2)
    assert "giving up" in worker.log
