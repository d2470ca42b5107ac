"""No duplicate remote files: an upload OpenAI stored but never answered (too slow for the
client's timeout, or the connection died) is found and reused by the retry, and one that no
try took (the document failed) is removed by the reconciliation task."""

from __future__ import annotations

import pytest

from documents.models import Document
from documents.services.remote import corpora_reconcile_remote
from documents.tasks import corpora_reconcile_remote as reconcile_task
from tests.documents.faults.conftest import settled, upload, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

TEXT = "# Leave\n\nEvery employee has thirty days of paid leave per year.\n"


@pytest.mark.parametrize("fault", ["slow", "dropped"])
def test_an_upload_stored_but_not_answered_is_reused_not_repeated(
    fault, fault_env, worker_factory, publish, remote_corpus, fake_openai
):
    fault_env["OPENAI_TIMEOUT_SECONDS"] = "3"
    worker = worker_factory(fault_env)
    fake_openai.processing_polls = 0
    if fault == "slow":
        fake_openai.slow_next("POST", r"^/v1/files$", seconds=6, times=3)
    else:
        fake_openai.drop_next("POST", r"^/v1/files$")
    document = upload(remote_corpus, "leave.md", TEXT)
    publish(document.pk)

    wait_for(lambda: settled(document), timeout=120, what="the document", worker=worker)

    document = Document.objects.get(pk=document.pk)
    assert document.status == "ready", document.error
    assert list(fake_openai.state.files) == [document.remote_file_id]
    assert len(fake_openai.requests_to("POST", r"^/v1/files$")) == 1
    assert "an earlier try uploaded file" in worker.log


def test_an_upload_cut_off_for_a_document_that_failed_is_removed_by_reconciliation(
    fault_env, worker_factory, publish, remote_corpus, fake_openai
):
    fault_env["INGEST_PROVIDER_RETRIES"] = "0"  # the first temporary error fails the document
    worker = worker_factory(fault_env)
    fake_openai.processing_polls = 0
    kept = upload(remote_corpus, "leave.md", TEXT)
    publish(kept.pk)
    wait_for(lambda: settled(kept), timeout=60, what="the first document", worker=worker)
    # The server stores the second upload, then dies before answering.
    fake_openai.drop_next("POST", r"^/v1/files$")
    cut_off = upload(remote_corpus, "meals.md", "# Meals\n\nUp to 45 euros a day abroad.\n")
    publish(cut_off.pk)
    wait_for(lambda: settled(cut_off), timeout=60, what="the second document", worker=worker)
    cut_off.refresh_from_db()
    assert cut_off.status == "failed"
    assert cut_off.remote_file_id == ""
    kept.refresh_from_db()
    [orphan] = set(fake_openai.state.files) - {kept.remote_file_id}

    publish(None, task=reconcile_task)  # the daily housekeeping task, on its own queue

    wait_for(
        lambda: orphan not in fake_openai.state.files,
        timeout=60, what="the orphan to be removed", worker=worker,
    )  # fmt: skip
    assert list(fake_openai.state.files) == [kept.remote_file_id]
    wait_for(
        lambda: f"removed 1 uploaded for its documents but never attached to it: {orphan}"
        in worker.log,
        timeout=30, what="the report in the log", worker=worker,
    )  # fmt: skip
    # The document that used its File keeps it, attached; nothing more to remove.
    remote_corpus.refresh_from_db()
    assert corpora_reconcile_remote()[0].summary() == (
        f"1 files in vector store {remote_corpus.vector_store_id}, none orphaned."
    )
